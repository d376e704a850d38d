"""estimate_mi: the practitioners' entry point, and its input checks."""

import math

import numpy as np
import pytest
import torch

from mi_lib import METHODS, CorrelatedGaussian, TransformedGaussian, estimate_mi

X, Y = CorrelatedGaussian(0.8).sample(500, seed=0)


def test_held_out_evaluation_is_the_default_and_is_stated():
    result = estimate_mi(X, Y, epochs=2, eval_every=1)
    assert result.evaluated_on == "held-out"
    assert (result.n_train, result.n_eval) == (350, 150)
    assert [it for it, _ in result.history] == [3, 6]  # 350 // 100 batches an epoch
    assert float(result) == result.value == result.history[-1][1]
    assert "held-out" in str(result)


def test_training_evaluation_only_when_asked():
    result = estimate_mi(X, Y, epochs=1, test_size=0)
    assert result.evaluated_on == "training" and result.n_eval == 500


def test_tensors_and_arrays_give_the_same_estimate():
    a = estimate_mi(X, Y, epochs=2, seed=1)
    b = estimate_mi(
        torch.tensor(X), torch.tensor(Y, dtype=torch.float64), epochs=2, seed=1
    )
    assert a.value == b.value


@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_and_returns_a_finite_estimate(method):
    result = estimate_mi(X[:200], Y[:200], method=method, epochs=2)
    assert math.isfinite(result.value) and result.method == method


def test_non_gaussian_data_with_known_mi():
    dist = TransformedGaussian.with_mi(1.0)
    assert dist.transform == "cubic"
    x, y = dist.sample(3000, seed=0)
    result = estimate_mi(x, y, method="minee", epochs=40, batch_size=200, seed=0)
    assert result.value == pytest.approx(1.0, abs=0.2)
    assert result.value < 1.1  # held out: no overshoot


def test_held_out_estimate_does_not_overshoot_where_training_one_does():
    x, y = CorrelatedGaussian(0.0).sample(100, seed=0)
    kwargs = dict(method="dv", epochs=300, batch_size=100, lr=1e-2, seed=0)
    on_training = estimate_mi(x, y, test_size=0, **kwargs)
    held_out = estimate_mi(x, y, **kwargs)
    assert on_training.value > 0.05  # independent data, yet a "positive MI"
    assert held_out.value < on_training.value - 0.1


BAD = [
    (lambda: estimate_mi(X, Y[:-1]), ValueError, "x has 500 samples but y has 499"),
    (lambda: estimate_mi(X[:, 0], Y), ValueError, r"x is 1-D .*reshape\(-1, 1\)"),
    (lambda: estimate_mi(X, Y[None]), ValueError, "y has shape"),
    (
        lambda: estimate_mi(np.full_like(X, np.nan), Y),
        ValueError,
        "x contains NaN or inf",
    ),
    (
        lambda: estimate_mi(X, np.where(Y > 2, np.inf, Y)),
        ValueError,
        "y contains NaN or inf",
    ),
    (lambda: estimate_mi(X.astype(str), Y), TypeError, "x has dtype <U"),
    (lambda: estimate_mi(X > 0, Y), TypeError, "x has dtype bool"),
    (
        lambda: estimate_mi(torch.zeros(5, 1, dtype=torch.complex64), Y),
        TypeError,
        "complex",
    ),
    (lambda: estimate_mi(np.empty((0, 1)), np.empty((0, 1))), ValueError, "x is empty"),
    (lambda: estimate_mi(None, Y), TypeError, "x is None"),
    (lambda: estimate_mi(X, Y, method="mind"), ValueError, "method must be one of"),
    (
        lambda: estimate_mi(X, Y, test_size=1.0),
        ValueError,
        r"test_size must be .*\[0, 1\)",
    ),
    (lambda: estimate_mi(X[:3], Y[:3]), ValueError, "too few to hold out"),
    (lambda: estimate_mi(X, Y, epochs=0), ValueError, "epochs must be a positive"),
    (
        lambda: estimate_mi(X, Y, beta=2.0),
        ValueError,
        r"beta must be a number in \[0, 1\)",
    ),
    (lambda: estimate_mi(X, Y, ema=1), ValueError, r"ema must be a number in \(0, 1\)"),
    (
        lambda: estimate_mi(
            X, Y, device="cuda:7" if not torch.cuda.is_available() else "x"
        ),
        (ValueError, RuntimeError),
        "cuda|device",
    ),
]


@pytest.mark.parametrize("call,error,match", BAD)
def test_bad_input_raises_a_clear_error(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_rank_normalisation_keeps_the_dependence_and_tames_the_tails():
    from mi_lib.preprocess import Normalizer

    x, y = TransformedGaussian(0.9, transform="exp").sample(4000, seed=0)
    xt, yt = torch.tensor(x), torch.tensor(y)
    nx, ny = Normalizer("rank").fit(xt[:3000]), Normalizer("rank").fit(yt[:3000])
    zx, zy = nx.transform(xt), ny.transform(yt)
    assert zx.std().item() == pytest.approx(1.0, abs=0.05)
    assert zx.abs().max() < 4  # log-normal tails are gone
    assert np.corrcoef(zx[:, 0], zy[:, 0])[0, 1] == pytest.approx(0.9, abs=0.01)
    standard = Normalizer("standard").fit(xt)
    assert standard.transform(xt).mean().item() == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="normalize must be one of"):
        estimate_mi(X, Y, normalize="minmax")


def test_minee_default_reference_holds_in_more_dimensions():
    dist = CorrelatedGaussian.with_mi(1.0, dim=2)
    x, y = dist.sample(3000, seed=0)
    result = estimate_mi(x, y, method="minee", epochs=30, seed=0)
    assert result.value == pytest.approx(1.0, abs=0.15)


def test_estimates_use_a_moving_average_of_the_weights_unless_asked_not_to():
    averaged = estimate_mi(X[:200], Y[:200], epochs=2)
    plain = estimate_mi(X[:200], Y[:200], epochs=2, ema=None)
    assert (averaged.trainer.ema, plain.trainer.ema) == (0.9, None)
    assert averaged.value != plain.value


def test_infonce_defaults_to_the_cheap_separable_critic():
    from mi_lib import SeparableCritic

    result = estimate_mi(X[:200], Y[:200], method="infonce", epochs=1)
    assert isinstance(result.trainer.critic, SeparableCritic)

"""estimate_mi: the practitioners' entry point, cross-fitting, error bars, checks."""

import math
import warnings

import numpy as np
import pytest
import torch

from mi_lib import (
    METHODS,
    CorrelatedGaussian,
    TransformedGaussian,
    estimate_mi,
    heldout,
)
from mi_lib.heldout import MIEstimateWarning

X, Y = CorrelatedGaussian(0.8).sample(500, seed=0)
QUICK = dict(epochs=2, batch_size=100)


def test_cross_fitting_is_the_default_and_is_stated():
    result = estimate_mi(X, Y, **QUICK)
    assert result.evaluated_on == "cross-fitted" and len(result.folds) == 5
    assert (result.n_train, result.n_eval) == (360, 500)  # 40 pairs validate
    assert "cross-fitted over 5 folds" in str(result)
    assert float(result) == result.value
    assert len(result.trainers) == 5 and result.trainer is result.trainers[0]


def test_cross_fitting_evaluates_every_pair_once_by_a_critic_that_never_saw_it():
    result = estimate_mi(X, Y, folds=4, normalize=None, seed=3, **QUICK)
    held = np.concatenate(result.folds)
    assert sorted(held.tolist()) == list(range(500))  # each pair held out once
    for fold, trainer in zip(result.folds, result.trainers, strict=True):
        # the critic trains on, and picks its checkpoint by, the other pairs only
        seen = torch.cat([trainer.data[0], trainer.eval_data[0]]).numpy()
        rest = np.setdiff1d(np.arange(500), fold)
        np.testing.assert_allclose(np.sort(seen, 0), np.sort(X[rest], 0), rtol=1e-6)
    expected = (
        sum(len(f) * v for f, v in zip(result.folds, result.fold_values, strict=True))
        / 500
    )
    assert result.value == pytest.approx(expected)


def test_the_folds_and_the_estimate_are_reproducible_under_seed():
    a, b = estimate_mi(X, Y, seed=1, **QUICK), estimate_mi(X, Y, seed=1, **QUICK)
    c = estimate_mi(X, Y, seed=2, **QUICK)
    assert a.value == b.value and a.stderr == b.stderr
    assert all((f == g).all() for f, g in zip(a.folds, b.folds, strict=True))
    assert a.value != c.value
    assert not all((f == g).all() for f, g in zip(a.folds, c.folds, strict=True))


def test_single_split_with_test_size_and_training_evaluation_only_when_asked():
    result = estimate_mi(X, Y, test_size=0.3, eval_every=1, **QUICK)
    assert result.evaluated_on == "held-out" and len(result.folds) == 1
    assert (result.n_train, result.n_eval) == (315, 150)  # and 35 validate
    assert [it for it, _ in result.history] == [3, 6]  # 315 // 100 batches an epoch
    on_training = estimate_mi(X, Y, test_size=0, epochs=1)
    assert on_training.evaluated_on == "training" and on_training.n_eval == 500


def test_tensors_and_arrays_give_the_same_estimate():
    a = estimate_mi(X, Y, seed=1, **QUICK)
    b = estimate_mi(
        torch.tensor(X), torch.tensor(Y, dtype=torch.float64), seed=1, **QUICK
    )
    assert a.value == b.value


@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_and_returns_an_estimate_with_an_error_bar(method):
    result = estimate_mi(X[:200], Y[:200], method=method, epochs=2, folds=2)
    assert math.isfinite(result.value) and result.method == method
    low, high = result.ci
    assert low < result.value < high and result.stderr > 0
    z = 1.6448536269514722  # 90%
    assert high - low == pytest.approx(2 * z * result.stderr)
    assert f"+/- {result.stderr:.4f}" in str(result)


def test_the_interval_has_its_confidence_level():
    result = estimate_mi(X, Y, confidence=0.5, **QUICK)
    z = 0.6744897501960817
    assert result.ci[1] - result.ci[0] == pytest.approx(2 * z * result.stderr)


def test_delta_method_standard_error_matches_the_spread_over_fresh_samples():
    """With the oracle critic (the true log density ratio), the DV estimate's
    reported standard error equals its spread over 300 fresh held-out samples
    (within the 10% noise of estimating a spread from 300 draws), and the
    estimate centres on the closed-form truth."""
    dist, m = CorrelatedGaussian(0.6), 200
    values, errors = [], []
    gen = torch.Generator().manual_seed(0)
    for seed in range(300):
        x, y = dist.sample(m, seed=seed)
        j, k = torch.randint(m, (2000,), generator=gen), None
        k = (j + torch.randint(1, m, (2000,), generator=gen)) % m
        t_p = torch.tensor(dist.log_density_ratio(x, y))
        t_q = torch.tensor(dist.log_density_ratio(x[j], y[k]))
        terms = heldout.dv_terms(t_p, t_q, j, k)
        values.append(terms.value)
        errors.append(math.sqrt(terms.variance))
    spread = np.std(values, ddof=1)
    assert np.mean(errors) == pytest.approx(spread, rel=0.15)
    assert np.mean(values) == pytest.approx(dist.mi, abs=3 * spread / math.sqrt(300))


def test_combining_folds_weighs_them_by_size_and_adds_their_variances():
    a = heldout.FoldTerms(1.0, np.array([1.0, -1.0, 1.0, -1.0]))
    b = heldout.FoldTerms(2.0, np.array([2.0, -2.0]))
    combined = heldout.combine([a, b], 0.9)
    assert combined.value == pytest.approx((4 * 1.0 + 2 * 2.0) / 6)
    var = (4 / 6) ** 2 * (4 / 3) / 4 + (2 / 6) ** 2 * 8 / 2
    assert combined.stderr == pytest.approx(math.sqrt(var))


def test_folds_that_disagree_more_than_their_error_bars_widen_the_interval():
    """The folds' spread over sqrt(K) floors the standard error: it carries the
    critics' own noise, which the delta method takes as given."""
    tight = np.array([0.01, -0.01] * 50)  # delta-method stderr ~ 0.0007
    terms = [heldout.FoldTerms(v, tight) for v in (0.9, 1.0, 1.1, 1.2)]
    combined = heldout.combine(terms, 0.9)
    spread = np.std([0.9, 1.0, 1.1, 1.2], ddof=1) / 2
    assert combined.stderr == pytest.approx(spread)
    assert combined.ci[1] - combined.ci[0] == pytest.approx(2 * 1.6448536 * spread)
    # folds that agree keep the delta method's error bar
    agree = [heldout.FoldTerms(1.0, tight) for _ in range(4)]
    delta = math.sqrt(sum(t.variance for t in agree) / 16)
    assert heldout.combine(agree, 0.9).stderr == pytest.approx(delta)


def test_a_log_mean_exp_term_resting_on_a_few_pairs_is_flagged():
    m = 100
    j = torch.arange(m).repeat_interleave(m - 1)
    k = (j + torch.arange(1, m).repeat(m)) % m
    calm = torch.zeros(len(j))
    wild = calm.clone()
    wild[:3] = 30.0  # three product pairs with e^t ~ 1e13
    t_p = torch.full((m,), 2.0)
    for t_q, flagged in ((calm, False), (wild, True)):
        terms = heldout.dv_terms(t_p, t_q, j, k)
        messages = heldout.diagnose("dv", [terms], heldout.combine([terms], 0.9), None)
        assert any("dominated by 3 of 9900 pairs" in s for s in messages) == flagged
        assert any("negative" in s for s in messages) == flagged  # 2 - 30 + log N


def test_an_estimate_at_infonces_cap_is_flagged():
    terms = heldout.FoldTerms(4.5, np.array([0.1, -0.1]))
    messages = heldout.diagnose("infonce", [terms], heldout.combine([terms], 0.9), 4.6)
    assert len(messages) == 1 and "log(batch_size)" in messages[0]


@pytest.mark.slow  # trains for seconds: left out of make test-fast
def test_a_bad_estimate_warns_and_says_why_and_what_to_do():
    x, y = CorrelatedGaussian.with_mi(4.0, dim=2).sample(300, seed=0)
    with pytest.warns(MIEstimateWarning, match=r"log\(batch_size\).*larger batch_size"):
        result = estimate_mi(x, y, method="infonce", batch_size=2, epochs=10, folds=2)
    assert result.warnings and "warning:" in str(result)


def test_a_good_estimate_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", MIEstimateWarning)
        result = estimate_mi(X, Y, batch_size=100)  # default steps, fewer pairs
    assert result.warnings == []
    assert abs(result.value - CorrelatedGaussian(0.8).mi) < 3 * result.stderr


def test_an_undertrained_plug_in_critic_warns():
    with pytest.warns(MIEstimateWarning, match="not the log density ratio"):
        result = estimate_mi(X, Y, epochs=10)  # 30 steps: e^t far from normalised
    assert "Train longer" in result.warnings[0]


def test_progress_shows_one_bar_for_the_whole_call(monkeypatch):
    import tqdm.auto

    bars = []

    class Recorder:
        def __init__(self, total, **kwargs):
            self.total, self.n, self.postfix = total, 0, {}
            bars.append(self)

        def update(self, k):
            self.n += k

        def set_postfix(self, **kwargs):
            self.postfix = kwargs

        def close(self):
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", Recorder)
    result = estimate_mi(X, Y, folds=3, epochs=4, eval_every=1, progress=True)
    assert len(bars) == 1 and bars[0].total == bars[0].n == 12
    assert bars[0].postfix["estimate"] == f"{result.history[-1][1]:.4f}"


@pytest.mark.slow  # trains for seconds: left out of make test-fast
def test_non_gaussian_data_with_known_mi():
    x, y = TransformedGaussian.with_mi(1.0).sample(2000, seed=0)
    result = estimate_mi(x, y, method="minee", epochs=10, seed=0)
    assert abs(result.value - 1.0) < 0.1 + 3 * result.stderr


@pytest.mark.slow  # trains for seconds: left out of make test-fast
def test_held_out_estimate_does_not_overshoot_where_training_one_does():
    x, y = CorrelatedGaussian(0.0).sample(100, seed=0)
    kwargs = dict(method="dv", epochs=300, batch_size=100, lr=1e-2, seed=0)
    on_training = estimate_mi(x, y, test_size=0, **kwargs)
    cross_fitted = estimate_mi(x, y, folds=2, **kwargs)
    assert on_training.value > 0.05  # independent data, yet a "positive MI"
    assert cross_fitted.value < on_training.value - 0.1


def test_a_critic_is_copied_for_every_fold_and_minee_refuses_one():
    from mi_lib import JointCritic

    critic = JointCritic(1, 1)
    before = [p.detach().clone() for p in critic.parameters()]
    result = estimate_mi(X[:200], Y[:200], method="dv", critic=critic, **QUICK)
    assert result.trainers[0].critic is not result.trainers[1].critic
    assert all(
        torch.equal(a, b) for a, b in zip(before, critic.parameters(), strict=True)
    )
    with pytest.raises(ValueError, match=r"three critics; pass critics=\(joint"):
        estimate_mi(X, Y, method="minee", critic=critic)
    with pytest.raises(ValueError, match="trains one critic; pass critic="):
        estimate_mi(X, Y, method="mine", critics=(critic, critic, critic))


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
        r"test_size must .*\[0, 1\)",
    ),
    (lambda: estimate_mi(X[:3], Y[:3], test_size=0.3), ValueError, "too few to hold"),
    (lambda: estimate_mi(X, Y, folds=1), ValueError, "folds must be at least 2"),
    (lambda: estimate_mi(X, Y, folds=2.5), ValueError, "folds must be an integer"),
    (lambda: estimate_mi(X, Y, folds=501), ValueError, "exceeds the number of pairs"),
    (lambda: estimate_mi(X[:9], Y[:9], folds=5), ValueError, "too few for folds=5"),
    (lambda: estimate_mi(X, Y, folds=3, test_size=0.2), ValueError, "not both"),
    (
        lambda: estimate_mi(X, Y, confidence=1.5),
        ValueError,
        r"confidence must .*\(0, 1\)",
    ),
    (lambda: estimate_mi(X, Y, epochs=0), ValueError, "epochs must be a positive"),
    (lambda: estimate_mi(X, Y, method="mine", beta=2.0), ValueError, "beta must"),
    (lambda: estimate_mi(X, Y, ema=1), ValueError, r"ema must .*\(0, 1\)"),
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


def test_rank_normalisation_is_fitted_per_fold_and_rejects_unknown_kinds():
    result = estimate_mi(X, Y, folds=2, **QUICK)
    for trainer in result.trainers:  # the training part is normalised to N(0, 1)
        assert trainer.data[0].std().item() == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="normalize must be one of"):
        estimate_mi(X, Y, normalize="minmax")


@pytest.mark.slow  # trains for seconds: left out of make test-fast
def test_minee_default_reference_holds_in_more_dimensions():
    dist = CorrelatedGaussian.with_mi(1.0, dim=2)
    x, y = dist.sample(2000, seed=0)
    result = estimate_mi(x, y, method="minee", epochs=10, seed=0)
    assert abs(result.value - 1.0) < 0.1 + 3 * result.stderr


def test_estimates_use_a_moving_average_of_the_weights_unless_asked_not_to():
    averaged = estimate_mi(X[:200], Y[:200], method="mine", **QUICK)
    plain = estimate_mi(X[:200], Y[:200], method="mine", ema=None, **QUICK)
    assert (averaged.trainer.ema, plain.trainer.ema) == (0.9, None)
    assert averaged.value != plain.value


def test_the_default_and_infonce_use_the_cheap_separable_critic():
    from mi_lib import SeparableCritic

    for method in ("js", "smile", "infonce"):
        result = estimate_mi(X[:200], Y[:200], method=method, epochs=1)
        assert isinstance(result.trainer.critic, SeparableCritic)


def test_large_samples_take_fewer_folds_with_the_all_pairs_methods():
    from mi_lib.estimate import default_folds

    assert [default_folds("js", n) for n in (500, 2999, 3000, 50_000)] == [5, 5, 3, 3]
    assert default_folds("smile", 5000) == 3
    assert {default_folds(m, 5000) for m in ("mine", "minee", "dv", "nwj")} == {5}
    x, y = CorrelatedGaussian(0.5).sample(3000, seed=0)
    result = estimate_mi(x, y, epochs=1, batch_size=1000)
    assert len(result.folds) == 3 and result.n_eval == 3000


def test_small_samples_train_the_all_pairs_critics_for_enough_steps():
    from mi_lib.estimate import MIN_ITERATIONS, SETTINGS, default_epochs

    # 5000 pairs, 3 folds: 3334 train, 333 of them validate, 3001 // 250 = 12
    assert default_epochs("js", 3334, 250) == SETTINGS["js"]["epochs"] == 15
    # 1000 pairs, 5 folds: 800 train, 80 validate, 720 // 250 = 2 steps an epoch
    assert default_epochs("js", 800, 250) == MIN_ITERATIONS["js"] // 2 == 75
    assert default_epochs("mine", 800, 250) == SETTINGS["mine"]["epochs"]
    result = estimate_mi(X[:40], Y[:40], folds=2, batch_size=50, eval_every=50)
    # 20 train, 2 validate, 18 pairs: one step an epoch, so 150 epochs
    assert [it for it, _ in result.history] == [50, 100, 150]


def test_a_plug_in_critic_far_from_normalised_is_flagged():
    """The log density ratio t has E_Q[e^t] = 1: a critic whose e^t averages
    e^1 over held-out product pairs overstates a plug-in of 1.5 nats."""
    t_p = torch.full((100,), 1.5) + torch.linspace(-0.1, 0.1, 100)
    gen = torch.Generator().manual_seed(0)
    for shift, flagged in ((0.0, False), (0.2, False), (1.0, True)):
        t_q = torch.randn(5000, generator=gen) * 0.3 - 0.045 + shift  # lme ~ shift
        terms = heldout.plugin_terms(t_p, t_q)
        assert terms.normalisation[0] == pytest.approx(shift, abs=0.02)
        messages = heldout.diagnose("js", [terms], heldout.combine([terms], 0.9), None)
        assert any("not the log density ratio" in s for s in messages) == flagged
    wild = torch.zeros(5000)
    wild[:3] = 30.0  # the check rests on 3 pairs: no verdict from it
    terms = heldout.plugin_terms(t_p, wild)
    assert heldout.diagnose("js", [terms], heldout.combine([terms], 0.9), None) == []


@pytest.mark.slow  # trains for seconds: left out of make test-fast
def test_the_default_is_sane_at_high_mi():
    """20-d Gaussians at 6 nats from 5000 pairs: DV, MINE and NWJ collapse on
    held-out pairs there; the default stays within 10% of the truth (issue 15's
    target; +6% measured) without a warning."""
    x, y = CorrelatedGaussian.with_mi(6.0, dim=20).sample(5000, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MIEstimateWarning)
        result = estimate_mi(x, y)
    assert len(result.folds) == 3
    assert abs(result.value - 6.0) < 0.6


def test_critics_that_score_their_training_pairs_higher_are_flagged():
    """The overfitting gap (training minus held-out mean score on joint pairs)
    is flagged above 0.5 nats and a tenth of the estimate, weighted by the
    folds' sizes."""

    def fold(value, gap, m=100):
        terms = heldout.FoldTerms(value, np.linspace(-0.1, 0.1, m))
        terms.overfit = gap
        return terms

    for gaps, value, flagged in (
        ((0.05, -0.03), 1.0, False),
        ((0.45, 0.4), 1.0, False),  # under 0.5 nats
        ((0.9, 1.1), 1.0, True),
        ((0.6, 0.7), 8.0, False),  # under a tenth of the estimate
        ((1.0, 1.2), 8.0, True),
    ):
        terms = [fold(value, g) for g in gaps]
        messages = heldout.diagnose("js", terms, heldout.combine(terms, 0.9), None)
        assert any("overfit" in s for s in messages) == flagged, (gaps, value)


@pytest.mark.slow  # trains for seconds: left out of make test-fast
def test_too_few_pairs_for_the_dimension_are_flagged():
    """30-d Gaussians at 2 nats from 1000 pairs: the critics learn their own
    pairs (measured gap about 1 nat), and the estimate falls far short; the
    call says so. 5-d from 2000 pairs: the gap is small and nothing warns."""
    x, y = CorrelatedGaussian.with_mi(2.0, dim=30).sample(1000, seed=0)
    with pytest.warns(MIEstimateWarning, match="overfit"):
        result = estimate_mi(x, y)
    assert result.value < 1.5
    assert any("more samples" in w for w in result.warnings)
    x, y = CorrelatedGaussian.with_mi(2.0, dim=5).sample(2000, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MIEstimateWarning)
        estimate_mi(x, y)

"""The checkers accept what users pass (NumPy scalars included) and refuse the
rest with a message that names the argument and the fix."""

import math

import numpy as np
import pytest
import torch

import mi_lib
from mi_lib import bounds
from mi_lib._checks import check_fraction, check_positive, check_positive_int
from mi_lib.resample import resample_product


@pytest.mark.parametrize(
    "value", [1e-3, 2, np.float32(1e-3), np.float64(0.5), np.int64(3)]
)
def test_positive_numbers_of_any_real_type_pass(value):
    assert check_positive(value, "lr") == pytest.approx(float(value))
    assert isinstance(check_positive(value, "lr"), float)


@pytest.mark.parametrize(
    "value,match",
    [
        (0, r"lr must be a positive number, such as 1e-3; got 0\."),
        (-1e-3, "lr must be a positive number"),
        (math.inf, "lr must be a positive number"),
        (math.nan, "lr must be a positive number"),
        ("1e-3", r"lr must be a real number, such as 1e-3; got '1e-3' \(str\)"),
        (True, r"lr must be a real number.*\(bool\)"),
        (np.bool_(True), r"lr must be a real number.*\(bool"),
        (np.array([1e-3]), r"lr must be a real number.*\(ndarray\)"),
    ],
)
def test_positive_numbers_refuse_the_rest(value, match):
    with pytest.raises(ValueError, match=match):
        check_positive(value, "lr", example="such as 1e-3")


def test_fractions_name_their_interval():
    assert check_fraction(np.float32(0.5), "beta") == 0.5
    assert check_fraction(0, "beta") == 0.0
    with pytest.raises(ValueError, match=r"beta must be a number in \[0, 1\); got 1"):
        check_fraction(1, "beta")
    with pytest.raises(ValueError, match=r"ema must be a number in \(0, 1\)"):
        check_fraction(0.0, "ema", low_open=True)


def test_integers_of_numpy_pass_and_floats_are_refused_with_the_fix():
    assert check_positive_int(np.int64(5), "batch_size") == 5
    with pytest.raises(ValueError, match="batch_size must be a positive integer.*100"):
        check_positive_int(100.0, "batch_size")


def test_numpy_scalars_are_accepted_everywhere():
    x, y = mi_lib.CorrelatedGaussian(0.5).sample(200, seed=0)
    assert mi_lib.gaussian_mi(np.float32(0.5)) == pytest.approx(
        mi_lib.gaussian_mi(0.5), rel=1e-6
    )
    assert mi_lib.rho_for_mi(np.float64(0.2)) == pytest.approx(mi_lib.rho_for_mi(0.2))
    trainer = mi_lib.MITrainer(
        x,
        y,
        bound="smile",
        lr=np.float32(1e-3),
        beta=np.float32(0.5),
        clip=np.float64(5),
        batch_size=np.int64(50),
        eval_pairs=np.int64(500),
        ema=np.float32(0.9),
        seed=np.int64(0),
        device="cpu",
    )
    assert math.isfinite(trainer.step(1))
    assert trainer.iteration == 4
    assert mi_lib.Critic(2, depth=np.int64(1))(torch.zeros(3, 2)).shape == (3,)


@pytest.mark.parametrize(
    "make,error,match",
    [
        (
            lambda x, y: mi_lib.MITrainer(x, y, lr="fast"),
            ValueError,
            "lr must be a real number, such as 1e-3",
        ),
        (
            lambda x, y: mi_lib.MITrainer(x, y, bound="smile", clip=0),
            ValueError,
            "clip must be a positive number, such as 5.0",
        ),
        (  # checked when given, whatever the bound
            lambda x, y: mi_lib.MITrainer(x, y, bound="dv", clip=-1.0),
            ValueError,
            "clip must be a positive number",
        ),
        (
            lambda x, y: mi_lib.MINETrainer(x, y, beta=1.0),
            ValueError,
            r"beta must be a number in \[0, 1\)",
        ),
        (
            lambda x, y: mi_lib.MITrainer(x, y, eval_pairs=0),
            ValueError,
            "eval_pairs must be a positive integer",
        ),
        (  # 0 is refused, not taken for the default
            lambda x, y: mi_lib.MINEETrainer(x, y, ref_batch_size=0),
            ValueError,
            "ref_batch_size must be a positive integer",
        ),
        (
            lambda x, y: mi_lib.MINEETrainer(x, y, eval_pairs=0),
            ValueError,
            "eval_pairs must be a positive integer",
        ),
        (
            lambda x, y: mi_lib.MINEETrainer(x, y, critic=mi_lib.JointCritic()),
            TypeError,
            r"critic= is not an argument here: MINEETrainer trains three critics; "
            r"pass critics=\(joint, x_critic, y_critic\)",
        ),
        (
            lambda x, y: mi_lib.MINEETrainer(x, y, critics=(mi_lib.JointCritic(),)),
            ValueError,
            r"critics must be a tuple \(joint, x_critic, y_critic\) of three",
        ),
        (
            lambda x, y: mi_lib.MITrainer(
                x, y, critics=mi_lib.critics.minee_critics(1, 1)
            ),
            TypeError,
            "critics= is not an argument here: MITrainer trains one critic=",
        ),
        (
            lambda x, y: mi_lib.DVTrainer(np.hstack([x, y]), np.hstack([x, y])[:5]),
            ValueError,
            "q has 5 samples but p is split into 10 batches.*larger batch_size",
        ),
        (
            lambda x, y: mi_lib.DVTrainer(x, x, eval_data=x),
            ValueError,
            r"eval_data must be a pair \(a, b\) of sample arrays.*got ndarray",
        ),
    ],
)
def test_trainer_arguments_are_checked_at_construction(make, error, match):
    x, y = mi_lib.CorrelatedGaussian(0.5).sample(1000, seed=0)
    with pytest.raises(error, match=match):
        make(x, y)


def test_the_bounds_check_clip_and_beta_with_the_same_helpers():
    t = torch.zeros(4)
    with pytest.raises(ValueError, match="clip must be a positive number"):
        bounds.smile(t, t, clip=0.0)
    with pytest.raises(ValueError, match=r"beta must be a number in \[0, 1\)"):
        bounds.mine_loss(t, t, None, beta=-0.1)
    assert math.isfinite(bounds.smile(t, t, clip=np.float32(2.0)).item())


def test_resample_size_zero_is_refused_not_taken_for_the_default():
    x = torch.randn(10, 1)
    with pytest.raises(ValueError, match="size must be a positive integer, got 0"):
        resample_product(x, x, size=0)
    assert resample_product(x, x)[0].shape == (10, 1)  # None: as many as the data


def test_the_former_name_eval_ref_size_still_works_but_warns():
    x, y = mi_lib.CorrelatedGaussian(0.5).sample(100, seed=0)
    with pytest.warns(
        DeprecationWarning, match="eval_ref_size is deprecated.*eval_pairs"
    ):
        old = mi_lib.MINEETrainer(x, y, eval_ref_size=300, device="cpu")
    new = mi_lib.MINEETrainer(x, y, eval_pairs=300, device="cpu")
    assert old.x_ref_eval.shape == (300, 1)
    assert torch.equal(old.x_ref_eval, new.x_ref_eval)


@pytest.mark.parametrize("seed", [-1, 1.5, "0", None])
def test_seeds_must_be_non_negative_integers(seed):
    x, y = mi_lib.CorrelatedGaussian(0.5).sample(100, seed=0)
    with pytest.raises(ValueError, match=r"seed must be an integer >= 0, such as 0"):
        mi_lib.MINETrainer(x, y, seed=seed)


def test_the_base_trainer_checks_its_data():
    from mi_lib.trainers import Trainer

    x, y = mi_lib.CorrelatedGaussian(0.5).sample(100, seed=0)
    with pytest.raises(ValueError, match=r"data must be a pair \(a, b\).*ndarray"):
        Trainer([mi_lib.Critic(1)], x, paired=True)
    with pytest.raises(ValueError, match="data\\[0\\] has 100 samples but data\\[1\\]"):
        Trainer([mi_lib.JointCritic()], (x, y[:50]), paired=True)
    with pytest.raises(ValueError, match="data\\[0\\] has dimension 1 but data\\[1\\]"):
        Trainer([mi_lib.Critic(1)], (x, np.hstack([x, y])), paired=False)

"""Trainers converge to ground truth, index batches correctly, reproduce."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from mi_lib import (
    CorrelatedGaussian,
    Critic,
    DVTrainer,
    JointCritic,
    MINEETrainer,
    MINETrainer,
    MITrainer,
    ProductReference,
    bounds,
    seed_task,
)
from mi_lib.trainers import Trainer
from mi_lib.trainers.base import scores

TASK = seed_task(0)
# The oracle critic (the true log density ratio) on the seeds' 1000 samples:
# no estimator trained on these samples can be expected to do better.
SAMPLE_MI = float(CorrelatedGaussian(TASK.rho).log_density_ratio(TASK.x, TASK.y).mean())


def test_sample_oracle_is_close_to_the_truth():
    assert SAMPLE_MI == pytest.approx(TASK.ground_truth, abs=0.05)


@pytest.mark.slow  # trains for seconds: left out of make test-fast
def test_dv_trainer_estimates_the_seeds_divergence():
    trainer = DVTrainer(TASK.xy, TASK.xy_ref, seed=0)
    estimates = [trainer.step(20) for _ in range(4)]
    assert estimates[-1] == pytest.approx(TASK.ground_truth, abs=0.1)
    assert trainer.iteration == 800 and trainer.epoch == 80


def test_mine_converges_on_the_seeds_task():
    trainer = MINETrainer(TASK.x, TASK.y, seed=0)
    for _ in range(3):
        trainer.step(10)
    assert trainer.history[-1][1] == pytest.approx(SAMPLE_MI, abs=0.08)


@pytest.mark.slow  # trains for seconds: left out of make test-fast
@pytest.mark.parametrize("reference", ["gaussian", "uniform"])
def test_minee_converges_with_both_references(reference):
    trainer = MINEETrainer(TASK.x, TASK.y, reference=reference, seed=0)
    for _ in range(4):
        trainer.step(10)
    assert trainer.history[-1][1] == pytest.approx(SAMPLE_MI, abs=0.1)


@pytest.mark.slow  # trains for seconds: left out of make test-fast
@pytest.mark.parametrize("bound", ["dv", "nwj", "smile", "infonce"])
def test_variational_bounds_converge_on_a_small_problem(bound):
    dist = CorrelatedGaussian.with_mi(0.5)
    x, y = dist.sample(600, seed=1)
    critic = JointCritic(sigma=None)  # PyTorch's initialisation: no slow start
    trainer = MITrainer(x, y, critic, bound=bound, seed=0)
    estimate = trainer.step(30)
    sample_mi = float(dist.log_density_ratio(x, y).mean())
    assert estimate == pytest.approx(sample_mi, abs=0.12)
    if bound == "infonce":
        assert estimate <= math.log(100)


class NWJTrainer(Trainer):
    """A new trainer in two pieces: D(P || Q) by the NWJ bound."""

    def batches(self, rows):
        p, q = self.data
        for r in rows:
            yield p[r], q[r]

    def loss(self, p, q):
        return -bounds.nwj(*scores(self.critics[0], (p,), (q,)))


def test_a_new_trainer_needs_only_its_batches_and_its_loss():
    # D(N(1, 1) || N(0, 1)) = 1/2; the optimal NWJ critic is log(p/q) + 1
    rng = np.random.default_rng(0)
    p, q = rng.normal(1, 1, (2000, 1)), rng.normal(0, 1, (2000, 1))
    p_eval, q_eval = rng.normal(1, 1, (4000, 1)), rng.normal(0, 1, (4000, 1))
    trainer = NWJTrainer(
        [Critic(1, hidden=32, sigma=None)],
        (p, q),
        paired=False,
        eval_data=(p_eval, q_eval),
        batch_size=200,
        lr=1e-2,
        ema=0.9,
        seed=0,
    )
    for _ in range(3):
        estimate = trainer.step(5)
    assert trainer.iteration == 150 and len(trainer.history) == 3
    # the estimate's sampling noise: that of the optimal critic on these samples
    t_p = p_eval[:, 0] - 0.5 + 1
    stderr = math.sqrt((t_p.var() + np.exp(q_eval[:, 0] - 0.5).var()) / 4000)
    assert estimate == pytest.approx(0.5, abs=4 * stderr)  # 4 stderr is about 0.08
    # the default estimate is minus the loss on all evaluation samples
    with torch.no_grad():
        critic = trainer.critics[0]
        held_out = bounds.nwj(
            critic(trainer.eval_data[0]), critic(trainer.eval_data[1])
        )
    assert estimate == pytest.approx(held_out.item(), abs=1e-6)


def test_the_loop_counts_the_batches_a_trainer_yields():
    class FirstHalf(NWJTrainer):
        def batches(self, rows):
            p, q = self.data
            for r in rows[: len(rows) // 2]:
                yield p[r], q[r]

    z = torch.randn(1000, 1)
    trainer = FirstHalf([Critic(1)], (z + 1, z), paired=False, batch_size=100)
    losses = trainer._losses_of_epoch()
    assert losses.shape == (5,) and trainer.iteration == 5
    assert torch.isfinite(losses).all()


class Recorder(nn.Module):
    """A critic that records every input batch it sees while training."""

    def __init__(self):
        super().__init__()
        self.inner = JointCritic()
        self.seen = []

    def forward(self, x, y):
        if self.training:
            self.seen.append(x.detach().clone())
        return self.inner(x, y)


def test_an_epoch_visits_every_sample_once_in_batches_of_batch_size():
    x = torch.arange(1000, dtype=torch.float32).reshape(-1, 1)
    y = torch.randn(1000, 1)
    critic = Recorder()
    trainer = MITrainer(x, y, critic, bound="dv", batch_size=100, seed=0)
    trainer.step(1)
    # one forward pass per iteration: the joint batch, then the product batch
    assert [len(b) for b in critic.seen] == [200] * 10
    joint_batches = [b[:100] for b in critic.seen]
    visited = torch.cat(joint_batches).flatten().long().sort().values
    assert torch.equal(visited, torch.arange(1000))


def test_dv_trainer_uses_both_samples_in_the_same_number_of_batches():
    p = torch.arange(1000, dtype=torch.float32).reshape(-1, 1)
    q = -torch.arange(1, 501, dtype=torch.float32).reshape(-1, 1)

    class Seen(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(1, 1)
            self.sizes = []

        def forward(self, z):
            if self.training:  # one pass: the batch of p, then the batch of q
                negative = (z < 0).flatten().tolist()
                self.sizes.append((negative.count(False), negative.count(True)))
                assert negative == sorted(negative)
            return self.lin(z).squeeze(-1) * 1e-3

    critic = Seen()
    DVTrainer(p, q, critic, batch_size=100, seed=0).step(1)
    assert critic.sizes == [(100, 50)] * 10


def test_estimates_use_the_trainers_own_data_and_eval_data():
    a = MINETrainer(TASK.x, TASK.y, seed=0)
    a.step(30)
    dist = CorrelatedGaussian(0.0)
    x0, y0 = dist.sample(1000, seed=3)
    held = MINETrainer(TASK.x, TASK.y, seed=0, eval_data=(x0, y0))
    held.step(30)
    # same training, but evaluated on independent pairs: no dependence found
    assert held.history[-1][1] < 0 < 0.5 < a.history[-1][1]


def test_training_is_reproducible_under_a_seed():
    runs = []
    for seed in (3, 3, 4):
        trainer = MINETrainer(TASK.x, TASK.y, seed=seed)
        trainer.step(2)
        runs.append(trainer.history[-1][1])
    assert runs[0] == runs[1] != runs[2]


def test_global_random_state_is_left_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    MINEETrainer(TASK.x, TASK.y, seed=0).step(1)
    assert torch.equal(torch.rand(3), expected)


def test_tensorboard_log_has_every_iteration(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer = MINETrainer(TASK.x, TASK.y, seed=0, log_dir=tmp_path, progress=True)
    trainer.step(2)
    trainer.step(1)
    trainer.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    losses = events.Scalars("loss/train")
    assert [e.step for e in losses] == list(range(1, 31))
    assert [e.step for e in events.Scalars("estimate")] == [20, 30]


def test_product_reference_fits_the_marginals():
    x = torch.randn(5000, 2) * torch.tensor([1.0, 3.0]) + 2.0
    ref = ProductReference.fit(x, x[:, :1], "gaussian")
    xs, ys = ref.sample(20_000, torch.Generator().manual_seed(0))
    assert xs.mean(0).tolist() == pytest.approx([2.0, 2.0], abs=0.1)
    assert xs.std(0).tolist() == pytest.approx([1.0, 3.0], rel=0.05)
    box = ProductReference.fit(x, x, "uniform", margin=0.0)
    xs, _ = box.sample(1000, torch.Generator().manual_seed(0))
    assert (xs >= x.min(0).values).all() and (xs <= x.max(0).values).all()


def test_ema_estimates_with_the_moving_average_of_the_weights():
    trainer = DVTrainer(TASK.xy, TASK.xy_ref, batch_size=250, lr=1e-2, ema=0.5)
    critic = trainer.critic
    initial = [p.detach().clone() for p in critic.parameters()]
    trained = []  # the weights after every optimiser step

    def record(*_):
        trained.append([p.detach().clone() for p in critic.parameters()])

    trainer.optimizer.register_step_post_hook(record)
    estimate = trainer.step(1)
    assert len(trained) == 4
    expected = initial
    for weights in trained:  # average_k = 0.5 average_{k-1} + 0.5 weights_k
        expected = [0.5 * a + 0.5 * w for a, w in zip(expected, weights, strict=True)]
    for p, e, w in zip(critic.parameters(), expected, trained[-1], strict=True):
        assert torch.allclose(p, e, atol=1e-6)  # the critic holds the average
        assert not torch.allclose(p, w, atol=1e-4)  # not the trained weights
    assert estimate == pytest.approx(trainer.estimate(), abs=1e-6)

    resumed = []
    trainer.optimizer.register_step_pre_hook(
        lambda *_: resumed.append([p.detach().clone() for p in critic.parameters()])
    )
    trainer.step(1)
    for p, w in zip(resumed[0], trained[3], strict=True):  # training resumes from the
        assert torch.equal(p, w)  # trained weights, not from the average


@pytest.mark.slow  # trains for seconds: left out of make test-fast
def test_ema_smooths_the_estimates_of_a_noisy_trainer():
    def jitter(ema):
        """Mean change of the estimate from one epoch to the next."""
        trainer = MINETrainer(TASK.x, TASK.y, lr=1e-2, eval_pairs=5000, ema=ema)
        trainer.step(20)
        estimates = torch.tensor([trainer.step(1) for _ in range(15)])
        return estimates.diff().abs().mean().item()

    assert jitter(0.9) < 0.5 * jitter(None)


@pytest.mark.parametrize(
    "make,error,match",
    [
        (
            lambda: MINETrainer(TASK.x, TASK.y[:-1]),
            ValueError,
            "x has 1000 samples but y has 999",
        ),
        (lambda: MINETrainer(TASK.x[:, 0], TASK.y), ValueError, "x is 1-D"),
        (
            lambda: DVTrainer(TASK.xy, TASK.x),
            ValueError,
            "p has dimension 2 but q has 1",
        ),
        (
            lambda: MITrainer(TASK.x, TASK.y, bound="mie"),
            ValueError,
            "bound must be one of",
        ),
        (lambda: MINETrainer(TASK.x, TASK.y, batch_size=0), ValueError, "batch_size"),
        (lambda: MINETrainer(TASK.x, TASK.y, lr=-1), ValueError, "lr must be"),
        (
            lambda: MINEETrainer(TASK.x, TASK.y, reference="cauchy"),
            ValueError,
            "reference must",
        ),
        (lambda: MINETrainer(TASK.x, TASK.y).step(0), ValueError, "epochs"),
        (lambda: MINETrainer(TASK.x, TASK.y, ema=1.0), ValueError, "ema must be"),
        (lambda: MINEETrainer(TASK.x, TASK.y, ema=0), ValueError, "ema must be"),
        (lambda: DVTrainer(TASK.xy, TASK.xy_ref, ema="0.9"), ValueError, "ema must"),
        (
            lambda: MINETrainer(TASK.x, TASK.y, eval_data=(TASK.x, TASK.y[:5])),
            ValueError,
            r"eval_data\[0\] has 1000 samples but eval_data\[1\] has 5",
        ),
        (
            lambda: MINEETrainer(TASK.x, TASK.y, eval_data=(TASK.xy, TASK.y)),
            ValueError,
            r"the training data has dimension 1 but eval_data\[0\] has 2",
        ),
        (
            lambda: DVTrainer(TASK.xy, TASK.xy_ref, eval_data=TASK.xy),
            ValueError,
            "eval_data must be a pair",
        ),
    ],
)
def test_bad_arguments_raise_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_trainers_run_on_cuda():
    for trainer in (
        MINETrainer(TASK.x, TASK.y, device="cuda"),
        MINEETrainer(TASK.x, TASK.y, device="cuda"),
        MITrainer(TASK.x, TASK.y, bound="infonce", device="cuda"),
        DVTrainer(TASK.xy, TASK.xy_ref, device="cuda"),
    ):
        assert math.isfinite(trainer.step(2))
        assert next(trainer.critics[0].parameters()).is_cuda
        assert trainer.data[0].is_cuda and trainer.eval_data[1].is_cuda

"""Benchmark: mi_lib's MINE and MI-NEE against the seeds' MINE trainer.

On the seeds' task (rho = 1 - 0.19 * rng.random() with SEED = 0, so the true
MI is 0.7405 nats; n = 1000 pairs), over 5 seeds (fresh pairs of that
distribution and fresh critic weights per seed; seed 0 is the seeds' data),
side by side in one process:

- ``seeds``: a faithful copy of the seeds' MINE trainer (seed_mine_baseline.py),
  run for the seeds' schedule of 100 epochs of 10 iterations;
- ``bare``: a bare PyTorch loop of the same critic and MINE loss, the
  overhead-free limit of mi_lib's MINE (and ``bare MI-NEE`` for MI-NEE);
- ``mi_lib MINE`` and ``mi_lib MI-NEE`` with their defaults (the seeds'
  critic, initialisation and learning rate), MI-NEE with the uniform reference
  of the MI-NEE paper;
- ``MINE fast`` and ``MI-NEE fast``: the same with PyTorch's default
  initialisation of the critic (``sigma=None``) and ``lr=3e-3``.

It prints (1) mean absolute error (MAE) against 0.7405 along training, with
the error of the oracle critic (the true log density ratio) on the same
samples as the floor no estimator can beat on average; (2) the epochs each
trainer needs (the seeds' trainer: to first reach its own final MAE; mi_lib:
to first reach MAE <= 0.03), then a timed fresh run to that point
and the speed-up; (3) training iterations per second against the bare loops.

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_estimators.py``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import mi_lib
from mi_lib import bounds
from mi_lib.references import ProductReference

try:
    from seed_mine_baseline import MINETrainer as SeedMINETrainer
    from seed_mine_baseline import Net as SeedNet
except ImportError:  # run as a module from the repo root
    from benchmarks.seed_mine_baseline import MINETrainer as SeedMINETrainer
    from benchmarks.seed_mine_baseline import Net as SeedNet

SEEDS = range(5)
RHO = mi_lib.seed_task(0).rho
TRUTH = mi_lib.gaussian_mi(RHO)
TARGET_MAE = 0.03
MAX_EPOCHS = 100  # the seeds' schedule: trainer.step(10) ten times
EVERY = 5
LOG_DIR = tempfile.mkdtemp(prefix="bench_runs_")


def data(seed):
    task = mi_lib.seed_task(seed, rho=RHO)
    return (
        torch.tensor(task.x, dtype=torch.float32),
        torch.tensor(task.y, dtype=torch.float32),
    )


# --- the three trainers, each behind make(seed) -> step(epochs) -> estimate ---


def make_seeds(seed):
    x, y = data(seed)
    torch.manual_seed(seed)
    trainer = SeedMINETrainer(
        x,
        y,
        SeedNet(),
        n_iters_per_epoch=10,
        writer_params={"log_dir": f"{LOG_DIR}/seeds{seed}"},
    )
    return trainer.step


def make_mine(seed):
    x, y = data(seed)
    return mi_lib.MINETrainer(x, y, seed=seed).step


def make_minee(seed):
    x, y = data(seed)
    return mi_lib.MINEETrainer(x, y, reference="uniform", seed=seed).step


def torch_init_critics(seed):
    """The seeds' architecture with PyTorch's default initialisation."""
    return (
        mi_lib.trainers.base.seeded(lambda: mi_lib.JointCritic(sigma=None), seed),
        mi_lib.trainers.base.seeded(lambda: mi_lib.Critic(1, sigma=None), seed + 1),
        mi_lib.trainers.base.seeded(lambda: mi_lib.Critic(1, sigma=None), seed + 2),
    )


def make_mine_fast(seed):
    x, y = data(seed)
    critic = torch_init_critics(seed)[0]
    return mi_lib.MINETrainer(x, y, critic, lr=3e-3, seed=seed).step


def make_minee_fast(seed):
    x, y = data(seed)
    critics = torch_init_critics(seed)
    return mi_lib.MINEETrainer(
        x, y, critics, reference="uniform", lr=3e-3, seed=seed
    ).step


TRAINERS = {
    "seeds": make_seeds,
    "mi_lib MINE": make_mine,
    "mi_lib MI-NEE": make_minee,
    "MINE fast": make_mine_fast,
    "MI-NEE fast": make_minee_fast,
}


def curves():
    """Estimates every EVERY epochs up to MAX_EPOCHS, per trainer and seed."""
    checkpoints = list(range(EVERY, MAX_EPOCHS + 1, EVERY))
    out = {}
    for name, make in TRAINERS.items():
        rows = []
        for seed in SEEDS:
            step = make(seed)
            rows.append([step(EVERY) for _ in checkpoints])
        out[name] = np.abs(np.array(rows) - TRUTH).mean(axis=0)
    return checkpoints, out


def oracle_mae():
    errors = []
    for seed in SEEDS:
        x, y = data(seed)
        ratio = mi_lib.CorrelatedGaussian(RHO).log_density_ratio(x.numpy(), y.numpy())
        errors.append(abs(ratio.mean() - TRUTH))
    return float(np.mean(errors))


def first_reaching(checkpoints, mae, level):
    """First checkpoint with MAE <= level."""
    for i, epochs in enumerate(checkpoints):
        if mae[i] <= level:
            return epochs
    return None


def timed(make, epochs):
    """Wall time and MAE of fresh runs of ``epochs`` epochs, over the seeds."""
    seconds, errors = [], []
    for seed in SEEDS:
        step = make(seed)
        start = time.perf_counter()
        estimate = step(epochs)
        seconds.append(time.perf_counter() - start)
        errors.append(abs(estimate - TRUTH))
    return float(np.mean(seconds)), float(np.mean(errors))


# --- iterations per second against bare loops ---


def bare_mine(iterations, seed=0, batch=100, beta=0.9):
    x, y = data(seed)
    critic = mi_lib.JointCritic()
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3)
    log_avg, n, done = None, x.shape[0], 0
    start = time.perf_counter()
    while done < iterations:
        idx, j, k = torch.randperm(n), torch.randperm(n), torch.randperm(n)
        for s in range(0, n - batch + 1, batch):
            b = idx[s : s + batch]
            t_p = critic(x[b], y[b])
            t_q = critic(x[j[s : s + batch]], y[k[s : s + batch]])
            loss, log_avg = bounds.mine_loss(t_p, t_q, log_avg, beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
    return done / (time.perf_counter() - start)


def bare_minee(iterations, seed=0, batch=100):
    x, y = data(seed)
    critics = [mi_lib.JointCritic(), mi_lib.Critic(1), mi_lib.Critic(1)]
    opt = torch.optim.Adam([p for c in critics for p in c.parameters()], lr=1e-3)
    ref = ProductReference.fit(x, y, "uniform")
    n, done = x.shape[0], 0
    start = time.perf_counter()
    while done < iterations:
        idx = torch.randperm(n)
        for s in range(0, n - batch + 1, batch):
            b = idx[s : s + batch]
            xr, yr = ref.sample(batch)
            loss = -(
                bounds.dv(critics[0](x[b], y[b]), critics[0](xr, yr))
                + bounds.dv(critics[1](x[b]), critics[1](xr))
                + bounds.dv(critics[2](y[b]), critics[2](yr))
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
    return done / (time.perf_counter() - start)


def library_rate(cls, epochs):
    """Training iterations per second of a trainer, its final estimate excluded."""
    x, y = data(0)
    kwargs = {"reference": "uniform"} if cls is mi_lib.MINEETrainer else {}
    trainer = cls(x, y, seed=0, **kwargs)
    start = time.perf_counter()
    trainer.step(epochs)
    total = time.perf_counter() - start
    start = time.perf_counter()
    trainer.estimate()
    return trainer.iteration / (total - (time.perf_counter() - start))


def main():
    torch.set_num_threads(max(1, torch.get_num_threads()))
    print(
        f"Seeds' task: rho = {RHO:.4f}, true MI = {TRUTH:.4f} nats, n = 1000, "
        f"seeds {list(SEEDS)}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads\n"
    )
    floor = oracle_mae()
    checkpoints, mae = curves()
    print("MAE (nats) against the truth along training (epochs of 10 iterations):")
    shown = [c for c in checkpoints if c in (5, 10, 20, 30, 40, 60, 80, 100)]
    print(f"{'epochs':>14} " + " ".join(f"{c:>6}" for c in shown))
    for name, row in mae.items():
        vals = [row[checkpoints.index(c)] for c in shown]
        print(f"{name:>14} " + " ".join(f"{v:6.3f}" for v in vals))
    print(f"{'oracle critic':>14} {floor:6.3f} (the floor on these samples)")
    print(
        "fast: PyTorch's default initialisation instead of the seeds' N(0, 0.02^2),"
        " lr 3e-3\n"
    )

    seed_final = mae["seeds"][-1]
    needs = {
        name: first_reaching(
            checkpoints, row, seed_final if name == "seeds" else TARGET_MAE
        )
        for name, row in mae.items()
    }
    results = {"truth": TRUTH, "oracle_mae": floor, "seeds_final_mae": seed_final}
    print(
        f"Time to accuracy: the first checkpoint where the MAE reaches the seeds' "
        f"trainer's own final MAE {seed_final:.3f} (for the seeds' trainer) or "
        f"{TARGET_MAE} (for mi_lib), then a timed fresh run of that many epochs:"
    )
    print(f"{'trainer':>14} {'epochs':>7} {'wall s':>8} {'MAE':>7} {'speed-up':>9}")
    base_time = None
    for name, epochs in needs.items():
        if epochs is None:
            print(
                f"{name:>14}  did not reach its accuracy level in {MAX_EPOCHS} epochs"
            )
            continue
        seconds, error = timed(TRAINERS[name], epochs)
        base_time = seconds if name == "seeds" else base_time
        speedup = base_time / seconds if base_time else float("nan")
        print(f"{name:>14} {epochs:7d} {seconds:8.2f} {error:7.3f} {speedup:8.1f}x")
        results[name] = {
            "epochs": epochs,
            "seconds": seconds,
            "mae": error,
            "speedup": speedup,
        }

    epochs = 100
    rates = {
        "bare MINE loop": bare_mine(10 * epochs),
        "mi_lib MINE": library_rate(mi_lib.MINETrainer, epochs),
        "bare MI-NEE loop": bare_minee(10 * epochs),
        "mi_lib MI-NEE": library_rate(mi_lib.MINEETrainer, epochs),
    }
    print("\nTraining iterations per second (batch 100, final estimate excluded):")
    for name, rate in rates.items():
        bare = (
            rates["bare MINE loop"]
            if "MINE" in name and "NEE" not in name
            else (rates["bare MI-NEE loop"])
        )
        print(f"{name:>17} {rate:8.0f} it/s  {rate / bare:6.0%} of its bare loop")
    results["rates"] = rates
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "estimators.json").write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()

"""Benchmark: mi_lib's MINE and MI-NEE against the seeds' MINE trainer.

On the seeds' task (rho = 1 - 0.19 * rng.random() with SEED = 0, so the true
MI is 0.7405 nats; n = 1000 pairs), over 5 seeds (fresh pairs of that
distribution and fresh critic weights per seed; seed 0 is the seeds' data),
side by side in one process on one CPU thread:

- ``seeds``: a faithful copy of the seeds' MINE trainer (seed_mine_baseline.py),
  run for the seeds' schedule of 100 epochs of 10 iterations;
- ``mi_lib MINE`` and ``mi_lib MI-NEE``: the trainers with their defaults,
  the seeds' critic (two ELU layers of 100 units, weights N(0, 0.02^2)),
  learning rate 1e-3 and batches of 100; MI-NEE with its default Gaussian
  reference;
- ``MINE fast`` and ``MI-NEE fast``: the same trainers with the settings of
  ``FAST``: PyTorch's default initialisation (``sigma=None``), learning rate
  1e-2, batches of 250 and a moving average of the critics' weights
  (``ema=0.9``) for the estimate, critics of two ELU layers of 64 units; the
  estimate uses 20,000 product pairs (MINE) or 10,000 reference samples
  (MI-NEE, whose estimate runs three critics).

It prints (1) mean absolute error (MAE) against 0.7405 every 20 iterations,
with the error of the oracle critic (the true log density ratio) on the same
samples as the floor no estimator can beat on average; (2) the iterations each
trainer needs (the seeds' trainer: to first reach its own final MAE; mi_lib:
to first reach MAE <= 0.03), then the wall time of a fresh run to that point,
its estimate included, and the speed-up; (3) MI-NEE against the seeds' own
way of computing it, three runs of their ``DVTrainer`` (seed-002, a faithful
copy in seed_dv_baseline.py), one per divergence against the task's N(0, I)
reference samples, on the seeds' schedule (100 epochs of 10 iterations):
their final MAE and time, then MI-NEE with the library's settings timed to
that MAE, and the default ``estimate_mi(method="minee")`` call; (4) training
iterations per second against bare PyTorch loops of the same computation (the
overhead-free limit).

Run: ``make bench`` or ``.venv/bin/python benchmarks/bench_estimators.py``;
``--first-seed 5`` repeats it on seeds 5-9, fresh samples of the same task.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import mi_lib
from mi_lib import bounds
from mi_lib.critics import minee_critics, seeded
from mi_lib.references import ProductReference

try:
    from seed_dv_baseline import DVTrainer as SeedDVTrainer
    from seed_dv_baseline import Net as SeedDVNet
    from seed_mine_baseline import MINETrainer as SeedMINETrainer
    from seed_mine_baseline import Net as SeedNet
except ImportError:  # run as a module from the repo root
    from benchmarks.seed_dv_baseline import DVTrainer as SeedDVTrainer
    from benchmarks.seed_dv_baseline import Net as SeedDVNet
    from benchmarks.seed_mine_baseline import MINETrainer as SeedMINETrainer
    from benchmarks.seed_mine_baseline import Net as SeedNet

SEEDS = range(5)  # set by --first-seed
RHO = mi_lib.seed_task(0).rho
TRUTH = mi_lib.gaussian_mi(RHO)
TARGET_MAE = 0.03
MAX_ITERATIONS = 1000  # the seeds' schedule: trainer.step(10) ten times
EVERY = 20  # iterations between checkpoints
LOG_DIR = tempfile.mkdtemp(prefix="bench_runs_")
#: mi_lib's settings for a fast estimate (see the module docstring).
FAST = {"lr": 1e-2, "batch_size": 250, "ema": 0.9}
FAST_WIDTH = 64


def data(seed):
    task = mi_lib.seed_task(seed, rho=RHO)
    return (
        torch.tensor(task.x, dtype=torch.float32),
        torch.tensor(task.y, dtype=torch.float32),
    )


# --- the contenders, each behind make(seed) -> step(epochs) -> estimate ---


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
    return mi_lib.MINEETrainer(x, y, seed=seed).step


def make_mine_fast(seed):
    x, y = data(seed)
    critic = seeded(lambda: mi_lib.JointCritic(hidden=FAST_WIDTH, sigma=None), seed)
    return mi_lib.MINETrainer(x, y, critic, eval_pairs=20_000, seed=seed, **FAST).step


def make_minee_fast(seed):
    x, y = data(seed)
    critics = minee_critics(1, 1, seed=seed, hidden=FAST_WIDTH, sigma=None)
    return mi_lib.MINEETrainer(x, y, critics, eval_pairs=10_000, seed=seed, **FAST).step


#: name -> (make, iterations per epoch on the 1000 pairs)
CONTENDERS = {
    "seeds": (make_seeds, 10),
    "mi_lib MINE": (make_mine, 10),
    "mi_lib MI-NEE": (make_minee, 10),
    "MINE fast": (make_mine_fast, 4),
    "MI-NEE fast": (make_minee_fast, 4),
}


def curves():
    """MAE every EVERY iterations up to MAX_ITERATIONS, per contender."""
    checkpoints = list(range(EVERY, MAX_ITERATIONS + 1, EVERY))
    out = {}
    for name, (make, per_epoch) in CONTENDERS.items():
        rows = []
        for seed in SEEDS:
            step = make(seed)
            rows.append([step(EVERY // per_epoch) for _ in checkpoints])
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
    for i, iterations in enumerate(checkpoints):
        if mae[i] <= level:
            return iterations
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


# --- MI-NEE against the seeds' own way: three runs of their DVTrainer ---


def make_seed_minee(seed):
    """The seeds' MI-NEE exercise: D(P_XY||N(0,I)) - D(P_X||N(0,1)) -
    D(P_Y||N(0,1)), each by a run of the seeds' DVTrainer on the task's
    reference samples, stepped together."""
    task = mi_lib.seed_task(seed, rho=RHO)
    z = torch.tensor(task.xy, dtype=torch.float32)
    z_ref = torch.tensor(task.xy_ref, dtype=torch.float32)
    torch.manual_seed(seed)
    runs = [
        SeedDVTrainer(
            a,
            b,
            SeedDVNet(a.shape[1]),
            n_iters_per_epoch=10,
            writer_params={"log_dir": f"{LOG_DIR}/seeds_dv{seed}_{name}"},
        )
        for name, a, b in (
            ("xy", z, z_ref),
            ("x", z[:, :1], z_ref[:, :1]),
            ("y", z[:, 1:], z_ref[:, 1:]),
        )
    ]

    def step(epochs):
        d_xy, d_x, d_y = (run.step(epochs) for run in runs)
        return d_xy - d_x - d_y

    return step


def seeds_minee_versus_library(fast_curve, checkpoints):
    """The seeds' schedule (step(10) ten times per run), its final MAE and wall
    time; then MI-NEE with the library's settings to that MAE, and the default
    estimate_mi(method="minee") call, timed side by side."""
    rows, seconds = [], []
    for seed in SEEDS:
        step = make_seed_minee(seed)
        start = time.perf_counter()
        rows.append([step(10) for _ in range(10)])
        seconds.append(time.perf_counter() - start)
    mae = np.abs(np.array(rows) - TRUTH).mean(axis=0)
    seeds_mae, seeds_time = float(mae[-1]), float(np.mean(seconds))
    print(
        "\nMI-NEE against the seeds' own way, three runs of their DVTrainer "
        "(seed-002) one per divergence, 100 epochs of 10 iterations each:"
    )
    print("  seeds' MAE every 10 epochs: " + " ".join(f"{v:.3f}" for v in mae))
    print(f"{'contender':>24} {'iters':>6} {'wall s':>8} {'MAE':>7} {'speed-up':>9}")
    print(
        f"{'seeds: 3 DVTrainer runs':>24} {3000:6d} {seeds_time:8.3f} "
        f"{seeds_mae:7.3f} {1.0:8.1f}x"
    )
    out = {"seeds": {"seconds": seeds_time, "mae": seeds_mae}}
    iterations = first_reaching(checkpoints, fast_curve, seeds_mae)
    if iterations is not None:
        make, per_epoch = CONTENDERS["MI-NEE fast"]
        wall, error = timed(make, iterations // per_epoch)
        print(
            f"{'MI-NEE, library settings':>24} {iterations:6d} {wall:8.3f} "
            f"{error:7.3f} {seeds_time / wall:8.1f}x"
        )
        out["library"] = {"iterations": iterations, "seconds": wall, "mae": error}
    walls, errors = [], []
    for seed in SEEDS:
        task = mi_lib.seed_task(seed, rho=RHO)
        start = time.perf_counter()
        value = mi_lib.estimate_mi(task.x, task.y, method="minee", seed=seed).value
        walls.append(time.perf_counter() - start)
        errors.append(abs(value - TRUTH))
    wall, error = float(np.mean(walls)), float(np.mean(errors))
    print(
        f"{'estimate_mi(minee)':>24} {'5 folds':>6} {wall:8.3f} {error:7.3f} "
        f"{seeds_time / wall:8.1f}x"
    )
    out["estimate_mi"] = {"seconds": wall, "mae": error}
    return out


# --- iterations per second against bare loops ---
# The bare loops do the library's computation with nothing around it: one
# forward pass per critic on the joint and product batches together, and
# Adam's fused kernel.


def bare_mine(iterations, seed=0, batch=100, beta=0.9):
    x, y = data(seed)
    critic = mi_lib.JointCritic()
    opt = torch.optim.Adam(critic.parameters(), lr=1e-3, fused=True)
    log_avg, n, done = None, x.shape[0], 0
    start = time.perf_counter()
    while done < iterations:
        idx, j, k = torch.randperm(n), torch.randperm(n), torch.randperm(n)
        for s in range(0, n - batch + 1, batch):
            b = idx[s : s + batch]
            t = critic(
                torch.cat([x[b], x[j[s : s + batch]]]),
                torch.cat([y[b], y[k[s : s + batch]]]),
            )
            loss, log_avg = bounds.mine_loss(t[:batch], t[batch:], log_avg, beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
    return done / (time.perf_counter() - start)


def bare_minee(iterations, seed=0, batch=100):
    x, y = data(seed)
    joint, cx, cy = mi_lib.JointCritic(), mi_lib.Critic(1), mi_lib.Critic(1)
    params = [p for c in (joint, cx, cy) for p in c.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3, fused=True)
    ref = ProductReference.fit(x, y, "gaussian")
    n, done = x.shape[0], 0
    start = time.perf_counter()
    while done < iterations:
        idx = torch.randperm(n)
        for s in range(0, n - batch + 1, batch):
            b = idx[s : s + batch]
            xr, yr = ref.sample(batch)
            xs, ys = torch.cat([x[b], xr]), torch.cat([y[b], yr])
            t_xy, t_x, t_y = joint(xs, ys), cx(xs), cy(ys)
            loss = -(
                bounds.dv(t_xy[:batch], t_xy[batch:])
                + bounds.dv(t_x[:batch], t_x[batch:])
                + bounds.dv(t_y[:batch], t_y[batch:])
            )
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
    return done / (time.perf_counter() - start)


def library_rate(cls, epochs):
    """Training iterations per second of a trainer, its final estimate excluded."""
    x, y = data(0)
    trainer = cls(x, y, seed=0)
    start = time.perf_counter()
    trainer.step(epochs)
    total = time.perf_counter() - start
    start = time.perf_counter()
    trainer.estimate()
    return trainer.iteration / (total - (time.perf_counter() - start))


def main():
    global SEEDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--first-seed", type=int, default=0)
    first = parser.parse_args().first_seed
    SEEDS = range(first, first + 5)
    torch.set_num_threads(1)
    print(
        f"Seeds' task: rho = {RHO:.4f}, true MI = {TRUTH:.4f} nats, n = 1000, "
        f"seeds {list(SEEDS)}; torch {torch.__version__}, 1 thread\n"
    )
    floor = oracle_mae()
    checkpoints, mae = curves()
    print("MAE (nats) against the truth along training:")
    shown = [60, 100, 200, 300, 400, 600, 800, 1000]
    print(f"{'iterations':>14} " + " ".join(f"{c:>6}" for c in shown))
    for name, row in mae.items():
        vals = [row[checkpoints.index(c)] for c in shown]
        print(f"{name:>14} " + " ".join(f"{v:6.3f}" for v in vals))
    print(f"{'oracle critic':>14} {floor:6.3f} (the floor on these samples)")
    print(
        "fast: PyTorch's initialisation, lr 1e-2, batches of 250, ema 0.9, "
        f"critics {FAST_WIDTH} wide\n"
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
        f"{TARGET_MAE} (for mi_lib), then a fresh run to that point, timed with "
        "its estimate:"
    )
    print(f"{'trainer':>14} {'iters':>6} {'wall s':>8} {'MAE':>7} {'speed-up':>9}")
    base_time = None
    for name, iterations in needs.items():
        if iterations is None:
            print(f"{name:>14}  did not reach its level in {MAX_ITERATIONS} iterations")
            continue
        make, per_epoch = CONTENDERS[name]
        seconds, error = timed(make, iterations // per_epoch)
        base_time = seconds if name == "seeds" else base_time
        speedup = base_time / seconds if base_time else float("nan")
        print(f"{name:>14} {iterations:6d} {seconds:8.3f} {error:7.3f} {speedup:8.1f}x")
        results[name] = {
            "iterations": iterations,
            "seconds": seconds,
            "mae": error,
            "speedup": speedup,
        }

    results["seeds_minee"] = seeds_minee_versus_library(mae["MI-NEE fast"], checkpoints)

    epochs = 100
    rates = {
        "bare MINE loop": bare_mine(10 * epochs),
        "mi_lib MINE": library_rate(mi_lib.MINETrainer, epochs),
        "bare MI-NEE loop": bare_minee(10 * epochs),
        "mi_lib MI-NEE": library_rate(mi_lib.MINEETrainer, epochs),
    }
    print("\nTraining iterations per second (defaults: batch 100; estimate excluded):")
    for name, rate in rates.items():
        bare = rates["bare MI-NEE loop" if "NEE" in name else "bare MINE loop"]
        print(f"{name:>17} {rate:8.0f} it/s  {rate / bare:6.0%} of its bare loop")
    results["rates"] = rates
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    path = out / f"estimators_seeds{first}.json"
    path.write_text(json.dumps(results, indent=2, default=float))


if __name__ == "__main__":
    main()

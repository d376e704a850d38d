"""Benchmark: estimate_mi's defaults on the course's task, against the floor.

Prints, on one CPU thread, for the default method and for ``"mine"`` and
``"minee"`` called with their defaults (cross-fitted: 5 folds, 3 for the
default on 5000 pairs):

1. the course's task drawn afresh 5 times (``mi_lib.seed_task(s)``, s = 0-4:
   rho = 1 - 0.19 U, n = 1000 pairs): the mean absolute error (MAE) against
   each draw's truth, the mean signed error (bias), and the floor: the MAE of
   the true log density ratio averaged over the same 1000 pairs, which no
   estimate evaluated on those pairs beats on average; then the wall and CPU
   time per call;
2. the 1-D Gaussian rho = 0.75 with n = 5000 pairs, 5 draws: MAE, its floor
   and their ratio.

Targets (issue 15): MAE <= 0.03 nats on (1) for MINE and MI-NEE; within 1.3x
of the floor on (2); a default call on n = 1000 in at most 2 s (MINE) and
4 s (MI-NEE). Nothing asserts: the script prints the figures.

Run: ``.venv/bin/python benchmarks/bench_targets.py`` (about 2 minutes on a
quiet machine); ``--draws 10`` for more draws.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch

import mi_lib
from mi_lib.estimate import DEFAULT_METHOD

METHODS = (DEFAULT_METHOD, "mine", "minee")


def floor_error(dist, x, y, truth):
    """|mean of the true log density ratio over the pairs - truth|."""
    return abs(dist.log_density_ratio(x, y).mean() - truth)


def run(tasks, methods):
    """``{method: (signed errors, wall seconds, cpu seconds, warnings)}``."""
    out = {}
    for method in methods:
        errors, wall, cpu, warned = [], [], [], 0
        for x, y, truth, seed in tasks:
            start, start_cpu = time.perf_counter(), time.process_time()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", mi_lib.MIEstimateWarning)
                result = mi_lib.estimate_mi(x, y, method=method, seed=seed)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
            errors.append(result.value - truth)
            warned += len(caught)
        out[method] = (np.array(errors), np.mean(wall), np.mean(cpu), warned)
    return out


def table(title, results, floor):
    print(title)
    print(
        f"{'method':>8} {'MAE':>7} {'floor':>7} {'ratio':>6} {'bias':>7} "
        f"{'wall s':>7} {'CPU s':>6} {'warnings':>8}"
    )
    for method, (errors, wall, cpu, warned) in results.items():
        mae = np.abs(errors).mean()
        print(
            f"{method:>8} {mae:7.4f} {floor:7.4f} {mae / floor:6.2f} "
            f"{errors.mean():+7.4f} {wall:7.2f} {cpu:6.2f} {warned:8d}"
        )
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args()
    methods = args.methods.split(",")
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread; default method {DEFAULT_METHOD!r}\n")

    tasks, floors = [], []
    for s in range(args.draws):
        task = mi_lib.seed_task(s)
        tasks.append((task.x, task.y, task.ground_truth, s))
        dist = mi_lib.CorrelatedGaussian(task.rho)
        floors.append(floor_error(dist, task.x, task.y, task.ground_truth))
    title = (
        f"(1) the course's task, seed_task(s) for s < {args.draws} (rho = 1 - 0.19 U, "
        "n = 1000); target MAE <= 0.03, MINE <= 2 s, MI-NEE <= 4 s a call:"
    )
    table(title, run(tasks, methods), float(np.mean(floors)))

    dist = mi_lib.CorrelatedGaussian(0.75)
    tasks, floors = [], []
    for s in range(args.draws):
        x, y = dist.sample(5000, seed=s)
        tasks.append((x, y, dist.mi, s))
        floors.append(floor_error(dist, x, y, dist.mi))
    title = (
        f"(2) 1-D Gaussian rho = 0.75 (MI {dist.mi:.4f}), n = 5000, {args.draws} "
        "draws; target ratio <= 1.3:"
    )
    table(title, run(tasks, methods), float(np.mean(floors)))


if __name__ == "__main__":
    main()

"""Benchmark: estimate_mi near the information limit, for every method.

(1) The tuning grid: 20-dimensional correlated Gaussians (componentwise rho),
n = 5000 pairs, true MI 2, 4, 6, 8 and 10 nats, one draw per level; every
method with its defaults (cross-fitting; 3 folds for "js" and "smile" on
these 5000 pairs, 5 for the others). It prints each estimate
with its standard error, the number of warnings it issued, and the CPU
seconds a call. The target for the default method: within 10% of the truth
at every level, in about 4 s a call on one CPU thread.

(2) Data the defaults were not tuned on, for the default method: 5-d and
50-d Gaussians, other sample sizes, the heavy-tailed TransformedGaussian
(cubic and exp marginals) and the course's 1-D task.

Run: ``.venv/bin/python benchmarks/bench_high_mi.py`` (``--quick``: levels 2,
6 and 10 and the default method only; ``--methods mine,smile`` to choose;
``--skip-grid`` or ``--skip-untuned`` for one part only).
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch

import mi_lib
from mi_lib.estimate import DEFAULT_METHOD, METHODS

LEVELS = (2, 4, 6, 8, 10)


def call(x, y, method, seed=0):
    start = time.process_time()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", mi_lib.MIEstimateWarning)
        result = mi_lib.estimate_mi(x, y, method=method, seed=seed)
    return result, time.process_time() - start, len(caught)


def cell(result, truth, warned):
    flag = "!" if warned else " "
    error = result.value / truth - 1
    return f"{result.value:7.2f}{flag}({result.stderr:4.2f}) {error:+4.0%}"


def grid(methods, levels):
    print(
        "(1) 20-d correlated Gaussians, n = 5000: estimate (stderr) and error "
        "against the truth; ! = warned; CPU s a call"
    )
    print(
        f"{'method':>8} " + " ".join(f"{f'truth {m}':>21}" for m in levels) + "   CPU s"
    )
    for method in methods:
        cells, seconds = [], []
        for mi in levels:
            x, y = mi_lib.CorrelatedGaussian.with_mi(mi, dim=20).sample(5000, seed=0)
            result, cpu, warned = call(x, y, method)
            cells.append(cell(result, mi, warned))
            seconds.append(cpu)
        print(
            f"{method:>8} "
            + " ".join(f"{c:>21}" for c in cells)
            + f"   {sum(seconds) / len(seconds):5.1f}",
            flush=True,
        )


def untuned():
    print(f"\n(2) data not tuned on, method {DEFAULT_METHOD!r}:")
    cases = []
    for dim, mi, n in (
        (5, 1.0, 2000),
        (5, 5.0, 2000),
        (50, 2.0, 5000),
        (50, 10.0, 5000),
        (20, 6.0, 2000),
        (20, 6.0, 10000),
    ):
        dist = mi_lib.CorrelatedGaussian.with_mi(mi, dim=dim)
        cases.append((f"Gaussian {dim}-d, n = {n}", dist, n))
    for transform in ("cubic", "exp"):
        dist = mi_lib.TransformedGaussian(
            mi_lib.rho_for_mi(4.0, 20), 20, transform=transform
        )
        cases.append((f"TransformedGaussian 20-d {transform}, n = 5000", dist, 5000))
    for label, dist, n in cases:
        x, y = dist.sample(n, seed=1)
        result, cpu, warned = call(x, y, DEFAULT_METHOD, seed=1)
        print(
            f"{label:>42} truth {dist.mi:5.2f}: {cell(result, dist.mi, warned)}"
            f"  {cpu:5.1f} s",
            flush=True,
        )
    task = mi_lib.seed_task(7)
    result, cpu, warned = call(task.x, task.y, DEFAULT_METHOD, seed=7)
    print(
        f"{'course task seed_task(7), n = 1000':>42} truth {task.ground_truth:5.2f}: "
        f"{cell(result, task.ground_truth, warned)}  {cpu:5.1f} s"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--methods", default=None)
    parser.add_argument("--skip-untuned", action="store_true")
    parser.add_argument("--skip-grid", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    methods = (
        args.methods.split(",")
        if args.methods
        else ([DEFAULT_METHOD] if args.quick else list(METHODS))
    )
    if not args.skip_grid:
        grid(methods, (2, 6, 10) if args.quick else LEVELS)
    if not args.skip_untuned:
        untuned()


if __name__ == "__main__":
    main()

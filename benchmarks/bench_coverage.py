"""Benchmark: does estimate_mi's 90% interval contain the truth 90% of the time?

Draws a task with known MI ``--draws`` times (100 by default), calls
``estimate_mi`` on each draw with a fresh seed, and prints the share of the
intervals that contain the truth (the target is 85-95% for a 90% interval),
the mean reported standard error against the actual spread of the estimates,
and the mean error. The interval covers the sampling noise of the held-out
pairs and the critics' training noise (the delta method's standard error,
floored by the spread of the folds' estimates over the square root of their
number); a critic's bias is outside it, so coverage falls short wherever the
critics are short of the optimum (for example at high MI, or with too few
epochs). It also prints the coverage of the delta method's interval alone,
which takes the trained critics as given.

The task: 1-D correlated Gaussian, rho = 0.75 (MI 0.4133 nats), n = 1000
pairs; the default method with its default settings. On the 2-core
development machine it takes a few minutes; ``--n``, ``--rho``, ``--dim``,
``--method`` and ``--epochs`` change the task and the call.

Run: ``.venv/bin/python benchmarks/bench_coverage.py``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch

import mi_lib
from mi_lib import estimate, heldout
from mi_lib.estimate import DEFAULT_METHOD

#: The delta method's standard error of the last call (estimate_mi reports
#: the larger of it and the folds' spread over sqrt(folds)).
DELTA = {}


def _combine_recording_delta(terms, confidence):
    DELTA["stderr"] = heldout.delta_stderr(terms)
    return heldout.combine(terms, confidence)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=100)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rho", type=float, default=0.75)
    parser.add_argument("--dim", type=int, default=1)
    parser.add_argument("--method", default=DEFAULT_METHOD)
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    estimate.combine = _combine_recording_delta
    dist = mi_lib.CorrelatedGaussian(args.rho, args.dim)
    values, errors, covered, warned = [], [], 0, 0
    covered_delta = 0  # the delta method's interval alone
    z = statistics.NormalDist().inv_cdf(0.95)
    start = time.perf_counter()
    for draw in range(args.draws):
        x, y = dist.sample(args.n, seed=1000 + draw)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", mi_lib.MIEstimateWarning)
            result = mi_lib.estimate_mi(
                x, y, method=args.method, epochs=args.epochs, seed=draw
            )
        warned += len(caught)
        values.append(result.value)
        errors.append(result.stderr)
        covered += result.ci[0] <= dist.mi <= result.ci[1]
        covered_delta += abs(result.value - dist.mi) <= z * DELTA["stderr"]
        if (draw + 1) % 10 == 0 and draw + 1 < args.draws:
            print(
                f"  after {draw + 1} draws: {covered} covered, mean error "
                f"{np.mean(values) - dist.mi:+.4f}, mean stderr {np.mean(errors):.4f}",
                flush=True,
            )
    values = np.array(values)
    print(
        f"{args.draws} draws of a {args.dim}-d Gaussian, rho = {args.rho} "
        f"(MI {dist.mi:.4f} nats), n = {args.n}; method {args.method!r}, "
        f"epochs {args.epochs or 'default'}; {time.perf_counter() - start:.0f} s"
    )
    print(
        f"90% interval contains the truth: {covered}/{args.draws} "
        f"= {covered / args.draws:.0%} (target 85-95%)"
    )
    print(
        f"the delta method's interval alone: "
        f"{covered_delta}/{args.draws} = {covered_delta / args.draws:.0%}"
    )
    print(
        f"mean reported stderr {np.mean(errors):.4f}; "
        f"spread (sd) of the estimates {values.std(ddof=1):.4f}"
    )
    print(
        f"mean error {values.mean() - dist.mi:+.4f} nats "
        f"(+/- {values.std(ddof=1) / np.sqrt(args.draws):.4f}); warnings: {warned}"
    )


if __name__ == "__main__":
    main()

"""Precompute the staircase comparison of chapter 7 (``source/07_comparison``).

Each estimator trains its critic(s) on a 20-dimensional correlated Gaussian whose
mutual information steps up during training, 2, 4, 6, 8 and 10 nats for
``iterations`` iterations each (the "staircase" of Poole et al., 2019, and Song &
Ermon, 2020). Every iteration draws a fresh batch from
``mi_lib.CorrelatedGaussian.with_mi(mi, dim=20)``, records the estimate of the
bound on that batch (before the update) and takes one Adam step. All estimators
see the same batches.

The estimators, written here with :mod:`mi_lib.bounds` and :mod:`mi_lib.critics`
because the library's trainers train on a fixed data set, not on a stream whose
distribution changes:

- ``DV (MINE)``: the DV bound, trained with MINE's moving average
  (:func:`mi_lib.bounds.mine_loss`);
- ``NWJ``, ``InfoNCE`` (at most ``log(batch_size)``), ``SMILE`` (tau = 5);
- ``MI-NEE``: three DV bounds against a Gaussian product reference fitted, at
  the start of every step, to fresh samples of the marginals.

DV, NWJ, InfoNCE and SMILE use one separable critic ``f(x)^T g(y)`` and take the
``n(n-1)`` off-diagonal pairs of the batch's score matrix as samples of the product
of marginals, as Poole et al. do; MI-NEE uses such a critic for the pairs and two
perceptrons for the marginals, and scores all ``n^2`` pairs of its reference
samples, which are independent. The results go to
``source/07_comparison/staircase.json``, which the chapter loads and plots.

The run is seeded and deterministic on the CPU with one thread, so that

    python scripts/compare_estimators.py            # write the JSON (a few minutes)
    python scripts/compare_estimators.py --check    # recompute, compare, write nothing

gives back the committed file exactly (``--check`` exits 1 otherwise). The chapter
re-runs one estimator for one step with the same code to show it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

import mi_lib
from mi_lib import bounds

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "source" / "07_comparison" / "staircase.json"

CONFIG = {
    "dim": 20,
    "mis": [2.0, 4.0, 6.0, 8.0, 10.0],
    "iterations": 1000,  # per step of the staircase
    "batch_size": 64,
    "lr": 1e-3,
    "hidden": 100,  # two ELU layers of this width in every network
    "embed": 32,  # the separable critic's f(x) and g(y) live in R^embed
    "sigma": 0.1,  # initial weights ~ N(0, sigma^2)
    "beta": 0.9,  # MINE's moving average
    "clip": 5.0,  # SMILE's tau
    "seed": 0,
    "decimals": 3,  # the estimates are stored rounded to this many decimals
}
ESTIMATORS = ("DV (MINE)", "NWJ", "InfoNCE", "SMILE", "MI-NEE")


def truth_of(config: dict) -> np.ndarray:
    """The true MI at every iteration of the staircase."""
    return np.repeat(np.asarray(config["mis"], float), config["iterations"])


def _separable(config: dict) -> torch.nn.Module:
    d = config["dim"]
    return mi_lib.SeparableCritic(
        d, d, embed=config["embed"], hidden=config["hidden"], sigma=config["sigma"]
    )


def _scores(critic, x, y):
    """Joint scores t(x_i, y_i) and the n(n-1) product scores t(x_i, y_j), i != j."""
    s = critic.pairwise(x, y)
    off = ~torch.eye(len(x), dtype=torch.bool)
    return s, s.diagonal(), s[off]


class Staircase:
    """One estimator on the staircase: ``batch(x, y)`` returns the batch estimate
    (before the step) and takes one Adam step on the estimator's loss."""

    def __init__(self, name: str, config: dict):
        if name not in ESTIMATORS:
            raise ValueError(f"unknown estimator {name!r}; choose one of {ESTIMATORS}")
        self.name, self.config = name, config
        torch.manual_seed(config["seed"])  # the same initial critic for every bound
        if name.startswith("MI-NEE"):
            d, h, s = config["dim"], config["hidden"], config["sigma"]
            self.critics = [
                _separable(config),
                mi_lib.Critic(d, hidden=h, sigma=s),
                mi_lib.Critic(d, hidden=h, sigma=s),
            ]
            self.generator = torch.Generator().manual_seed(config["seed"] + 1)
        else:
            self.critics = [_separable(config)]
        params = [p for c in self.critics for p in c.parameters()]
        self.optimizer = torch.optim.Adam(params, lr=config["lr"])
        self.log_avg = None  # MINE's moving average, in the log domain
        self.reference = None

    def new_step(self, x_fit: torch.Tensor, y_fit: torch.Tensor) -> None:
        """A new step of the staircase: MI-NEE fits its reference to fresh data."""
        if self.name.startswith("MI-NEE"):
            self.reference = mi_lib.ProductReference.fit(x_fit, y_fit, "gaussian")

    def batch(self, x: torch.Tensor, y: torch.Tensor) -> float:
        if self.name.startswith("MI-NEE"):
            joint, cx, cy = self.critics
            x_ref, y_ref = self.reference.sample(len(x), self.generator)
            _, t_p, _ = _scores(joint, x, y)
            # reference pairs are independent for every (i, j): use all n^2 of them
            t_q = joint.pairwise(x_ref, y_ref).reshape(-1)
            d_xy = bounds.dv(t_p, t_q)
            d_x = bounds.dv(cx(x), cx(x_ref))
            d_y = bounds.dv(cy(y), cy(y_ref))
            estimate, loss = d_xy - d_x - d_y, -(d_xy + d_x + d_y)
        else:
            s, t_p, t_q = _scores(self.critics[0], x, y)
            if self.name == "DV (MINE)":
                estimate = bounds.dv(t_p, t_q)
                loss, self.log_avg = bounds.mine_loss(
                    t_p, t_q, self.log_avg, self.config["beta"]
                )
            elif self.name == "NWJ":
                estimate = bounds.nwj(t_p, t_q)
                loss = -estimate
            elif self.name == "InfoNCE":
                estimate = bounds.infonce(s)
                loss = -estimate
            else:  # SMILE: the value is the clipped DV, the gradient that of JS
                estimate = bounds.smile(t_p, t_q, self.config["clip"])
                loss = -estimate
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return estimate.item()


def run_estimator(name: str, config: dict = CONFIG, steps=None) -> np.ndarray:
    """The batch estimates of ``name`` at every iteration of the first ``steps``
    steps of the staircase (all by default), on the CPU, deterministically."""
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    mis = config["mis"][: steps if steps is not None else len(config["mis"])]
    rng = np.random.default_rng(config["seed"])  # the same batches for every bound
    rng_fit = np.random.default_rng(config["seed"] + 1)  # MI-NEE's reference fit
    est = Staircase(name, config)
    out = []
    as_tensor = lambda a: torch.as_tensor(a, dtype=torch.float32)
    for mi in mis:
        gaussian = mi_lib.CorrelatedGaussian.with_mi(mi, dim=config["dim"])
        x_fit, y_fit = gaussian.sample(10 * config["batch_size"], rng_fit)
        est.new_step(as_tensor(x_fit), as_tensor(y_fit))
        for _ in range(config["iterations"]):
            x, y = gaussian.sample(config["batch_size"], rng)
            out.append(est.batch(as_tensor(x), as_tensor(y)))
    return np.round(np.asarray(out), config["decimals"])


def compute(config: dict = CONFIG, names=ESTIMATORS, verbose: bool = True) -> dict:
    """The estimators on the staircase, as the JSON-ready dict the chapter reads."""
    estimates = {}
    for name in names:
        start = time.perf_counter()
        estimates[name] = run_estimator(name, config).tolist()
        if verbose:
            print(f"{name:10s} {time.perf_counter() - start:6.1f} s", flush=True)
    return {
        "description": (
            "Batch estimates of I(X;Y) in nats at every iteration of the staircase "
            "(the truth: each of config.mis for config.iterations iterations); "
            "written by scripts/compare_estimators.py"
        ),
        "config": config,
        "torch": torch.__version__.split("+")[0],
        "estimates": estimates,
    }


# Training runs thousands of float32 steps: CPUs with other vector kernels
# (AVX2 against AVX-512, say) round differently and end a few thousandths of a
# nat apart (0.001 measured between two machines of the same kind). The check
# accepts that, and nothing the chapter could show: its curves differ by tenths.
TOLERANCE = 0.01


def dumps(result: dict) -> str:
    """JSON text with one line per estimator's list of estimates."""
    head = {k: v for k, v in result.items() if k != "estimates"}
    text = json.dumps(head, indent=1, allow_nan=False)
    rows = ",\n".join(
        f"  {json.dumps(name)}: {json.dumps(values, separators=(',', ':'))}"
        for name, values in result["estimates"].items()
    )
    return text[:-2] + ',\n "estimates": {\n' + rows + "\n }\n}\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="recompute and compare with the stored file; write nothing",
    )
    parser.add_argument(
        "--estimators",
        nargs="+",
        choices=ESTIMATORS,
        default=list(ESTIMATORS),
        metavar="NAME",
        help=f"with --check, recompute only these of {ESTIMATORS}",
    )
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument(
        "--atol",
        type=float,
        default=TOLERANCE,
        help="with --check, the largest difference (nats) that still counts as "
        f"reproduced (default {TOLERANCE})",
    )
    args = parser.parse_args(argv)
    if not args.check and tuple(args.estimators) != ESTIMATORS:
        parser.error("--estimators only goes with --check: the file holds them all")
    start = time.perf_counter()
    result = compute(names=args.estimators)
    print(f"total run time: {time.perf_counter() - start:.1f} s")
    if not args.check:
        args.output.write_text(dumps(result), encoding="utf-8")
        print(f"wrote {args.output.relative_to(ROOT)}")
        return 0
    if not args.output.exists():
        print(f"{args.output} does not exist; run without --check", file=sys.stderr)
        return 1
    stored = json.loads(args.output.read_text(encoding="utf-8"))
    same = stored["config"] == result["config"]
    if not same:
        print("the stored config differs from the script's CONFIG")
    for name, values in result["estimates"].items():
        old = np.asarray(stored["estimates"].get(name, []), float)
        new = np.asarray(values, float)
        diff = np.abs(old - new).max() if old.shape == new.shape else math.inf
        verdict = (
            "identical"
            if diff == 0
            else "reproduced"
            if diff <= args.atol
            else "DIFFERENT"
        )
        print(f"{name:10s} {verdict} (max |difference| {diff:.3g})")
        same = same and diff <= args.atol
    if not same:
        print(f"{args.output.name} is not reproduced", file=sys.stderr)
        return 1
    print(f"{args.output.name} is reproduced (to within {args.atol} nats)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

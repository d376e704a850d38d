"""Precompute the GAN comparison of chapter 8 (``source/08_mi_gan``).

Three methods, the same networks, batches, noise and budget
(:class:`mi_lib.gan.GANConfig`), each over ``SEEDS``: a plain GAN, the GAN
whose generator also maximises the MINE estimate of I(G(Z); Z), and the same
with MINE's adaptive gradient clipping (:mod:`mi_lib.gan`). Every run is
measured on 2,500 generated samples with the VEEGAN/PacGAN protocol
(:func:`mi_lib.mode_metrics`): modes captured, share of high-quality samples,
KL of the mode histogram from uniform. The results go to
``source/08_mi_gan/gan_grid.json``, which the chapter loads.

Runs are seeded and deterministic on the CPU with one thread, so that

    python scripts/precompute_gan.py                # write the JSON
    python scripts/precompute_gan.py --jobs 2       # the same, two processes
    python scripts/precompute_gan.py --check        # recompute one run, compare

gives back the committed file (``--check`` exits 1 on a difference or when the
file's settings or version are not the script's). The script prints the
table and the time it took.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

import mi_lib
from mi_lib.gan import METHODS, GANConfig, train_gan

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "source" / "08_mi_gan" / "gan_grid.json"

#: Bump when the training code changes in a way the settings do not show.
VERSION = 3
CONFIG = GANConfig()
SEEDS = (0, 1, 2, 3, 4)
DECIMALS = 3  # samples and metrics are stored rounded to this many decimals
PLOT_SEED = 0  # the seed whose 2,500 samples are stored for the plots


def _run(method: str, seed: int, config: GANConfig = CONFIG, stop_after=None) -> dict:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    cpu = time.process_time()
    run = train_gan(method, seed, config, stop_after=stop_after)
    cpu = time.process_time() - cpu

    def r(v):  # rounded; an undefined KL (no high-quality sample) is null
        return round(float(v), DECIMALS) if math.isfinite(v) else None

    return {
        "method": method,
        "seed": seed,
        "metrics": {k: r(v) for k, v in run.metrics.items()},
        "history": [[it, m, r(hq), r(kl)] for it, m, hq, kl in run.history],
        "trace": [[it, r(mi), r(ratio)] for it, mi, ratio in run.trace],
        "samples": np.round(run.samples, DECIMALS).tolist(),
        "seconds": round(run.seconds, 1),
        "cpu_seconds": round(cpu, 1),
    }


def compute(methods=METHODS, seeds=SEEDS, jobs: int = 1, config=CONFIG) -> dict:
    """Every (method, seed) run, as the JSON-ready dict the chapter reads."""
    tasks = [(m, s) for m in methods for s in seeds]
    start = time.perf_counter()
    if jobs > 1:
        with ProcessPoolExecutor(jobs) as pool:
            futures = [pool.submit(_run, m, s, config) for m, s in tasks]
            runs = [f.result() for f in futures]
    else:
        runs = [_run(m, s, config) for m, s in tasks]
    results = {}
    for run in runs:
        entry = results.setdefault(run["method"], {"runs": [], "samples": None})
        if run["seed"] == PLOT_SEED:
            entry["samples"] = run["samples"]
        entry["runs"].append({k: v for k, v in run.items() if k != "samples"})
    return {
        "description": (
            "Chapter 8: modes captured, high-quality share and KL from uniform of "
            "2,500 samples of each method and seed on the 25-Gaussian grid, the "
            "metrics during training (history: iteration, modes, high quality, "
            "KL; trace: iteration, mean MI estimate, mean ratio of the MI "
            "gradient's norm to the GAN loss's), and the samples of seed "
            f"{PLOT_SEED}; written by scripts/precompute_gan.py"
        ),
        "version": VERSION,
        "config": config.as_dict(),
        "seeds": list(seeds),
        "torch": torch.__version__.split("+")[0],
        "wall_seconds": round(time.perf_counter() - start, 1),
        # CPU time of the runs: on a quiet machine with `jobs` free cores the
        # wall time is about cpu_seconds / jobs
        "cpu_seconds": round(sum(r["cpu_seconds"] for r in runs), 1),
        "jobs": jobs,
        "results": results,
    }


def summary(result: dict) -> str:
    """The table of mean and standard deviation over seeds, per method."""
    lines = [
        f"{'method':20s} {'modes':>13s} {'high quality':>15s} {'KL':>13s}",
    ]
    for method, entry in result["results"].items():
        cols = []
        for key, fmt in [
            ("modes", "{:5.1f}"),
            ("high_quality", "{:6.1%}"),
            ("kl", "{:5.3f}"),
        ]:
            v = np.array([r["metrics"][key] for r in entry["runs"]], float)
            cols.append(f"{fmt.format(v.mean())} ± {fmt.format(v.std(ddof=1))}")
        lines.append(f"{method:20s} {cols[0]:>13s} {cols[1]:>15s} {cols[2]:>13s}")
    return "\n".join(lines)


def dumps(result: dict) -> str:
    """JSON text with one line per list of samples."""
    head = {k: v for k, v in result.items() if k != "results"}
    text = json.dumps(head, indent=1, allow_nan=False)[:-2]
    parts = []
    for method, entry in result["results"].items():
        runs = ",\n".join(
            "    " + json.dumps(r, separators=(",", ":")) for r in entry["runs"]
        )
        samples = json.dumps(entry["samples"], separators=(",", ":"))
        parts.append(
            f'  {json.dumps(method)}: {{\n   "runs": [\n{runs}\n   ],\n'
            f'   "samples": {samples}\n  }}'
        )
    return text + ',\n "results": {\n' + ",\n".join(parts) + "\n }\n}\n"


def check(
    path: Path = OUTPUT, method: str = METHODS[-1], seed: int = 0, full: bool = False
) -> list:
    """Differences between the stored file and this script: its settings,
    version, and one recomputed run (its first ``eval_every`` steps, whose
    metrics the stored history holds, or all of it with ``full``)."""
    stored = json.loads(path.read_text(encoding="utf-8"))
    problems = []
    if stored.get("version") != VERSION:
        problems.append(f"version {stored.get('version')} != script's {VERSION}")
    if stored.get("config") != CONFIG.as_dict():
        problems.append(f"config {stored.get('config')} != {CONFIG.as_dict()}")
    if stored.get("seeds") != list(SEEDS):
        problems.append(f"seeds {stored.get('seeds')} != {list(SEEDS)}")
    if set(stored.get("results", {})) != set(METHODS):
        problems.append(f"methods {sorted(stored.get('results', {}))} != {METHODS}")
    if problems:
        return problems
    (saved,) = [r for r in stored["results"][method]["runs"] if r["seed"] == seed]
    if full:
        run = _run(method, seed)
        for key in ("metrics", "history", "trace"):
            if saved[key] != run[key]:
                problems.append(f"{method}, seed {seed}: {key} differs")
        samples = stored["results"][method]["samples"]
        if seed == PLOT_SEED and samples != run["samples"]:
            problems.append(f"{method}, seed {seed}: the stored samples differ")
        return problems
    run = _run(method, seed, stop_after=CONFIG.eval_every)
    for key in ("history", "trace"):
        want = saved[key][:1]
        if want != run[key]:
            problems.append(f"{method}, seed {seed}: {key} {want} != {run[key]}")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="recompute one run and compare with the stored file",
    )
    parser.add_argument(
        "--method",
        default=METHODS[-1],
        choices=METHODS,
        help="the run --check recomputes (with --seed)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--full",
        action="store_true",
        help="with --check: recompute the whole run, not its start",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="processes (each uses one thread)"
    )
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.output, args.method, args.seed, args.full)
        for p in problems:
            print(p)
        print("stored results match the script" if not problems else "MISMATCH")
        return 1 if problems else 0
    result = compute(jobs=args.jobs)
    args.output.write_text(dumps(result), encoding="utf-8")
    print(summary(result))
    print(
        f"{len(METHODS) * len(SEEDS)} runs in {result['wall_seconds']:.0f} s "
        f"with {args.jobs} process(es) on {os.cpu_count()} cores, "
        f"{result['cpu_seconds']:.0f} CPU-seconds (about "
        f"{result['cpu_seconds'] / 120:.1f} min on 2 free cores); "
        f"mi_lib {mi_lib.__version__}, torch {result['torch']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

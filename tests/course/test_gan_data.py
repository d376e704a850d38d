"""Chapter 8 loads precomputed GAN runs: the script must still produce them."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mi_lib.modes import GRID_STD, grid_means
from scripts import precompute_gan

ROOT = Path(__file__).resolve().parents[2]


def test_stored_runs_have_the_scripts_settings_and_every_method_and_seed():
    stored = json.loads(precompute_gan.OUTPUT.read_text(encoding="utf-8"))
    assert stored["version"] == precompute_gan.VERSION
    assert stored["config"] == precompute_gan.CONFIG.as_dict()
    assert stored["seeds"] == list(precompute_gan.SEEDS)
    assert list(stored["results"]) == list(precompute_gan.METHODS)
    # the budget the chapter prints is the CPU time of the stored runs
    run_cpu = [r["cpu_seconds"] for e in stored["results"].values() for r in e["runs"]]
    assert min(run_cpu) > 0
    assert abs(stored["cpu_seconds"] - sum(run_cpu)) < 0.1 * len(run_cpu)
    for method, entry in stored["results"].items():
        assert sorted(r["seed"] for r in entry["runs"]) == list(precompute_gan.SEEDS)
        samples = np.asarray(entry["samples"])
        assert samples.shape == (precompute_gan.CONFIG.n_eval, 2), method
        # the stored metrics of the plotted seed are those of its stored samples
        (run,) = [r for r in entry["runs"] if r["seed"] == precompute_gan.PLOT_SEED]
        m = precompute_gan.mi_lib.mode_metrics(samples)
        assert m.modes == run["metrics"]["modes"], method
        # samples are stored rounded to DECIMALS, which moves each by at most
        # half a unit of the last decimal per coordinate: only the samples that
        # close to the 3-std circle of their mode may change sides
        shift = 0.5 * 10.0**-precompute_gan.DECIMALS * np.sqrt(2)
        means = grid_means()
        nearest = np.linalg.norm(samples[:, None] - means[None], axis=2).min(axis=1)
        radius = 3 * GRID_STD
        ambiguous = int(np.sum(np.abs(nearest - radius) <= shift + 1e-9))
        stored = round(run["metrics"]["high_quality"] * len(samples))
        assert abs(m.high_quality * len(samples) - stored) <= ambiguous + 1, method


@pytest.mark.slow  # trains the start of one run again (tens of seconds)
def test_precomputed_runs_are_what_the_script_computes():
    # The start of one run (its first eval_every steps, some seconds): the
    # script recomputes it and compares with the stored history, exiting 1 on
    # any difference.
    run = subprocess.run(
        [sys.executable, "scripts/precompute_gan.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr

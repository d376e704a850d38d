"""Chapter 7 plots precomputed results: the script must still produce them."""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # trains an estimator again (tens of seconds)

ROOT = Path(__file__).resolve().parents[2]


def test_precomputed_staircase_is_what_the_script_computes():
    # One estimator (about 10 s): the script recomputes its curve and compares
    # it with source/07_comparison/staircase.json, exiting 1 on any difference.
    run = subprocess.run(
        [
            sys.executable,
            "scripts/compare_estimators.py",
            "--check",
            "--estimators",
            "InfoNCE",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr

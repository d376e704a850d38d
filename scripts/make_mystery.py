"""The pairs of chapter 7's task of hidden truth, ``source/07_comparison/mystery.npz``.

The student's notebook loads ``x`` and ``y`` (2000 pairs) from the file, so the
release holds the data but not how it was drawn. Only this script and the hidden
test of ``ch7-mystery-test`` (stripped from the release) know the construction:
a :class:`mi_lib.TransformedGaussian` with the parameters below, drawn from the
generator ``np.random.default_rng(DRAW_SEED)``. The hidden test draws the same
pairs again, checks that the notebook's data are these, and grades the student's
estimate against the closed-form mutual information ``MI``.

    python -m scripts.make_mystery            # write the file
    python -m scripts.make_mystery --check    # exit 1 if the file differs
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np

import mi_lib

PATH = Path(__file__).resolve().parent.parent / "source/07_comparison/mystery.npz"
# The construction (keep in step with the hidden test of ch7-mystery-test):
DRAW_SEED, DIM, MI, TRANSFORM, N = 61_803_398, 2, 1.2, "exp", 2000


def draw() -> tuple[np.ndarray, np.ndarray]:
    """The ``N`` pairs of the task, ``x`` and ``y`` of shape ``(N, DIM)``."""
    task = mi_lib.TransformedGaussian(
        mi_lib.rho_for_mi(MI, DIM), DIM, transform=TRANSFORM
    )
    return task.sample(N, np.random.default_rng(DRAW_SEED))


def encoded() -> bytes:
    """The file's bytes (an uncompressed ``.npz``, the same on every run)."""
    x, y = draw()
    buffer = io.BytesIO()
    np.savez(buffer, x=x, y=y)
    return buffer.getvalue()


def same_data(path: Path = PATH) -> bool:
    """Whether ``path`` holds the pairs :func:`draw` gives (to rounding: another
    CPU's ``exp`` may differ in the last bit)."""
    if not path.exists():
        return False
    x, y = draw()
    with np.load(path) as stored:
        return all(
            stored[k].shape == v.shape and np.allclose(stored[k], v, rtol=1e-12)
            for k, v in (("x", x), ("y", y))
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args(argv)
    if args.check:
        if same_data():
            print(f"{PATH.name}: up to date")
            return 0
        print(f"{PATH.name} differs from the script: python -m scripts.make_mystery")
        return 1
    PATH.write_bytes(encoded())
    print(f"wrote {PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

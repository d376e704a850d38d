"""Time the web book's clean build and its cached rebuild.

The clean build executes every chapter and builds both editions from nothing; the
cached rebuild runs the same command again, with nothing changed, so it executes no
notebook. Both run in a temporary build folder (``--build-dir`` to keep it), so the
project's ``_build`` is left alone. Targets on 2 cores: clean < 10 min, cached < 1 min.

Usage: ``python benchmarks/bench_book.py [--jobs N] [--build-dir DIR]``
(``--source-dir``/``--release-dir`` time another course, e.g. a throwaway one).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"clean": 600.0, "cached": 60.0}


def build(build_dir: Path, jobs: int, extra: list[str]) -> tuple[float, str]:
    command = [sys.executable, str(ROOT / "scripts" / "build_book.py"),
               "--build-dir", str(build_dir), "--jobs", str(jobs), *extra]
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        sys.exit(f"the build failed:\n{log[-4000:]}")
    return seconds, log


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--build-dir", type=Path, help="keep the build here")
    parser.add_argument("--source-dir", type=Path, help="another course's source/")
    parser.add_argument("--release-dir", type=Path, help="another course's release/")
    args = parser.parse_args()
    extra = []
    for option in ("source_dir", "release_dir"):
        if getattr(args, option):
            extra += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    build_dir = args.build_dir or Path(tempfile.mkdtemp(prefix="bench-book-"))
    shutil.rmtree(build_dir, ignore_errors=True)
    try:
        clean, log = build(build_dir, args.jobs, extra)
        cached, cached_log = build(build_dir, args.jobs, extra)
    finally:
        if args.build_dir is None:
            shutil.rmtree(build_dir, ignore_errors=True)
    print(f"cores: {os.cpu_count()}, jobs: {args.jobs}")
    for line in log.splitlines():
        match = re.search(r"executed (\S+) in (\d+) s", line)
        if match:
            print(f"  execute {match.group(1):<20} {match.group(2):>5} s")
    reexecuted = len(re.findall(r"executed \S+ in", cached_log))
    print(f"  notebooks executed again by the cached rebuild: {reexecuted}")
    status = 0
    for name, seconds in (("clean", clean), ("cached", cached)):
        ok = seconds < TARGETS[name]
        status |= not ok
        print(f"{name:>6} build: {seconds:7.1f} s  (target < {TARGETS[name]:.0f} s)"
              f"  {'ok' if ok else 'OVER TARGET'}")
    return status


if __name__ == "__main__":
    sys.exit(main())

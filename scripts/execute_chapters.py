"""Execute the instructor notebooks once, with a cache keyed by what they depend on.

``source/NN_x/NN_x.md`` is read with jupytext and run top to bottom with nbclient in
its own folder (the working directory of nbgrader and of a student), into
``<build>/executed/NN_x.ipynb``. The cache key is a hash of the chapter's source, of
the Python files in its folder and of every ``mi_lib`` module: a notebook is run again
only when one of them changed. Any exception fails the run with the chapter, the cell
and the error, so this is also the check that every instructor notebook runs.

Usage: ``python scripts/execute_chapters.py [--jobs N] source/01_x/01_x.md ...``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from scripts import course_files

ROOT = Path(__file__).resolve().parents[1]
# Bump to re-execute everything after a change in how notebooks are executed.
EXECUTOR_VERSION = "1"
CELL_TIMEOUT = 600


@dataclass
class Result:
    name: str
    notebook: Path
    cached: bool
    seconds: float
    error: str = ""


def chapter_hash(md: Path, lib: Path = ROOT / "mi_lib") -> str:
    """Hash of what the executed notebook depends on: its source, the Python files
    beside it and every ``mi_lib`` module. (Data files are left out: a notebook may
    write some into its folder. ``--force-execute`` re-runs everything.)"""
    digest = hashlib.sha256(f"executor {EXECUTOR_VERSION}\n".encode())
    files = [md]
    files += sorted(p for p in md.parent.glob("*.py"))
    files += sorted(
        p
        for p in lib.rglob("*.py")
        if not course_files.is_build_output(p.relative_to(lib))
    )
    for path in files:
        digest.update(str(path.relative_to(path.parents[1])).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def kernel_env() -> dict:
    """The environment of the kernels: a full (not FAST) run, one thread each."""
    env = dict(os.environ)
    env.pop("NBGRADER_EXECUTION", None)  # the book shows the full-length training
    env.setdefault("OMP_NUM_THREADS", "1")
    env.setdefault("MKL_NUM_THREADS", "1")
    env.setdefault("PYTHONHASHSEED", "0")
    env.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    return env


def describe_error(name: str, nb, error) -> str:
    """Name the chapter, the cell and the error of a failed execution."""
    index = None
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                index = i
    lines = [f"{name}: the instructor notebook failed to execute"]
    if index is not None:
        source = "".join(nb.cells[index].source).splitlines()
        lines.append(f"  cell {index} (first lines):")
        lines += [f"    | {line}" for line in source[:8]]
    text = str(error).strip().splitlines()
    lines.append("  error:")
    lines += [f"    {line}" for line in text[-25:]]
    return "\n".join(lines)


def execute_one(md: Path, out: Path, timeout: int = CELL_TIMEOUT) -> None:
    """Execute one chapter into ``out`` (raises RuntimeError with a clear message)."""
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError

    nb = jupytext.read(md)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(md.parent)}},
        allow_errors=False,
        store_widget_state=True,
        record_timing=False,
    )
    try:
        client.execute(env=kernel_env())
    except (CellExecutionError, CellTimeoutError) as error:
        raise RuntimeError(describe_error(md.stem, nb, error)) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    nbformat.write(nb, tmp)
    tmp.replace(out)


def execute_in_subprocess(md: Path, out: Path, log_file: Path) -> tuple[int, float]:
    """Run :func:`execute_one` in a fresh Python (``--one``), its output to
    ``log_file``; return its exit code and the seconds it took."""
    start = time.perf_counter()
    with open(log_file, "w") as sink:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(md), str(out)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return proc.returncode, time.perf_counter() - start


def execute_chapters(
    mds: list[Path], build: Path, jobs: int = 2, force: bool = False, log=print
) -> list[Result]:
    """Execute the chapters whose cache is stale, ``jobs`` at a time (subprocesses)."""
    executed = build / "executed"
    executed.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    todo: list[tuple[Path, Path, Path, str]] = []
    for md in mds:
        out = executed / f"{md.stem}.ipynb"
        stamp = executed / f"{md.stem}.sha256"
        key = chapter_hash(md)
        if not force and out.exists() and stamp.exists() and stamp.read_text() == key:
            results.append(Result(md.stem, out, True, 0.0))
        else:
            stamp.unlink(missing_ok=True)
            todo.append((md, out, stamp, key))

    def run(md: Path, out: Path) -> tuple[int, float]:
        log(f"executing {md.parent.name}/{md.name} ...")
        return execute_in_subprocess(md, out, executed / f"{md.stem}.log")

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {
            pool.submit(run, md, out): (md, out, stamp, key)
            for md, out, stamp, key in todo
        }
        for future in as_completed(futures):
            md, out, stamp, key = futures[future]
            returncode, seconds = future.result()
            if returncode == 0:
                stamp.write_text(key)
                log(f"executed {md.stem} in {seconds:.0f} s")
                results.append(Result(md.stem, out, False, seconds))
            else:
                log_text = (executed / f"{md.stem}.log").read_text().strip()
                error = log_text or f"exit code {returncode}"
                results.append(Result(md.stem, out, False, seconds, error))
    order = {md.stem: i for i, md in enumerate(mds)}
    return sorted(results, key=lambda r: order[r.name])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", type=Path, help="source/NN_x/NN_x.md")
    parser.add_argument("--build", type=Path, default=ROOT / "_build")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--force", action="store_true", help="ignore the cache")
    parser.add_argument("--one", nargs=2, type=Path, metavar=("MD", "OUT"))
    args = parser.parse_args(argv)
    if args.one:
        try:
            execute_one(args.one[0].resolve(), args.one[1])
        except RuntimeError as error:
            print(error)
            return 1
        return 0
    mds = [md.resolve() for md in args.chapters] or sorted(
        (ROOT / "source").glob("*/*.md")
    )
    results = execute_chapters(mds, args.build, args.jobs, args.force)
    failed = [r for r in results if r.error]
    for result in failed:
        print(result.error, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

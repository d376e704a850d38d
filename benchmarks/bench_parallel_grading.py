"""Submissions autograded per minute: parallel on Dask with 1 and 2 workers, and serial.

Builds the release of one assignment (default: chapter 1) in a temporary copy of
the course, makes ``--students`` submissions of the instructor's answers, and
grades them three times, side by side in one run, each into a fresh copy of the
course and its SQLite gradebook:

- ``scripts/autograde_parallel.py`` on a LocalCluster of 1 worker, then of 2
  (one ``nbgrader autograde`` process per submission, in its own private course);
- serial ``nbgrader autograde`` of all the students in one process, as one
  instructor grades on one machine (the reference the parallel runs pay their
  per-task start-up against).

It prints the time of each, the submissions per minute, the speed-up of 2
workers over 1, and what that rate means for a class of 300. Every grading
must give full marks (the script fails otherwise), so a fast wrong run cannot
pass for a fast one. Timings on a shared machine are distorted by its other
load: re-run on a quiet one.

    OMP_NUM_THREADS=1 python benchmarks/bench_parallel_grading.py [--students 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from scripts import autograde_parallel as ap
from scripts import gradebook_sync, nbgrader_cells
from scripts import grading_runner as runner

CLASS_SIZE = 300


def make_course(base: Path, dest: Path, assignment: str, students: int) -> Path:
    course = runner.clone_course(base, dest, assignment)
    release = runner.read_nb(base / "release" / assignment / f"{assignment}.ipynb")
    source = runner.read_nb(base / "source" / assignment / f"{assignment}.ipynb")
    answers = runner.solution(release, source)
    for i in range(students):
        folder = course / "submitted" / f"student-{i:03d}" / assignment
        folder.mkdir(parents=True)
        nbformat.write(answers, folder / f"{assignment}.ipynb")
    return course


def not_full_marks(course: Path, assignment: str, names) -> list[str]:
    """The students who did not get every autograded point."""
    source = runner.read_nb(course / "source" / assignment / f"{assignment}.ipynb")
    points = nbgrader_cells.test_points(source)
    grades = runner.read_grades(course, assignment, names)
    return [
        s
        for s in names
        if any(
            grades.get(s, {}).get(g, {}).get("score") != p for g, p in points.items()
        )
    ]


def parallel(course: Path, assignment: str, workers: int) -> tuple[float, float]:
    """(seconds grading, seconds starting the cluster) with ``workers`` workers."""
    start = time.perf_counter()
    with ap.dask_client(None, workers, retries=3) as client:  # the command's cluster
        client.wait_for_workers(workers)
        startup = time.perf_counter() - start
        target = ap.Course.load(course)
        engine = gradebook_sync.engine_for(target.db_url)
        todo, _ = ap.plan(target, engine, [assignment], None, force=False)
        engine.dispose()
        report = ap.autograde(client, target, todo, progress=False)
    if report.failures:
        raise SystemExit(report.summary())
    return report.seconds, startup


def serial(course: Path, assignment: str) -> float:
    start = time.perf_counter()
    runner.make_release.nbgrader(
        course, "autograde", assignment, "--force", env=runner.nbgrader_env()
    )
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default="01_formulation")
    parser.add_argument("--students", type=int, default=8)
    args = parser.parse_args(argv)
    a, n = args.assignment, args.students
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.pop("MI_GRADEBOOK_URL", None)  # each run grades into its own SQLite
    with tempfile.TemporaryDirectory(prefix="mi-bench-parallel-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        base = runner.build_course(tmp / "course", [a])
        print(f"release of {a}: {time.perf_counter() - start:.0f} s")
        rows, failed = [], []
        for label, workers in (("1 worker", 1), ("2 workers", 2), ("serial", None)):
            course = make_course(base, tmp / label.replace(" ", "-"), a, n)
            if workers:
                seconds, startup = parallel(course, a, workers)
                note = f"(+{startup:.0f} s to start the cluster)"
            else:
                seconds, note = serial(course, a), "(one nbgrader process)"
            failed += [f"{label}: {s}" for s in not_full_marks(course, a, _names(n))]
            rows.append((label, seconds, 60 * n / seconds, note))
    print(f"\n{n} submissions of {a} on {os.cpu_count()} cores:")
    print(f"{'':<10} {'seconds':>8} {'per minute':>11}")
    for label, seconds, rate, note in rows:
        print(f"{label:<10} {seconds:8.1f} {rate:11.2f}  {note}")
    one, two, ser = (r[2] for r in rows)
    print(f"speed-up of 2 workers over 1: {two / one:.2f}x")
    print(f"parallel 1 worker / serial nbgrader: {one / ser:.2f} (per-task start-up)")
    print(
        f"{CLASS_SIZE} students at the 2-worker rate: {CLASS_SIZE / two:.0f} min "
        "for this assignment on this machine"
    )
    if failed:
        print(f"NOT full marks: {failed}")
    return 1 if failed else 0


def _names(n: int) -> list[str]:
    return [f"student-{i:03d}" for i in range(n)]


if __name__ == "__main__":
    sys.exit(main())

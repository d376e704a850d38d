"""Time to autograde one complete student submission of the whole course.

Builds the release in a temporary copy of the course, submits the instructor's
answers as one student for every assignment, and times ``nbgrader autograde``
of each assignment (one after the other, as an instructor would run them),
with the execution settings of nbgrader_config.py. Target: under 5 minutes on
2 cores.

    OMP_NUM_THREADS=1 python benchmarks/bench_autograde.py [ASSIGNMENT ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from scripts import grading_runner as runner
from scripts import nbgrader_cells

TARGET_S = 300


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", default=runner.course_assignments())
    args = parser.parse_args(argv)
    if not args.assignments:
        print("no assignment in source/")
        return 1
    with tempfile.TemporaryDirectory(prefix="mi-bench-") as tmp:
        tmp = Path(tmp)
        start = time.perf_counter()
        base = runner.build_course(tmp / "course", args.assignments)
        print(
            f"release of {len(args.assignments)} assignments: "
            f"{time.perf_counter() - start:.1f} s"
        )
        total, failed = 0.0, []
        for a in args.assignments:
            release = runner.read_nb(base / "release" / a / f"{a}.ipynb")
            source = runner.read_nb(base / "source" / a / f"{a}.ipynb")
            run = runner.Run(a, "bench", {"student": runner.solution(release, source)})
            res = runner.grade(run, base, tmp)
            total += res.seconds
            grades = res.grades.get("student", {})
            points = nbgrader_cells.test_points(source)
            got = sum(grades[g]["score"] for g in points if g in grades)
            print(
                f"{a:<20} {res.seconds:6.1f} s   {got:g}/{sum(points.values()):g} "
                "autograded points"
            )
            if res.returncode or got != sum(points.values()):
                failed.append(a)
    cores = os.cpu_count()
    verdict = "within" if total < TARGET_S else "OVER"
    print(
        f"whole course: {total:.1f} s for one student on {cores} cores "
        f"({verdict} the {TARGET_S} s target)"
    )
    if failed:
        print(f"not full marks or autograde failed: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

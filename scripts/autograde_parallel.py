"""Autograde a class's submissions in parallel on Dask distributed.

    python scripts/autograde_parallel.py                     # all, local workers
    python scripts/autograde_parallel.py --assignment 02_dv_bound --workers 2
    python scripts/autograde_parallel.py --scheduler tcp://grader-0:8786
    make autograde ASSIGNMENT=02_dv_bound

One task per (student, assignment) of ``submitted/<student>/<assignment>/`` goes
to a Dask cluster: a ``LocalCluster`` of ``--workers`` processes on this machine
by default, or the scheduler at ``--scheduler`` (``dask scheduler`` and ``dask
worker`` on several machines, dask-jobqueue, Kubernetes: INSTRUCTORS.md). Each
task (``autograde_task.py``) grades in its own private course and gradebook, so
the tasks never share a file; this process, the coordinator, commits each result
as it comes:

1. the autograded files into ``autograded/<student>/<assignment>/``, written
   beside it and swapped in by renaming;
2. the grades into the course's gradebook (``c.CourseDirectory.db_url``, or
   ``MI_GRADEBOOK_URL``, or ``--gradebook``), in one transaction
   (``gradebook_sync.commit_submission``): all of the grading or none of it.

Exactly once. A worker that dies mid-task (killed, out of memory, machine lost)
has its task re-run by Dask on another worker (up to ``--retries`` deaths; a
notebook that kills every worker it meets is then reported). Only the
coordinator writes, and it commits each submission once, whatever the number of
attempts. A submission is graded when the gradebook holds it with the timestamp
of ``submitted/`` and ``autograded/`` holds its notebooks: such submissions are
skipped (``--force`` regrades them), so a run stopped at any point (Ctrl-C, a
crash) is finished by running the command again.

SQLite or PostgreSQL. Only the coordinator opens the gradebook, so a SQLite
file works with any number of workers; but SQLite takes one writer at a time,
on one machine: this script holds a lock beside the file, so a second
coordinator on the same SQLite gradebook stops at once instead of meeting
``database is locked`` (and the formgrader may wait for the lock). For a class
graded from several machines or by several coordinators at once (one per
assignment, TAs in the formgrader meanwhile), use PostgreSQL
(``MI_GRADEBOOK_URL=postgresql+psycopg://...``): commits of one submission are
serialised there by a transaction-level advisory lock.

At the end a summary names the students whose grading failed (a broken notebook
file, nbgrader errors, ``--task-timeout`` exceeded, a worker killed too often),
which are not counted as graded and are tried again by the next run, and those
graded with cells stopped at the cell time limit (``NBGRADER_TIMEOUT``), which
score zero on those cells. The exit status is 1 if any grading failed.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import glob
import os
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from scripts import autograde_task, gradebook_sync

ROOT = Path(__file__).resolve().parent.parent
ENV_PASSED_TO_TASKS = ("NBGRADER_TIMEOUT", "MI_SEED")  # read by the config/notebooks


@dataclass
class Course:
    """The folders and gradebook of an nbgrader course (its nbgrader_config.py)."""

    root: Path
    db_url: str
    submitted: str = "submitted"
    autograded: str = "autograded"
    source: str = "source"
    max_file_size: float | None = None

    @classmethod
    def load(cls, root: Path, db_url: str | None = None) -> Course:
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config.loader import PyFileConfigLoader

        root = Path(root).resolve()
        config_file = root / "nbgrader_config.py"
        if not config_file.exists():
            raise SystemExit(f"--course-dir: no nbgrader_config.py in {root}")
        config = PyFileConfigLoader(config_file.name, path=str(root)).load_config()
        config.CourseDirectory.root = str(root)
        cd = CourseDirectory(config=config)
        return cls(
            root=root,
            db_url=db_url or cd.db_url,
            submitted=cd.submitted_directory,
            autograded=cd.autograded_directory,
            source=cd.source_directory,
            max_file_size=cd.max_file_size,
        )

    def folder(self, step: str, student: str, assignment: str) -> Path:
        return self.root / step / student / assignment

    def submissions(self, assignment: str) -> list[str]:
        """The students with a ``submitted/<student>/<assignment>/`` folder."""
        pattern = str(self.root / self.submitted / "*" / glob.escape(assignment))
        return sorted(
            Path(p).parent.name for p in glob.glob(pattern) if Path(p).is_dir()
        )


# --------------------------------------------------------------------------
# what to grade


def submitted_timestamp(folder: Path):
    """The timestamp of a submission (``timestamp.txt``, naive UTC), or None."""
    from nbgrader.utils import parse_utc

    path = folder / "timestamp.txt"
    text = path.read_text().strip() if path.exists() else ""
    return parse_utc(text) if text else None


def is_graded(course: Course, engine, assignment: str, student: str, notebooks) -> bool:
    """Whether the gradebook and ``autograded/`` hold this very submission."""
    exists, stamp = gradebook_sync.submission_timestamp(engine, assignment, student)
    submitted = course.folder(course.submitted, student, assignment)
    if not exists or not gradebook_sync.same_timestamp(
        stamp, submitted_timestamp(submitted)
    ):
        return False
    graded = course.folder(course.autograded, student, assignment)
    return all(
        (graded / f"{nb}.ipynb").exists()
        for nb in notebooks
        if (submitted / f"{nb}.ipynb").exists()
    )


def plan(course: Course, engine, assignments, students, force: bool):
    """``(to grade, already graded)``: lists of (assignment, student)."""
    known = gradebook_sync.assignment_names(engine)
    if assignments:
        unknown = sorted(set(assignments) - set(known))
        if unknown:
            raise SystemExit(
                f"--assignment: {unknown} not in the gradebook {course.db_url} "
                f"(it has {known}); release it first (`make release`)"
            )
    else:
        assignments = [a for a in known if course.submissions(a)]
    todo, done = [], []
    for a in assignments:
        definition = gradebook_sync.notebook_names(engine, a)
        for s in course.submissions(a):
            if students and s not in students:
                continue
            if not force and is_graded(course, engine, a, s, definition):
                done.append((a, s))
            else:
                todo.append((a, s))
    return todo, done


# --------------------------------------------------------------------------
# what the tasks receive


def task_env() -> dict[str, str]:
    env = {k: os.environ[k] for k in ENV_PASSED_TO_TASKS if k in os.environ}
    env.setdefault("OMP_NUM_THREADS", "1")  # one core per task
    env.setdefault("MKL_NUM_THREADS", "1")
    return env


def assignment_bundle(course: Course, engine, assignment: str, task_timeout: float):
    from scripts import course_files

    source = course.root / course.source / assignment
    files = {
        rel: content
        for rel, content in autograde_task.read_files(source).items()
        if not course_files.is_build_output(Path(rel))
    }
    return {
        "assignment": assignment,
        "config": (course.root / "nbgrader_config.py").read_bytes(),
        "source": files,
        "definition": gradebook_sync.assignment_definition(engine, assignment),
        "env": task_env(),
        "task_timeout": task_timeout,
    }


def submission_payload(course: Course, assignment: str, student: str, row) -> dict:
    folder = course.folder(course.submitted, student, assignment)
    return {
        "student": student,
        "student_row": row or {"id": student},
        "files": autograde_task.read_files(folder, course.max_file_size),
    }


# --------------------------------------------------------------------------
# committing results


def replace_folder(dest: Path, files) -> None:
    """Make ``dest`` hold exactly ``files``: written beside it, then renamed in."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:8]
    new = dest.parent / f".{dest.name}.partial-{token}"
    old = dest.parent / f".{dest.name}.old-{token}"
    autograde_task.write_files(new, files, modes=True)
    new.mkdir(exist_ok=True)
    if dest.exists():
        os.rename(dest, old)
    os.rename(new, dest)
    shutil.rmtree(old, ignore_errors=True)


def remove_leftovers(course: Course) -> None:
    """Remove the half-written folders of an interrupted earlier run."""
    for pattern in (".*.partial-*", ".*.old-*"):
        for path in (course.root / course.autograded).glob(f"*/{pattern}"):
            shutil.rmtree(path, ignore_errors=True)


def commit(course: Course, engine, result: dict) -> None:
    """Write a task's result: the files, then the gradebook in one transaction."""
    dest = course.folder(course.autograded, result["student"], result["assignment"])
    if result["status"] == "graded":
        replace_folder(dest, result["files"])
        gradebook_sync.commit_submission(engine, result["rows"], scores=True)
    else:  # as nbgrader: no autograded folder, earlier grades kept
        shutil.rmtree(dest, ignore_errors=True)
        if result.get("rows"):
            gradebook_sync.commit_submission(engine, result["rows"], scores=False)


# --------------------------------------------------------------------------
# the run


@dataclass
class Report:
    results: list[dict] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    workers: int = 0

    @property
    def graded(self):
        return [r for r in self.results if r["status"] == "graded"]

    @property
    def failures(self):
        return [r for r in self.results if r["status"] != "graded"]

    def summary(self) -> str:
        n = len(self.results)
        rate = 60 * n / self.seconds if self.seconds else 0.0
        lines = [
            f"autograded {n} submissions in {self.seconds:.0f} s on {self.workers} "
            f"workers ({rate:.1f} per minute): {len(self.graded)} graded, "
            f"{len(self.failures)} failed, {len(self.skipped)} already graded "
            "(skipped; --force regrades them)"
        ]
        stopped = [r for r in self.graded if r["cell_timeouts"]]
        if stopped:
            lines.append(
                "graded with cells stopped at the cell time limit (they score zero):"
            )
            for r in sorted(stopped, key=lambda r: (r["assignment"], r["student"])):
                lines.append(
                    f"  {r['student']:<24} {r['assignment']:<20} "
                    f"{r['cell_timeouts']} cell(s)"
                )
        if self.failures:
            lines.append("FAILED (not graded; fix, then run the command again):")
            for r in sorted(
                self.failures, key=lambda r: (r["assignment"], r["student"])
            ):
                lines.append(
                    f"  {r['student']:<24} {r['assignment']:<20} {r['kind']:<20} "
                    f"{r['message']}"
                )
        return "\n".join(lines)


def _lost(assignment: str, student: str, kind: str, message: str) -> dict:
    return {
        "assignment": assignment,
        "student": student,
        "status": "failed",
        "kind": kind,
        "message": message,
        "rows": None,
        "cell_timeouts": 0,
    }


def autograde(
    client,
    course: Course,
    todo,
    *,
    task_timeout: float = 1800,
    progress: bool = True,
    on_commit=None,
) -> Report:
    """Grade every (assignment, student) of ``todo`` on ``client``'s cluster."""
    from distributed import as_completed
    from distributed.scheduler import KilledWorker
    from tqdm import tqdm

    engine = gradebook_sync.engine_for(course.db_url)
    report = Report(workers=len(client.scheduler_info(n_workers=-1)["workers"]))
    start = time.perf_counter()
    try:
        remove_leftovers(course)
        students = gradebook_sync.students(engine, {s for _, s in todo})
        # Everything a task needs travels inside the task graph, never scattered:
        # the scheduler can then re-run a task, or rebuild an assignment's bundle,
        # whichever worker died holding them.
        futures, bundles = {}, []
        for a in sorted({a for a, _ in todo}):
            bundle = client.submit(
                autograde_task.assignment_data,
                assignment_bundle(course, engine, a, task_timeout),
                key=f"assignment-{a}-{uuid.uuid4().hex[:8]}",
                pure=False,
            )
            bundles.append(bundle)
            for _, s in ((aa, s) for aa, s in todo if aa == a):
                future = client.submit(
                    autograde_task.grade_submission,
                    bundle,
                    submission_payload(course, a, s, students.get(s)),
                    key=f"autograde-{a}-{s}-{uuid.uuid4().hex[:8]}",
                    pure=False,
                )
                futures[future] = (a, s)
        bar = tqdm(total=len(futures), unit="submission", disable=not progress)
        for future in as_completed(futures):
            a, s = futures[future]
            try:
                result = future.result()
            except KilledWorker as exc:
                result = _lost(a, s, "worker died", f"{exc}"[-300:])
            except Exception as exc:  # the task itself raised
                result = _lost(a, s, "error", f"{type(exc).__name__}: {exc}"[-300:])
            commit(course, engine, result)
            report.results.append(result)
            if on_commit:
                on_commit(result)
            bar.update()
            bar.set_postfix(failed=len(report.failures))
            future.release()
        bar.close()
    finally:
        report.seconds = time.perf_counter() - start
        engine.dispose()
    return report


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int, retries: int):
    """A Client of the scheduler at ``scheduler``, or of a new LocalCluster."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    with dask.config.set({"distributed.scheduler.allowed-failures": retries}):
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
            ) as cluster,
            Client(cluster) as client,
        ):
            yield client


@contextlib.contextmanager
def sqlite_guard(db_url: str):
    """One coordinator at a time on a SQLite gradebook (a lock beside the file)."""
    if not db_url.startswith("sqlite:///"):
        yield
        return
    path = Path(db_url[len("sqlite:///") :])
    lock = path.with_name(path.name + ".autograde.lock")
    with open(lock, "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(
                f"another autograde run is writing to the SQLite gradebook {path} "
                "(SQLite takes one writer at a time): wait for it, or use PostgreSQL "
                "(MI_GRADEBOOK_URL, INSTRUCTORS.md) to grade from several coordinators"
            ) from None
        yield


def positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value

    return parse


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[1:7]),
    )
    parser.add_argument(
        "--assignment", action="append", help="only this one (repeatable); default all"
    )
    parser.add_argument("--student", action="append", help="only this one (repeatable)")
    parser.add_argument("--force", action="store_true", help="regrade graded ones too")
    parser.add_argument(
        "--scheduler", help="address of a running Dask scheduler (tcp://HOST:8786)"
    )
    parser.add_argument(
        "--workers",
        type=positive(int),
        default=os.cpu_count() or 1,
        help="workers of the local cluster (default: one per core)",
    )
    parser.add_argument(
        "--retries",
        type=positive(int),
        default=3,
        help="worker deaths a task may cause before it is reported (local cluster)",
    )
    parser.add_argument(
        "--task-timeout",
        type=positive(float),
        default=1800,
        help="seconds one submission may take in all (default 1800)",
    )
    parser.add_argument("--course-dir", type=Path, default=ROOT)
    parser.add_argument(
        "--gradebook", help="database URL (default: the course's nbgrader config)"
    )
    parser.add_argument("--list", action="store_true", help="only list what to grade")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    course = Course.load(args.course_dir, args.gradebook)
    engine = gradebook_sync.engine_for(course.db_url)
    try:
        todo, done = plan(course, engine, args.assignment, args.student, args.force)
    finally:
        engine.dispose()
    print(
        f"{len(todo)} submissions to grade, {len(done)} already graded "
        f"(gradebook {gradebook_sync.redact(course.db_url)})"
    )
    if args.list:
        for a, s in todo:
            print(f"  {a} {s}")
        return 0
    if not todo:
        return 0
    with (
        sqlite_guard(course.db_url),
        dask_client(args.scheduler, args.workers, args.retries) as client,
    ):
        report = autograde(
            client,
            course,
            todo,
            task_timeout=args.task_timeout,
            progress=not args.quiet,
        )
    report.skipped = done
    print(report.summary())
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())

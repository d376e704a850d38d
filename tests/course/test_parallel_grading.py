"""Parallel autograding on a real Dask cluster into a real PostgreSQL gradebook.

A throwaway PostgreSQL server (``scripts/pg_server.sh``) holds the gradebook of
a released copy of the course. Students of the cheapest chapter come in several
kinds (``kinds``: the solution, the untouched release, wrong answers, an answer
that never ends, a file that is not a notebook); ``COPIES`` students of each
kind (16 in all; ``MI_GRADING_COPIES`` sets ``COPIES``) are graded by
``scripts/autograde_parallel.py`` on a
two-worker ``LocalCluster``, one of whose workers is killed with SIGKILL while
it grades. Serial ``nbgrader autograde`` into SQLite grades one student of each
kind (the baseline): each parallel grade must equal the baseline of its
notebook, cell by cell. Grading is deterministic (seeded notebooks, one thread),
so the copies of a kind, which are the same notebook under other names, must
score the same: grading every copy serially too would double the module's time
and check nothing more. Two copies a kind are enough for what is tested here
(a queue longer than the workers, a worker killed mid-grading, exactly-once
commits); ``benchmarks/bench_parallel_grading.py`` grades a class of 40 and
more. The module grades 8 notebooks serially and 17 in parallel (16, and the
one whose worker is killed): about 4 minutes on 2 quiet cores, plus the release
of the course when ``released_course`` is not already built for the other
grading tests of the session.

A trigger in PostgreSQL records every insert and delete of a submission row, an
account of the gradebook's writes kept by the database itself: every submission
must be inserted exactly once, none deleted, none lost.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import grading_helpers as gh
import nbformat
import pytest
import sqlalchemy as sa

from scripts import autograde_parallel as ap
from scripts import gradebook_sync, make_release

pytestmark = pytest.mark.slow

ASSIGNMENT = "01_formulation"  # the cheapest chapter to grade
# students per kind: 8 kinds, 16 submissions (the benchmark grades 40 and more)
COPIES = int(os.environ.get("MI_GRADING_COPIES", "2"))
LOOP_TIMEOUT = 5  # seconds an answer cell may run (the looping answer)
WORKERS = 2
TIMESTAMP = "2026-11-30 09:00:00.000000 UTC"  # as `nbgrader collect` writes it

# Wrong answers to chapter 1's exercises: (answer grade id, solution blocks).
WRONG = {
    "wrong-math": (  # math.log: right for one float, fails on an array
        "ch1-ground-truth-code",
        ["import math\n\nreturn -0.5 * math.log(1 - rho**2)"],
    ),
    "wrong-mean": (  # the mean of the pairs' MI instead of their sum
        "ch1-mi-pairs-code",
        ["return float(np.mean(ground_truth(np.asarray(rhos, dtype=float))))"],
    ),
    "wrong-kl": (  # no log-determinant term
        "ch1-kl-gauss-code",
        [
            "mu0, mu1 = np.asarray(mu0, dtype=float), np.asarray(mu1, dtype=float)\n"
            "cov0 = np.asarray(cov0, dtype=float)\n"
            "cov1 = np.asarray(cov1, dtype=float)\n"
            "diff = mu1 - mu0\n"
            "trace = np.trace(np.linalg.solve(cov1, cov0))\n"
            "return float(0.5 * (trace + diff @ np.linalg.solve(cov1, diff) "
            "- len(mu0)))"
        ],
    ),
}
BROKEN = b'{"cells": [{"cell_type": "code", "source": "print(1)"'  # cut short


def kinds(course: Path) -> dict:
    """``{kind: notebook, or the bytes of a broken file}``, one student per kind."""
    a = ASSIGNMENT
    release = gh.read_nb(course / "release" / a / f"{a}.ipynb")
    source = gh.read_nb(course / "source" / a / f"{a}.ipynb")
    solution = gh.solution(release, source)
    exercises = gh.exercises(source)
    last = exercises[-1].answer
    out = {"solution": solution, "blank": release}
    for kind, (answer, blocks) in WRONG.items():
        out[kind] = gh.with_answer(solution, answer, blocks, source)
    first = exercises[0].answer  # the first answer left as released
    out["partial"] = gh.with_answer(solution, first, gh.stub_of(release, first))
    out["loop"] = gh.with_answer(
        solution, last, gh.infinite_loop(gh.cell_by_id(solution, last).source)
    )
    out["broken"] = BROKEN
    return out


def kind_of(student: str) -> str:
    return student.rsplit("-", 1)[0]


# --------------------------------------------------------------------------
# a throwaway PostgreSQL server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_server(command: str, datadir: Path, *args: str) -> str:
    proc = subprocess.run(
        [
            "bash",
            str(gh.ROOT / "scripts" / "pg_server.sh"),
            command,
            str(datadir),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"pg_server.sh {command}: {proc.stderr}"
    return proc.stdout.strip()


@pytest.fixture(scope="module")
def postgres():
    """The URL of a new PostgreSQL server, destroyed after the module."""
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        message = "PostgreSQL is not installed: apt-get install -y postgresql"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    datadir = Path(tempfile.mkdtemp(prefix="mi-test-pg-")) / "data"
    url = pg_server("start", datadir, str(free_port()))
    try:
        assert pg_server("status", datadir) == f"running: {url}"
        yield url
    finally:
        pg_server("destroy", datadir)
        shutil.rmtree(datadir.parent, ignore_errors=True)


WITNESS = """
CREATE TABLE submission_writes (op text, student_id text, assignment_id text);
CREATE FUNCTION log_submission_write() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO submission_writes VALUES (TG_OP, OLD.student_id, OLD.assignment_id);
    RETURN OLD;
  END IF;
  INSERT INTO submission_writes VALUES (TG_OP, NEW.student_id, NEW.assignment_id);
  RETURN NEW;
END $$ LANGUAGE plpgsql;
CREATE TRIGGER submission_writes AFTER INSERT OR UPDATE OR DELETE
  ON submitted_assignment FOR EACH ROW EXECUTE FUNCTION log_submission_write();
"""


def writes(url: str) -> list[tuple[str, str]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = sa.text("SELECT op, student_id FROM submission_writes")
            return [tuple(r) for r in conn.execute(query)]
    finally:
        engine.dispose()


# --------------------------------------------------------------------------
# the gradings


def write_submission(course: Path, student: str, content) -> None:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    if isinstance(content, bytes):
        (folder / f"{ASSIGNMENT}.ipynb").write_bytes(content)
    else:
        nbformat.write(content, folder / f"{ASSIGNMENT}.ipynb")
    (folder / "timestamp.txt").write_text(TIMESTAMP)


def _executing(dask_worker) -> list[str]:
    return [str(ts.key) for ts in dask_worker.state.executing]


class WorkerKiller:
    """Once ``after`` submissions are committed, SIGKILL a worker mid-grading."""

    def __init__(self, client, after: int = 2):
        self.client, self.after = client, after
        self.committed = 0
        self.victim: dict | None = None
        self.thread = threading.Thread(target=self._kill, daemon=True)

    def on_commit(self, result) -> None:
        self.committed += 1
        if self.committed == self.after:
            self.thread.start()

    def _kill(self) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.victim is None:
            executing = self.client.run(_executing)
            busy = {
                addr: keys[0]
                for addr, keys in executing.items()
                if keys and "-broken-" not in keys[0]
            }
            if busy:
                time.sleep(2)  # well into the grading, not at its start
                again = self.client.run(_executing)
                pids = self.client.run(os.getpid)
                for addr, key in busy.items():
                    if key in again.get(addr, []):
                        self.victim = {"address": addr, "key": key, "pid": pids[addr]}
                        os.kill(pids[addr], signal.SIGKILL)
                        return
            time.sleep(0.5)


@pytest.fixture(scope="module")
def graded(released_course, postgres, tmp_path_factory):
    """Serial baseline (SQLite) and parallel grading (PostgreSQL, a killed worker)."""
    tmp = tmp_path_factory.mktemp("parallel")
    a = ASSIGNMENT
    students = kinds(released_course)

    start = time.perf_counter()
    serial = gh.grade(
        gh.Run(a, "serial", students, answer_timeout=LOOP_TIMEOUT),
        released_course,
        tmp,
    )
    serial_s = time.perf_counter() - start

    course = gh.clone_course(released_course, tmp / "course", a)
    # the same configuration as the serial run (its answer-cell time limit)
    shutil.copy2(serial.course / "nbgrader_config.py", course / "nbgrader_config.py")
    gradebook_sync.copy_gradebook(f"sqlite:///{course / 'gradebook.db'}", postgres)
    (course / "gradebook.db").unlink()  # from here on, only PostgreSQL
    engine = sa.create_engine(postgres)
    with engine.begin() as conn:
        conn.exec_driver_sql(WITNESS)
    engine.dispose()
    parallel_students = {
        f"{kind}-{i}": content
        for kind, content in students.items()
        for i in range(COPIES)
    }
    for student, content in parallel_students.items():
        write_submission(course, student, content)

    import dask
    from distributed import Client, LocalCluster

    start = time.perf_counter()
    course_dir = ap.Course.load(course, postgres)
    engine = gradebook_sync.engine_for(postgres)
    todo, done = ap.plan(course_dir, engine, [a], None, force=False)
    engine.dispose()
    with dask.config.set({"distributed.scheduler.allowed-failures": 3}):
        with (
            LocalCluster(
                n_workers=WORKERS,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                local_directory=str(tmp / "dask"),
            ) as cluster,
            Client(cluster) as client,
        ):
            killer = WorkerKiller(client)
            report = ap.autograde(
                client, course_dir, todo, progress=False, on_commit=killer.on_commit
            )
            killer.thread.join(timeout=5)
    parallel_s = time.perf_counter() - start
    print(
        f"serial nbgrader, {len(students)} students: {serial_s:.0f} s; parallel, "
        f"{len(parallel_students)} students on {WORKERS} workers: {parallel_s:.0f} s"
    )
    print(report.summary())
    return {
        "serial": serial,
        "course": course,
        "url": postgres,
        "students": parallel_students,
        "todo": todo,
        "done": done,
        "report": report,
        "victim": killer.victim,
        "grades": gh.read_grades(course, a, parallel_students, db_url=postgres),
        "dask_dir": tmp / "dask",
    }


def _cells(grades: dict) -> dict:
    return {
        gid: (g["score"], g["auto_score"], g["needs_manual_grade"])
        for gid, g in grades.items()
    }


# --------------------------------------------------------------------------
# the tests


def test_copies_of_every_kind_are_queued(graded):
    kinds_graded = graded["serial"].run.students
    assert COPIES >= 2 and len(kinds_graded) >= 8
    assert len(graded["students"]) == COPIES * len(kinds_graded)
    assert sorted(s for _, s in graded["todo"]) == sorted(graded["students"])
    assert graded["done"] == []


def test_every_submission_is_graded_exactly_once(graded):
    results = graded["report"].results
    names = sorted(r["student"] for r in results)
    assert names == sorted(graded["students"]), "a submission was lost or repeated"
    log = writes(graded["url"])
    inserted = sorted(s for op, s in log if op == "INSERT")
    assert inserted == sorted(graded["students"]), (
        "the gradebook did not get exactly one insert per submission"
    )
    assert not [w for w in log if w[0] == "DELETE"], "a submission row was deleted"


def test_a_killed_worker_loses_nothing(graded):
    victim = graded["victim"]
    assert victim, "no worker was killed while grading (the run ended too soon?)"
    key = victim["key"]
    student = next(s for s in graded["students"] if f"-{ASSIGNMENT}-{s}-" in f"{key}")
    [result] = [r for r in graded["report"].results if r["student"] == student]
    assert result["pid"] != victim["pid"], (
        f"{student}'s result came from the killed worker"
    )
    assert result["status"] == "graded", result
    kind = kind_of(student)
    assert _cells(graded["grades"][student]) == _cells(graded["serial"].grades[kind])
    assert not leftovers(graded["dask_dir"]), "processes of the killed task still run"


def leftovers(folder: Path) -> list[str]:
    """Processes started in, or naming, ``folder``: nbgrader runs and their kernels."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(folder) in cmdline or str(folder) in (proc.info["cwd"] or ""):
            found.append(cmdline)
    return found


def test_scores_equal_serial_nbgrader(graded):
    serial = graded["serial"]
    assert set(serial.grades) == {kind_of(s) for s in graded["students"]}, (
        f"the serial baseline misses kinds:\n{serial.log[-3000:]}"
    )
    # the baseline grades each kind as it is meant to be graded
    auto = [
        g for g in serial.grades["solution"].values() if g["auto_score"] is not None
    ]
    points = sum(g["max_score"] for g in auto)
    total = lambda grades: sum(g["score"] for g in grades.values())  # noqa: E731
    assert total(serial.grades["solution"]) == points > 0, serial.describe("solution")
    assert total(serial.grades["blank"]) == 0
    for kind in ("partial", "loop", *WRONG):
        assert 0 < total(serial.grades[kind]) < points, serial.describe(kind)
    assert all(g["auto_score"] is None for g in serial.grades["broken"].values())

    differ = {
        s: (_cells(graded["grades"].get(s, {})), _cells(serial.grades[kind_of(s)]))
        for s in graded["students"]
        if _cells(graded["grades"].get(s, {})) != _cells(serial.grades[kind_of(s)])
    }
    assert not differ, f"parallel grades differ from serial nbgrader: {differ}"
    for student in graded["students"]:
        name = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
        parallel_nb = graded["course"] / "autograded" / student / name
        serial_nb = serial.course / "autograded" / kind_of(student) / name
        assert parallel_nb.exists() == serial_nb.exists(), student


def test_summary_names_the_failures_and_timeouts(graded):
    report = graded["report"]
    failed = sorted(r["student"] for r in report.failures)
    assert failed == sorted(s for s in graded["students"] if kind_of(s) == "broken")
    assert {r["kind"] for r in report.failures} == {"broken notebook"}
    stopped = sorted(r["student"] for r in report.graded if r["cell_timeouts"])
    assert stopped == sorted(s for s in graded["students"] if kind_of(s) == "loop")
    text = report.summary()
    for student in failed + stopped:
        assert student in text
    assert "not valid" in text or "JSON" in text


def test_a_second_run_grades_only_the_failed(graded):
    course = ap.Course.load(graded["course"], graded["url"])
    engine = gradebook_sync.engine_for(graded["url"])
    try:
        todo, done = ap.plan(course, engine, [ASSIGNMENT], None, force=False)
        forced, _ = ap.plan(course, engine, [ASSIGNMENT], None, force=True)
    finally:
        engine.dispose()
    broken = sorted(s for s in graded["students"] if kind_of(s) == "broken")
    assert sorted(s for _, s in todo) == broken
    assert len(done) == len(graded["students"]) - len(broken)
    assert len(forced) == len(graded["students"])


def test_export_and_feedback_read_the_postgres_gradebook(graded):
    course, url = graded["course"], graded["url"]
    env = gh.nbgrader_env({"MI_GRADEBOOK_URL": url})
    make_release.nbgrader(course, "export", "--to", "grades.csv", env=env)
    with open(course / "grades.csv", newline="") as fh:
        # The export has a row per student for every assignment of the gradebook
        # (the released course holds them all): keep the graded assignment's.
        rows = {
            r["student_id"]: r
            for r in csv.DictReader(fh)
            if r["assignment"] == ASSIGNMENT
        }
    assert set(graded["grades"]) <= set(rows), "students missing from the export"
    for student, grades in graded["grades"].items():
        assert float(rows[student]["score"]) == pytest.approx(
            sum(g["score"] for g in grades.values())
        ), student
    make_release.nbgrader(
        course, "generate_feedback", ASSIGNMENT, "--student", "solution-0", env=env
    )
    html = course / "feedback" / "solution-0" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    text = html.read_text(encoding="utf-8")
    score = float(rows["solution-0"]["score"])
    assert f"Score: {score:.1f}" in text or f"{score:g}" in text
    assert gh.HIDDEN_BEGIN not in text
    assert not (course / "gradebook.db").exists(), "nbgrader fell back to SQLite"


def test_regrading_keeps_manual_grades(graded, tmp_path):
    """A regrade replaces auto scores, keeps a TA's manual score and flags it."""
    from nbgrader.api import Gradebook

    url = f"sqlite:///{tmp_path / 'copy.db'}"
    gradebook_sync.copy_gradebook(graded["url"], url)
    [result] = [r for r in graded["report"].results if r["student"] == "partial-0"]
    with Gradebook(url) as gb:
        written = next(
            g
            for nb in gb.find_submission(ASSIGNMENT, "partial-0").notebooks
            for g in nb.grades
            if g.auto_score is None
        )
        name = written.name
        written.manual_score = 1.0
        gb.db.commit()
    engine = gradebook_sync.engine_for(url)
    try:
        assert gradebook_sync.commit_submission(engine, result["rows"]) == "updated"
    finally:
        engine.dispose()
    after = gh.read_grades(tmp_path, ASSIGNMENT, ["partial-0"], db_url=url)["partial-0"]
    assert after[name]["score"] == 1.0 and after[name]["needs_manual_grade"]
    before = graded["grades"]["partial-0"]
    assert {g: v["auto_score"] for g, v in after.items()} == {
        g: v["auto_score"] for g, v in before.items()
    }


def test_one_coordinator_at_a_time_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    with ap.sqlite_guard(url):
        with pytest.raises(SystemExit, match="one writer at a time"):
            with ap.sqlite_guard(url):
                pass
    with ap.sqlite_guard(url):  # released: the next run may start
        pass

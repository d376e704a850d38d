"""Real ``nbgrader autograde`` runs: a course, its students, their grades.

:func:`build_course` releases some assignments of the course in a temporary copy;
a :class:`Run` grades several students of one assignment with ``nbgrader
autograde`` in its own clone of that course and gradebook (:func:`grade`), and
:func:`grade_all` runs several at a time. What a run leaves (scores from the
gradebook, the autograded notebooks, the export CSV, the feedback) is read back
into plain Python objects (:class:`RunResult`). The grading tests
(``tests/course/test_grading.py``) and ``benchmarks/bench_autograde.py`` use it;
a student is a notebook, e.g. :func:`solution`, the instructor's answers typed
into the release.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from scripts import course_files, make_release, nbgrader_cells

ROOT = Path(__file__).resolve().parents[1]


def course_assignments(course: Path = ROOT) -> list[str]:
    return make_release.assignments(course)


def read_nb(path: Path):
    return nbformat.read(path, as_version=4)


def copy_nb(nb):
    return nbformat.from_dict(json.loads(json.dumps(nb)))


def solution(release_nb, source_nb):
    """The release with every answer (code and written) filled in from the source."""
    nb = copy_nb(release_nb)
    for cell in nb.cells:
        if nbgrader_cells.is_answer(cell) or nbgrader_cells.is_written_answer(cell):
            instructor = nbgrader_cells.cell_by_id(
                source_nb, nbgrader_cells.grade_id(cell)
            )
            cell.source = nbgrader_cells.without_delimiters(instructor.source)
    return nb


# --------------------------------------------------------------------------
# courses and runs


def nbgrader_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = make_release.nbgrader_env()
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    # a run grades into its own course's SQLite gradebook, whatever MI_GRADEBOOK_URL
    unset = ("MI_SEED", "NBGRADER_EXECUTION", "NBGRADER_TIMEOUT", "MI_GRADEBOOK_URL")
    for key in unset:
        env.pop(key, None)
    env.update(extra or {})
    return env


def build_course(dest: Path, assignments: list[str], course: Path = ROOT) -> Path:
    """A temporary course with ``assignments`` released and in its gradebook."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(course / "nbgrader_config.py", dest / "nbgrader_config.py")
    for name in assignments:
        shutil.copytree(
            course / "source" / name,
            dest / "source" / name,
            ignore=course_files.copy_ignore(),
        )
    make_release.release(dest)
    return dest


def clone_course(base: Path, dest: Path, assignment: str) -> Path:
    """A copy of ``base`` (its config, one assignment, its gradebook) to grade in."""
    dest.mkdir(parents=True)
    for name in ("nbgrader_config.py", "gradebook.db"):
        shutil.copy2(base / name, dest / name)
    shutil.copytree(base / "source" / assignment, dest / "source" / assignment)
    shutil.copytree(base / "release" / assignment, dest / "release" / assignment)
    return dest


@dataclass
class Run:
    """One ``nbgrader autograde`` of one assignment for several students."""

    assignment: str
    name: str
    students: dict  # student id -> notebook (or the bytes of a broken file)
    env: dict[str, str] = field(default_factory=dict)
    timeout: int | None = None  # seconds a cell may run (c.Execute.timeout)
    answer_timeout: int | None = None  # seconds an answer cell may run, if shorter
    export: bool = False
    feedback: tuple[str, ...] = ()  # students to generate feedback for


@dataclass
class RunResult:
    run: Run
    course: Path
    returncode: int
    log: str
    seconds: float
    grades: dict  # student -> {grade id: {"score", "max_score", "auto_score", ...}}
    csv_rows: list = field(default_factory=list)
    feedback: dict = field(default_factory=dict)  # student -> html path

    def autograded(self, student: str):
        a = self.run.assignment
        return read_nb(self.course / "autograded" / student / a / f"{a}.ipynb")

    def describe(self, student: str) -> str:
        """Each graded cell's score and the end of its error, for failure messages."""
        try:
            nb = self.autograded(student)
        except FileNotFoundError:
            return f"(no autograded notebook for {student}; log:\n{self.log[-3000:]})"
        lines = []
        for cell in nb.cells:
            gid = nbgrader_cells.grade_id(cell)
            if gid and gid in self.grades.get(student, {}):
                g = self.grades[student][gid]
                lines.append(f"  {gid}: {g['score']}/{g['max_score']}")
                err = error_of(cell)
                if err:
                    lines.append("    " + err[-600:].replace("\n", "\n    "))
        return "\n".join(lines)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def error_of(cell) -> str | None:
    """The error a code cell raised (its traceback, without colours), or None."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return _ANSI.sub("", "\n".join(out.get("traceback", [])))
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            return "stderr: " + out.get("text", "")
    return None


def error_line(cell) -> int | None:
    """The line of the cell where its error was raised (``Cell In[n], line k``)."""
    err = error_of(cell)
    if not err:
        return None
    match = re.search(r"Cell In\[\d+\], line (\d+)", err)
    return int(match.group(1)) if match else None


def read_grades(course: Path, assignment: str, students, db_url=None) -> dict:
    """Each student's grades: the course's SQLite gradebook, or ``db_url``'s."""
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(db_url or f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in students:
            try:
                sub = gb.find_submission(assignment, student)
            except MissingEntry:
                continue
            cells = {}
            for nb in sub.notebooks:
                for g in nb.grades:
                    cells[g.name] = {
                        "score": g.score,
                        "max_score": g.max_score,
                        "auto_score": g.auto_score,
                        "needs_manual_grade": g.needs_manual_grade,
                    }
            out[student] = cells
    return out


def grade(run: Run, base: Path, workdir: Path) -> RunResult:
    """Autograde ``run`` in a clone of the course ``base``; read the results."""
    a = run.assignment
    course = clone_course(base, workdir / f"{a}-{run.name}", a)
    if run.answer_timeout:  # answers (solution cells) get a shorter timeout
        with open(course / "nbgrader_config.py", "a") as fh:
            fh.write(
                "\n_other_cells = c.Execute.timeout\n"
                "c.Execute.timeout_func = lambda cell: (\n"
                f"    {run.answer_timeout} if cell.metadata.get('nbgrader', {{}})"
                ".get('solution') else _other_cells\n)\n"
            )
    for student, nb in run.students.items():
        folder = course / "submitted" / student / a
        folder.mkdir(parents=True)
        if isinstance(nb, bytes):  # a file that is not a valid notebook
            (folder / f"{a}.ipynb").write_bytes(nb)
        else:
            nbformat.write(nb, folder / f"{a}.ipynb")
    args = ["autograde", a, "--force"]
    if run.timeout:
        args.append(f"--Execute.timeout={run.timeout}")
    env = nbgrader_env(run.env)
    start = time.perf_counter()
    proc = make_release.nbgrader(course, *args, check=False, env=env)
    seconds = time.perf_counter() - start
    log = proc.stdout + proc.stderr
    result = RunResult(
        run,
        course,
        proc.returncode,
        log,
        seconds,
        read_grades(course, a, run.students),
    )
    if run.export:
        exp = make_release.nbgrader(
            course, "export", "--to", "grades.csv", check=False, env=env
        )
        result.log += exp.stdout + exp.stderr
        if (course / "grades.csv").exists():
            with open(course / "grades.csv", newline="") as fh:
                result.csv_rows = list(csv.DictReader(fh))
    for student in run.feedback:
        fb = make_release.nbgrader(
            course,
            "generate_feedback",
            a,
            "--student",
            student,
            "--force",
            check=False,
            env=env,
        )
        result.log += fb.stdout + fb.stderr
        html = course / "feedback" / student / a / f"{a}.html"
        if html.exists():
            result.feedback[student] = html
    return result


def grade_all(runs: list[Run], base: Path, workdir: Path, jobs: int | None = None):
    """Grade every run, ``jobs`` at a time; ``{(assignment, run name): RunResult}``."""
    if jobs is None:
        jobs = int(os.environ.get("MI_GRADING_JOBS", min(2, os.cpu_count() or 1)))
    # the runs with the most students first, so that no long run is left to the end
    # while the other workers idle (longest-processing-time-first scheduling)
    ordered = sorted(runs, key=lambda r: len(r.students), reverse=True)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {
            (r.assignment, r.name): pool.submit(grade, r, base, workdir)
            for r in ordered
        }
        return {key: f.result() for key, f in futures.items()}

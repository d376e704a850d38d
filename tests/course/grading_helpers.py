"""Real nbgrader runs for the grading tests: a course, its students, their grades.

A session builds the release of the course once in a temporary copy
(:func:`build_course`), then grades every assignment in a few ``nbgrader
autograde`` runs (:class:`Run`), each in its own clone of that course and
gradebook, several runs at a time (``MI_GRADING_JOBS``, default: the number of
cores, at most 2). One run grades many students, each a variant of the release
made by the functions below (the instructor's solution, the untouched release,
a wrong answer, a tampered test, ...). What a run leaves (scores from the
gradebook, the autograded notebooks, the export CSV, the feedback) is read back
into plain Python objects (:class:`RunResult`).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import make_release  # noqa: E402

SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
STUB = "raise NotImplementedError()"


def course_assignments(course: Path = ROOT) -> list[str]:
    return make_release.assignments(course)


ASSIGNMENTS = course_assignments()


def selected_assignments(request, fixture: str) -> list[str]:
    """The assignments of the collected tests that use ``fixture`` (``-k`` honoured)."""
    names = []
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if callspec and fixture in getattr(item, "fixturenames", ()):
            name = callspec.params.get("assignment")
            if name and name not in names:
                names.append(name)
    return names


# --------------------------------------------------------------------------
# notebooks and their exercises


def meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def is_answer(cell) -> bool:
    """A code cell the student writes (a solution cell)."""
    return cell.cell_type == "code" and bool(meta(cell).get("solution"))


def is_test(cell) -> bool:
    """An autograded test cell: a read-only code cell that is graded."""
    m = meta(cell)
    return cell.cell_type == "code" and bool(m.get("grade")) and not m.get("solution")


def grade_id(cell) -> str | None:
    return meta(cell).get("grade_id")


@dataclass
class Exercise:
    answer: str  # grade id of the answer cell
    tests: list[str] = field(default_factory=list)  # its test cells, in order


def exercises(nb) -> list[Exercise]:
    """The autograded exercises: each answer cell with the test cells after it."""
    found: list[Exercise] = []
    for cell in nb.cells:
        if is_answer(cell):
            found.append(Exercise(grade_id(cell)))
        elif is_test(cell) and found:
            found[-1].tests.append(grade_id(cell))
    return [e for e in found if e.tests]


def test_points(nb) -> dict[str, float]:
    """``{grade id: points}`` of the autograded test cells."""
    return {grade_id(c): float(meta(c)["points"]) for c in nb.cells if is_test(c)}


def cell_by_id(nb, gid: str):
    for cell in nb.cells:
        if grade_id(cell) == gid:
            return cell
    raise KeyError(f"no cell with grade id {gid!r}")


def strip_solution_markers(source: str) -> str:
    lines = [
        line for line in source.splitlines() if line.strip() not in SOLUTION_MARKERS
    ]
    return "\n".join(lines)


def hidden_start(source: str) -> int | None:
    """1-based line of ``### BEGIN HIDDEN TESTS`` in a test cell, if any."""
    for i, line in enumerate(source.splitlines(), 1):
        if line.strip().startswith(HIDDEN_BEGIN):
            return i
    return None


def read_nb(path: Path):
    return nbformat.read(path, as_version=4)


def copy_nb(nb):
    return nbformat.from_dict(json.loads(json.dumps(nb)))


# --------------------------------------------------------------------------
# students: variants of the release


def solution(release_nb, source_nb):
    """The release with every answer (code and written) filled in from the source."""
    nb = copy_nb(release_nb)
    for cell in nb.cells:
        if meta(cell).get("solution"):
            cell.source = strip_solution_markers(
                cell_by_id(source_nb, grade_id(cell)).source
            )
    return nb


def replace_solutions(source: str, blocks) -> str:
    """An instructor answer cell with its k-th solution block replaced by ``blocks[k]``.

    A block is dedented text (re-indented like its ``### BEGIN SOLUTION``), or
    None to keep the instructor's block. The markers are removed.
    """
    out, k, inside = [], 0, False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == SOLUTION_MARKERS[0]:
            if k >= len(blocks):
                raise ValueError(f"{len(blocks)} blocks given, the cell has more")
            indent = line[: len(line) - len(line.lstrip())]
            inside, keep = True, blocks[k] is None
            if not keep:
                out += [indent + b if b else b for b in blocks[k].splitlines()]
            k += 1
        elif stripped == SOLUTION_MARKERS[1]:
            inside = False
        elif not inside or keep:
            out.append(line)
    if k != len(blocks):
        raise ValueError(f"{len(blocks)} blocks given, the cell has {k}")
    return "\n".join(out)


def with_answer(nb, answer_id: str, code, source_nb=None):
    """``nb`` with the answer cell ``answer_id`` replaced by ``code``.

    ``code`` is the cell's new text, or a list of solution blocks for
    :func:`replace_solutions` applied to ``source_nb``'s instructor version.
    """
    if not isinstance(code, str):
        code = replace_solutions(cell_by_id(source_nb, answer_id).source, code)
    nb = copy_nb(nb)
    cell_by_id(nb, answer_id).source = code
    return nb


def stub_of(release_nb, answer_id: str) -> str:
    return cell_by_id(release_nb, answer_id).source


def with_cell_source(nb, gid: str, source: str):
    nb = copy_nb(nb)
    cell_by_id(nb, gid).source = source
    return nb


def without_cell(nb, gid: str):
    nb = copy_nb(nb)
    nb.cells = [c for c in nb.cells if grade_id(c) != gid]
    return nb


def infinite_loop(answer_source: str) -> str:
    """An answer cell that never ends (before it defines anything)."""
    return "while True:  # an answer that never ends\n    pass\n\n" + answer_source


# --------------------------------------------------------------------------
# courses and runs


def nbgrader_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = make_release.nbgrader_env()
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONHASHSEED="0")
    for key in ("MI_SEED", "NBGRADER_EXECUTION", "NBGRADER_TIMEOUT"):
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
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", "runs"),
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
    students: dict  # student id -> notebook
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
            gid = grade_id(cell)
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


def read_grades(course: Path, assignment: str, students) -> dict:
    from nbgrader.api import Gradebook, MissingEntry

    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
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
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {
            (r.assignment, r.name): pool.submit(grade, r, base, workdir) for r in runs
        }
        return {key: f.result() for key, f in futures.items()}

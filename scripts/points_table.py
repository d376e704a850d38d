"""How each chapter's points split between code exercises, experiments and writing.

Issue 11 asks that copying ``mi_lib``'s code cannot reach a passing grade: the
experiments and the written answers must carry at least half of a chapter's points.
This script reads the points from the nbgrader metadata of the instructor notebooks
(``source/<assignment>/<assignment>.ipynb``) and prints the table that
INSTRUCTORS.md shows (``tests/course/test_points_table.py`` checks that the two
agree):

- *written* (graded by hand): the markdown answer cells (``nbgrader`` ``grade`` and
  ``solution``);
- *experiment* (autograded): the test cells of an answer cell that runs something at
  its top level (a loop, a ``with`` block, a call, a comprehension: see
  :func:`answer_kind`), the way an experiment stores its results in variables;
- *code* (autograded): the test cells of an answer cell that only defines functions,
  classes, constants and imports (the student writes a function that the tests call).

An experiment whose answer cell only defines the functions that a given cell then
runs is marked by the tag ``experiment`` on its answer cell (``tags: [experiment]``
in the MyST metadata).

``python -m scripts.points_table`` prints the table, ``--exercises`` every graded
cell with its kind and points, and ``--write`` puts the table into INSTRUCTORS.md
between its markers.
"""

from __future__ import annotations

import argparse
import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from scripts import nbgrader_cells as cells

ROOT = Path(__file__).resolve().parents[1]
INSTRUCTORS = ROOT / "INSTRUCTORS.md"
BEGIN = "<!-- points-table: begin (python -m scripts.points_table --write) -->"
END = "<!-- points-table: end -->"

CODE, EXPERIMENT, WRITTEN = "code", "experiment", "written"
_RUNS = (ast.For, ast.AsyncFor, ast.While, ast.With, ast.AsyncWith, ast.Expr)


def assignments(root: Path = ROOT) -> list[str]:
    """The assignments of ``source/``: folders holding a notebook of their name."""
    return sorted(
        p.name for p in (root / "source").iterdir() if (p / f"{p.name}.ipynb").exists()
    )


_DEFINES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
# calls that only build a constant: np.array([...]), torch.tensor(...), range(3), ...
_CONSTANT_MAKERS = frozenset({"np", "numpy", "torch", "math"})
_CONSTANT_BUILTINS = frozenset({"float", "int", "list", "tuple", "dict", "range"})


def _builds_a_constant(call: ast.Call) -> bool:
    f = call.func
    if isinstance(f, ast.Name):
        return f.id in _CONSTANT_BUILTINS
    while isinstance(f, ast.Attribute):
        f = f.value
    return isinstance(f, ast.Name) and f.id in _CONSTANT_MAKERS


def _runs(node: ast.stmt) -> bool:
    if isinstance(node, _DEFINES + (ast.ImportFrom,)):
        return False
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
        return False  # a docstring
    if isinstance(node, _RUNS):
        return True
    return any(
        isinstance(n, _COMPREHENSIONS)
        or (isinstance(n, ast.Call) and not _builds_a_constant(n))
        for n in ast.walk(node)
    )


def answer_kind(source: str) -> str:
    """:data:`EXPERIMENT` if the answer's code runs something at its top level.

    Running: a loop, a ``with`` block, an expression (a call, a plot), a
    comprehension, or a call other than one that builds a constant
    (``np.array(...)``, ``torch.tensor(...)``, ``range(...)``). Definitions,
    imports and constants alone make a code exercise.
    """
    code = cells.without_delimiters(source)
    lines = [ln for ln in code.split("\n") if not ln.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return CODE
    return EXPERIMENT if any(_runs(node) for node in tree.body) else CODE


@dataclass
class GradedCell:
    grade_id: str
    kind: str  # CODE, EXPERIMENT or WRITTEN
    points: float


def graded_cells(nb) -> list[GradedCell]:
    """Every cell that carries points, with its kind."""
    found, kind = [], CODE
    for cell in nb.cells:
        if cells.is_answer(cell):
            tagged = EXPERIMENT in cell.get("metadata", {}).get("tags", [])
            kind = EXPERIMENT if tagged else answer_kind(cell.source)
        elif cells.is_written_answer(cell):
            points = float(cells.metadata(cell).get("points", 0))
            found.append(GradedCell(cells.grade_id(cell), WRITTEN, points))
        elif cells.is_test(cell):
            points = float(cells.metadata(cell)["points"])
            found.append(GradedCell(cells.grade_id(cell), kind, points))
    return found


@dataclass
class ChapterPoints:
    assignment: str
    code: float
    experiment: float
    written: float

    @property
    def total(self) -> float:
        return self.code + self.experiment + self.written

    @property
    def share(self) -> float:
        """The share of the points that copying library code cannot earn."""
        return (self.experiment + self.written) / self.total if self.total else 0.0


def chapter_points(assignment: str, root: Path = ROOT) -> ChapterPoints:
    nb = nbformat.read(root / "source" / assignment / f"{assignment}.ipynb", 4)
    sums = {CODE: 0.0, EXPERIMENT: 0.0, WRITTEN: 0.0}
    for cell in graded_cells(nb):
        sums[cell.kind] += cell.points
    return ChapterPoints(assignment, sums[CODE], sums[EXPERIMENT], sums[WRITTEN])


def _number(x: float) -> str:
    return f"{x:g}"


def markdown_table(root: Path = ROOT) -> str:
    rows = [
        "| chapter | code exercises (autograded) | experiments (autograded) "
        "| written answers (by hand) | total | experiments + written |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for a in assignments(root):
        p = chapter_points(a, root)
        rows.append(
            f"| `{a}` | {_number(p.code)} | {_number(p.experiment)} "
            f"| {_number(p.written)} | {_number(p.total)} | {p.share:.0%} |"
        )
    return "\n".join(rows)


def documented_table(path: Path = INSTRUCTORS) -> str:
    """The table between the markers of INSTRUCTORS.md."""
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise ValueError(f"{path} has no points-table markers ({BEGIN!r} ... {END!r})")
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip()


def write_table(path: Path = INSTRUCTORS, root: Path = ROOT) -> None:
    text = path.read_text()
    documented_table(path)  # the markers are there
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    path.write_text(f"{head}{BEGIN}\n{markdown_table(root)}\n{END}{tail}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exercises", action="store_true", help="every graded cell")
    parser.add_argument("--write", action="store_true", help="update INSTRUCTORS.md")
    args = parser.parse_args(argv)
    if args.exercises:
        for a in assignments():
            nb = nbformat.read(ROOT / "source" / a / f"{a}.ipynb", 4)
            for c in graded_cells(nb):
                print(f"{a}  {c.grade_id:32s} {c.kind:10s} {_number(c.points)}")
        return 0
    if args.write:
        write_table()
    print(markdown_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())

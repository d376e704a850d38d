"""The nbgrader cells of the course's notebooks: one parser, nbgrader's own rules.

Every script and test that asks what a cell is, or what a student may see of it,
asks this module, and this module asks nbgrader 0.9.6:

- the kind of a cell comes from ``nbgrader.utils`` (``is_solution``,
  ``is_grade``): an *answer* is a code cell the student writes, a *written answer*
  a markdown cell the student writes (graded by hand), a *test* a graded read-only
  code cell;
- a solution or hidden-test region is delimited as nbgrader delimits it: by the
  lines that contain the delimiters set in ``nbgrader_config.py``
  (``ClearSolutions.begin_solution_delimeter`` ..., nbgrader's defaults
  ``BEGIN SOLUTION``, ``END SOLUTION``, ``BEGIN HIDDEN TESTS``, ``END HIDDEN
  TESTS``); a solution cell with no region is a solution as a whole;
- the student copy of a notebook (:func:`student_copy`) is made by nbgrader's
  ``ClearSolutions`` and ``ClearHiddenTests`` preprocessors, configured by
  ``nbgrader_config.py``: the very code ``nbgrader generate_assignment`` runs for
  ``release/``, so the release and the student web book are stripped alike.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path

from nbgrader import utils
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

ROOT = Path(__file__).resolve().parents[1]

# What a secret line is, in the reports of the leak checks.
SOLUTION = "solution"
HIDDEN_TEST = "hidden test"
MODEL_ANSWER = "model answer"


class DelimiterError(ValueError):
    """A cell whose solution or hidden-test delimiters do not pair up."""


# ------------------------------------------------------------------ configuration


@functools.cache
def nbgrader_config(course: Path = ROOT) -> Config:
    """The configuration nbgrader reads from ``course/nbgrader_config.py``."""
    return PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()


def clear_solutions(course: Path = ROOT, **options) -> ClearSolutions:
    """nbgrader's ``ClearSolutions`` as the course configures it (``options`` win)."""
    config = copy.deepcopy(nbgrader_config(course))
    for name, value in options.items():
        config.ClearSolutions[name] = value
    return ClearSolutions(config=config)


def clear_hidden_tests(course: Path = ROOT) -> ClearHiddenTests:
    """nbgrader's ``ClearHiddenTests`` as the course configures it."""
    return ClearHiddenTests(config=copy.deepcopy(nbgrader_config(course)))


@functools.cache
def delimiters(course: Path = ROOT) -> dict[str, tuple[str, str]]:
    """``{kind: (begin, end)}`` of the solution and hidden-test regions."""
    solutions, hidden = clear_solutions(course), clear_hidden_tests(course)
    return {
        SOLUTION: (
            solutions.begin_solution_delimeter,
            solutions.end_solution_delimeter,
        ),
        HIDDEN_TEST: (hidden.begin_test_delimeter, hidden.end_test_delimeter),
    }


def text_stub(course: Path = ROOT) -> str:
    """What replaces a written answer in the release (``YOUR ANSWER HERE``)."""
    return clear_solutions(course).text_stub


def code_stub(course: Path = ROOT, language: str = "python") -> str:
    """What replaces solution code in the release."""
    return clear_solutions(course).code_stub[language]


# ------------------------------------------------------------------ kinds of cell


def metadata(cell) -> dict:
    """The cell's nbgrader metadata (empty for a cell nbgrader ignores)."""
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_answer(cell) -> bool:
    """A code cell the student writes (a solution cell)."""
    return cell.cell_type == "code" and bool(utils.is_solution(cell))


def is_written_answer(cell) -> bool:
    """A markdown cell the student writes, graded by hand; it holds a model answer."""
    return cell.cell_type == "markdown" and bool(utils.is_solution(cell))


def is_test(cell) -> bool:
    """An autograded test cell: a graded code cell that is not an answer."""
    return (
        cell.cell_type == "code"
        and bool(utils.is_grade(cell))
        and not utils.is_solution(cell)
    )


def grade_id(cell) -> str | None:
    return metadata(cell).get("grade_id")


def cell_by_id(nb, gid: str):
    for cell in nb.cells:
        if grade_id(cell) == gid:
            return cell
    raise KeyError(f"no cell with grade id {gid!r}")


def test_points(nb) -> dict[str, float]:
    """``{grade id: points}`` of the autograded test cells."""
    return {grade_id(c): float(metadata(c)["points"]) for c in nb.cells if is_test(c)}


def total_points(nb) -> float:
    """The points of every graded cell: autograded tests and written answers."""
    return sum(float(metadata(c)["points"]) for c in nb.cells if utils.is_grade(c))


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


# ------------------------------------------------------------------------ regions


def regions(
    source: str, kind: str = SOLUTION, where: str = "a cell", course: Path = ROOT
) -> list[tuple[bool, list[str]]]:
    """``source`` as runs ``(inside a region, lines)`` around the ``kind`` delimiters.

    A line that contains a delimiter opens or closes a region, as in nbgrader;
    the delimiter lines belong to the inside runs. Raises :class:`DelimiterError`
    on an unpaired or nested delimiter, naming ``where``.
    """
    begin, end = delimiters(course)[kind]
    runs: list[tuple[bool, list[str]]] = []
    inside = False
    for line in source.split("\n"):
        if begin in line:
            if inside:
                raise DelimiterError(f"{where}: nested '{begin}' in line {line!r}")
            inside = True
            runs.append((True, [line]))
        elif end in line:
            if not inside:
                raise DelimiterError(f"{where}: '{end}' without '{begin}': {line!r}")
            runs[-1][1].append(line)
            inside = False
        else:
            if not runs or runs[-1][0] != inside:
                runs.append((inside, []))
            runs[-1][1].append(line)
    if inside:
        raise DelimiterError(f"{where}: '{begin}' without '{end}'")
    return runs


def is_delimiter(line: str, course: Path = ROOT) -> bool:
    return any(d in line for pair in delimiters(course).values() for d in pair)


def secret_lines(cell, where: str = "a cell") -> list[tuple[str, str]]:
    """``(kind, line)`` of every line of ``cell`` that the student copy drops.

    The lines inside solution and hidden-test regions (not the delimiters), and
    the whole of a solution cell that has no region.
    """
    if utils.is_solution(cell) and not any(
        inside for inside, _ in regions(cell.source, SOLUTION, where)
    ):
        kind = MODEL_ANSWER if cell.cell_type == "markdown" else SOLUTION
        return [(kind, line) for line in cell.source.split("\n")]
    found = []
    for kind in (SOLUTION, HIDDEN_TEST):
        for inside, lines in regions(cell.source, kind, where):
            if inside:
                shown = MODEL_ANSWER if cell.cell_type == "markdown" else kind
                found += [(shown, line) for line in lines[1:-1]]
    return found


def model_answers(nb, name: str = "notebook") -> list[str]:
    """The model answer of each written answer of ``nb``, as text."""
    return [
        "\n".join(line for _, line in secret_lines(c, f"{name}, cell {i}"))
        for i, c in enumerate(nb.cells)
        if is_written_answer(c)
    ]


def without_delimiters(source: str, kind: str = SOLUTION) -> str:
    """``source`` with the ``kind`` delimiter lines removed (an instructor's answer)."""
    begin, end = delimiters()[kind]
    lines = source.split("\n")
    return "\n".join(line for line in lines if begin not in line and end not in line)


def hidden_start(source: str) -> int | None:
    """1-based line of the first hidden-test delimiter of a test cell, if any."""
    begin = delimiters()[HIDDEN_TEST][0]
    for number, line in enumerate(source.split("\n"), 1):
        if begin in line:
            return number
    return None


# ------------------------------------------------------------------ student copy


def student_copy(nb, name: str = "notebook", written_stub: str | None = None):
    """A copy of ``nb`` with every solution, hidden test and model answer removed.

    nbgrader's ``ClearSolutions`` replaces solution code by the code stub and a
    written answer by ``written_stub`` (default: the configured text stub), then
    ``ClearHiddenTests`` drops the hidden tests: what ``nbgrader
    generate_assignment`` does to the sources. Outputs are left as they are.
    Raises :class:`DelimiterError` naming the cell when delimiters do not pair up
    or a region lies in a cell nbgrader would not strip.
    """
    nb = copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        for kind in (SOLUTION, HIDDEN_TEST):
            regions(cell.source, kind, f"{name}, cell {index}")
    options = {} if written_stub is None else {"text_stub": written_stub}
    for preprocessor in (clear_solutions(**options), clear_hidden_tests()):
        try:
            nb, _ = preprocessor.preprocess(nb, {})
        except RuntimeError as error:  # a region outside a solution/grade cell
            raise DelimiterError(f"{name}: {error}") from None
    return nb

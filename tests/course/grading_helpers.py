"""Students for the grading tests: variants of the release, and what they need.

The runs themselves (a released course, ``nbgrader autograde``, the gradebook read
back) are in ``scripts/grading_runner.py``, the reading of nbgrader cells in
``scripts/nbgrader_cells.py``; both are re-exported here for the tests. A student
is a variant of the release made by the functions below (the instructor's
solution, the untouched release, a wrong answer, a tampered test, ...).
"""

from __future__ import annotations

from scripts import nbgrader_cells
from scripts.grading_runner import (  # noqa: F401 (re-exported for the tests)
    ROOT,
    Run,
    RunResult,
    build_course,
    clone_course,
    copy_nb,
    course_assignments,
    error_line,
    error_of,
    grade,
    grade_all,
    nbgrader_env,
    read_grades,
    read_nb,
    solution,
)
from scripts.nbgrader_cells import (  # noqa: F401 (re-exported for the tests)
    Exercise,
    cell_by_id,
    exercises,
    grade_id,
    hidden_start,
    is_answer,
    is_test,
    test_points,
    total_points,
)

SOLUTION_MARKERS = nbgrader_cells.delimiters()[nbgrader_cells.SOLUTION]
HIDDEN_BEGIN = nbgrader_cells.delimiters()[nbgrader_cells.HIDDEN_TEST][0]
STUB = nbgrader_cells.code_stub().split("\n")[-1]  # raise NotImplementedError()

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
# students: variants of the release


def replace_solutions(source: str, blocks) -> str:
    """An instructor answer cell with its k-th solution block replaced by ``blocks[k]``.

    A block is dedented text (re-indented like its ``### BEGIN SOLUTION``), or
    None to keep the instructor's block. The markers are removed.
    """
    out, k = [], 0
    for inside, lines in nbgrader_cells.regions(source, nbgrader_cells.SOLUTION):
        if not inside:
            out += lines
            continue
        if k >= len(blocks):
            raise ValueError(f"{len(blocks)} blocks given, the cell has more")
        if blocks[k] is None:
            out += lines[1:-1]
        else:
            indent = lines[0][: len(lines[0]) - len(lines[0].lstrip())]
            out += [indent + b if b else b for b in blocks[k].splitlines()]
        k += 1
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

"""The student edition of a chapter: the instructor's run with the secrets removed.

The web book shows each chapter as its instructor notebook ran, outputs included.
For the student edition :func:`strip_for_students` removes what ``release/`` does
not hold either, with the same code: nbgrader's ``ClearSolutions`` and
``ClearHiddenTests`` as ``nbgrader_config.py`` configures them
(:func:`scripts.nbgrader_cells.student_copy`). Two things differ from the
release, because the book is read, not worked in:

- a written answer shows :data:`WRITTEN_PLACEHOLDER`, which tells the reader to
  answer in the notebook, instead of the bare text stub;
- the outputs of the instructor's run stay, except those of test cells (a hidden
  test may print) and the attachments of written answers.

``scripts/leak_check.py`` then checks the built site for any secret line.
"""

from __future__ import annotations

from scripts import nbgrader_cells

# What the student book shows in place of a written answer.
WRITTEN_PLACEHOLDER = (
    "*Written exercise: write your answer in this cell of the notebook "
    f"(it says {nbgrader_cells.text_stub()}).*"
)


def strip_for_students(nb, name: str = "notebook"):
    """Return a copy of ``nb`` with every solution, hidden test and model answer gone.

    Solution code becomes nbgrader's code stub, a model answer becomes
    :data:`WRITTEN_PLACEHOLDER`; outputs are kept except those of test cells.
    Raises :class:`scripts.nbgrader_cells.DelimiterError` on unpaired delimiters.
    """
    nb = nbgrader_cells.student_copy(nb, name, written_stub=WRITTEN_PLACEHOLDER)
    for cell in nb.cells:
        if nbgrader_cells.is_test(cell):
            cell.outputs = []
        elif nbgrader_cells.is_written_answer(cell):
            cell.pop("attachments", None)
    return nb

"""The stripping of instructor notebooks and the leak check, on their own (fast).

The student copy is made by nbgrader's own preprocessors
(``scripts/nbgrader_cells.py``) for both ``release/`` and the student web book
(``scripts/book_strip.py``); ``scripts/leak_check.py`` looks for what must not
reach students in either.
"""

from __future__ import annotations

import book_helpers as bh
import jupytext
import nbformat
import pytest

from scripts import book_strip, leak_check, nbgrader_cells


def cell(kind, source, **nbgrader):
    v4 = nbformat.v4
    c = (v4.new_code_cell if kind == "code" else v4.new_markdown_cell)(source)
    if nbgrader:
        c.metadata["nbgrader"] = {"schema_version": 3, **nbgrader}
    return c


def test_strip_replaces_solution_code_by_the_stub_keeping_outputs():
    code = cell(
        "code",
        "def f(x):\n    ### BEGIN SOLUTION\n    y = 2 * x\n    return y\n"
        "    ### END SOLUTION\n\nprint(f(1))",
        solution=True,
        grade=False,
        grade_id="ch0-f",
    )
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    nb = nbformat.v4.new_notebook(cells=[code])
    out = book_strip.strip_for_students(nb).cells[0]
    assert out.source == (
        "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
        "\nprint(f(1))"
    )
    assert out.outputs == code.outputs
    assert "BEGIN SOLUTION" in nb.cells[0].source, "the input notebook is unchanged"


def test_strip_removes_hidden_tests_and_model_answers():
    nb = nbformat.v4.new_notebook(
        cells=[
            cell(
                "code",
                "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(5) == 10\n"
                "### END HIDDEN TESTS",
                grade=True,
                solution=False,
                grade_id="ch0-t",
                points=1,
            ),
            cell(
                "markdown",
                "```{toggle}\nBecause the bound is tight.\n```",
                grade=True,
                solution=True,
                grade_id="ch0-why",
                points=1,
            ),
            cell("code", "x = 1", solution=True, grade=False, grade_id="ch0-x"),
        ]
    )
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="secret\n")]
    out = book_strip.strip_for_students(nb)
    assert out.cells[0].source == "assert f(1) == 2"
    assert out.cells[0].outputs == []
    assert out.cells[1].source == book_strip.WRITTEN_PLACEHOLDER
    assert out.cells[2].source == "# YOUR CODE HERE\nraise NotImplementedError()"


def test_strip_refuses_unpaired_delimiters():
    nb = nbformat.v4.new_notebook(
        cells=[cell("code", "### BEGIN SOLUTION\nx = 1", solution=True, grade=False)]
    )
    with pytest.raises(nbgrader_cells.DelimiterError, match="without"):
        book_strip.strip_for_students(nb, "ch")


def test_strip_refuses_a_solution_outside_a_solution_cell():
    """nbgrader would refuse to release it: the book refuses too."""
    nb = nbformat.v4.new_notebook(
        cells=[cell("code", "### BEGIN SOLUTION\nx = 1\n### END SOLUTION")]
    )
    with pytest.raises(nbgrader_cells.DelimiterError, match="non-solution cell"):
        book_strip.strip_for_students(nb, "ch")


def test_needles_skip_lines_students_see_anyway():
    nb = nbformat.v4.new_notebook(
        cells=[
            cell(
                "code",
                "import numpy as np\n### BEGIN SOLUTION\nimport numpy as np\n"
                "value = np.sqrt(2.0) + 1\n    pass\n### END SOLUTION",
                solution=True,
                grade=False,
            ),
        ]
    )
    found = leak_check.needles({"nb": nb})
    assert found == {"value = np.sqrt(2.0) + 1": "solution"}


def test_find_leaks_sees_code_split_by_highlighting(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        '<pre><span class="n">value</span> <span class="o">=</span> '
        '<span class="n">np</span>.<span class="n">sqrt</span>(2.0) + 1'
        "</pre>"
    )
    leaks = leak_check.find_leaks(tmp_path, {"value = np.sqrt(2.0) + 1": "solution"})
    assert leaks == ["page.html: solution line 'value = np.sqrt(2.0) + 1'"]


def test_find_leaks_reports_a_delimiter_and_reads_notebooks(tmp_path):
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("x = 1\n### BEGIN HIDDEN TESTS")]
    )
    nbformat.write(nb, tmp_path / "a.ipynb")
    (tmp_path / "b.txt").write_text("nothing to see")
    leaks = leak_check.find_leaks(tmp_path, {"y = 2 never shown": "solution"})
    assert leaks == ["a.ipynb: the nbgrader marker 'BEGIN HIDDEN TESTS'"]


def test_stripping_is_configured_by_nbgrader_config():
    """The stubs and delimiters are those nbgrader reads from nbgrader_config.py."""
    solutions = nbgrader_cells.clear_solutions()
    assert nbgrader_cells.code_stub() == solutions.code_stub["python"]
    assert nbgrader_cells.text_stub() in book_strip.WRITTEN_PLACEHOLDER
    begin, end = nbgrader_cells.delimiters()[nbgrader_cells.SOLUTION]
    assert (begin, end) == (
        solutions.begin_solution_delimeter,
        solutions.end_solution_delimeter,
    )
    assert nbgrader_cells.clear_solutions(text_stub="X").text_stub == "X"
    assert nbgrader_cells.text_stub() == solutions.text_stub, "options do not stick"


def test_book_and_release_strip_every_cell_alike():
    """Every cell of every chapter: the student book is stripped as release/ is.

    Code cells and written answers (where nbgrader strips anything) read as in
    the committed release, written answers up to the book's placeholder; other
    markdown cells are left as the instructor wrote them.
    """
    cells = 0
    for md in bh.chapters().values():
        name = md.stem
        source = jupytext.read(md)
        book = book_strip.strip_for_students(source, name)
        release = nbformat.read(bh.RELEASE_DIR / name / f"{name}.ipynb", as_version=4)
        code = [c.source for c in book.cells if c.cell_type == "code"]
        assert code == [c.source for c in release.cells if c.cell_type == "code"], (
            f"{name}: the book's code cells differ from the release's "
            "(if the sources changed: make release)"
        )
        for index, (mine, instructor) in enumerate(
            zip(book.cells, source.cells, strict=True)
        ):
            where = f"{name}, cell {index}"
            if nbgrader_cells.is_written_answer(instructor):
                gid = nbgrader_cells.grade_id(instructor)
                released = nbgrader_cells.cell_by_id(release, gid).source
                assert released == nbgrader_cells.text_stub(), where
                assert mine.source == book_strip.WRITTEN_PLACEHOLDER, where
            elif instructor.cell_type == "markdown":
                assert mine.source == instructor.source, where
            cells += 1
    assert cells >= 231, f"only {cells} cells compared"


def test_model_answers_are_the_written_answers():
    nb = jupytext.read(next(iter(bh.chapters().values())))
    answers = nbgrader_cells.model_answers(nb)
    written = [c for c in nb.cells if nbgrader_cells.is_written_answer(c)]
    assert answers and len(answers) == len(written)
    assert all(
        a.strip() and a in c.source for a, c in zip(answers, written, strict=True)
    )

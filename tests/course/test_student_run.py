"""A student who opens a released notebook and runs all cells stops at the first
exercise, on its stub, and nothing before it fails."""

from __future__ import annotations

import os

import grading_helpers as gh
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

pytestmark = pytest.mark.slow  # runs every release notebook in a kernel (minutes)

TIMEOUT = int(os.environ.get("MI_STUDENT_RUN_TIMEOUT", "300"))


@pytest.mark.parametrize("assignment", gh.ASSIGNMENTS)
def test_release_stops_at_the_first_stub(assignment, tmp_path, monkeypatch):
    path = gh.ROOT / "release" / assignment / f"{assignment}.ipynb"
    if not path.exists():
        pytest.fail(f"{path} missing: run `make release`")
    nb = nbformat.read(path, as_version=4)
    first = next((i for i, c in enumerate(nb.cells) if gh.is_answer(c)), None)
    assert first is not None, f"{assignment} has no code exercise"
    # a stub that defines a function raises when the function is first called:
    # at the latest in the exercise's test cell
    last = next(
        (i for i in range(first, len(nb.cells)) if gh.is_test(nb.cells[i])), first
    )
    # as in a student's Jupyter: no grading variables, one thread, own folder
    for var in ("NBGRADER_EXECUTION", "NBGRADER_VALIDATING", "MI_SEED"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    client = NotebookClient(
        nb,
        timeout=TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    with pytest.raises(CellExecutionError) as info:
        client.execute()
    ran = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and c.get("execution_count")
    ]
    failed = max(ran)
    errors = [i for i in ran if gh.error_of(nb.cells[i])]
    assert errors == [failed], f"cells {errors} failed"
    assert first <= failed <= last, (
        f"the run stopped at cell {failed}, not at the first exercise "
        f"(answer cell {first}, its test cell {last}):\n"
        + (gh.error_of(nb.cells[failed]) or "")[-1500:]
    )
    assert info.value.ename == "NotImplementedError", info.value

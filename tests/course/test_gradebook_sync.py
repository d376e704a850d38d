"""Committing a regraded submission keeps a grader's work and adds new flags.

A small SQLite gradebook made with nbgrader's own API (one assignment, one
notebook, an autograded and a manually graded cell, one student) plays the
course's shared gradebook; the private gradebook of one grading is made from its
definition, as ``autograde_parallel`` does.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from scripts import gradebook_sync

A, NB, STUDENT = "ch", "ch", "alice"


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A shared gradebook holding the submission, auto score 2, not flagged."""
    path = tmp_path_factory.mktemp("gradebook") / "template.db"
    bin_dir = str(Path(sys.executable).parent)  # a new gradebook runs `alembic`
    old_path = os.environ.get("PATH", "")
    os.environ["PATH"] = bin_dir + os.pathsep + old_path
    try:
        with Gradebook(f"sqlite:///{path}") as gb:
            gb.add_assignment(A)
            gb.add_notebook(NB, A)
            gb.add_grade_cell("code-test", NB, A, max_score=2, cell_type="code")
            gb.add_grade_cell("written", NB, A, max_score=3, cell_type="markdown")
            gb.add_student(STUDENT)
            gb.add_submission(A, STUDENT)
            gb.find_grade("code-test", NB, A, STUDENT).auto_score = 2.0
            gb.db.commit()
    finally:
        os.environ["PATH"] = old_path
    return path


def edit(url: str, flagged=None, auto_score=None, manual_score=None) -> None:
    with Gradebook(url) as gb:
        if flagged is not None:
            gb.find_submission_notebook(NB, A, STUDENT).flagged = flagged
        if auto_score is not None:
            gb.find_grade("code-test", NB, A, STUDENT).auto_score = auto_score
        if manual_score is not None:
            gb.find_grade("written", NB, A, STUDENT).manual_score = manual_score
        gb.db.commit()


def read(url: str):
    with Gradebook(url) as gb:
        return (
            gb.find_submission_notebook(NB, A, STUDENT).flagged,
            gb.find_grade("code-test", NB, A, STUDENT).auto_score,
            gb.find_grade("written", NB, A, STUDENT).manual_score,
        )


def graded_privately(template: Path, tmp_path: Path, flagged: bool, auto_score):
    """The rows of a new grading: auto score ``auto_score``, flag ``flagged``."""
    shared = gradebook_sync.engine_for(f"sqlite:///{template}")
    definition = gradebook_sync.assignment_definition(shared, A)
    students = list(gradebook_sync.students(shared, [STUDENT]).values())
    shared.dispose()
    url = f"sqlite:///{tmp_path / 'private.db'}"
    gradebook_sync.create_gradebook(url, definition, students)
    with Gradebook(url) as gb:
        gb.add_submission(A, STUDENT)
    edit(url, flagged=flagged, auto_score=auto_score)
    engine = gradebook_sync.engine_for(url)
    rows = gradebook_sync.submission_rows(engine, A, STUDENT)
    engine.dispose()
    return rows


def commit(url: str, rows) -> str:
    engine = gradebook_sync.engine_for(url)
    try:
        return gradebook_sync.commit_submission(engine, rows)
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "grader_flag, new_flag, expected",
    [(False, True, True), (True, False, True), (False, False, False)],
)
def test_regrading_adds_the_new_flag_and_keeps_the_graders(
    template, tmp_path, grader_flag, new_flag, expected
):
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    shutil.copy(template, tmp_path / "shared.db")
    edit(shared, flagged=grader_flag, manual_score=2.5)  # a grader's work
    rows = graded_privately(template, tmp_path, new_flag, auto_score=0.0)
    assert commit(shared, rows) == "updated"
    assert read(shared) == (expected, 0.0, 2.5)


def test_a_new_submission_arrives_with_its_flag(template, tmp_path):
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    shutil.copy(template, tmp_path / "shared.db")
    with Gradebook(shared) as gb:
        gb.remove_submission(A, STUDENT)
    rows = graded_privately(template, tmp_path, True, auto_score=1.0)
    assert commit(shared, rows) == "created"
    assert read(shared)[:2] == (True, 1.0)

"""Fixtures of the course tests: the assignments and a released copy of the course."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import grading_helpers as gh  # noqa: E402


@pytest.fixture(scope="session")
def released_course(tmp_path_factory) -> Path:
    """A temporary copy of the course with every assignment released by the scripts.

    Its ``gradebook.db`` knows every assignment, as after ``make release``.
    """
    if not gh.ASSIGNMENTS:
        pytest.skip("no assignment in source/ yet")
    return gh.build_course(tmp_path_factory.mktemp("course"), gh.ASSIGNMENTS)

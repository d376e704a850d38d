"""Fixtures of the course tests: the assignments and a released copy of the course.

A test that uses a fixture which runs nbgrader, builds the book or starts a
browser must be marked ``slow`` (``make test-fast`` leaves those out): collection
stops with the test's name when one is not.
"""

from __future__ import annotations

from pathlib import Path

import grading_helpers as gh
import pytest

# Fixtures that take minutes: nbgrader runs, the book build, Chromium.
SLOW_FIXTURES = {"released_course", "graded", "book", "browser"}


@pytest.fixture(scope="session")
def released_course(tmp_path_factory) -> Path:
    """A temporary copy of the course with every assignment released by the scripts.

    Its ``gradebook.db`` knows every assignment, as after ``make release``.
    """
    assert gh.ASSIGNMENTS, "no assignment in source/"
    return gh.build_course(tmp_path_factory.mktemp("course"), gh.ASSIGNMENTS)


def pytest_collection_modifyitems(items):
    unmarked = [
        f"{item.nodeid} (uses {sorted(SLOW_FIXTURES & set(item.fixturenames))})"
        for item in items
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("slow") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "mark these tests @pytest.mark.slow (or the module with "
            "`pytestmark = pytest.mark.slow`):\n  " + "\n  ".join(unmarked)
        )

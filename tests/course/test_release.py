"""The committed notebooks and release/ are what the scripts make of the sources,
and the release gives nothing away."""

from __future__ import annotations

import json
import shutil

import grading_helpers as gh
import pytest

from scripts import (
    check_release,
    course_files,
    leak_check,
    make_release,
    sync_notebooks,
)

ROOT = gh.ROOT
ASSIGNMENTS = gh.ASSIGNMENTS
params = pytest.mark.parametrize("assignment", ASSIGNMENTS)


def test_config_ignores_the_sources_and_build_outputs():
    ns = {"get_config": lambda: _Config(), "__file__": str(ROOT / "nbgrader_config.py")}
    exec((ROOT / "nbgrader_config.py").read_text(), ns)
    c = ns["c"]
    for pattern in ("*.md", *course_files.BUILD_OUTPUTS):
        assert pattern in c.CourseDirectory.ignore
    assert c.CourseDirectory.source_directory == "source"
    assert c.CourseDirectory.release_directory == "release"
    assert c.CourseDirectory.db_url.startswith("sqlite:///")
    assert c.Execute.timeout > 0


class _Config:
    def __getattr__(self, name):
        value = _Section()
        object.__setattr__(self, name, value)
        return value


class _Section:
    pass


def test_student_work_stays_out_of_git():
    ignored = (ROOT / ".gitignore").read_text().split()
    for path in (
        "submitted/",
        "autograded/",
        "feedback/",
        "gradebook.db",
        "nbgrader_exchange/",
    ):
        assert path in ignored, f"{path} is not in .gitignore"


def test_paired_notebooks_are_in_sync():
    stale = sync_notebooks.sync(ROOT / "source", check=True)
    assert not stale, f"run `make notebooks`: out of date: {stale}"


def test_sync_is_idempotent(tmp_path):
    shutil.copytree(
        ROOT / "source",
        tmp_path / "source",
        ignore=course_files.copy_ignore("*.ipynb"),
    )
    first = sync_notebooks.sync(tmp_path / "source")
    assert len(first) == len(sync_notebooks.markdown_sources(tmp_path / "source"))
    assert sync_notebooks.sync(tmp_path / "source") == []


@pytest.mark.slow  # nbgrader releases the whole course
def test_release_is_what_the_sources_give(released_course):
    """`make release` run now would change nothing (CI fails otherwise)."""
    problems = make_release.diff_trees(released_course / "release", ROOT / "release")
    assert not problems, "run `make release` and commit:\n" + "\n".join(problems)


@pytest.mark.slow  # nbgrader releases the whole course
def test_release_is_reproducible(released_course, tmp_path):
    """Releasing twice gives the same bytes."""
    again = gh.build_course(tmp_path / "again", ASSIGNMENTS[:1])
    name = ASSIGNMENTS[0]
    problems = make_release.diff_trees(
        released_course / "release" / name, again / "release" / name
    )
    assert not problems, problems


@params
def test_release_has_stubs_and_no_pairing(assignment):
    path = ROOT / "release" / assignment / f"{assignment}.ipynb"
    assert path.exists(), f"{path} missing: run `make release`"
    nb = json.loads(path.read_text())
    assert "jupytext" not in nb["metadata"]
    sources = ["".join(c["source"]) for c in nb["cells"]]
    assert any(gh.STUB in s for s in sources), f"{assignment}: no exercise stub"
    assert not any(m in s for s in sources for m in gh.SOLUTION_MARKERS)
    assert not any(gh.HIDDEN_BEGIN in s for s in sources)
    released = {p.name for p in (ROOT / "release" / assignment).rglob("*")}
    assert not {n for n in released if n.endswith(".md")}, released


def test_no_solution_or_hidden_test_in_release():
    problems = check_release.leaks(ROOT)
    assert not problems, "\n".join(problems)


def test_grade_ids_unique_and_prefixed():
    problems = check_release.grade_id_problems(ROOT)
    assert not problems, "\n".join(problems)


def test_leak_check_finds_a_leak(tmp_path):
    """The leak check can fail: a solution line copied into a released file."""
    name = ASSIGNMENTS[0]
    course = tmp_path / "course"
    shutil.copytree(
        ROOT / "source" / name,
        course / "source" / name,
        ignore=course_files.copy_ignore(),
    )
    shutil.copytree(ROOT / "release" / name, course / "release" / name)
    secrets = leak_check.course_needles([course / "source" / name / f"{name}.ipynb"])
    kinds = set(secrets.values())
    assert "solution" in kinds and "hidden test" in kinds, kinds
    line = next(s for s, k in secrets.items() if k == "hidden test")
    (course / "release" / name / "notes.txt").write_text("x = 1\n    " + line + "\n")
    shutil.copy(course / "source" / name / f"{name}.md", course / "release" / name)
    problems = check_release.leaks(course)
    assert any("notes.txt" in p and "hidden test" in p for p in problems), problems
    assert any(p.endswith("the MyST sources hold solutions)") for p in problems)

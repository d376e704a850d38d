"""Derive the student notebooks in ``release/`` from the MyST sources.

For every assignment folder ``source/<assignment>/``: write its ``.ipynb`` from
the ``.md`` (``sync_notebooks.py``), run ``nbgrader generate_assignment``
(solutions replaced by stubs, MyST turned into portable Markdown by
``scripts/portable_markdown.py``, hidden tests removed, cells locked, checksums
recorded in the gradebook), then drop the jupytext pairing from the student
copy. The result depends only on the sources: running it twice gives no diff.

    python scripts/make_release.py             # update source/*/*.ipynb and release/
    python scripts/make_release.py --check     # change nothing; exit 1 if stale
    python scripts/make_release.py --assignment 02_dv_bound

``--check`` rebuilds everything in a temporary copy of the course and compares
it with the committed ``.ipynb`` and ``release/``: CI runs it.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from scripts import course_files, sync_notebooks

ROOT = Path(__file__).resolve().parent.parent


def assignments(course: Path) -> list[str]:
    """The folders of ``course/source`` that hold a notebook or a MyST source."""
    source = course / "source"
    names = []
    for folder in (
        sorted(p for p in source.iterdir() if p.is_dir()) if source.exists() else []
    ):
        has_md = any(
            md.parent == folder for md in sync_notebooks.markdown_sources(source)
        )
        if has_md or any(folder.glob("*.ipynb")):
            names.append(folder.name)
    return names


def nbgrader_env() -> dict[str, str]:
    """The environment for nbgrader: the venv's bin first (it runs ``alembic``)."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def nbgrader(course: Path, *args: str, check: bool = True, **kwargs):
    """Run ``nbgrader ARGS`` in the course directory ``course``."""
    exe = Path(sys.executable).with_name("nbgrader")
    cmd = [str(exe) if exe.exists() else "nbgrader", *args]
    proc = subprocess.run(
        cmd,
        cwd=course,
        env=kwargs.pop("env", nbgrader_env()),
        capture_output=True,
        text=True,
        **kwargs,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"`{' '.join(args)}` failed in {course} (exit {proc.returncode}):\n"
            + proc.stdout[-4000:]
            + proc.stderr[-4000:]
        )
    return proc


def clean_release_notebook(path: Path) -> None:
    """Drop the jupytext pairing: in a student's Jupyter it would write a .md copy."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb.get("metadata", {}).pop("jupytext", None)
    path.write_text(
        json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )


def release(course: Path, only: list[str] | None = None) -> list[str]:
    """Sync the notebooks and regenerate ``course/release``; return the assignments."""
    sync_notebooks.sync(course / "source")
    names = assignments(course)
    if only:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise SystemExit(f"no assignment {unknown} in {course / 'source'}")
        names = [n for n in names if n in only]
    else:  # release/ holds generated content only: drop removed assignments
        for stale in (course / "release").glob("*"):
            if stale.is_dir() and stale.name not in names:
                shutil.rmtree(stale)
    for name in names:
        nbgrader(course, "generate_assignment", name, "--force")
        for nb in sorted((course / "release" / name).rglob("*.ipynb")):
            clean_release_notebook(nb)
    return names


# Course files the release reads besides source/: the book's chapter numbers and
# bibliography (scripts/portable_markdown.py numbers and cites as the book does).
BOOK_FILES = ("_toc.yml", "book/references.bib")


def copy_course(course: Path, dest: Path) -> None:
    """Copy what the release is made from (config, book files, source/) to ``dest``."""
    shutil.copy2(course / "nbgrader_config.py", dest / "nbgrader_config.py")
    for name in BOOK_FILES:
        if (course / name).exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(course / name, dest / name)
    shutil.copytree(
        course / "source",
        dest / "source",
        ignore=course_files.copy_ignore(),
    )


def _tree(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()}


def diff_trees(expected: Path, actual: Path) -> list[str]:
    """Files that differ between two folders, as readable lines."""
    problems = []
    exp, act = _tree(expected), _tree(actual)
    for rel in sorted(exp - act):
        problems.append(f"missing: {actual.name}/{rel}")
    for rel in sorted(act - exp):
        problems.append(f"not generated by the sources: {actual.name}/{rel}")
    for rel in sorted(exp & act):
        if not filecmp.cmp(expected / rel, actual / rel, shallow=False):
            problems.append(f"out of date: {actual.name}/{rel}")
    return problems


def check(course: Path) -> list[str]:
    """Rebuild in a temporary copy; list what differs from ``course``."""
    problems = [
        f"out of date: {p.relative_to(course)}"
        for p in sync_notebooks.sync(course / "source", check=True)
    ]
    with tempfile.TemporaryDirectory(prefix="mi-release-") as tmp:
        tmp = Path(tmp)
        copy_course(course, tmp)
        release(tmp)
        problems += diff_trees(tmp / "release", course / "release")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course-dir", type=Path, default=ROOT)
    parser.add_argument(
        "--assignment", action="append", help="only this one (repeatable)"
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing; exit 1 if the committed files are not what "
        "the sources give",
    )
    args = parser.parse_args(argv)
    course = args.course_dir.resolve()
    if args.check:
        problems = check(course)
        for line in problems:
            print(line)
        if problems:
            print("Run `make release` and commit the result.", file=sys.stderr)
            return 1
        print(f"release/ is up to date ({len(assignments(course))} assignments)")
        return 0
    names = release(course, args.assignment)
    print(f"released {len(names)} assignments: {', '.join(names) or '(none)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

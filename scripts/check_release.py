"""Check that the student release gives nothing away, and that grade ids are sound.

- No file under ``release/`` contains a delimiter or a secret line (of a solution,
  a hidden test or a model answer) of the sources, as ``scripts/leak_check.py``
  finds them (the same check as for the student web book), and no ``.md`` file
  (the MyST sources hold the solutions).
- Every grade id is unique across the course and starts with ``ch<N>-``, N the
  chapter number of its assignment folder ``NN_name``.

    python scripts/check_release.py            # exit 1 and list the problems
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path

import nbformat

from scripts import leak_check, nbgrader_cells

ROOT = Path(__file__).resolve().parent.parent


def source_notebooks(course: Path) -> list[Path]:
    return sorted((course / "source").glob("*/*.ipynb"))


def leaks(course: Path = ROOT) -> list[str]:
    """Every secret line of any source notebook found in any file under release/."""
    release = course / "release"
    files = sorted(p for p in release.rglob("*") if p.is_file())
    problems = [
        f"release/{p.relative_to(release)}: a .md file in release/ (the MyST "
        "sources hold solutions)"
        for p in files
        if p.suffix == ".md"
    ]
    secret = leak_check.course_needles(
        source_notebooks(course), sorted((course / "book").glob("*.md"))
    )
    found = leak_check.find_leaks(release, secret, files)
    return problems + [f"release/{leak}" for leak in found]


_PREFIX = re.compile(r"^(\d+)_")


def grade_id_problems(course: Path = ROOT) -> list[str]:
    """Grade ids used twice, or without their chapter's ``chN-`` prefix."""
    where = defaultdict(list)
    problems = []
    for path in source_notebooks(course):
        nb = nbformat.read(path, as_version=4)
        match = _PREFIX.match(path.parent.name)
        for cell in nb.cells:
            gid = nbgrader_cells.grade_id(cell)
            if not gid:
                continue
            where[gid].append(path.parent.name)
            if match and not gid.startswith(f"ch{int(match.group(1))}-"):
                problems.append(
                    f"source/{path.parent.name}: grade id {gid!r} should start with "
                    f"'ch{int(match.group(1))}-'"
                )
    for gid, places in sorted(where.items()):
        if len(places) > 1:
            problems.append(f"grade id {gid!r} used {len(places)} times: {places}")
    return problems


def main() -> int:
    problems = leaks(ROOT) + grade_id_problems(ROOT)
    for line in problems:
        print(line)
    if problems:
        return 1
    print(
        f"release/ gives nothing away; grade ids are unique "
        f"({len(source_notebooks(ROOT))} notebooks)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

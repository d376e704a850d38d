"""Check that the student release gives nothing away, and that grade ids are sound.

- No file under ``release/`` contains a line of a solution block, a hidden test,
  a mark scheme or a model answer (a hand-graded written answer) of the sources.
- Every grade id is unique across the course and starts with ``ch<N>-``, N the
  chapter number of its assignment folder ``NN_name``.

    python scripts/check_release.py            # exit 1 and list the problems

A secret line is looked for, as a whole line, only when it is long enough to
mean something (``MIN_CHARS``) and does not also occur in the public part of a
source (the lines students are meant to see), so ``return``, ``)``,
``loss.backward()`` or a visible assert repeated in a hidden block are not
reported.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
MIN_CHARS = 12

_BLOCKS = {
    "solution": ("### BEGIN SOLUTION", "### END SOLUTION"),
    "hidden test": ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"),
    "mark scheme": ("=== BEGIN MARK SCHEME ===", "=== END MARK SCHEME ==="),
}


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def split_cell(cell) -> tuple[list[tuple[str, str]], list[str]]:
    """The secret lines of a source cell (with their kind) and its public lines."""
    meta = _nbgrader(cell)
    lines = cell.source.splitlines()
    has_markers = any(b in cell.source for b, _ in _BLOCKS.values())
    if meta.get("solution") and not has_markers:
        kind = "model answer" if cell.cell_type == "markdown" else "solution"
        return [(kind, line) for line in lines], []
    secret, public, inside = [], [], None
    for line in lines:
        stripped = line.strip()
        for kind, (begin, end) in _BLOCKS.items():
            if stripped.startswith(begin):
                inside = kind
                break
            if stripped.startswith(end):
                inside = None
                break
        else:
            (secret.append((inside, line)) if inside else public.append(line))
    return secret, public


def secrets_of(notebook: Path) -> tuple[dict[str, str], set[str]]:
    """``({secret line: kind}, {public lines})`` of a source notebook, stripped."""
    nb = nbformat.read(notebook, as_version=4)
    secret, public = {}, set()
    for cell in nb.cells:
        s, p = split_cell(cell)
        public.update(line.strip() for line in p)
        for kind, line in s:
            secret.setdefault(line.strip(), kind)
    return {
        line: kind for line, kind in secret.items() if len(line) >= MIN_CHARS
    }, public


def _texts(path: Path) -> str:
    """What a student can read in a released file (a notebook: all of it, decoded)."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")
    if path.suffix == ".ipynb":
        try:
            nb = json.loads(text)
        except json.JSONDecodeError:
            return text
        parts = []
        for cell in nb.get("cells", []):
            src = cell.get("source", "")
            parts.append(src if isinstance(src, str) else "".join(src))
            parts.append(json.dumps(cell.get("outputs", []), ensure_ascii=False))
            parts.append(json.dumps(cell.get("metadata", {}), ensure_ascii=False))
        parts.append(json.dumps(nb.get("metadata", {}), ensure_ascii=False))
        return "\n".join(parts)
    return text


def source_notebooks(course: Path) -> list[Path]:
    return sorted((course / "source").glob("*/*.ipynb"))


def leaks(course: Path = ROOT) -> list[str]:
    """Every secret line of any source notebook found in any file under release/."""
    secrets: dict[str, tuple[str, str]] = {}
    public: set[str] = set()  # lines some notebook shows students: no secret
    for nb in source_notebooks(course):
        found, shown = secrets_of(nb)
        public |= shown
        for line, kind in found.items():
            secrets.setdefault(line, (kind, nb.parent.name))
    secrets = {k: v for k, v in secrets.items() if k not in public}
    problems = []
    release = course / "release"
    for path in sorted(p for p in release.rglob("*") if p.is_file()):
        rel = path.relative_to(course)
        if path.suffix == ".md":
            problems.append(
                f"{rel}: a .md file in release/ (the MyST sources hold solutions)"
            )
        lines = {line.strip() for line in _texts(path).splitlines()}
        for line, (kind, origin) in secrets.items():
            if line in lines:
                problems.append(
                    f"{rel}: {kind} line of source/{origin} leaked: {line!r}"
                )
    return problems


_PREFIX = re.compile(r"^(\d+)_")


def grade_id_problems(course: Path = ROOT) -> list[str]:
    """Grade ids used twice, or without their chapter's ``chN-`` prefix."""
    where = defaultdict(list)
    problems = []
    for path in source_notebooks(course):
        nb = nbformat.read(path, as_version=4)
        match = _PREFIX.match(path.parent.name)
        for cell in nb.cells:
            gid = _nbgrader(cell).get("grade_id")
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

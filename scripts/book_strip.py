"""Student copies of instructor notebooks, and the secrets a student site must not hold.

The instructor notebooks (``source/NN_x/NN_x.md``) hold three kinds of secret, marked
as nbgrader marks them:

- solution code between ``### BEGIN SOLUTION`` and ``### END SOLUTION``, or a whole
  solution cell (``nbgrader.solution: true``) without delimiters;
- hidden tests between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``;
- model answers: markdown cells with ``nbgrader.solution: true``.

:func:`strip_for_students` replaces them the way ``nbgrader generate_assignment`` does
(code stub, "YOUR ANSWER HERE"), keeping every output of the instructor run, so the
student book shows results but no solution. :func:`secret_lines` lists the lines a
student site must not contain and :func:`find_leaks` looks for them in a built site;
the build and ``tests/course/test_book.py`` both use them.
"""

from __future__ import annotations

import copy
import html
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

BEGIN_SOLUTION = "BEGIN SOLUTION"
END_SOLUTION = "END SOLUTION"
BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"
END_HIDDEN = "END HIDDEN TESTS"
MARKERS = (BEGIN_SOLUTION, END_SOLUTION, BEGIN_HIDDEN, END_HIDDEN)
CODE_STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")
TEXT_STUB = "YOUR ANSWER HERE"
# What the student book shows in place of a written answer.
WRITTEN_PLACEHOLDER = (
    "*Written exercise: write your answer in this cell of the notebook "
    f"(it says {TEXT_STUB}).*"
)


class StripError(ValueError):
    """A notebook whose solution or hidden-test delimiters do not pair up."""


def _nbgrader(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_solution_cell(cell) -> bool:
    return bool(_nbgrader(cell).get("solution", False))


def is_test_cell(cell) -> bool:
    meta = _nbgrader(cell)
    return bool(meta.get("grade", False)) and not meta.get("solution", False)


def _source(cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def split_regions(text: str, begin: str, end: str, where: str = "") -> list:
    """Split ``text`` into ``(inside, lines)`` runs around ``begin``/``end`` lines.

    The delimiter lines themselves belong to the inside runs. Raises
    :class:`StripError` on an unpaired or nested delimiter.
    """
    runs: list[tuple[bool, list[str]]] = []
    inside = False
    for line in text.splitlines():
        if begin in line:
            if inside:
                raise StripError(f"{where}: nested '{begin}' in line {line!r}")
            inside = True
            runs.append((True, [line]))
            continue
        if end in line:
            if not inside:
                raise StripError(f"{where}: '{end}' without '{begin}': {line!r}")
            runs[-1][1].append(line)
            inside = False
            continue
        if not runs or runs[-1][0] != inside:
            runs.append((inside, []))
        runs[-1][1].append(line)
    if inside:
        raise StripError(f"{where}: '{begin}' without '{end}'")
    return runs


def _strip_code(text: str, solution_cell: bool, where: str) -> str:
    out: list[str] = []
    runs = split_regions(text, BEGIN_SOLUTION, END_SOLUTION, where)
    if solution_cell and not any(inside for inside, _ in runs):
        return "\n".join(CODE_STUB)
    for inside, lines in runs:
        if inside:
            indent = re.match(r"\s*", lines[0]).group(0)
            out.extend(indent + stub for stub in CODE_STUB)
        else:
            out.extend(lines)
    text = "\n".join(out)
    kept: list[str] = []
    for inside, lines in split_regions(text, BEGIN_HIDDEN, END_HIDDEN, where):
        if not inside:
            kept.extend(lines)
    return "\n".join(kept)


def _strip_markdown(text: str, where: str) -> str:
    out: list[str] = []
    for inside, lines in split_regions(text, BEGIN_SOLUTION, END_SOLUTION, where):
        out.extend([WRITTEN_PLACEHOLDER] if inside else lines)
    return "\n".join(out)


def strip_for_students(nb, name: str = "notebook"):
    """Return a copy of ``nb`` with every solution, hidden test and model answer gone.

    Outputs of the instructor run are kept, except those of test cells (hidden
    tests may print). Solution code becomes nbgrader's stub, a model answer
    becomes :data:`WRITTEN_PLACEHOLDER`.
    """
    nb = copy.deepcopy(nb)
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        text = _source(cell)
        if cell.cell_type == "code":
            cell.source = _strip_code(text, is_solution_cell(cell), where)
            if is_test_cell(cell):
                cell.outputs = []
        elif cell.cell_type == "markdown" and is_solution_cell(cell):
            cell.source = WRITTEN_PLACEHOLDER
            cell.pop("attachments", None)
        else:
            cell.source = _strip_markdown(text, where)
    return nb


@dataclass
class Secrets:
    """Lines of an instructor notebook that students must not see, and the rest."""

    secret: list[tuple[str, str]] = field(default_factory=list)  # (kind, line)
    visible: set[str] = field(default_factory=set)  # normalised visible lines
    model_answers: list[str] = field(default_factory=list)  # whole cells


def normalise(line: str) -> str:
    return " ".join(line.split())


def _telling(line: str) -> bool:
    """Whether a line says enough to be looked for (not ``)``, ``pass``, a fence)."""
    text = normalise(line)
    if any(marker in text for marker in MARKERS):
        return False
    if text.startswith(("```", ":::")):
        return False
    return len(text) >= 8 and sum(ch.isalnum() for ch in text) >= 5


def secret_lines(nb, name: str = "notebook") -> Secrets:
    """Collect the secret and the visible lines of an instructor notebook."""
    found = Secrets()
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        text = _source(cell)
        if cell.cell_type == "markdown" and is_solution_cell(cell):
            found.model_answers.append(text)
            found.secret.extend(("model answer", line) for line in text.splitlines())
            continue
        for begin, end, kind in (
            (BEGIN_SOLUTION, END_SOLUTION, "solution"),
            (BEGIN_HIDDEN, END_HIDDEN, "hidden test"),
        ):
            for inside, lines in split_regions(text, begin, end, where):
                if inside:
                    found.secret.extend((kind, line) for line in lines)
        if cell.cell_type == "code" and is_solution_cell(cell):
            if not any(BEGIN_SOLUTION in line for line in text.splitlines()):
                found.secret.extend(("solution", line) for line in text.splitlines())
        stripped = strip_for_students(nb_with_one(nb, cell), name)
        kept = _source(stripped.cells[0]).split("\n")
        found.visible.update(normalise(x) for x in kept)
    return found


def nb_with_one(nb, cell):
    """A notebook holding only ``cell`` (to strip one cell by the usual rules)."""
    small = copy.copy(nb)
    small.cells = [cell]
    return small


def needles(all_secrets: Iterable[Secrets], extra_visible: Iterable[str] = ()) -> dict:
    """The telling secret lines, minus any that is (part of) a visible line.

    Returns ``{normalised line: kind}``.
    """
    all_secrets = list(all_secrets)
    visible = {normalise(x) for x in extra_visible}
    for found in all_secrets:
        visible |= found.visible
    visible_text = "\n".join(visible)
    out: dict[str, str] = {}
    for found in all_secrets:
        for kind, line in found.secret:
            text = normalise(line)
            # a secret line that is part of a visible one says nothing
            if _telling(text) and text not in out and text not in visible_text:
                out[text] = kind
    return out


TEXT_SUFFIXES = {".html", ".js", ".txt", ".ipynb", ".md", ".json", ".py", ".xml"}


def site_text(path: Path) -> str:
    """The text a reader can get from one file of a built site, whitespace-collapsed."""
    raw = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".html":
        # the text of the page, tags gone (code is split into highlighting spans)
        raw = html.unescape(re.sub(r"<[^>]*>", "", raw))
    elif path.suffix == ".ipynb":
        try:
            nb = json.loads(raw)
        except json.JSONDecodeError:
            pass
        else:
            parts = []
            for cell in nb.get("cells", []):
                parts.append(_source(cell))
                for output in cell.get("outputs", []):
                    parts.append(json.dumps(output, ensure_ascii=False))
            raw = "\n".join(parts) + "\n" + json.dumps(nb.get("metadata", {}))
    elif path.suffix == ".js":
        # JSON strings in searchindex.js escape quotes, newlines, non-ASCII
        raw = (
            re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), raw)
            .replace('\\"', '"')
            .replace("\\n", "\n")
        )
    return normalise(raw)


def site_files(site: Path) -> list[Path]:
    """Every text file of a built site but the theme's and vendored assets."""
    files = []
    for path in sorted(site.rglob("*")):
        rel = path.relative_to(site).parts
        if path.is_file() and rel[0] != "_static" and path.suffix in TEXT_SUFFIXES:
            files.append(path)
    return files


def find_leaks(site: Path, secret: dict) -> list[str]:
    """Every place where a marker or a secret line appears in the built ``site``."""
    leaks = []
    for path in site_files(site):
        text = site_text(path)
        rel = path.relative_to(site)
        for marker in MARKERS:
            if marker in text:
                leaks.append(f"{rel}: the nbgrader marker '{marker}'")
        for line, kind in secret.items():
            if line in text:
                leaks.append(f"{rel}: {kind} line {line!r}")
    return leaks

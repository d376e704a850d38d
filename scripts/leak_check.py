"""Find solutions, hidden tests and model answers where students can read them.

One check for everything a student receives: ``release/`` (``check_release.py``)
and the student edition of the web book (``build_book.py``).

The needles are the secret lines of the instructor notebooks
(:func:`scripts.nbgrader_cells.secret_lines`) that say enough to be looked for
(:func:`telling`: at least :data:`MIN_ALNUM` letters or digits, not a delimiter or
a fence) and are not part of a line students see anyway: a line of the student
copy of any notebook, or of a page of the book. So ``return``, ``)``,
``loss.backward()`` or a visible assert repeated in a hidden test are not
reported.

A needle is found in a file when it is part of the file's readable text
(:func:`readable_text`, whitespace collapsed): the text of an HTML page with its
tags removed (highlighting splits a line of code into many tags), the decoded
strings of a search index, every source, output and metadata of a notebook. The
delimiters themselves (``BEGIN SOLUTION`` ...) are reported wherever they appear.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable
from pathlib import Path

from scripts import nbgrader_cells

# A secret line is looked for when it has at least this many letters or digits.
MIN_ALNUM = 8
TEXT_SUFFIXES = {".html", ".js", ".txt", ".ipynb", ".md", ".json", ".py", ".xml"}


def normalise(text: str) -> str:
    """``text`` with every run of whitespace made one space."""
    return " ".join(text.split())


def telling(line: str) -> bool:
    """Whether a line says enough to be looked for (not ``)``, ``pass``, a fence)."""
    text = normalise(line)
    if nbgrader_cells.is_delimiter(text) or text.startswith(("```", ":::")):
        return False
    return sum(ch.isalnum() for ch in text) >= MIN_ALNUM


def needles(notebooks: dict, visible_text: Iterable[str] = ()) -> dict[str, str]:
    """``{normalised secret line: kind}`` to look for, of ``{name: notebook}``.

    ``visible_text`` adds what students see besides the notebooks (e.g. the book's
    pages): a secret line that is part of a visible line is not a needle.
    """
    visible = {normalise(line) for text in visible_text for line in text.split("\n")}
    secrets: list[tuple[str, str]] = []
    for name, nb in notebooks.items():
        for cell in nbgrader_cells.student_copy(nb, name).cells:
            visible.update(normalise(line) for line in cell.source.split("\n"))
        for index, cell in enumerate(nb.cells):
            secrets += nbgrader_cells.secret_lines(cell, f"{name}, cell {index}")
    shown = "\n".join(visible)
    found: dict[str, str] = {}
    for kind, line in secrets:
        text = normalise(line)
        if telling(text) and text not in found and text not in shown:
            found[text] = kind
    return found


def course_needles(notebooks: Iterable[Path], pages: Iterable[Path] = ()):
    """:func:`needles` of instructor notebooks (``.md`` or ``.ipynb``) and pages."""
    import jupytext

    return needles(
        {path.stem: jupytext.read(path) for path in notebooks},
        [page.read_text(encoding="utf-8") for page in pages],
    )


def readable_text(path: Path) -> str:
    """The text a reader can get from one file, whitespace collapsed."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
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
                source = cell.get("source", "")
                parts.append(source if isinstance(source, str) else "".join(source))
                for key in ("outputs", "metadata", "attachments"):
                    parts.append(json.dumps(cell.get(key, {}), ensure_ascii=False))
            parts.append(json.dumps(nb.get("metadata", {}), ensure_ascii=False))
            raw = "\n".join(parts)
    elif path.suffix == ".js":
        # JSON strings in searchindex.js escape quotes, newlines, non-ASCII
        raw = (
            re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), raw)
            .replace('\\"', '"')
            .replace("\\n", "\n")
        )
    return normalise(raw)


def text_files(root: Path, skip: Iterable[str] = ()) -> list[Path]:
    """Every text file under ``root``, but those under a top folder in ``skip``."""
    skip = set(skip)
    return [
        path
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and path.suffix in TEXT_SUFFIXES
        and path.relative_to(root).parts[0] not in skip
    ]


def find_leaks(
    root: Path, secret: dict[str, str], files: Iterable[Path] | None = None
) -> list[str]:
    """Every place in ``files`` (default: the text files under ``root``) where a
    delimiter or a secret line of ``secret`` (see :func:`needles`) appears."""
    markers = [d for pair in nbgrader_cells.delimiters().values() for d in pair]
    leaks = []
    for path in text_files(root) if files is None else files:
        text = readable_text(path)
        rel = path.relative_to(root)
        for marker in markers:
            if marker in text:
                leaks.append(f"{rel}: the nbgrader marker '{marker}'")
        for line, kind in secret.items():
            if line in text:
                leaks.append(f"{rel}: {kind} line {line!r}")
    return leaks

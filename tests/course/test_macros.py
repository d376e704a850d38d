"""The course's LaTeX macros are the same in book/macros.md, _config.yml and chapters.

Jupyter gets the macros from a ``remove-cell`` markdown cell of each chapter, the web
book gets them from MathJax's configuration in ``_config.yml``: a macro defined in
one place only would render in one and show as an error in the other.
"""

from __future__ import annotations

import re

import book_helpers as bh
import pytest
import yaml

book = bh.book  # the fixture: one build of both editions per session

ROOT = bh.ROOT


def braced(text: str, start: int) -> tuple[str, int]:
    """The content of the ``{...}`` group opening at ``text[start]``, and its end."""
    if text[start] != "{":
        raise ValueError(f"expected '{{' at {start}: {text[start : start + 20]!r}")
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "\\":
            continue
        if text[i] == "{" and text[i - 1] != "\\":
            depth += 1
        elif text[i] == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
    raise ValueError(f"unbalanced braces after {start}")


def parse_newcommands(text: str) -> dict[str, tuple[str, int]]:
    """``{name: (body, number of arguments)}`` of every ``\\newcommand`` in text."""
    macros = {}
    for match in re.finditer(r"\\newcommand\s*\{\\([A-Za-z]+)\}\s*(?:\[(\d)\])?", text):
        body, _ = braced(text, match.end())
        macros[match.group(1)] = (body, int(match.group(2) or 0))
    return macros


def config_macros() -> dict[str, tuple[str, int]]:
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    raw = config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    return {
        name: (value, 0) if isinstance(value, str) else (value[0], int(value[1]))
        for name, value in raw.items()
    }


def book_macros() -> dict[str, tuple[str, int]]:
    return parse_newcommands((ROOT / "book" / "macros.md").read_text(encoding="utf-8"))


def test_parser_reads_nested_braces():
    text = r"$\newcommand{\Set}[1]{\left\{ #1 \right\}} \newcommand{\E}{\op{E}}$"
    assert parse_newcommands(text) == {
        "Set": (r"\left\{ #1 \right\}", 1),
        "E": (r"\op{E}", 0),
    }


def test_book_defines_the_course_macros():
    macros = book_macros()
    assert {"abs", "E", "d", "R", "RM", "M", "mc", "op", "Set"} <= set(macros)


def test_config_gives_mathjax_the_macros_of_book_macros_md():
    assert config_macros() == book_macros(), (
        "sphinx.config.mathjax3_config.tex.macros in _config.yml differs from"
        " book/macros.md"
    )


@pytest.mark.parametrize("doc", list(bh.chapters()))
def test_chapter_defines_the_same_macros(doc):
    import jupytext

    nb = jupytext.read(bh.chapters()[doc])
    cells = [
        c for c in nb.cells if c.cell_type == "markdown" and "\\newcommand" in c.source
    ]
    assert cells, f"{doc}: no markdown cell with the macros of book/macros.md"
    assert "remove-cell" in cells[0].metadata.get("tags", []), (
        f"{doc}: the macros cell must be tagged remove-cell"
    )
    found = parse_newcommands("\n".join(c.source for c in cells))
    assert found == book_macros(), f"{doc}: its macros differ from book/macros.md"


@pytest.mark.slow  # builds the book
def test_built_pages_configure_mathjax_with_the_macros(book):
    page = book.site("student") / "book" / "notation.html"
    html = page.read_text(encoding="utf-8")
    match = re.search(r"window\.MathJax = (\{.*?\})</script>", html, re.S)
    assert match, "notation.html sets no MathJax configuration"
    import json

    macros = json.loads(match.group(1))["tex"]["macros"]
    assert set(macros) == set(book_macros())
    assert "_static/mathjax/tex-chtml-full.js" in html

"""The steps of the book build on their own, without building the book (fast):
the table of contents and the execution cache of ``scripts/execute_chapters.py``."""

from __future__ import annotations

from pathlib import Path

import book_helpers as bh
import nbformat
import pytest

from scripts import build_book, execute_chapters


def test_effective_toc_drops_missing_chapters(tmp_path):
    (tmp_path / "05_mine").mkdir()
    (tmp_path / "05_mine" / "05_mine.md").write_text("# MINE\n")
    toc, present = build_book.effective_toc(bh.toc(), tmp_path)
    assert list(present) == ["source/05_mine/05_mine"]
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    assert files == ["source/05_mine/05_mine", "book/notation", "book/references"]
    assert [p["caption"] for p in toc["parts"]][0].startswith("Part 2")


def test_toc_lists_the_seven_chapters_in_two_parts():
    parts = bh.toc()["parts"]
    chapters = [[c["file"] for c in p["chapters"]] for p in parts]
    assert [Path(f).name for f in chapters[0]] == [
        "01_formulation",
        "02_dv_bound",
        "03_training",
        "04_f_divergences",
    ]
    assert [Path(f).name for f in chapters[1]] == [
        "05_mine",
        "06_minee",
        "07_comparison",
    ]
    assert parts[0]["caption"].startswith("Part 1")
    assert parts[1]["caption"].startswith("Part 2")


# ------------------------------------------------------ unit: execution cache


TINY = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  name: python3
  display_name: Python 3
---

# Tiny

```{code-cell} ipython3
import os
print("value", 6 * 7, os.getcwd())
```
"""


@pytest.mark.slow  # runs a notebook in a kernel, three times
def test_execution_is_cached_by_source_hash(tmp_path):
    chapter = tmp_path / "source" / "00_tiny"
    chapter.mkdir(parents=True)
    md = chapter / "00_tiny.md"
    md.write_text(TINY)
    build = tmp_path / "_build"
    first = execute_chapters.execute_chapters([md], build, jobs=1, log=lambda m: None)
    assert [(r.cached, r.error) for r in first] == [(False, "")]
    nb = nbformat.read(first[0].notebook, as_version=4)
    text = nb.cells[-1].outputs[0]["text"]
    assert f"value 42 {chapter}" in text, "runs in the chapter's folder"
    again = execute_chapters.execute_chapters([md], build, jobs=1, log=lambda m: None)
    assert again[0].cached
    md.write_text(TINY.replace("6 * 7", "6 * 8"))
    changed = execute_chapters.execute_chapters([md], build, jobs=1, log=lambda m: None)
    assert not changed[0].cached
    nb = nbformat.read(changed[0].notebook, as_version=4)
    assert "value 48" in nb.cells[-1].outputs[0]["text"]


@pytest.mark.slow  # runs a notebook in a kernel
def test_execution_error_names_the_chapter_and_the_cell(tmp_path):
    chapter = tmp_path / "source" / "00_broken"
    chapter.mkdir(parents=True)
    md = chapter / "00_broken.md"
    md.write_text(
        TINY.replace(
            'print("value", 6 * 7, os.getcwd())',
            'raise ValueError("the critic diverged")',
        )
    )
    results = execute_chapters.execute_chapters(
        [md], tmp_path / "_build", jobs=1, log=lambda m: None
    )
    error = results[0].error
    assert "00_broken" in error and "cell 1" in error
    assert "ValueError" in error and "the critic diverged" in error
    assert not (tmp_path / "_build" / "executed" / "00_broken.sha256").exists()

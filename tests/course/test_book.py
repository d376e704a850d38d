"""The web book: both editions build, students see no solution, nothing is fetched.

The build (``scripts/build_book.py``, once per session, see ``book_helpers.py``) fails
on any warning, so every reference, citation and equation label resolves, and on any
exception in an instructor notebook. These tests check the built sites' files;
``test_browser.py`` checks what a browser makes of them.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup

sys.path.insert(0, str(Path(__file__).resolve().parent))
import book_helpers as bh  # noqa: E402

book = bh.book  # the fixture: one build of both editions per session
import book_strip  # noqa: E402  (scripts/, put on sys.path by book_helpers)
import build_book  # noqa: E402
import execute_chapters  # noqa: E402

EDITIONS = bh.EDITIONS


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def html_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)


# ------------------------------------------------------------- unit: stripping


def cell(kind, source, **nbgrader):
    v4 = nbformat.v4
    c = (v4.new_code_cell if kind == "code" else v4.new_markdown_cell)(source)
    if nbgrader:
        c.metadata["nbgrader"] = {"schema_version": 3, **nbgrader}
    return c


def test_strip_replaces_solution_code_by_the_stub_keeping_outputs():
    code = cell(
        "code",
        "def f(x):\n    ### BEGIN SOLUTION\n    y = 2 * x\n    return y\n"
        "    ### END SOLUTION\n\nprint(f(1))",
        solution=True,
        grade=False,
        grade_id="ch0-f",
    )
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="2\n")]
    nb = nbformat.v4.new_notebook(cells=[code])
    out = book_strip.strip_for_students(nb).cells[0]
    assert out.source == (
        "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()\n"
        "\nprint(f(1))"
    )
    assert out.outputs == code.outputs
    assert "BEGIN SOLUTION" in nb.cells[0].source, "the input notebook is unchanged"


def test_strip_removes_hidden_tests_and_model_answers():
    nb = nbformat.v4.new_notebook(
        cells=[
            cell(
                "code",
                "assert f(1) == 2\n### BEGIN HIDDEN TESTS\nassert f(5) == 10\n"
                "### END HIDDEN TESTS",
                grade=True,
                solution=False,
                grade_id="ch0-t",
                points=1,
            ),
            cell(
                "markdown",
                "```{toggle}\nBecause the bound is tight.\n```",
                grade=True,
                solution=True,
                grade_id="ch0-why",
                points=1,
            ),
            cell("code", "x = 1", solution=True, grade=False, grade_id="ch0-x"),
        ]
    )
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="secret\n")]
    out = book_strip.strip_for_students(nb)
    assert out.cells[0].source == "assert f(1) == 2"
    assert out.cells[0].outputs == []
    assert out.cells[1].source == book_strip.WRITTEN_PLACEHOLDER
    assert out.cells[2].source == "# YOUR CODE HERE\nraise NotImplementedError()"


def test_strip_refuses_unpaired_delimiters():
    nb = nbformat.v4.new_notebook(
        cells=[cell("code", "### BEGIN SOLUTION\nx = 1", solution=True, grade=False)]
    )
    with pytest.raises(book_strip.StripError, match="without"):
        book_strip.strip_for_students(nb, "ch")


def test_needles_skip_lines_students_see_anyway():
    nb = nbformat.v4.new_notebook(
        cells=[
            cell(
                "code",
                "import numpy as np\n### BEGIN SOLUTION\nimport numpy as np\n"
                "value = np.sqrt(2.0) + 1\n    pass\n### END SOLUTION",
                solution=True,
                grade=False,
            ),
        ]
    )
    found = book_strip.needles([book_strip.secret_lines(nb)])
    assert found == {"value = np.sqrt(2.0) + 1": "solution"}


def test_find_leaks_sees_code_split_by_highlighting(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        '<pre><span class="n">value</span> <span class="o">=</span> '
        '<span class="n">np</span>.<span class="n">sqrt</span>(2.0) + 1'
        "</pre>"
    )
    leaks = book_strip.find_leaks(tmp_path, {"value = np.sqrt(2.0) + 1": "solution"})
    assert leaks == ["page.html: solution line 'value = np.sqrt(2.0) + 1'"]


# ----------------------------------------------------------- unit: the toc


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


# ----------------------------------------------------------------- the build


@pytest.mark.parametrize("edition", EDITIONS)
def test_every_page_is_built(book, edition):
    site = book.site(edition)
    missing = [doc for doc in bh.pages() if not (site / f"{doc}.html").exists()]
    assert not missing, f"{edition} edition: no page for {missing}"
    assert (site / "index.html").exists()


@pytest.mark.parametrize("edition", EDITIONS)
def test_sidebar_lists_every_chapter(book, edition):
    site = book.site(edition)
    for doc in bh.pages():
        page = site / f"{doc}.html"
        nav = soup(page).select_one("nav.bd-docs-nav")
        assert nav is not None, f"{page}: no sidebar"
        targets = set()
        for a in nav.select("a.reference"):
            href = unquote(urlparse(a["href"]).path)
            target = (page.parent / href).resolve() if href else page.resolve()
            targets.add(target)
        for chapter in book.chapters:
            assert (site / f"{chapter}.html").resolve() in targets, (
                f"{edition}: the sidebar of {doc} does not list {chapter}"
            )


def test_every_instructor_notebook_ran_without_error(book):
    for doc in book.chapters:
        nb = nbformat.read(book.executed(doc), as_version=4)
        errors = [
            (i, o.get("ename"))
            for i, c in enumerate(nb.cells)
            if c.cell_type == "code"
            for o in c.get("outputs", [])
            if o.get("output_type") == "error"
        ]
        assert not errors, f"{doc}: errors in cells {errors}"
        assert any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
            f"{doc}: the executed notebook has no output at all"
        )


def test_student_site_holds_no_solution_hidden_test_or_model_answer(book):
    site = book.site("student")
    leaks = book_strip.find_leaks(site, bh.needles())
    assert not leaks, "the student edition gives away:\n" + "\n".join(leaks[:40])
    checked = {p.relative_to(site).parts[0] for p in book_strip.site_files(site)}
    assert {"_sources", "searchindex.js", "source"} <= checked


def test_the_leak_check_finds_the_solutions_in_the_instructor_site(book):
    """The instructor site holds every secret: the check above can fail."""
    secrets = bh.needles()
    if not secrets:
        pytest.skip("no chapter has a solution yet")
    leaks = book_strip.find_leaks(book.site("instructor"), secrets)
    kinds = {kind for kind in secrets.values()}
    found = " ".join(leaks)
    for kind in kinds - {"hidden test"}:  # hidden tests are in removed cells
        assert f"{kind} line" in found, f"no {kind} line found in the instructor site"


def test_student_search_index_has_no_word_only_solutions_use(book):
    """A search for a word that only a solution uses finds nothing."""
    import jupytext
    from sphinx.search.en import SearchEnglish

    lang = SearchEnglish({})

    def stems(text: str) -> set[str]:
        return {lang.stem(w).lower() for w in lang.split(text)}

    site = book.site("student")
    index_text = (site / "searchindex.js").read_text(encoding="utf-8")
    terms = json.loads(
        re.search(r"Search\.setIndex\((.*)\)\s*$", index_text, re.S).group(1)
    )["terms"]
    visible = set()
    for page in html_pages(site):
        visible |= stems(book_strip.site_text(page))
    secret = set()
    for md in book.chapters.values():
        for _, line in book_strip.secret_lines(jupytext.read(md), md.stem).secret:
            secret |= stems(line)
    leaked = sorted((secret - visible) & set(terms))
    assert not leaked, f"search terms only solutions use: {leaked[:20]}"


def test_student_downloads_are_release_notebooks(book):
    site = book.site("student")
    for doc in book.chapters:
        name = Path(doc).name
        page = site / f"{doc}.html"
        links = soup(page).select(".course-open-notebook a.download")
        assert links, f"{doc}: no download link to the student notebook"
        target = (page.parent / unquote(links[0]["href"])).resolve()
        assert target.name == f"{name}.ipynb" and target.exists()
        release = bh.RELEASE_DIR / name / f"{name}.ipynb"
        if release.exists():
            assert target.read_bytes() == release.read_bytes(), (
                f"{doc}: the download is not {release}"
            )
        nb = nbformat.read(target, as_version=4)
        text = "\n".join(c.source for c in nb.cells)
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text


def test_chapters_offer_a_launch_link(book):
    config = yaml.safe_load((bh.ROOT / "_config.yml").read_text(encoding="utf-8"))
    links = build_book.launch_links(config, "X")
    for doc in book.chapters:
        name = Path(doc).name
        anchors = soup(book.site("student") / f"{doc}.html").select(
            ".course-open-notebook a.external"
        )
        hrefs = [a["href"] for a in anchors]
        for _, url in links:
            assert any(f"release/{name}/{name}.ipynb" in h for h in hrefs), (
                f"{doc}: no launch link for {url}"
            )


def test_instructor_edition_shows_model_answers_in_toggles(book):
    import jupytext

    total = 0
    for doc, md in book.chapters.items():
        answers = book_strip.secret_lines(jupytext.read(md), md.stem).model_answers
        page = soup(book.site("instructor") / f"{doc}.html")
        toggles = " ".join(
            book_strip.normalise(t.get_text(" ")) for t in page.select("div.toggle")
        )
        for answer in answers:
            lines = [
                book_strip.normalise(x)
                for x in answer.splitlines()
                if book_strip._telling(x) and "$" not in x and "{" not in x
            ]
            assert "{toggle}" in answer, f"{doc}: a model answer is not a toggle"
            for line in lines[:1]:
                # compare without spaces: get_text(" ") puts one between
                # "<strong>InfoNCE</strong>" and the ":" after it
                words = "".join(re.sub(r"[*_`]", "", line).split()[:4])
                assert words in "".join(re.sub(r"[*_`]", "", toggles).split()), (
                    f"{doc}: {line!r} is not in a toggle"
                )
            total += 1
    if not total:
        pytest.skip("no chapter has a written exercise yet")


@pytest.mark.parametrize("edition", EDITIONS)
def test_no_asset_comes_from_another_host(book, edition):
    site = book.site(edition)
    external = re.compile(r"^(https?:)?//", re.I)
    found = []
    for page in html_pages(site):
        for tag in soup(page).find_all(
            [
                "script",
                "link",
                "img",
                "iframe",
                "source",
                "video",
                "audio",
                "embed",
                "object",
            ]
        ):
            for attr in ("src", "data", "srcset"):
                if tag.get(attr) and external.match(tag[attr]):
                    found.append(f"{page.relative_to(site)}: <{tag.name} {tag[attr]}>")
            rel = set(tag.get("rel") or [])
            if (
                tag.name == "link"
                and external.match(tag.get("href", ""))
                and (
                    rel
                    & {
                        "stylesheet",
                        "icon",
                        "preload",
                        "prefetch",
                        "modulepreload",
                        "preconnect",
                        "dns-prefetch",
                        "manifest",
                    }
                )
            ):
                found.append(f"{page.relative_to(site)}: <link {tag['href']}>")
    for css in (site / "_static").rglob("*.css"):
        text = re.sub(r"/\*.*?\*/", "", css.read_text(errors="replace"), flags=re.S)
        for url in re.findall(
            r"(?:url\(|@import\s)\s*['\"]?((?:https?:)?//[^'\")\s]+)", text
        ):
            found.append(f"{css.relative_to(site)}: {url}")
    assert not found, "assets from other hosts:\n" + "\n".join(found)


@pytest.mark.parametrize("edition", EDITIONS)
def test_math_and_widget_scripts_are_served_by_the_site(book, edition):
    site = book.site(edition)
    for page in html_pages(site):
        html = soup(page)
        has_math = html.select(".math")
        srcs = [s.get("src", "") for s in html.find_all("script")]
        if has_math:
            mathjax = [s for s in srcs if "tex-chtml-full.js" in s]
            assert mathjax, f"{page}: math but no local MathJax"
            assert (page.parent / mathjax[0].split("?")[0]).resolve().exists()
        if html.select('script[type="application/vnd.jupyter.widget-state+json"]'):
            embed = [s for s in srcs if s.split("?")[0].endswith("widgets/embed.js")]
            assert embed, f"{page}: widget state but no local embed.js"
            assert (page.parent / embed[0].split("?")[0]).resolve().exists()
    fonts = site / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2"
    assert (fonts / "MathJax_Main-Regular.woff").exists()


@pytest.mark.parametrize("edition", EDITIONS)
def test_internal_links_resolve(book, edition):
    site = book.site(edition)
    ids: dict[Path, set[str]] = {}

    def ids_of(path: Path) -> set[str]:
        if path not in ids:
            ids[path] = {t["id"] for t in soup(path).find_all(id=True)}
        return ids[path]

    broken = []
    for page in html_pages(site):
        for a in soup(page).find_all("a", href=True):
            url = urlparse(a["href"])
            if url.scheme or a["href"].startswith(("//", "mailto:", "javascript:")):
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site)} -> {a['href']}")
            elif (
                url.fragment
                and target.suffix == ".html"
                and unquote(url.fragment) not in ids_of(target)
            ):
                broken.append(f"{page.relative_to(site)} -> {a['href']} (no anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken[:40])

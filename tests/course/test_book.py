"""The web book: both editions build, students see no solution, nothing is fetched.

The build (``scripts/build_book.py``, once per session, see ``book_helpers.py``) fails
on any warning, so every reference, citation and equation label resolves, and on any
exception in an instructor notebook. These tests check the built sites' files;
``test_browser.py`` checks what a browser makes of them. The stripping and the leak
check on their own are tested in ``test_stripping.py``, the build's steps in
``test_build_steps.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import book_helpers as bh
import nbformat
import pytest
import yaml
from bs4 import BeautifulSoup

from scripts import build_book, leak_check, nbgrader_cells

pytestmark = pytest.mark.slow  # builds the book (minutes when notebooks changed)

book = bh.book  # the fixture: one build of both editions per session
EDITIONS = bh.EDITIONS


def soup(path: Path) -> BeautifulSoup:
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def html_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)


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
    files = build_book.student_site_files(site)
    leaks = leak_check.find_leaks(site, bh.needles(), files)
    assert not leaks, "the student edition gives away:\n" + "\n".join(leaks[:40])
    checked = {p.relative_to(site).parts[0] for p in files}
    assert {"_sources", "searchindex.js", "source"} <= checked


def test_the_leak_check_finds_the_solutions_in_the_instructor_site(book):
    """The instructor site holds every secret: the check above can fail."""
    secrets = bh.needles()
    assert secrets, "no chapter has a solution"
    site = book.site("instructor")
    leaks = leak_check.find_leaks(site, secrets, build_book.student_site_files(site))
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
        visible |= stems(leak_check.readable_text(page))
    secret = set()
    for md in book.chapters.values():
        for index, cell in enumerate(jupytext.read(md).cells):
            where = f"{md.stem}, cell {index}"
            for _, line in nbgrader_cells.secret_lines(cell, where):
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
        # the configured services and nothing else (no link to a stand-in)
        assert len(hrefs) == len(links), f"{doc}: launch links {hrefs}"
        for _, url in links:
            assert any(f"release/{name}/{name}.ipynb" in h for h in hrefs), (
                f"{doc}: no launch link for {url}"
            )


def test_instructor_edition_shows_model_answers_in_toggles(book):
    import jupytext

    total = 0
    for doc, md in book.chapters.items():
        answers = nbgrader_cells.model_answers(jupytext.read(md), md.stem)
        page = soup(book.site("instructor") / f"{doc}.html")
        toggles = " ".join(
            leak_check.normalise(t.get_text(" ")) for t in page.select("div.toggle")
        )
        for answer in answers:
            lines = [
                leak_check.normalise(x)
                for x in answer.splitlines()
                if leak_check.telling(x) and "$" not in x and "{" not in x
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
    assert total, "no chapter has a written exercise"


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

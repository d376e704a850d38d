"""Every page of both editions, as a reader sees it in headless Chromium.

The site is served from 127.0.0.1 and loaded in Debian's ``chromium`` (install it
with ``scripts/install_chromium.sh``); ``book_helpers.Chromium`` reports what the page
did. Each page must: log no console error, request nothing from another host and
nothing that fails, typeset all its math (no raw TeX, no undefined macro), load
every image, show content in every widget view, open every toggle on a click, link
only to pages and anchors that exist, and list every chapter in its sidebar.
A screenshot of each page goes to ``screenshots/<edition>/`` (git-ignored).
"""

from __future__ import annotations

import re
from pathlib import Path

import book_helpers as bh
import pytest

from scripts import leak_check

pytestmark = pytest.mark.slow  # builds the book and drives Chromium (minutes)

book = bh.book  # the fixture: one build of both editions per session

PAGES = bh.pages()
CASES = [(edition, doc) for edition in bh.EDITIONS for doc in PAGES]
IDS = [f"{edition}:{doc}" for edition, doc in CASES]


@pytest.fixture(scope="session")
def browser(book):
    executable = bh.require_chromium()  # skips, or fails when CI=true
    server = bh.SiteServer(book.build)
    chromium = bh.Chromium(executable)
    reports: dict[str, bh.PageReport] = {}

    def visit(edition: str, path: str) -> bh.PageReport:
        site = book.site(edition).relative_to(book.build).as_posix()
        url = f"{server.url}/{site}/{path}"
        if url not in reports:
            shot = bh.SCREENSHOTS / edition / (re.sub(r"[/?=&]", "_", path) + ".png")
            reports[url] = chromium.visit(url, shot)
        return reports[url]

    visit.server = server
    yield visit
    chromium.close()
    server.close()


@pytest.fixture(params=CASES, ids=IDS)
def page(request, browser):
    edition, doc = request.param
    return edition, doc, browser(edition, f"{doc}.html")


def test_page_logs_no_error_and_fetches_nothing_elsewhere(page, browser):
    edition, doc, report = page
    assert not report.console_errors, f"{edition} {doc}: {report.console_errors}"
    assert not report.failed, f"{edition} {doc}: failed requests {report.failed}"
    outside = [u for u in report.requests if not u.startswith(browser.server.url)]
    assert not outside, f"{edition} {doc}: requests to other hosts {outside}"
    assert report.info["title"], f"{edition} {doc}: no title"


def test_math_is_typeset(page):
    edition, doc, report = page
    info = report.info
    assert not info["rawTex"], f"{edition} {doc}: raw TeX on the page {info['rawTex']}"
    assert not info["mathErrors"], (
        f"{edition} {doc}: math MathJax could not typeset (undefined macro?):"
        f" {info['mathErrors']}"
    )
    assert info["mathRendered"] >= info["mathSource"], (
        f"{edition} {doc}: {info['mathSource']} math elements,"
        f" {info['mathRendered']} typeset"
    )
    if doc == "book/notation":
        assert info["mathRendered"] > 0, f"{edition} {doc}: no math typeset"


def test_every_image_is_loaded(page):
    edition, doc, report = page
    broken = [
        i["src"] for i in report.info["images"] if not i["complete"] or i["width"] == 0
    ]
    assert not broken, f"{edition} {doc}: images not loaded {broken}"


def test_widget_views_show_content(page):
    edition, doc, report = page
    for view in report.info["widgetViews"]:
        assert view["rendered"], f"{edition} {doc}: a widget view was not rendered"
        assert view["width"] > 0 and view["height"] > 20, (
            f"{edition} {doc}: a widget view is an empty box {view}"
        )
        assert all(width > 0 for width in view["images"]), (
            f"{edition} {doc}: an image in a widget did not load"
        )


def test_toggles_open_on_click(page):
    edition, doc, report = page
    for toggle in report.toggles:
        assert toggle["kind"] != "unwrapped toggle", (
            f"{edition} {doc}: sphinx-togglebutton did not process a toggle"
        )
        assert toggle["hiddenBefore"], f"{edition} {doc}: a toggle starts open"
        assert toggle["shownAfter"], (
            f"{edition} {doc}: a toggle did not open on click: {toggle['text']!r}"
        )


def test_internal_links_resolve(page, browser):
    edition, doc, report = page
    broken = []
    for url in report.info["links"]:
        path = browser.server.path_of(url.split("#")[0])
        if path is None:
            continue  # another host: a plain hyperlink, not loaded
        if not path.exists():
            broken.append(url)
        elif "#" in url and path.suffix == ".html":
            anchor = url.split("#", 1)[1]
            if anchor and f'id="{anchor}"' not in path.read_text(encoding="utf-8"):
                broken.append(f"{url} (no such anchor)")
    assert not broken, f"{edition} {doc}: broken links {broken}"


def test_sidebar_lists_every_chapter(page, book):
    edition, doc, report = page
    listed = {link["href"].split("#")[0] for link in report.info["sidebar"]}
    for chapter in book.chapters:
        assert any(h.endswith(f"/{chapter}.html") for h in listed), (
            f"{edition} {doc}: {chapter} is missing from the sidebar"
        )


def test_chapters_show_how_to_open_the_notebook(page, book):
    edition, doc, report = page
    if doc not in book.chapters:
        pytest.skip("not a chapter")
    links = report.info["openNotebook"]
    downloads = [link for link in links if link["download"]]
    assert downloads and downloads[0]["href"].endswith(f"{Path(doc).name}.ipynb")


@pytest.mark.parametrize("edition", bh.EDITIONS)
def test_search_finds_pages_offline(browser, edition):
    report = browser(edition, "search.html?q=mutual+information")
    assert not report.console_errors, report.console_errors
    assert report.info["searchResults"] > 0, f"{edition}: the search found nothing"


def test_student_toggles_hold_no_model_answer(browser, book):
    answers = []
    for md in book.chapters.values():
        for answer in bh.model_answers(md):
            answers += [
                leak_check.normalise(x)
                for x in answer.splitlines()
                if leak_check.telling(x)
            ]
    for doc in book.chapters:
        report = browser("student", f"{doc}.html")
        for toggle in report.toggles:
            text = leak_check.normalise(toggle["text"])
            assert not any(a[:60] in text for a in answers if "$" not in a), (
                f"student {doc}: a toggle shows a model answer: {text[:100]!r}"
            )


def test_vendored_widget_script_renders_a_widget_offline(browser, book):
    """The site's embed.js draws a widget from embedded state with no network.

    Chapter 5 may show its interactive view as a static figure; this keeps the
    widget machinery checked either way, on a page next to the site's assets.
    """
    import json

    import ipywidgets as widgets
    from ipywidgets.embed import embed_data

    slider = widgets.IntSlider(value=3, min=1, max=10, description="n")
    data = embed_data(views=[widgets.VBox([slider, widgets.HTML("<b>drawn</b>")])])
    page = book.site("student") / "_static" / "widget-check.html"
    page.write_text(
        "<!DOCTYPE html><html><head><title>widget check</title>"
        '<link rel="icon" href="data:,">'
        '<script src="widgets/embed.js"></script>'
        '<script type="application/vnd.jupyter.widget-state+json">'
        f"{json.dumps(data['manager_state'])}</script></head><body>"
        '<script type="application/vnd.jupyter.widget-view+json">'
        f"{json.dumps(data['view_specs'][0])}</script></body></html>",
        encoding="utf-8",
    )
    try:
        report = browser("student", "_static/widget-check.html")
    finally:
        page.unlink()
    assert not report.console_errors, report.console_errors
    outside = [u for u in report.requests if not u.startswith(browser.server.url)]
    assert not outside, f"the widget script fetched {outside}"
    [view] = report.info["widgetViews"]
    assert view["rendered"] and view["height"] > 20, view
    assert "drawn" in view["text"] and "3" in view["text"], view

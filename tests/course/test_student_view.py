"""What a student sees: every release notebook opened in JupyterLab in a real browser.

A JupyterLab server (the one ``requirements.txt`` installs) serves a temporary copy of
``release/``; headless Chromium loads JupyterLab once, opens each notebook in it (with
``window.jupyterapp``, exposed for tests) and waits until every markdown cell is
rendered and MathJax has typeset them. The notebook's windowing mode is set to
``none`` (a user setting in a temporary settings folder), so that all cells are in the
page, not only those in view, and the test checks that it saw every markdown cell.
The copy has no macro definitions cell: whatever order the cells render in, and in
front-ends that keep no definitions between cells, the math must not need it.

Asserted on the rendered page: no MathJax error node (``mjx-merror``), no math drawn
in red (MathJax's ``noundefined`` draws an unknown macro such as ``\\R`` as red text),
and no MyST left in the text of any markdown cell (``{prf:``, ``{eq}``, ``{cite}``,
``{numref}``, ``:label:``, ``$$ (label)``) nor untypeset TeX. The same text checks run
on ``jupyter nbconvert --to html`` of each notebook; its template loads MathJax from a
CDN, which a test cannot reach, so there the math is checked as text: it must hold no
course macro (they are expanded by ``scripts/portable_markdown.py``).

Screenshots go to ``screenshots/student/`` (git-ignored) for a person to look at.
Without Chromium the tests skip, and fail when ``CI=true``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import book_helpers as bh  # tests/course is on sys.path (pytest's rootdir)
import nbformat
import pytest

from scripts import portable_markdown

pytestmark = pytest.mark.slow  # a JupyterLab server and Chromium (minutes)

ROOT = Path(__file__).resolve().parents[2]
RELEASE = bh.RELEASE_DIR  # release/, or BOOK_RELEASE_DIR
NOTEBOOKS = sorted(p.relative_to(RELEASE).as_posix() for p in RELEASE.glob("*/*.ipynb"))
SHOTS = ROOT / "screenshots" / "student"
BIN = Path(sys.executable).parent
RENDER_TIMEOUT = 120  # seconds for one notebook to render and typeset

# MyST that must never reach a student; TeX outside math means MathJax did not run.
RAW_MYST = re.compile(
    r"\{prf:|\{eq\}|\{cite(:\w+)?\}|\{numref\}|\{ref\}|\{toggle\}|:label:|"
    r"\$\$\s*\([\w-]+\)|^\([\w-]+\)=|\{note\}|\{warning\}|\{admonition\}",
    re.MULTILINE,
)
RAW_TEX = re.compile(r"\$\$|\\(begin|frac|mathsf|left|right)\b")
# The worst order for the macros: a cell typeset before the cell that defines them
# (JupyterLab renders the visible cells first; VS Code and Colab keep no definitions
# between cells). The test drops the definitions cell from its copy of each
# notebook, so a macro left anywhere would be drawn in red.

# Run in the page: the state of the notebook's rendering and what it shows.
REPORT_JS = r"""
(() => {
  const cells = [...document.querySelectorAll('.jp-Notebook .jp-MarkdownCell')];
  const rendered = cells.filter(c => c.classList.contains('jp-mod-rendered') &&
                                     c.querySelector('.jp-RenderedMarkdown'));
  const red = [];  // one entry per red run (its children inherit the colour)
  const isRed = e => getComputedStyle(e).color === 'rgb(255, 0, 0)';
  for (const el of document.querySelectorAll('mjx-container *')) {
    if (isRed(el) && !isRed(el.parentElement)) {
      red.push(el.textContent.slice(0, 80));
    }
  }
  const text = (c, drop) => {
    const copy = c.querySelector('.jp-RenderedMarkdown').cloneNode(true);
    copy.querySelectorAll(drop).forEach(e => e.remove());
    return copy.textContent;
  };
  const texts = rendered.map(c => text(c, 'mjx-container'));  // code included
  const prose = rendered.map(c => text(c, 'mjx-container, code, pre'));
  const scroller = document.querySelector('.jp-NotebookPanel .jp-WindowedPanel-outer');
  return {
    markdownCells: cells.length,
    renderedCells: rendered.length,
    math: document.querySelectorAll('.jp-Notebook mjx-container').length,
    merrors: [...document.querySelectorAll('mjx-merror')]
      .map(e => e.textContent.slice(0, 80)),
    red: red,
    texts: texts,
    prose: prose,
    busy: !!document.querySelector('.jp-Notebook .jp-RenderedMarkdown:empty'),
    height: scroller ? scroller.scrollHeight : 0,
  };
})()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def markdown_cells(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


@pytest.fixture(scope="module")
def chromium():
    browser = bh.Chromium(bh.require_chromium())
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab on a copy of release/: ``(base URL, token, root)``."""
    tmp = tmp_path_factory.mktemp("student-lab")
    root = tmp / "release"
    shutil.copytree(RELEASE, root)
    for path in root.glob("*/*.ipynb"):  # the strictest order: no definitions
        nb = nbformat.read(path, as_version=4)
        nb.cells = [c for c in nb.cells if "\\newcommand" not in c.source]
        nbformat.write(nb, path)
    settings = tmp / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"})
    )
    token = secrets.token_hex(16)
    port = free_port()
    env = dict(os.environ)
    env.update(
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        IPYTHONDIR=str(tmp / "ipython"),
    )
    log = (tmp / "lab.log").open("w")
    proc = subprocess.Popen(
        [
            str(BIN / "jupyter"),
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--ServerApp.root_dir={root}",
            f"--IdentityProvider.token={token}",
            "--ServerApp.disable_check_xsrf=True",
            "--LabApp.news_url=",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True",  # window.jupyterapp opens files
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                raise RuntimeError(
                    f"jupyter lab exited: {(tmp / 'lab.log').read_text()[-2000:]}"
                )
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("jupyter lab did not answer in 120 s")
        yield base, token, root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="module")
def page(chromium, lab):
    """Chromium showing JupyterLab (loaded once; notebooks open in it)."""
    base, token, root = lab
    chromium.call(
        "Page.navigate", url=f"{base}/lab/workspaces/student?reset&token={token}"
    )
    deadline = time.monotonic() + RENDER_TIMEOUT
    while time.monotonic() < deadline:
        time.sleep(0.5)
        ready = chromium.evaluate(
            "(async () => { if (!window.jupyterapp) return false;"
            " await window.jupyterapp.restored; return true; })()"
        )
        if ready:
            return chromium
    raise TimeoutError(f"JupyterLab did not start in {RENDER_TIMEOUT} s")


def render(page, path: str, expected: int) -> dict:
    """Open the notebook ``path`` alone; wait until its markdown cells are typeset."""
    panels = page.evaluate(
        "(async () => { const app = window.jupyterapp;"  # close without asking
        " for (const w of Array.from(app.shell.widgets('main'))) w.dispose();"
        f" await app.commands.execute('docmanager:open', {{path: {json.dumps(path)}}});"
        " return document.querySelectorAll('.jp-NotebookPanel').length; })()"
    )
    assert panels == 1, f"{panels} notebooks open: the report would mix them"
    deadline = time.monotonic() + RENDER_TIMEOUT
    last, stable_since = None, time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        report = page.evaluate(REPORT_JS)
        state = (report["renderedCells"], report["math"], report["busy"])
        if state != last:
            last, stable_since = state, time.monotonic()
        done = report["renderedCells"] >= expected and not report["busy"]
        if done and time.monotonic() - stable_since > 2:
            return report
    return report


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_student_sees_the_notebook_rendered_in_jupyterlab(page, lab, notebook):
    base, token, root = lab
    expected = len(markdown_cells(root / notebook))
    start = time.monotonic()
    report = render(page, notebook, expected)
    report["seconds"] = round(time.monotonic() - start, 1)
    stem = Path(notebook).stem
    page.screenshot(SHOTS / f"{stem}.png", min(report["height"] + 200, 16000))
    raw = [m.group(0) for t in report["texts"] for m in RAW_MYST.finditer(t)]
    tex = [m.group(0) for t in report["prose"] for m in RAW_TEX.finditer(t)]
    keys = ("markdownCells", "renderedCells", "math", "seconds")
    summary = {k: report[k] for k in keys}
    summary.update(merrors=report["merrors"], red=report["red"], raw=raw, tex=tex)
    (SHOTS / f"{stem}.json").write_text(json.dumps(summary, indent=1))

    # The test saw every markdown cell rendered, so it cannot pass on an empty page.
    assert report["markdownCells"] == expected, report["markdownCells"]
    assert report["renderedCells"] == expected, (
        f"{report['renderedCells']} of {expected} markdown cells rendered"
    )
    assert report["math"] > 0, "no math typeset: MathJax did not run"
    assert not report["merrors"], f"MathJax errors: {report['merrors'][:5]}"
    assert not report["red"], (
        f"{len(report['red'])} math elements drawn in red (undefined macros): "
        f"{report['red'][:5]}"
    )
    assert not raw, f"{len(raw)} raw MyST tokens in rendered cells: {raw[:10]}"
    assert not tex, f"TeX shown as text (not typeset): {tex[:10]}"


def _text_outside_code_and_math(html: str) -> str:
    """The text of an nbconvert page without its code, scripts, styles and math."""
    text = re.sub(
        r"<(pre|code|script|style)\b.*?</\1>", " ", html, flags=re.DOTALL | re.I
    )
    text = re.sub(r"\$\$.*?\$\$|\$[^$\n]+?\$", " ", text, flags=re.DOTALL)
    return re.sub(r"<[^>]+>", " ", text)


@pytest.fixture(scope="module")
def nbconvert_pages(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("nbconvert")
    paths = [str(RELEASE / nb) for nb in NOTEBOOKS]
    subprocess.run(
        [str(BIN / "jupyter"), "nbconvert", "--to", "html", f"--output-dir={out}",
         *paths],
        check=True,
        capture_output=True,
    )
    return {nb: (out / f"{Path(nb).stem}.html").read_text() for nb in NOTEBOOKS}


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_nbconvert_html_has_no_myst_and_no_course_macro(nbconvert_pages, notebook):
    html = nbconvert_pages[notebook]
    macros = portable_markdown.notebook_macros(nbformat.read(RELEASE / notebook, 4))
    assert macros, "the notebook lost its macro definitions cell"
    text = _text_outside_code_and_math(html)
    title = re.findall(r"[A-Za-z]{3,}", markdown_cells(RELEASE / notebook)[0])[:3]
    assert title and all(word in text for word in title), "the page lost its cells"
    raw = [m.group(0) for m in RAW_MYST.finditer(text)]
    assert not raw, f"raw MyST in the HTML: {raw[:10]}"
    # Math outside the definitions cell may use no course macro: MathJax would need
    # the definitions, which this page (like any other renderer) may typeset later.
    math = [
        m.group(0)
        for cell in markdown_cells(RELEASE / notebook)
        if "\\newcommand" not in cell
        for m in re.finditer(r"\$\$.*?\$\$|\$[^$\n]+?\$", cell, re.DOTALL)
    ]
    assert math
    names = "|".join(sorted(macros, key=len, reverse=True))
    pattern = re.compile(rf"\\({names})(?![A-Za-z])")
    used = {m.group(0) for tex in math for m in pattern.finditer(tex)}
    assert not used, f"course macros left in the math: {sorted(used)}"


def test_toggle_renders_as_a_closed_details_block(page, lab):
    """A ``{toggle}`` becomes ``<details>``: JupyterLab shows its summary, hides the
    body until clicked, and typesets the math in it."""
    base, token, root = lab
    source = "````{toggle}\nThe answer is $\\R{X}$ and **bold**.\n````"
    ctx = portable_markdown.Context(
        macros=portable_markdown.parse_newcommands(r"\newcommand{\R}[1]{\mathsf{#1}}")
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(portable_markdown.convert_markdown(
        source, ctx))]
    nbformat.write(nb, root / "toggle_check.ipynb")
    render(page, "toggle_check.ipynb", 1)
    state = page.evaluate(
        r"""(async () => {
          const d = document.querySelector('.jp-RenderedMarkdown details');
          if (!d) return null;
          const body = () => d.querySelector('strong');
          const hidden = !d.open && !body().checkVisibility();
          d.querySelector('summary').click();
          await new Promise(r => setTimeout(r, 300));
          return {summary: d.querySelector('summary').textContent, hidden: hidden,
                  shown: d.open && body().checkVisibility(),
                  math: d.querySelectorAll('mjx-container').length};
        })()"""
    )
    assert state is not None, "JupyterLab dropped the <details> element"
    assert state["summary"] == "Show" and state["hidden"] and state["shown"], state
    assert state["math"] == 1, state

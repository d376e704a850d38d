"""Helpers of the book tests: one build of both editions, and a headless Chromium.

``book`` (session fixture) runs ``scripts/build_book.py`` once per test session. The
execution cache makes that quick when the notebooks did not change. Environment
variables point the tests at another course (e.g. a throwaway one):
``BOOK_SOURCE_DIR``, ``BOOK_RELEASE_DIR``, ``BOOK_BUILD_DIR``.

``Chromium`` drives Debian's ``chromium`` through the DevTools protocol (with the
pip package ``websocket-client``): it loads a page from a local HTTP server and
reports what a reader gets: console errors, requests, math, images, widgets, links.
"""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import yaml

from scripts import build_book, nbgrader_cells

ROOT = Path(__file__).resolve().parents[2]

SOURCE_DIR = Path(os.environ.get("BOOK_SOURCE_DIR", ROOT / "source")).resolve()
RELEASE_DIR = Path(os.environ.get("BOOK_RELEASE_DIR", ROOT / "release")).resolve()
BUILD_DIR = Path(os.environ.get("BOOK_BUILD_DIR", ROOT / "_build")).resolve()
SCREENSHOTS = ROOT / "screenshots"
EDITIONS = ("student", "instructor")
BUILD_TIMEOUT = 1800


def toc() -> dict:
    return yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))


def chapters() -> dict[str, Path]:
    """``{"source/NN_x/NN_x": NN_x.md}`` of the chapters that exist (no build)."""
    present = {}
    for doc in build_book.chapter_entries(toc()):
        md = SOURCE_DIR / (doc.removeprefix("source/") + ".md")
        if md.exists():
            present[doc] = md
    return present


def pages() -> list[str]:
    """Every page of the book (docnames, e.g. ``book/intro``), chapters that exist."""
    names = [toc()["root"]]
    present = chapters()
    for part in toc().get("parts", []):
        for chapter in part.get("chapters", []):
            doc = chapter["file"]
            if not doc.startswith("source/") or doc in present:
                names.append(doc)
    return names


@dataclass
class Book:
    build: Path
    chapters: dict[str, Path]
    log: str

    def site(self, edition: str) -> Path:
        return self.build / ("html" if edition == "student" else "instructor/html")

    def executed(self, doc: str) -> Path:
        return self.build / "executed" / f"{Path(doc).name}.ipynb"


@functools.cache
def build() -> Book:
    """Build both editions once (the execution cache makes a rebuild cheap)."""
    command = [
        sys.executable,
        str(ROOT / "scripts" / "build_book.py"),
        "--source-dir",
        str(SOURCE_DIR),
        "--release-dir",
        str(RELEASE_DIR),
        "--build-dir",
        str(BUILD_DIR),
    ]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    proc = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        env=env,
        cwd=ROOT,
    )
    log = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/build_book.py failed:\n{log[-8000:]}")
    return Book(BUILD_DIR, chapters(), log)


@pytest.fixture(scope="session")
def book() -> Book:
    assert chapters(), f"no chapter of _toc.yml in {SOURCE_DIR}"
    try:
        return build()
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)


@functools.cache
def needles() -> dict[str, str]:
    """The secret lines of every chapter (see scripts/leak_check.py)."""
    return build_book.student_needles(chapters())


def model_answers(md: Path) -> list[str]:
    import jupytext

    return nbgrader_cells.model_answers(jupytext.read(md), md.stem)


# ------------------------------------------------------------------ browser


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    """Chromium's path; without it the test skips, but fails in CI (``CI=true``)."""
    executable = find_chromium()
    if executable is None:
        message = "chromium is not installed (scripts/install_chromium.sh installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    return executable


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output readable
        pass


class SiteServer:
    """Serve a folder on 127.0.0.1 in a thread, as a web server would."""

    def __init__(self, root: Path):
        self.root = root
        handler = functools.partial(QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def path_of(self, url: str) -> Path | None:
        """The file a same-origin URL serves (index.html for a folder)."""
        if not url.startswith(self.url):
            return None
        path = self.root / unquote(urlparse(url).path).lstrip("/")
        return path / "index.html" if path.is_dir() else path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# What the page reports once loaded and typeset (run in the page).
PAGE_REPORT_JS = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  const views = document.querySelectorAll(
    'script[type="application/vnd.jupyter.widget-view+json"]');
  for (let i = 0; i < 100 && views.length; i++) {  // embed.js renders on load
    const done = [...views].every(v => v.previousElementSibling &&
      v.previousElementSibling.classList.contains('widget-subarea') &&
      v.previousElementSibling.children.length);
    if (done) break;
    await new Promise(r => setTimeout(r, 100));
  }
  let searchResults = null;
  if (location.pathname.endsWith('/search.html')) {  // the query runs after load
    for (let i = 0; i < 100; i++) {
      const summary = document.querySelector('#search-results .search-summary');
      if (summary && summary.innerText.trim()) break;
      await new Promise(r => setTimeout(r, 100));
    }
    searchResults = document.querySelectorAll('#search-results ul.search li').length;
  }
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight';
  const raw = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const tex = new RegExp('\\\\(begin|end|frac|math[a-z]+|left|right|[A-Za-z]+\\{)' +
                         '|\\$\\$|\\$[^$\\s][^$]*\\$|\\\\\\(|\\\\\\[');
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (el && !el.closest(skip) && tex.test(n.textContent)) {
      raw.push(n.textContent.trim().slice(0, 120));
    }
  }
  const merrors = [...document.querySelectorAll('mjx-container')]
    .filter(c => c.querySelector('mjx-merror') ||
                 /\\[A-Za-z]/.test(c.querySelector('mjx-assistive-mml, math')
                                    ?.textContent || ''))
    .map(c => (c.querySelector('mjx-assistive-mml, math')?.textContent || '')
         .slice(0, 120));
  const widgets = [...views].map(v => {
    const area = v.previousElementSibling;
    const box = area ? area.getBoundingClientRect() : {width: 0, height: 0};
    return {rendered: !!(area && area.classList.contains('widget-subarea')),
            width: box.width, height: box.height,
            images: area ? [...area.querySelectorAll('img')]
                     .map(i => i.naturalWidth) : [],
            text: area ? area.innerText.slice(0, 200) : ''};
  });
  return {
    title: document.title,
    mathSource: document.querySelectorAll('.math, span.math, div.math').length,
    mathRendered: document.querySelectorAll('mjx-container').length,
    rawTex: raw,
    mathErrors: merrors,
    images: [...document.images].map(i => ({
      src: (i.currentSrc || i.src).slice(0, 100), complete: i.complete,
      width: i.naturalWidth})),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    sidebar: [...document.querySelectorAll('nav.bd-docs-nav a.reference')]
      .map(a => ({href: a.href, text: a.innerText.trim()})),
    widgetViews: widgets,
    openNotebook: [...document.querySelectorAll('.course-open-notebook a')]
      .map(a => ({href: a.href, text: a.innerText.trim(),
                  download: a.hasAttribute('download')})),
    searchResults: searchResults,
    height: Math.min(document.documentElement.scrollHeight, 12000),
  };
})()
"""

# Open every toggle (sphinx-togglebutton: a <details> for {toggle}, a button for a
# dropdown admonition) and report whether its content was hidden, then shown.
TOGGLE_JS = r"""
(async () => {
  const sleep = ms => new Promise(r => setTimeout(r, ms));
  const shown = el => !!el && el.offsetHeight > 0 &&
    getComputedStyle(el).visibility !== 'hidden';
  const out = [];
  for (const d of document.querySelectorAll('details.toggle-details')) {
    const body = d.querySelector('.toggle-details__container') || d;
    const before = !d.open;
    d.querySelector('summary').scrollIntoView();
    d.querySelector('summary').click();
    await sleep(200);
    out.push({kind: 'toggle', hiddenBefore: before, shownAfter: d.open && shown(body),
              text: body.innerText.trim().slice(0, 200)});
  }
  const bare = '.toggle:not(.toggle-details__container)';
  for (const t of document.querySelectorAll(bare)) {
    out.push({kind: 'unwrapped toggle', hiddenBefore: false, shownAfter: false,
              text: t.innerText.trim().slice(0, 200)});
  }
  for (const a of document.querySelectorAll('.dropdown.admonition')) {
    const button = a.querySelector('.toggle-button');
    const before = a.classList.contains('toggle-hidden');
    if (button) { button.scrollIntoView(); button.click(); await sleep(300); }
    const body = a.querySelector(':scope > :not(.admonition-title)');
    out.push({kind: 'dropdown', hiddenBefore: before,
              shownAfter: !a.classList.contains('toggle-hidden') && shown(body),
              text: a.innerText.trim().slice(0, 200)});
  }
  window.scrollTo(0, 0);
  return out;
})()
"""


@dataclass
class PageReport:
    url: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    toggles: list[dict] = field(default_factory=list)


class Chromium:
    """One headless Chromium with one tab, driven over the DevTools protocol."""

    FLAGS = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--remote-allow-origins=*",
        "--window-size=1280,900",
        "--remote-debugging-port=0",
    ]

    def __init__(self, executable: str):
        import websocket

        self.profile = tempfile.mkdtemp(prefix="chromium-")
        self.proc = subprocess.Popen(
            [executable, *self.FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = Path(self.profile) / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self.proc.returncode}")
            time.sleep(0.1)
        else:
            self.close()
            raise RuntimeError("chromium did not open its DevTools port in 30 s")
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = json.load(resp)
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True
        )
        self.next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=1280,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )

    def call(self, method: str, timeout: float = 60, **params):
        self.next_id += 1
        ident = self.next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)
        raise TimeoutError(f"{method} got no answer in {timeout} s")

    def wait_event(self, method: str, timeout: float = 60) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event["method"] == method:
                    self.events.remove(event)
                    return event
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                message = json.loads(self.ws.recv())
            finally:
                self.ws.settimeout(60)
            if "method" in message:
                self.events.append(message)
        raise TimeoutError(f"no {method} in {timeout} s")

    def evaluate(self, expression: str, timeout: float = 60):
        result = self.call(
            "Runtime.evaluate",
            timeout=timeout,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def visit(self, url: str, screenshot: Path | None = None) -> PageReport:
        """Load ``url`` and report what a reader gets."""
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")
        report = PageReport(url)
        report.info = self.evaluate(PAGE_REPORT_JS)
        time.sleep(0.2)  # late console messages
        self.evaluate("1")
        if screenshot is not None:
            self.screenshot(screenshot, report.info["height"])
        report.toggles = self.evaluate(TOGGLE_JS)
        self.evaluate("1")
        for event in self.events:
            method, params = event["method"], event["params"]
            if method == "Runtime.consoleAPICalled" and params["type"] in (
                "error",
                "assert",
            ):
                text = " ".join(
                    str(a.get("value", a.get("description", "")))
                    for a in params["args"]
                )
                report.console_errors.append(f"console.{params['type']}: {text}")
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                text = details.get("exception", {}).get("description") or details.get(
                    "text"
                )
                report.console_errors.append(f"uncaught exception: {text}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                report.console_errors.append(
                    f"{entry['source']}: {entry['text']} {entry.get('url', '')}"
                )
            elif method == "Network.requestWillBeSent":
                url = params["request"]["url"]
                if not url.startswith(("data:", "blob:", "about:")):
                    report.requests.append(url)
            elif method == "Network.responseReceived":
                if params["response"]["status"] >= 400:
                    report.failed.append(
                        f"{params['response']['status']} {params['response']['url']}"
                    )
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                report.failed.append(
                    f"{params.get('errorText')}: request {params['requestId']}"
                )
        return report

    def screenshot(self, path: Path, height: int) -> None:
        """The whole page (up to ``height`` pixels) as a PNG at ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.call("Emulation.setDeviceMetricsOverride", width=1280,
                  height=max(900, height), deviceScaleFactor=1, mobile=False)
        try:
            time.sleep(0.3)  # let the layout settle at the new size
            shot = self.call("Page.captureScreenshot", format="png")
        finally:
            self.call("Emulation.setDeviceMetricsOverride", width=1280, height=900,
                      deviceScaleFactor=1, mobile=False)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self):
        try:
            self.ws.close()
        except Exception:
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)

"""Build the web book: the student edition and the instructor edition.

1. Execute every chapter's instructor notebook once (``scripts/execute_chapters.py``:
   cached by a hash of its source and of ``mi_lib``; any error fails the build).
2. Stage two source trees under ``<build>/stage/``: the executed notebooks as they are
   (instructor), and copies with every solution, hidden test and model answer removed
   but the outputs kept (student, ``scripts/book_strip.py``: nbgrader's own
   stripping, as for ``release/``). Each chapter gets links
   to download its release notebook and to launch it (``course_launch`` in
   ``_config.yml``).
3. Build both with Jupyter Book 1 (Sphinx), execution off, warnings as errors,
   nitpicky, keep going: ``<build>/html`` (student) and ``<build>/instructor/html``.
4. Check that no line of a solution, hidden test or model answer reached any file of
   the student site (HTML, ``_sources``, downloads, search index):
   ``scripts/leak_check.py``, the check of ``release/`` too.

Chapters of ``_toc.yml`` whose ``source/NN_x/NN_x.md`` does not exist yet are left out
with a warning, so the book builds at every stage of the course.

Usage: ``python scripts/build_book.py [--edition student|instructor|both]``
"""

from __future__ import annotations

import argparse
import copy
import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import yaml

from scripts import book_strip, course_files, execute_chapters, leak_check

ROOT = Path(__file__).resolve().parents[1]

EDITIONS = ("student", "instructor")
OPEN_CLASS = "course-open-notebook"


def log(message: str) -> None:
    print(f"[book] {message}", flush=True)


def warn(message: str) -> None:
    print(f"[book] WARNING: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- toc


def chapter_entries(toc: dict) -> list[str]:
    """The ``source/NN_x/NN_x`` files listed in a toc, in order."""
    files = []
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            if chapter.get("file", "").startswith("source/"):
                files.append(chapter["file"])
    return files


def effective_toc(toc: dict, source_dir: Path) -> tuple[dict, dict[str, Path]]:
    """The toc without the chapters that do not exist yet, and the chapters that do.

    Returns the toc and ``{"source/NN_x/NN_x": path of NN_x.md}``.
    """
    toc = copy.deepcopy(toc)
    present: dict[str, Path] = {}
    parts = []
    for part in toc.get("parts", []):
        chapters = []
        for chapter in part.get("chapters", []):
            doc = chapter["file"]
            if doc.startswith("source/"):
                md = source_dir / (doc.removeprefix("source/") + ".md")
                if not md.exists():
                    warn(f"{doc}: {md} does not exist yet; left out of the book")
                    continue
                present[doc] = md
            chapters.append(chapter)
        if chapters:
            part["chapters"] = chapters
            parts.append(part)
    toc["parts"] = parts
    return toc, present


# ------------------------------------------------------------------- staging


class Stage:
    """A source tree written file by file, touching only what changed.

    Sphinx rebuilds only documents whose file is newer than its last build, so a
    file whose content did not change keeps its modification time.
    """

    def __init__(self, root: Path):
        self.root = root
        self.written: set[Path] = set()

    def write(self, rel: str, data: bytes | str) -> None:
        path = self.root / rel
        data = data.encode("utf-8") if isinstance(data, str) else data
        self.written.add(path)
        if path.exists() and path.read_bytes() == data:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def copy(self, src: Path, rel: str) -> None:
        path = self.root / rel
        self.written.add(path)
        if path.exists() and filecmp.cmp(src, path, shallow=False):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, path)

    def copy_tree(self, src: Path, rel: str, skip=lambda p: False) -> None:
        for path in sorted(src.rglob("*")):
            parts = path.relative_to(src).parts
            if (
                path.is_file()
                and not skip(path)
                and not course_files.is_build_output(path.relative_to(src))
                and not any(part.startswith(".") for part in parts)
            ):
                self.copy(path, f"{rel}/{'/'.join(parts)}")

    def prune(self) -> None:
        """Delete what an earlier build staged and this one did not."""
        for path in sorted(self.root.rglob("*"), reverse=True):
            if path.is_file() and path not in self.written:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def launch_links(config: dict, release_path: str) -> list[tuple[str, str]]:
    """``(name, url)`` of each launch service set in ``course_launch``.

    An entry is left out when its url is empty, or when it needs the repository
    (``{repo_url}`` or ``{org_repo}``) and ``repository.url`` is empty, so that
    the book never links to a stand-in.
    """
    repo_url = ((config.get("repository") or {}).get("url") or "").rstrip("/")
    branch = (config.get("repository") or {}).get("branch", "main")
    org_repo = urlparse(repo_url).path.strip("/").removesuffix(".git")
    links = []
    for entry in config.get("course_launch") or []:
        template = entry.get("url") or ""
        needs_repository = "{repo_url}" in template or "{org_repo}" in template
        if not template or (needs_repository and not repo_url):
            continue
        url = template.format(
            path=release_path, repo_url=repo_url, org_repo=org_repo, branch=branch
        )
        links.append((entry["name"], url))
    return links


def open_cell(config: dict, release_rel: str, is_release: bool):
    """A markdown cell that tells a student how to open the chapter's notebook."""
    import nbformat

    what = "the student notebook" if is_release else "the notebook"
    items = [f"{{download}}`Download {what} </{release_rel}>`"]
    for name, url in launch_links(config, release_rel):
        items.append(f"[Open it on {name}]({url})")
    text = (
        ":::{admonition} Work on this chapter\n"
        f":class: tip {OPEN_CLASS}\n"
        + " · ".join(items)
        + ": the exercises are the cells that say `raise NotImplementedError()`"
        " or YOUR ANSWER HERE. See [how to use the notebooks](/book/intro.md).\n"
        ":::"
    )
    cell = nbformat.v4.new_markdown_cell(text)
    cell.metadata["tags"] = ["course-open-notebook"]
    return cell


def with_open_cell(nb, cell):
    """``nb`` with ``cell`` after its title cell (the first ``# `` heading)."""
    nb = copy.deepcopy(nb)
    index = 0
    for i, existing in enumerate(nb.cells):
        if existing.cell_type == "markdown" and any(
            line.startswith("# ") for line in existing.source.splitlines()
        ):
            index = i + 1
            break
    nb.cells.insert(index, cell)
    return nb


def stage_edition(
    edition: str,
    stage: Stage,
    config: dict,
    toc: dict,
    chapters: dict[str, Path],
    executed: dict[str, Path],
    release_dir: Path,
) -> None:
    import nbformat

    config = copy.deepcopy(config)
    config["exclude_patterns"] = [
        p for p in config.get("exclude_patterns", []) if not p.startswith("source/")
    ]
    config.setdefault("execute", {})["execute_notebooks"] = "off"
    if edition == "instructor":
        config["title"] = f"{config.get('title', '')} (instructor edition)"
        config.setdefault("html", {})["announcement"] = (
            "Instructor edition: it shows the solutions. Students get the student"
            " edition (_build/html)."
        )
    stage.write("_config.yml", yaml.safe_dump(config, sort_keys=False))
    stage.write("_toc.yml", yaml.safe_dump(toc, sort_keys=False))
    stage.copy_tree(ROOT / "book", "book")
    for doc, md in chapters.items():
        name = md.stem
        nb = nbformat.read(executed[doc], as_version=4)
        student = book_strip.strip_for_students(nb, name)
        release_rel = f"release/{name}/{name}.ipynb"
        release = release_dir / name / f"{name}.ipynb"
        if release.exists():
            stage.copy(release, release_rel)
        else:
            if edition == "student":
                warn(f"{release} does not exist (make release): the chapter"
                     " offers the stripped notebook for download instead")
            blank = copy.deepcopy(student)
            for cell in blank.cells:
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
            stage.write(release_rel, nbformat.writes(blank))
        shown = student if edition == "student" else nb
        shown = with_open_cell(shown, open_cell(config, release_rel, release.exists()))
        stage.write(f"{doc}.ipynb", nbformat.writes(shown))
        stage.copy_tree(
            md.parent,
            str(Path(doc).parent),
            skip=lambda p, md=md: p.suffix in {".md", ".ipynb"} or p.name == md.name,
        )


# --------------------------------------------------------------------- sphinx


def sphinx_build(stage: Path, out: Path, doctrees: Path) -> int:
    """Build one staged edition (run in its own process: docutils is global)."""
    from jupyter_book.sphinx import build_sphinx

    result = build_sphinx(
        stage,
        out,
        noconfig=True,
        path_config=str(stage / "_config.yml"),
        confoverrides={
            "external_toc_path": (stage / "_toc.yml").as_posix(),
            "latex_individualpages": False,
            "nitpicky": True,
        },
        doctreedir=doctrees,
        builder="html",
        warningiserror=True,
        keep_going=True,
        quiet=True,
    )
    if isinstance(result, Exception):
        print(f"{type(result).__name__}: {result}", file=sys.stderr)
        return 1
    prune_search_index(out / "searchindex.js")
    return int(result)


def prune_search_index(path: Path) -> None:
    """Drop the words that no page holds any more from Sphinx's search index.

    An incremental build loads the previous ``searchindex.js`` and re-indexes the
    pages it writes, but keeps every word it ever saw as a key, with an empty
    list of pages once the text is gone: a word edited out of a chapter (or of
    an earlier build's solution) would stay readable in the index.
    """
    if not path.exists():
        return
    text = path.read_text(encoding="utf-8")
    match = re.fullmatch(r"(\s*Search\.setIndex\()(.*)(\)\s*)", text, re.S)
    if not match:
        return
    index = json.loads(match.group(2))
    for key in ("terms", "titleterms"):
        words = index.get(key) or {}
        index[key] = {w: pages for w, pages in words.items() if pages != []}
    body = json.dumps(index, separators=(",", ":"), ensure_ascii=False)
    path.write_text(match.group(1) + body + match.group(3), encoding="utf-8")


def start_sphinx(stage: Path, out: Path, doctrees: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONWARNINGS="ignore::DeprecationWarning")
    return subprocess.Popen(
        [sys.executable, __file__, "--sphinx", str(stage), str(out), str(doctrees)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


# ---------------------------------------------------------------------- checks


def student_needles(chapters: dict[str, Path]) -> dict[str, str]:
    """The secret lines of ``chapters`` to look for in the student edition."""
    return leak_check.course_needles(
        chapters.values(), sorted((ROOT / "book").glob("*.md"))
    )


def student_site_files(site: Path) -> list[Path]:
    """The files of a built site a reader can get, but the theme's assets."""
    return leak_check.text_files(site, skip={"_static"})


# ------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edition", choices=(*EDITIONS, "both"), default="both")
    parser.add_argument("--source-dir", type=Path, default=ROOT / "source")
    parser.add_argument("--release-dir", type=Path, default=ROOT / "release")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "_build")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--force-execute", action="store_true")
    parser.add_argument("--sphinx", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.sphinx:
        return sphinx_build(*args.sphinx)

    start = time.perf_counter()
    build = args.build_dir.resolve()
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    full_toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    toc, chapters = effective_toc(full_toc, args.source_dir.resolve())
    log(f"{len(chapters)} of {len(chapter_entries(full_toc))} chapters exist")

    results = execute_chapters.execute_chapters(
        list(chapters.values()), build, args.jobs, args.force_execute, log=log
    )
    failed = [r for r in results if r.error]
    for result in failed:
        print(result.error, file=sys.stderr)
    if failed:
        log(f"FAILED: {len(failed)} instructor notebook(s) did not run")
        return 1
    cached = sum(r.cached for r in results)
    log(f"notebooks: {cached} from the cache, {len(results) - cached} executed")
    executed = {doc: r.notebook for doc, r in zip(chapters, results, strict=True)}

    editions = EDITIONS if args.edition == "both" else (args.edition,)
    outputs = {"student": build / "html", "instructor": build / "instructor" / "html"}
    procs = {}
    for edition in editions:
        stage = Stage(build / "stage" / edition)
        stage_edition(
            edition, stage, config, toc, chapters, executed, args.release_dir.resolve()
        )
        out, doctrees = outputs[edition], build / "doctrees" / edition
        docs = json.dumps(sorted(str(p) for p in stage.written))
        record = build / "stage" / f"{edition}.files.json"
        if not record.exists() or record.read_text() != docs:
            # files appeared or went: build from scratch, leave no stale page
            shutil.rmtree(out, ignore_errors=True)
            shutil.rmtree(doctrees, ignore_errors=True)
        stage.prune()
        record.write_text(docs)
        log(f"building the {edition} edition into {out.relative_to(build.parent)}")
        procs[edition] = (start_sphinx(stage.root, out, doctrees), doctrees)

    status = 0
    for edition, (proc, doctrees) in procs.items():
        output, _ = proc.communicate()
        if output.strip():
            print(output.rstrip(), file=sys.stderr)
        if proc.returncode != 0:
            # a cached environment would hide these warnings next time
            shutil.rmtree(doctrees, ignore_errors=True)
            (build / "stage" / f"{edition}.files.json").unlink(missing_ok=True)
            log(f"FAILED: the {edition} edition has errors or warnings (above)")
            status = 1

    if "student" in procs and status == 0:
        site = outputs["student"]
        leaks = leak_check.find_leaks(
            site, student_needles(chapters), student_site_files(site)
        )
        if leaks:
            for leak in leaks[:50]:
                print(f"  {leak}", file=sys.stderr)
            log(f"FAILED: {len(leaks)} solution lines in the student edition")
            status = 1
    if status == 0:
        seconds = time.perf_counter() - start
        log(
            f"done in {seconds:.0f} s: "
            + ", ".join(
                f"{e} edition {outputs[e].relative_to(build.parent)}/index.html"
                for e in procs
            )
        )
    return status


if __name__ == "__main__":
    sys.exit(main())

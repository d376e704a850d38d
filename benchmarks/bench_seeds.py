"""Do the instructor's solutions pass every visible and hidden test under any seed?

INSTRUCTORS.md promises that the solutions score full marks whatever ``MI_SEED``
the graders set. This benchmark checks it over many seeds, quickly: for each
chapter it takes the code cells of the instructor notebook (``source/NN/NN.md``)
that the graded cells need (the setup cell, every answer cell with its solution,
every test cell with its visible and hidden tests, and the cells that define the
names these use), and executes them in-process, in a fresh namespace per seed,
with ``MI_SEED`` and ``NBGRADER_EXECUTION`` set as the autograder sets them; as
under nbgrader, a test cell fails if it raises or writes to stderr. No
nbgrader, no kernel, no plots: a chapter and seed take seconds, not minutes.

It prints, per chapter, the seeds on which some cell failed, then every failing
cell with its failure count, seeds and first error. The exit status is 1 when
anything failed.

    nice -n 10 python benchmarks/bench_seeds.py                 # seeds 0-99
    python benchmarks/bench_seeds.py --seeds 30-39 05_mine 06_minee --jobs 2

Cells the graded cells do not need (demonstrations, figures, long training) are
skipped, so a test that depended on the random state they leave behind would
see another (equally valid) draw here than under nbgrader; the chapters' tests
seed what they draw, so that this does not happen.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import symtable
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "source"


@dataclass
class Cell:
    index: int  # position among the notebook's cells
    source: str
    label: str  # the nbgrader grade id, or "cell N"
    graded: bool  # an answer or a test cell
    is_test: bool
    defines: frozenset[str]
    uses: frozenset[str]


# --------------------------------------------------------------------------
# which cells to run


def _names(source: str) -> tuple[set[str], set[str]]:
    """(names the cell binds at module level, global names it reads anywhere).

    A function's parameters and locals are not reads of globals, so a test that
    names a local ``z`` does not pull in the demonstration that defines ``z``.
    """
    top = symtable.symtable(source, "<cell>", "exec")
    defines = {
        s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported()
    }

    def reads(table: symtable.SymbolTable) -> set[str]:
        names = {
            s.get_name()
            for s in table.get_symbols()
            if s.is_referenced()
            and (table.get_type() == "module" or s.is_global() or not s.is_local())
        }
        for child in table.get_children():
            names |= reads(child)
        return names

    return defines, reads(top)


def chapter_cells(chapter: str) -> list[Cell]:
    """The code cells of ``source/<chapter>/<chapter>.md``, parsed."""
    import jupytext

    nb = jupytext.read(SOURCE / chapter / f"{chapter}.md")
    cells = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        is_test = bool(meta.get("grade")) and not meta.get("solution")
        graded = is_test or bool(meta.get("solution"))
        try:
            defines, uses = _names(cell.source)
        except SyntaxError:  # IPython magics: never needed by a graded cell
            if graded:
                raise
            continue
        label = meta.get("grade_id") or f"cell {i}"
        cells.append(
            Cell(i, cell.source, label, graded, is_test, frozenset(defines),
                 frozenset(uses))
        )
    return cells


def needed_cells(cells: list[Cell]) -> list[Cell]:
    """The setup cell, the graded cells, and the cells defining what they read.

    A backward slice: walking from the last cell to the first, a cell is kept if
    it is graded or defines a name that a later kept cell reads before defining.
    """
    if not cells:
        return []
    keep = {cells[0].index}  # the setup: imports, SEED, FAST, DEVICE, seeding
    live: set[str] = set()
    for cell in reversed(cells):
        if cell.graded or cell.index in keep or cell.defines & live:
            keep.add(cell.index)
            live = (live - cell.defines) | cell.uses
    return [c for c in cells if c.index in keep]


# --------------------------------------------------------------------------
# running them


def _short_error(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    text = " ".join(line.strip() for line in lines)
    return text if len(text) <= 300 else text[:297] + "..."


def _run_cell(code, namespace) -> tuple[BaseException | None, str]:
    """Execute a cell; return (its exception or None, what it wrote to stderr).

    stderr is captured at file descriptor 2, leaving ``sys.stderr`` itself alone
    (the grading guard flags a replaced ``sys.stderr``).
    """
    sys.stderr.flush()
    saved = os.dup(2)
    error = None
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            exec(code, namespace)  # noqa: S102 - the course's own code
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - report it and go on
            error = exc
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        text = capture.read().decode(errors="replace")
    return error, text


def run_seeds(chapter: str, seeds: list[int]) -> dict[int, dict]:
    """Run the needed cells of `chapter` once per seed, each in a fresh namespace.

    Returns ``{seed: {"failed": {label: error}, "seconds": s}}``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    import mi_lib.grading

    torch.set_num_threads(1)
    # The autograder runs each notebook in a fresh kernel; here one process runs
    # many seeds, so the grading guard (which records, at the setup cell, the
    # functions the tests rely on) starts a fresh record for every seed.
    new_guard = getattr(mi_lib.grading, "_make_guard", None)
    cells = needed_cells(chapter_cells(chapter))
    out = {}
    with tempfile.TemporaryDirectory(prefix=f"bench-seeds-{chapter}-") as tmp:
        # the chapter's files (e.g. staircase.json) beside the notebook, runs/ here
        for path in (SOURCE / chapter).iterdir():
            if path.is_file() and path.suffix not in (".md", ".ipynb"):
                shutil.copy(path, tmp)
        cwd = os.getcwd()
        os.chdir(tmp)
        try:
            for seed in seeds:
                os.environ["MI_SEED"] = str(seed)
                os.environ["NBGRADER_EXECUTION"] = "autograde"
                if new_guard is not None:
                    guard = new_guard()
                    mi_lib.grading.guard_notebook = guard[0]
                    mi_lib.grading.verify_untampered = guard[1]
                namespace = {"__name__": "__main__"}
                failed, start = {}, time.perf_counter()
                for cell in cells:
                    code = compile(cell.source, f"<{chapter} {cell.label}>", "exec")
                    error, text = _run_cell(code, namespace)
                    if error is not None:
                        failed[cell.label] = _short_error(error)
                    elif cell.is_test and text.strip():  # nbgrader scores it zero
                        failed[cell.label] = f"wrote to stderr: {text.strip()[:200]}"
                plt.close("all")
                out[seed] = {"failed": failed, "seconds": time.perf_counter() - start}
        finally:
            os.chdir(cwd)
    return out


def _task(args):
    chapter, seeds = args
    return chapter, run_seeds(chapter, seeds)


def _collect(finished, results: dict, total: int) -> None:
    """Store each finished task's results, printing a line as it arrives."""
    for chapter, res in finished:
        results[chapter].update(res)
        done = sum(len(r) for r in results.values())
        bad = {s: sorted(r["failed"]) for s, r in res.items() if r["failed"]}
        print(
            f"  {done}/{total} runs done; {chapter} seeds "
            f"{','.join(map(str, sorted(res)))}: "
            + (f"FAILED {bad}" if bad else "all passed"),
            flush=True,
        )


def parse_seeds(text: str) -> list[int]:
    """'0-99' or '0,12,34' or '34,53,0-99' (in that order, each seed once)."""
    seeds: list[int] = []
    for part in text.split(","):
        if "-" in part:
            low, high = part.split("-")
            seeds += range(int(low), int(high) + 1)
        elif part:
            seeds.append(int(part))
    return list(dict.fromkeys(seeds))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="default: every chapter")
    parser.add_argument("--seeds", default="0-99", help="e.g. 0-99 or 12,31,34")
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="worker processes"
    )
    parser.add_argument("--chunk", type=int, default=10, help="seeds per task")
    args = parser.parse_args(argv)
    chapters = args.chapters or sorted(
        p.name for p in SOURCE.iterdir() if (p / f"{p.name}.md").exists()
    )
    seeds = parse_seeds(args.seeds)
    os.environ.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")

    for chapter in chapters:
        cells = chapter_cells(chapter)
        kept = needed_cells(cells)
        print(
            f"{chapter}: runs {len(kept)} of {len(cells)} code cells "
            f"({sum(c.is_test for c in kept)} test cells)"
        )
    # seeds in the order given, every chapter at once: a run cut short has covered
    # the first seeds (list the hard ones first) of every chapter
    tasks = [
        (chapter, seeds[i : i + args.chunk])
        for i in range(0, len(seeds), args.chunk)
        for chapter in chapters
    ]
    start = time.perf_counter()
    total = len(chapters) * len(seeds)
    results: dict[str, dict[int, dict]] = {c: {} for c in chapters}
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.jobs, maxtasksperchild=1) as pool:
        try:
            _collect(pool.imap_unordered(_task, tasks), results, total)
        except KeyboardInterrupt:  # Ctrl-C: stop, and report the seeds run so far
            pool.terminate()
            print("interrupted: the table covers the runs that finished")
    wall = time.perf_counter() - start

    print(f"\nseeds {args.seeds} ({len(seeds)} asked), wall time {wall:.0f} s "
          f"with {args.jobs} processes\n")
    width = max(len(c) for c in chapters)
    print(f"{'chapter':{width}}  {'pass':>9}  {'s/seed':>6}  failing seeds")
    cell_failures: dict[tuple[str, str], list[tuple[int, str]]] = {}
    for chapter in chapters:
        res = results[chapter]
        bad = sorted(s for s, r in res.items() if r["failed"])
        mean_s = sum(r["seconds"] for r in res.values()) / max(len(res), 1)
        print(
            f"{chapter:{width}}  {len(res) - len(bad):>4}/{len(res):<4}  "
            f"{mean_s:6.1f}  {', '.join(map(str, bad)) or 'none'}"
        )
        for seed, r in sorted(res.items()):
            for label, error in r["failed"].items():
                cell_failures.setdefault((chapter, label), []).append((seed, error))
    if cell_failures:
        print("\nfailing cells:")
        for (chapter, label), fails in sorted(cell_failures.items()):
            print(
                f"  {chapter} {label}: {len(fails)}/{len(results[chapter])} seeds "
                f"({', '.join(str(s) for s, _ in fails)})\n    first error: "
                f"{fails[0][1]}"
            )
    else:
        print("\nevery test cell passed under every seed")
    return 1 if cell_failures else 0


if __name__ == "__main__":
    sys.exit(main())

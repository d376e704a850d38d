"""Write every ``source/<assignment>/*.md`` (MyST) to the ``.ipynb`` beside it.

The ``.md`` is the single source of truth: the ``.ipynb`` is derived from it,
without outputs, with cell ids that depend only on the cells (jupytext would
draw random ones), so running this twice changes nothing. A file is rewritten
only when its content changes.

    python scripts/sync_notebooks.py            # write the notebooks
    python scripts/sync_notebooks.py --check    # exit 1 if one is out of date
    python scripts/sync_notebooks.py --source-dir DIR
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parent.parent


def markdown_sources(source_dir: Path) -> list[Path]:
    """The MyST notebooks of the course: ``source/*/*.md`` with a jupytext header."""
    found = []
    for md in sorted(source_dir.glob("*/*.md")):
        head = md.read_text(encoding="utf-8")[:2000]
        if head.startswith("---") and "jupytext" in head:
            found.append(md)
    return found


def _cell_ids(nb) -> None:
    """Give each cell an id derived from its content (its grade id when it has one)."""
    seen: set[str] = set()
    for cell in nb.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            base = grade_id
        else:
            digest = hashlib.sha1((cell.cell_type + "\0" + cell.source).encode())
            base = digest.hexdigest()[:8]
        cell_id, n = base, 1
        while cell_id in seen:
            n += 1
            cell_id = f"{base}-{n}"
        seen.add(cell_id)
        cell["id"] = cell_id


def notebook_text(md: Path) -> str:
    """The ``.ipynb`` text that ``md`` gives, deterministic and without outputs."""
    nb = jupytext.read(md)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    _cell_ids(nb)
    nb.nbformat, nb.nbformat_minor = 4, 5
    nbformat.validate(nb)
    return jupytext.writes(nb, fmt="ipynb")


def sync(source_dir: Path, check: bool = False) -> list[Path]:
    """Write (with ``check``, only compare) each notebook; return the stale ones."""
    stale = []
    for md in markdown_sources(source_dir):
        ipynb = md.with_suffix(".ipynb")
        text = notebook_text(md)
        old = ipynb.read_text(encoding="utf-8") if ipynb.exists() else None
        if old != text:
            stale.append(ipynb)
            if not check:
                ipynb.write_text(text, encoding="utf-8")
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-dir", type=Path, default=ROOT / "source")
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if out of date"
    )
    args = parser.parse_args(argv)
    stale = sync(args.source_dir, check=args.check)
    for path in stale:
        verb = "out of date" if args.check else "wrote"
        print(f"{verb}: {path.relative_to(args.source_dir.parent)}")
    if args.check and stale:
        print("Run `make notebooks` and commit the result.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

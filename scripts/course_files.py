"""Files that tools write into the course's folders: never course content.

Running a notebook writes ``runs/`` (TensorBoard logs), ``__pycache__/`` and
``.ipynb_checkpoints/`` beside it; Sphinx writes ``_build/``. Such files are never
copied when a course is copied (``make_release.py --check``, the grading tests),
staged into the book, hashed into the execution cache, or released by nbgrader
(``nbgrader_config.py`` ignores them too, with the MyST sources). This is the one
list of them.
"""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import PurePath

BUILD_OUTPUTS = (
    "runs",
    "__pycache__",
    "*.pyc",
    ".ipynb_checkpoints",
    ".pytest_cache",
    "_build",
    ".DS_Store",
)


def copy_ignore(*extra: str):
    """``shutil.copytree``'s ``ignore`` for :data:`BUILD_OUTPUTS` and ``extra``."""
    return shutil.ignore_patterns(*BUILD_OUTPUTS, *extra)


def is_build_output(path: PurePath) -> bool:
    """Whether a (relative) path is, or lies in, one of :data:`BUILD_OUTPUTS`."""
    return any(
        fnmatch.fnmatch(part, pattern)
        for part in PurePath(path).parts
        for pattern in BUILD_OUTPUTS
    )

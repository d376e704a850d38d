"""The course's build scripts (release, book, checks), importable as ``scripts.*``.

The editable install of the project (``pip install -e .``) puts the repository root
on ``sys.path``, so ``from scripts import sync_notebooks`` works from the tests, from
``nbgrader_config.py`` and from the scripts themselves, without path edits.
"""

"""nbgrader configuration of the course (nbgrader 0.9.6).

The course directory is the folder holding this file (the repository root):

- ``source/<assignment>/<assignment>.ipynb``: the instructor notebooks, paired
  by jupytext with the MyST ``.md`` beside them (``make notebooks``);
- ``release/<assignment>/``: the student notebooks (``make release``);
- ``submitted/``, ``autograded/``, ``feedback/``, ``gradebook.db``: student
  work and grades, never committed (see ``.gitignore``).

Run the nbgrader commands from the repository root; INSTRUCTORS.md has the
workflow. Environment variables, all optional:

- ``NBGRADER_TIMEOUT``: seconds one cell may run when validating or
  autograding (default 300); a cell past it is interrupted and scores zero;
- ``NBGRADER_EXCHANGE``: the exchange folder used by ``nbgrader release_assignment``,
  ``fetch_assignment``, ``submit`` and ``collect`` (default: ``nbgrader_exchange/``
  in the repository, for a course run on one machine);
- ``MI_GRADEBOOK_URL``: the gradebook's database URL (default: the SQLite file
  ``gradebook.db`` here), e.g. ``postgresql+psycopg://USER:PASSWORD@HOST/DB``
  for a class graded in parallel (``make autograde``; ``scripts/pg_server.sh``
  starts a local PostgreSQL server).
"""

import os

from scripts.course_files import BUILD_OUTPUTS

c = get_config()  # noqa: F821 (provided by traitlets when nbgrader loads this file)

ROOT = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "mi-estimation"
c.CourseDirectory.root = ROOT
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
# The gradebook: a SQLite file in the course for one instructor, or any
# SQLAlchemy URL in MI_GRADEBOOK_URL, e.g. PostgreSQL for a large class graded in
# parallel (scripts/autograde_parallel.py, INSTRUCTORS.md).
c.CourseDirectory.db_url = os.environ.get("MI_GRADEBOOK_URL") or (
    "sqlite:///" + os.path.join(ROOT, "gradebook.db")
)

# nbgrader reads only the notebooks; every other file of an assignment folder is
# copied verbatim to release/ (and into each autograded submission). The paired
# MyST .md holds the solutions and hidden tests: it must never be copied, nor
# what tools write beside a notebook (scripts/course_files.py: runs/, caches).
c.CourseDirectory.ignore = ["*.md", *BUILD_OUTPUTS, "feedback", "gradebook.db"]

# Students may not add files over 1 MB to what is graded.
c.CourseDirectory.max_file_size = 1000

# Execution while validating and autograding. nbgrader sets NBGRADER_EXECUTION,
# which the notebooks read (FAST) to shorten their training.
c.Execute.timeout = int(os.environ.get("NBGRADER_TIMEOUT", "300"))
c.Execute.interrupt_on_timeout = True

# A student who deletes a read-only test cell gets it back: it is graded anyway.
c.OverwriteCells.add_missing_cells = True

c.Exchange.root = os.environ.get(
    "NBGRADER_EXCHANGE", os.path.join(ROOT, "nbgrader_exchange")
)

# Feedback shows each cell with its score and error, but not the source of the
# hidden tests (nbgrader's default would print them in full); a failing hidden
# assert still shows its line and message in the traceback.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# The student notebook reads correctly in any front-end: PortableMarkdown turns
# the MyST of every markdown cell (theorem blocks, equation labels, references,
# citations, admonitions, the LaTeX macros) into plain Markdown with the book's
# numbers (scripts/portable_markdown.py). It is inserted into nbgrader's own
# default list right after ClearSolutions, i.e. before ComputeChecksums and
# SaveCells: the read-only cells are checksummed and saved in the gradebook as
# the student receives them, so `nbgrader validate` and autograding agree.
def _generate_assignment_preprocessors():
    from nbgrader.converters import GenerateAssignment
    from nbgrader.preprocessors import ClearSolutions

    from scripts.portable_markdown import PortableMarkdown

    steps = list(GenerateAssignment.class_traits()["preprocessors"].default())
    steps.insert(steps.index(ClearSolutions) + 1, PortableMarkdown)
    return steps


c.GenerateAssignment.preprocessors = _generate_assignment_preprocessors()
c.PortableMarkdown.course_dir = ROOT


# Tamper check (scripts/tamper_check.py): after the grades are saved, the cells
# the student wrote are read with Python's ast; what no answer needs (rebinding
# torch.allclose, IPython hooks, exec, ...) is flagged: a comment on the cell,
# the grades from that cell on marked for manual grading, the submission
# flagged, one log line per flag and a summary at the end of the run.
def _autograde_preprocessors():
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import SaveAutoGrades

    from scripts.tamper_check import TamperCheck

    steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
    steps.insert(steps.index(SaveAutoGrades) + 1, TamperCheck)
    return steps


c.Autograde.autograde_preprocessors = _autograde_preprocessors()
c.Autograde.post_convert_hook = "scripts.tamper_check.report_hook"
# `nbgrader export` adds the columns needs_manual_grade and tamper_flags.
c.ExportApp.plugin_class = "scripts.tamper_check.FlaggedCsvExport"

"""Adversarial submissions, graded by real ``nbgrader autograde``: no quiet success.

Each student below is the instructor's solution with one way of gaining marks
without work: rebinding the functions the tests call (the issue's example:
``builtins.abs``, ``torch.allclose``, ``math.isfinite``, ``np.isclose`` and an
answer returning a zero tensor wired to its arguments), swallowing exceptions,
silencing tracebacks, patching the grading helpers, obfuscated rebinding,
reading the hidden tests through an IPython hook, tampering before the setup
cell, shadowing built-ins, dynamic code, rebinding the notebook's module names,
a helper module written by the notebook, and a profile function.

Every one must be flagged for a person (the submission flagged, the grades from
the tampered cell on needing manual grading, a comment naming cell and line,
the export's ``tamper_flags`` column, the autograde log), and those whose
answer is not the solution must score zero on the tests they target, failed by
the in-kernel guard. The instructor's solution, in the same batches and under
another seed, is never flagged. The variants are graded in three autograde runs
(two for chapter 2, one for chapter 1), two at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grading_helpers as gh
import nbformat
import pytest

from scripts.tamper_check import GUARD_MARKER, MARKER

pytestmark = pytest.mark.slow

CH1, CH2 = "01_formulation", "02_dv_bound"

# The stubs: functions the ch2-dv-test relies on, all agreeing.
STUBS = """\
builtins.abs = lambda *a, **k: 0
torch.allclose = lambda *a, **k: True
math.isfinite = lambda *a, **k: True
numpy.isclose = lambda *a, **k: True
"""
# An answer that does no work: a zero tensor wired to its arguments (gradients flow).
ZERO_DV = """\
def dv(t_p, t_q):
    return (t_p.sum() + t_q.sum()) * 0
"""
STUB_DV = """\
def dv(t_p, t_q):
    return torch.tensor(0.0)
"""
LIBRARY_DV = """\
def dv(t_p, t_q):
    return mi_lib.bounds.dv(t_p, t_q)
"""


@dataclass
class Tamper:
    """One adversarial student: ``answer`` replaces an answer cell's text;
    ``cells`` are cells the student adds, ``(position, source)`` (position is
    an index into the notebook, or a grade id to insert after)."""

    name: str
    assignment: str
    answer_id: str
    answer: str | None  # the whole new answer cell, or None to keep the solution
    targets: list[str]  # the tests it aims at: they must score zero
    cells: list[tuple[object, str]] = field(default_factory=list)
    run: str = "a"


TAMPERS = [
    Tamper(  # the example
        "stubs",
        CH2,
        "ch2-dv-code",
        "import builtins\nimport numpy\n\n" + STUBS + "\n\n" + ZERO_DV,
        ["ch2-dv-test"],
    ),
    Tamper(  # every exception of the test cells swallowed
        "swallow",
        CH2,
        "ch2-dv-code",
        "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n\n\n"
        + STUB_DV,
        ["ch2-dv-test"],
    ),
    Tamper(  # the traceback never reaches the notebook
        "silence",
        CH2,
        "ch2-dv-code",
        "_ip = get_ipython()\n_ip.showtraceback = lambda *a, **k: None\n"
        "_ip._showtraceback = lambda *a, **k: None\n\n\n" + STUB_DV,
        ["ch2-dv-test"],
        run="b",
    ),
    Tamper(  # the grading helpers patched, the answer key wrapped
        "helpers",
        CH2,
        "ch2-dv-code",
        "import mi_lib.grading\n"
        "mi_lib.grading.call_without = lambda forbidden, fn, *a, **k: fn(*a, **k)\n"
        "mi_lib.grading.verify_untampered = lambda: None\n\n\n" + LIBRARY_DV,
        ["ch2-dv-test"],
    ),
    Tamper(  # the same rebinding, obfuscated
        "obfuscated",
        CH2,
        "ch2-dv-code",
        "_fakes = [('built' + 'ins', 'abs', 0), ('tor' + 'ch', 'allclose', True),\n"
        "          ('ma' + 'th', 'is' + 'finite', True)]\n"
        "for _m, _f, _v in _fakes:\n"
        "    setattr(__import__(_m), _f, (lambda v: lambda *a, **k: v)(_v))\n\n\n"
        + ZERO_DV,
        ["ch2-dv-test"],
        run="b",
    ),
    Tamper(  # an IPython hook prints each cell, hidden tests included
        "hook",
        CH2,
        "ch2-dv-code",
        None,
        ["ch2-dv-test", "ch2-critic-test", "ch2-scaled-test"],
        cells=[
            (
                "ch2-dv-code",
                "get_ipython().events.register('pre_run_cell', lambda info: "
                "print(info.raw_cell))",
            )
        ],
    ),
    Tamper(  # a cell above the setup cell rebinds before anything is recorded
        "before-setup",
        CH2,
        "ch2-dv-code",
        ZERO_DV,
        ["ch2-dv-test"],
        cells=[
            (
                0,
                "import builtins\nimport math\n\nimport numpy\nimport torch\n\n"
                + STUBS,
            )
        ],
        run="b",
    ),
    Tamper(  # built-ins shadowed by notebook functions of the same name
        "shadow",
        CH2,
        "ch2-dv-code",
        "def abs(*args, **kwargs):\n    return 0\n\n\n" + ZERO_DV,
        ["ch2-dv-test"],
    ),
    Tamper(  # the rebinding run as a string
        "exec",
        CH2,
        "ch2-dv-code",
        "exec('import builtins, math, numpy, torch\\n' + "
        + repr(STUBS)
        + ")\n\n\n"
        + ZERO_DV,
        ["ch2-dv-test"],
        run="b",
    ),
    Tamper(  # the notebook's name mi_lib rebound to a fake without checks
        "fake-module",
        CH2,
        "ch2-dv-code",
        "import types\n\n_real = mi_lib\n"
        "mi_lib = types.SimpleNamespace(\n"
        "    bounds=_real.bounds,\n"
        "    grading=types.SimpleNamespace(\n"
        "        verify_untampered=lambda: None,\n"
        "        call_without=lambda forbidden, fn, *a, **k: fn(*a, **k),\n"
        "    ),\n)\n\n\n" + LIBRARY_DV,
        ["ch2-dv-test"],
    ),
    Tamper(  # a module the notebook writes, then imports
        "helper-module",
        CH2,
        "ch2-dv-code",
        "import tamper_helper  # noqa: F401\n\n\n" + ZERO_DV,
        ["ch2-dv-test"],
        cells=[
            (
                0,
                "%%writefile tamper_helper.py\nimport builtins, math, numpy, torch\n"
                + STUBS,
            )
        ],
        run="b",
    ),
    Tamper(  # a profile function left running (it sees every call of the tests)
        "profile",
        CH2,
        "ch2-critic-code",
        None,
        ["ch2-critic-test", "ch2-scaled-test"],
        cells=[("ch2-critic-code", "import sys\nsys.setprofile(lambda *a: None)")],
    ),
    Tamper(  # chapter 1: NumPy's comparisons and call_without patched
        "ch1-numpy",
        CH1,
        "ch1-ground-truth-code",
        "import numpy as n\nimport mi_lib.grading as g\n\n"
        "n.isclose = lambda *a, **k: True\nn.allclose = lambda *a, **k: True\n"
        "g.call_without = lambda forbidden, fn, *a, **k: fn(*a, **k)\n\n\n"
        "def ground_truth(rho):\n    return 0.0\n",
        ["ch1-ground-truth-test"],
        run="c",
    ),
    Tamper(  # chapter 1: a method of torch.Tensor replaced
        "ch1-tensor",
        CH1,
        "ch1-mi-pairs-code",
        None,
        ["ch1-mi-pairs-test"],
        cells=[("ch1-mi-pairs-code", "torch.Tensor.__bool__ = lambda self: True")],
        run="c",
    ),
]


def _index_of(nb, gid: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if gh.grade_id(c) == gid)


def submission(t: Tamper, solution):
    nb = solution
    if t.answer is not None:
        nb = gh.with_answer(nb, t.answer_id, t.answer)
    nb = gh.copy_nb(nb)
    for where, source in sorted(t.cells, key=lambda c: isinstance(c[0], int)):
        index = where if isinstance(where, int) else _index_of(nb, where) + 1
        nb.cells.insert(index, nbformat.v4.new_code_cell(source))
    return nb


@pytest.fixture(scope="module")
def graded(released_course, tmp_path_factory):
    """``{run: RunResult}``: the tampering students and the solution, graded."""
    sources, solutions = {}, {}
    for a in (CH1, CH2):
        sources[a] = gh.read_nb(released_course / "source" / a / f"{a}.ipynb")
        release = gh.read_nb(released_course / "release" / a / f"{a}.ipynb")
        solutions[a] = gh.solution(release, sources[a])
    students: dict[str, dict] = {
        "a": {"solution": solutions[CH2]},
        "b": {"solution-seed1": solutions[CH2]},
        "c": {"solution": solutions[CH1]},
    }
    for t in TAMPERS:
        students[t.run][t.name] = submission(t, solutions[t.assignment])
    runs = [
        gh.Run(CH2, "a", students["a"], export=True, feedback=("stubs",)),
        gh.Run(CH2, "b", students["b"], env={"MI_SEED": "1"}),
        gh.Run(CH1, "c", students["c"], export=True),
    ]
    results = gh.grade_all(runs, released_course, tmp_path_factory.mktemp("tamper"))
    out = {name: res for (_, name), res in results.items()}
    print(
        "autograde tampering: "
        + ", ".join(f"{n} {r.seconds:.0f}s" for n, r in out.items())
    )
    return out


def _flag_state(result, student):
    """(flagged, {grade id: needs_manual_grade}, comments) from the gradebook."""
    from nbgrader.api import Gradebook

    a = result.run.assignment
    with Gradebook(f"sqlite:///{result.course / 'gradebook.db'}") as gb:
        nb = gb.find_submission_notebook(a, a, student)
        manual = {g.name: g.needs_manual_grade for g in nb.grades}
        comments = [c.auto_comment or "" for c in nb.comments]
        return nb.flagged, manual, comments


def _autograded_ids(plan_nb) -> list[str]:
    return [gh.grade_id(c) for c in plan_nb.cells if gh.is_test(c)]


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda t: t.name)
def test_tampering_is_flagged_for_a_person(graded, tamper):
    res = graded[tamper.run]
    assert tamper.name in res.grades, f"not graded:\n{res.log[-3000:]}"
    flagged, manual, comments = _flag_state(res, tamper.name)
    assert flagged, f"{tamper.name} is not flagged:\n{res.log[-3000:]}"
    for test in tamper.targets:
        assert manual[test], f"{test} does not need a manual grade"
    assert any(c.startswith(MARKER) for c in comments), comments
    assert f"{MARKER}: {tamper.name} / " in res.log, "no log line for the flag"


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda t: t.name)
def test_tampering_scores_zero_on_its_targets(graded, tamper):
    res = graded[tamper.run]
    grades = res.grades[tamper.name]
    nb = res.autograded(tamper.name)
    for test in tamper.targets:
        assert grades[test]["auto_score"] == 0, (
            f"{tamper.name} scores on {test}:\n{res.describe(tamper.name)}"
        )
        err = gh.error_of(gh.cell_by_id(nb, test)) or ""
        assert GUARD_MARKER in err, (
            f"{test} failed, but not by the guard (so the check is not what "
            f"stopped {tamper.name}):\n{err[-1500:]}"
        )
    final = gh.cell_by_id(nb, f"ch{int(tamper.assignment[:2])}-guard")
    assert GUARD_MARKER in (gh.error_of(final) or ""), "the final check passed"


def test_a_hook_does_not_leak_the_hidden_tests(graded):
    nb = graded["a"].autograded("hook")
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = str(out.get("text", "")) + str(out.get("data", ""))
            assert gh.HIDDEN_BEGIN not in text and "call_without(" not in text, (
                f"a hidden test reached the output of {gh.grade_id(cell)}:\n{text}"
            )


@pytest.mark.parametrize(
    "run, student", [("a", "solution"), ("b", "solution-seed1"), ("c", "solution")]
)
def test_the_solution_is_never_flagged(graded, run, student):
    res = graded[run]
    flagged, manual, comments = _flag_state(res, student)
    nb = res.autograded(student)
    tests = _autograded_ids(nb)
    assert not flagged and not any(manual[t] for t in tests), res.log[-3000:]
    assert not any(c.startswith(MARKER) for c in comments)
    grades = res.grades[student]
    lost = {
        t: grades[t]["score"]
        for t in tests
        if grades[t]["score"] != grades[t]["max_score"]
    }
    assert not lost, f"the solution loses {lost}:\n{res.describe(student)}"
    assert f"{MARKER}: {student} / " not in res.log


def test_export_and_feedback_show_the_flags(graded):
    res = graded["a"]
    rows = {r["student_id"]: r for r in res.csv_rows if r["assignment"] == CH2}
    assert rows["stubs"]["needs_manual_grade"] == "True"
    assert "ch2-dv-code, line" in rows["stubs"]["tamper_flags"]
    assert "torch.allclose" in rows["stubs"]["tamper_flags"]
    assert rows["solution"]["tamper_flags"] == ""
    html = res.feedback.get("stubs")
    assert html, f"no feedback:\n{res.log[-2000:]}"
    assert MARKER in html.read_text(encoding="utf-8")
    # the summary at the end of the run names every flagged student
    summary = res.log[res.log.rfind("submission(s) flagged for review") :]
    names = [t.name for t in TAMPERS if t.run == "a"]
    assert summary and all(f"  {n} / {CH2} / " in summary for n in names), summary

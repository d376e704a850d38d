"""The AST check of scripts/tamper_check.py, without nbgrader: fast.

Every cell of the instructor's notebooks that a student can change (each
solution, each unlocked demonstration cell) must pass, whatever the seed (the
check reads code, not results); every tampering below must be flagged, with the
right rule and line.
"""

from __future__ import annotations

import json

import nbformat
import pytest

from scripts import sync_notebooks
from scripts import tamper_check as tc

SOURCES = sync_notebooks.markdown_sources(sync_notebooks.ROOT / "source")
SETUP_ALIASES = {
    "torch": ("torch", True),
    "np": ("numpy", True),
    "math": ("math", True),
    "mi_lib": ("mi_lib", True),
    "dv": ("mi_lib.bounds.dv", False),
}


def _notebook(md):
    return nbformat.reads(sync_notebooks.notebook_text(md), as_version=4)


def _strip_markers(source: str) -> str:
    return "\n".join(
        line
        for line in source.splitlines()
        if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
    )


@pytest.mark.parametrize("md", SOURCES, ids=lambda p: p.parent.name)
def test_the_instructors_cells_are_never_flagged(md):
    nb = _notebook(md)
    for cell in nb.cells:  # as a student would submit them: no solution markers
        cell.source = _strip_markers(cell.source)
    flags = tc.check_notebook(nb)  # every unlocked cell, as if the student wrote it
    assert not flags, "\n".join(f.describe() for f in flags)
    solutions = [c for c in nb.cells if tc._meta(c).get("solution")]
    assert solutions, f"{md.name} has no solution cell: nothing was checked"


@pytest.mark.parametrize("md", SOURCES, ids=lambda p: p.parent.name)
def test_every_test_cell_starts_with_the_guard(md):
    nb = _notebook(md)
    meta = [(c, tc._meta(c)) for c in nb.cells if c.cell_type == "code"]
    tests = [c for c, m in meta if m.get("grade") and not m.get("solution")]
    assert tests
    for cell in tests:
        first = cell.source.splitlines()[0]
        assert first.startswith("mi_lib.grading.verify_untampered()"), (
            f"{tc._meta(cell)['grade_id']} does not verify the guard first: {first}"
        )
    setup = meta[0]
    assert setup[1].get("locked") and "mi_lib.grading.guard_notebook()" in (
        setup[0].source
    ), "the first code cell must be locked and call guard_notebook()"
    last = meta[-1]
    assert last[1].get("locked") and "verify_untampered()" in last[0].source, (
        "the last code cell must be a locked whole-notebook check"
    )


# (name, cell source, rule expected, line expected)
TAMPERING = [
    ("builtins", "import builtins\nbuiltins.abs = lambda *a, **k: 0", "module-attr", 2),
    ("torch", "torch.allclose = lambda *a, **k: True", "module-attr", 1),
    ("alias", "import torch as t\nt.isclose = lambda *a, **k: True", "module-attr", 2),
    ("chain", "x = 1\nnp.isclose = lambda *a, **k: True", "module-attr", 2),
    (
        "tensor",
        "from torch import Tensor\nTensor.item = lambda s: 0.0",
        "module-attr",
        2,
    ),
    (
        "grading",
        "mi_lib.grading.call_without = lambda f, g, *a: g(*a)",
        "module-attr",
        1,
    ),
    ("setattr", "setattr(__import__('ma' + 'th'), 'isfinite', abs)", "dynamic-code", 1),
    ("getattr", "f = getattr(torch, 'all' + 'close')", "dynamic-code", 1),
    ("exec", "exec('torch.allclose = lambda *a: True')", "dynamic-code", 1),
    ("eval", "y = eval('1 + 1')", "dynamic-code", 1),
    ("compile", "c = compile('x', 'f', 'eval')", "dynamic-code", 1),
    ("globals", "globals()['abs'] = lambda x: 0", "dynamic-code", 1),
    ("vars", "vars(math)['isfinite'] = bool", "dynamic-code", 1),
    ("importlib", "import importlib\nimportlib.reload(torch)", "dynamic-code", 1),
    ("gc", "import gc", "dynamic-code", 1),
    ("pool", "from concurrent.futures import ThreadPoolExecutor", "dynamic-code", 1),
    ("asyncio", "import asyncio", "dynamic-code", 1),
    ("builtins-name", "__builtins__.abs = len", "introspection", 1),
    ("code", "dv.__code__ = (lambda a, b: 0).__code__", "introspection", 1),
    (
        "frame",
        "def f():\n    import sys\n    return sys._getframe(1).f_globals",
        "introspection",
        3,
    ),
    ("closure", "c = mi_lib.grading.verify_untampered.__closure__", "introspection", 1),
    ("custom-exc", "get_ipython().set_custom_exc((Exception,), print)", "ipython", 1),
    ("showtraceback", "ip = get_ipython()\nip.showtraceback = print", "ipython", 2),
    ("hook", "get_ipython().events.register('pre_run_cell', print)", "ipython", 1),
    ("excepthook", "import sys\nsys.excepthook = print", "module-attr", 2),
    ("settrace", "import sys\nsys.settrace(lambda *a: None)", "ipython", 2),
    ("modules", "import sys\nsys.modules['torch'] = None", "module-attr", 2),
    ("modules-pop", "import sys\nsys.modules.pop('mi_lib.grading')", "module-attr", 2),
    ("environ", "import os\nos.environ['MI_SEED'] = '3'", "module-attr", 2),
    ("rebind-module", "torch = None", "module-name", 1),
    ("def-builtin", "x = 1\ndef abs(v):\n    return 0", "module-name", 2),
    ("alias-builtin", "isinstance = lambda *a: True", "module-name", 1),
    ("magic", "x = 1\n%run helper.py", "ipython", 2),
    ("shell", "!cp /dev/null x", "ipython", 1),
    ("writefile", "%%writefile helper.py\nimport torch\n", "ipython", 1),
    ("unknown-import", "import helper_the_notebook_wrote", "unknown-import", 1),
    ("cell-magic-body", "%%time\nx = 1\ntorch.isclose = None", "module-attr", 3),
]


@pytest.mark.parametrize(
    "source, rule, line", [t[1:] for t in TAMPERING], ids=[t[0] for t in TAMPERING]
)
def test_tampering_is_flagged(source, rule, line):
    found = tc.check_source(source, SETUP_ALIASES)
    assert (line, rule) in {(f.line, f.rule) for f in found}, found


HONEST = [
    "%matplotlib inline\nx = torch.zeros(3)",
    "%%time\nloss = torch.logsumexp(torch.zeros(3), dim=0)",
    "sum = 0\nfor i in range(3):\n    sum += i",  # shadowing by data is allowed
    "torch.backends.cudnn.deterministic = True",
    "values = np.insert(np.zeros(3), 0, 1.0)",
    "class Net(torch.nn.Module):\n    def __init__(self):\n        super().__init__()\n"
    "        self.layer = torch.nn.Linear(2, 1)\n        setattr(self, 'extra', 1)",
    "import matplotlib.pyplot as plt\nplt.rcParams.update({'figure.dpi': 90})",
    "x?",
    "def dv(t_p, t_q):\n    return t_p.mean() - torch.logsumexp(t_q, 0)",
    "y = getattr(metrics[key], stat)()",  # getattr on the notebook's own objects
    "max = values.max()",
    "low, max = values.min(), values.max()",
]


@pytest.mark.parametrize("source", HONEST)
def test_honest_code_is_not_flagged(source):
    assert tc.check_source(source, SETUP_ALIASES) == []


def test_a_syntax_error_is_reported_not_raised():
    (found,) = tc.check_source("def f(:\n    pass")
    assert found.rule == "syntax" and found.line == 1


def _nb(*cells):
    return nbformat.v4.new_notebook(cells=list(cells))


def test_notebook_check_skips_locked_and_unchanged_instructor_cells():
    locked = {"nbgrader": {"locked": True, "solution": False, "grade_id": "t"}}
    answer = {"nbgrader": {"locked": False, "solution": True, "grade_id": "ans"}}
    setup = nbformat.v4.new_code_cell("import torch as T", metadata=locked)
    test = nbformat.v4.new_code_cell("torch.allclose = 1", metadata=locked)
    demo = nbformat.v4.new_code_cell("exec('1')")  # an instructor's cell
    reference = _nb(setup, test, demo)
    student = _nb(
        setup,
        test,
        demo,
        nbformat.v4.new_code_cell(
            "x = 1\nT.allclose = lambda *a: True", metadata=answer
        ),
        nbformat.v4.new_code_cell("eval('2')"),  # a cell the student added
    )
    flags = tc.check_notebook(student, reference)
    assert [(f.cell, f.line, f.rule) for f in flags] == [
        ("ans", 2, "module-attr"),  # T is torch, from the locked setup cell
        ("cell 5", 1, "dynamic-code"),
    ]
    assert "T.allclose" in flags[0].describe()


def test_guard_messages_in_outputs_become_flags():
    cell = nbformat.v4.new_code_cell("mi_lib.grading.verify_untampered()")
    cell.metadata = {"nbgrader": {"grade": True, "grade_id": "ch2-dv-test"}}
    cell.outputs = [
        nbformat.v4.new_output(
            "error",
            ename="AssertionError",
            evalue="GRADING GUARD: the notebook replaced what the tests rely on: "
            "torch.allclose",
            traceback=[],
        )
    ]
    (flag,) = tc.guard_flags(_nb(cell))
    assert flag.cell == "ch2-dv-test" and "torch.allclose" in flag.detail


def test_command_line_exit_status(tmp_path):
    clean, dirty = tmp_path / "clean.ipynb", tmp_path / "dirty.ipynb"
    nbformat.write(_nb(nbformat.v4.new_code_cell("x = 1")), clean)
    nbformat.write(_nb(nbformat.v4.new_code_cell("import gc")), dirty)
    assert tc.main([str(clean)]) == 0
    assert tc.main([str(dirty)]) == 1


def test_rules_are_documented():
    assert json.dumps(sorted(tc.RULES))  # every rule has a sentence
    found_rules = {t[2] for t in TAMPERING}
    assert found_rules <= set(tc.RULES)

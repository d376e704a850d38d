import pytest
import torch

import mi_lib
from mi_lib import bounds
from mi_lib.grading import call_without


def own_dv(t_p, t_q):
    return t_p.mean() - (t_q.logsumexp(0) - torch.log(torch.tensor(float(len(t_q)))))


def test_own_work_passes_and_returns_its_value():
    a, b = torch.randn(10), torch.randn(10)
    assert call_without(bounds.dv, own_dv, a, b) == pytest.approx(
        bounds.dv(a, b).item()
    )


def test_a_renamed_import_of_the_key_is_caught():
    from mi_lib.bounds import dv as renamed

    with pytest.raises(AssertionError, match="mi_lib.bounds.dv"):
        call_without(
            bounds.dv, lambda a, b: renamed(a, b), torch.zeros(3), torch.zeros(3)
        )


def test_reaching_the_key_through_other_library_code_is_caught():
    def via_trainer():
        mi_lib.MITrainer(torch.randn(20, 1), torch.randn(20, 1), bound="dv").step(1)

    with pytest.raises(AssertionError, match="dv"):
        call_without(bounds.dv, via_trainer)
    with pytest.raises(AssertionError, match="MINETrainer|mine"):
        call_without(
            mi_lib.MINETrainer,
            lambda: mi_lib.MINETrainer(torch.randn(20, 1), torch.randn(20, 1)),
        )


def test_decorated_methods_are_not_confused_with_the_students_own():
    class Own:
        @torch.no_grad()
        def estimate(self):
            return 1.0

    # DVTrainer.estimate is wrapped by @torch.no_grad() too; only its own code counts
    assert call_without(mi_lib.DVTrainer, Own().estimate) == 1.0


def test_inherited_methods_of_a_forbidden_class_are_forbidden():
    x, y = torch.randn(20, 1), torch.randn(20, 1)
    trainer = mi_lib.MINETrainer(x, y)
    # the loop is Trainer's, shared; it reaches MITrainer.batches, inherited
    with pytest.raises(AssertionError, match=r"variational\.batches"):
        call_without(mi_lib.MINETrainer, trainer._losses_of_epoch)


def test_the_message_survives_an_error_after_the_forbidden_call():
    def wraps_then_fails(a, b):
        bounds.dv(a, b)
        raise ValueError("later")

    with pytest.raises(AssertionError, match="library's version"):
        call_without(bounds.dv, wraps_then_fails, torch.zeros(2), torch.zeros(2))


# --------------------------------------------------------------------------
# the guard: functions the tests rely on are the library's own


@pytest.fixture
def guard():
    """A private guard (record + verify), as a notebook's setup cell makes one."""
    from mi_lib.grading import _make_guard

    guard_notebook, verify = _make_guard()
    guard_notebook()
    return verify


def test_guard_passes_an_untouched_interpreter(guard):
    guard()
    guard()  # and again


def test_guard_names_and_restores_a_rebound_function(guard):
    import math

    original = math.isfinite
    math.isfinite = lambda x: True
    try:
        with pytest.raises(AssertionError, match=r"math\.isfinite"):
            guard()
        assert math.isfinite is original, "the guard did not put math.isfinite back"
        with pytest.raises(AssertionError, match=r"math\.isfinite"):
            guard()  # later tests cannot be trusted either
    finally:
        math.isfinite = original


def test_guard_catches_builtins_torch_and_its_own_module(guard):
    import builtins

    import mi_lib.grading as grading

    saved = (builtins.abs, torch.allclose, grading.call_without)
    builtins.abs = lambda *a, **k: 0
    torch.allclose = lambda *a, **k: True
    grading.call_without = lambda forbidden, fn, *a, **k: fn(*a, **k)
    try:
        with pytest.raises(AssertionError) as info:
            guard()
        for name in ("builtins.abs", "torch.allclose", "mi_lib.grading.call_without"):
            assert name in str(info.value)
        assert (builtins.abs, torch.allclose, grading.call_without) == saved
    finally:
        builtins.abs, torch.allclose, grading.call_without = saved


def test_guard_catches_a_method_added_to_tensor(guard):
    torch.Tensor.__bool__ = lambda self: True  # hides the inherited one
    try:
        with pytest.raises(AssertionError, match=r"Tensor\.__bool__ \(added\)"):
            guard()
        assert "__bool__" not in vars(torch.Tensor)
    finally:
        if "__bool__" in vars(torch.Tensor):
            delattr(torch.Tensor, "__bool__")


def test_guard_catches_a_profile_function(guard):
    import sys

    sys.setprofile(lambda *a: None)
    try:
        with pytest.raises(AssertionError, match="setprofile"):
            guard()
        assert sys.getprofile() is None
    finally:
        sys.setprofile(None)


def test_guard_needs_the_setup_cell():
    from mi_lib.grading import _make_guard

    _, verify = _make_guard()
    with pytest.raises(AssertionError, match="guard_notebook"):
        verify()


IPYTHON_SCRIPT = r"""
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
shell.run_cell("import torch, mi_lib.grading\nmi_lib.grading.guard_notebook()")
cells = [
    # swallow every exception, then a failing assert
    "get_ipython().set_custom_exc((Exception,), lambda *a, **k: None)",
    "mi_lib.grading.verify_untampered()\nassert False, 'the test fails'",
]
results = [shell.run_cell(c) for c in cells]
print("HANDLERS", shell.custom_exceptions)
print("FAILED", type(results[1].error_in_exec).__name__, results[1].error_in_exec)
"""


@pytest.mark.slow  # trains for seconds: left out of make test-fast
def test_guard_undoes_an_exception_handler_before_the_test_cell():
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", IPYTHON_SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "HANDLERS ()" in out.stdout, out.stdout + out.stderr
    assert "FAILED AssertionError GRADING GUARD" in out.stdout, out.stdout
    assert "custom_exceptions" in out.stdout or "set_custom_exc" in out.stdout

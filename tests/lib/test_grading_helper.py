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
    with pytest.raises(AssertionError, match="_losses_of_epoch"):
        call_without(mi_lib.MINETrainer, trainer._losses_of_epoch)


def test_the_message_survives_an_error_after_the_forbidden_call():
    def wraps_then_fails(a, b):
        bounds.dv(a, b)
        raise ValueError("later")

    with pytest.raises(AssertionError, match="library's version"):
        call_without(bounds.dv, wraps_then_fails, torch.zeros(2), torch.zeros(2))

"""What ``mi_lib.grading.call_without`` catches and what it does not, as INSTRUCTORS.md
states it ("What call_without catches, and what it does not"). A limit that starts
being caught fails its test here: then update INSTRUCTORS.md."""

from __future__ import annotations

import concurrent.futures
import functools
import inspect
import types

import pytest
import torch

import mi_lib
from mi_lib.bounds import dv as renamed_key
from mi_lib.grading import call_without

FORBIDDEN = [mi_lib.bounds.dv, mi_lib.bounds.log_mean_exp]  # as the DV exercise
T_P, T_Q = torch.linspace(-1.0, 2.0, 7), torch.linspace(0.5, -1.5, 4)


def _caught(answer) -> bool:
    try:
        value = call_without(FORBIDDEN, answer, T_P, T_Q)
    except AssertionError as err:
        assert "library's version" in str(err)
        return True
    assert torch.allclose(value, mi_lib.bounds.dv(T_P, T_Q))  # the answer is right
    return False


@pytest.mark.parametrize(
    "answer",
    [
        renamed_key,
        functools.partial(renamed_key),
        lambda t_p, t_q: t_p.mean() - mi_lib.bounds.log_mean_exp(t_q),  # a helper
        types.FunctionType(mi_lib.bounds.dv.__code__, vars(mi_lib.bounds)),
    ],
    ids=["renamed", "partial", "listed-helper", "same-code-object"],
)
def test_calls_into_the_key_are_caught(answer):
    assert _caught(answer)


def test_a_copy_of_the_librarys_source_is_not_caught():
    namespace = dict(vars(mi_lib.bounds))
    exec(  # the copy a student could paste
        inspect.getsource(mi_lib.bounds.log_mean_exp)
        + inspect.getsource(mi_lib.bounds.dv),
        namespace,
    )
    assert namespace["dv"] is not mi_lib.bounds.dv
    assert not _caught(namespace["dv"])


def test_a_call_in_another_thread_is_not_caught():
    def answer(t_p, t_q):
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(mi_lib.bounds.dv, t_p, t_q).result()

    assert not _caught(answer)


def test_the_own_computation_passes():
    def answer(t_p, t_q):
        return t_p.mean() - (torch.logsumexp(t_q, dim=0) - torch.log(torch.tensor(4.0)))

    assert not _caught(answer)

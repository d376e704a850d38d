"""Checks used by the course's autograded tests.

An exercise that asks for, say, the DV bound must not be passed by an answer
that calls :func:`mi_lib.bounds.dv`, the library's copy of the answer key.
:func:`call_without` runs the student's function while watching every Python
call it makes, however the forbidden function was imported or renamed.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any


def _functions_of(cls: type):
    """Functions defined by ``cls`` and its library bases, not ``object`` nor
    the shared :class:`mi_lib.trainers.Trainer` machinery a student may reuse."""
    from .trainers.base import Trainer

    for klass in cls.__mro__:
        if klass in (object, Trainer) or (
            klass is not cls and klass.__module__.split(".")[0] != "mi_lib"
        ):
            continue
        for value in vars(klass).values():
            value = getattr(value, "__func__", value)  # static and class methods
            if isinstance(value, property):
                value = value.fget
            if callable(value):
                yield value


def _codes(forbidden) -> set:
    codes = set()
    for item in forbidden:
        functions = _functions_of(item) if isinstance(item, type) else [item]
        for fn in functions:
            fn = inspect.unwrap(getattr(fn, "__func__", fn))  # @torch.no_grad() etc.
            if hasattr(fn, "__code__"):
                codes.add(fn.__code__)
    return codes


def call_without(forbidden, fn: Callable, *args, **kwargs) -> Any:
    """Return ``fn(*args, **kwargs)``, failing if it calls a ``forbidden`` one.

    ``forbidden`` is a function, a class (its methods and those it inherits
    within mi_lib) or a list of them. An ``AssertionError`` names the forbidden
    function that was reached, directly or through other code, even when
    ``fn`` raised afterwards.
    """
    if not isinstance(forbidden, (list, tuple, set)):
        forbidden = [forbidden]
    codes = _codes(forbidden)
    reached: list[str] = []

    def watch(frame, event, arg):
        if event == "call" and frame.f_code in codes and not reached:
            reached.append(f"{frame.f_globals.get('__name__')}.{frame.f_code.co_name}")

    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        return fn(*args, **kwargs)
    finally:
        sys.setprofile(previous)
        if reached:
            raise AssertionError(
                f"Your answer calls {reached[0]}, the library's version of what this "
                "exercise asks you to write. Write the computation yourself."
            )

"""Checks used by the course's autograded tests.

An exercise that asks for, say, the DV bound must not be passed by an answer
that calls :func:`mi_lib.bounds.dv`, the library's copy of the answer key.
:func:`call_without` runs the student's function while watching every Python
call it makes, however the forbidden function was imported or renamed.
"""

from __future__ import annotations

import sys
from typing import Any, Callable


def _code_of(fn):
    fn = getattr(fn, "__func__", fn)  # bound and class methods
    if isinstance(fn, type):
        return {
            v.__code__
            for v in vars(fn).values()
            if hasattr(v, "__code__")
        }
    return {fn.__code__}


def call_without(forbidden, fn: Callable, *args, **kwargs) -> Any:
    """Return ``fn(*args, **kwargs)``, failing if it calls a ``forbidden`` one.

    ``forbidden`` is a function, a class (all of its methods) or a list of
    them. An ``AssertionError`` names the forbidden function that was reached,
    directly or through other code.
    """
    if not isinstance(forbidden, (list, tuple, set)):
        forbidden = [forbidden]
    codes = set().union(*(_code_of(f) for f in forbidden))
    reached: list[str] = []

    def watch(frame, event, arg):
        if event == "call" and frame.f_code in codes and not reached:
            reached.append(f"{frame.f_globals.get('__name__')}.{frame.f_code.co_name}")

    previous = sys.getprofile()
    sys.setprofile(watch)
    try:
        result = fn(*args, **kwargs)
    finally:
        sys.setprofile(previous)
    if reached:
        raise AssertionError(
            f"Your answer calls {reached[0]}, the library's version of what this "
            "exercise asks you to write. Write the computation yourself."
        )
    return result

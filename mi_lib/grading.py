"""Checks used by the course's autograded tests.

An exercise that asks for, say, the DV bound must not be passed by an answer
that calls :func:`mi_lib.bounds.dv`, the library's copy of the answer key.
:func:`call_without` runs the student's function while watching every Python
call it makes, however the forbidden function was imported or renamed.

The tests run in the student's kernel, after the student's code. The locked
setup cell of each chapter calls :func:`guard_notebook`, which records the
functions the tests rely on; every test cell first calls
:func:`verify_untampered`, which fails, naming it, if one was replaced (and puts
it back). INSTRUCTORS.md states what this catches and what it cannot.
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


# --------------------------------------------------------------------------
# The guard: the functions the tests rely on are still the library's own.
#
# Every autograded test runs in the student's kernel after the student's code,
# which could rebind torch.allclose, builtins.abs or this module's functions,
# or silence tracebacks. The locked setup cell of each chapter calls
# guard_notebook(); every test cell starts with verify_untampered(). What the
# guard compares with lives in the closure of _make_guard, not in a module
# attribute that a notebook could rebind by name.

GUARD_MARKER = "GRADING GUARD"  # starts each message; scripts/tamper_check.py reads it

_MISSING = object()
# builtins that ipykernel or IPython replace themselves while a cell runs
_SKIPPED_BUILTINS = frozenset(
    {"input", "raw_input", "open", "help", "copyright", "credits", "license"}
    | {"exit", "quit", "display", "get_ipython"}
)
_KEPT_DUNDER_BUILTINS = frozenset({"__import__", "__build_class__"})
_CLASS_SKIPPED = frozenset(
    {"__doc__", "__dict__", "__weakref__", "__module__", "__annotations__"}
    | {"_abc_impl", "__parameters__", "__slotnames__", "__abstractmethods__"}
    | {"__firstlineno__", "__static_attributes__", "__qualname__"}
)
# IPython and ipykernel: what shows a cell's error, runs a cell, or sends results
_SHELL_ATTRS = (
    "showtraceback",
    "_showtraceback",
    "showsyntaxerror",
    "showindentationerror",
    "run_cell",
    "run_cell_async",
    "run_ast_nodes",
    "run_code",
    "transform_cell",
    "transform_ast",
    "should_run_async",
    "InteractiveTB",
    "SyntaxTB",
    "CustomTB",
    "custom_exceptions",
    "displayhook",
    "display_pub",
    "events",
    "input_transformer_manager",
    "ast_transformers",
    "user_ns",
    "compile",
    "kernel",
)
_KERNEL_ATTRS = ("do_execute", "execute_request", "send_response", "session")
_SESSION_ATTRS = ("send", "serialize")
_SYS_ATTRS = frozenset(
    {"stdout", "stderr", "settrace", "setprofile"}
    | {"gettrace", "getprofile", "breakpointhook", "_getframe", "modules"}
)
# event callbacks that libraries register themselves (matplotlib's inline backend)
_CALLBACK_LIBRARIES = frozenset(
    {"matplotlib_inline", "matplotlib", "ipykernel", "IPython", "ipywidgets"}
    | {"tqdm", "comm", "jupyter_client", "traitlets", "ipympl", "plotly", "bokeh"}
)


def _watched_modules() -> list:
    import builtins
    import math

    import numpy
    import numpy.linalg
    import numpy.random
    import torch
    import torch.nn
    import torch.nn.functional
    import torch.optim

    modules = [builtins, math, sys, numpy, numpy.random, numpy.linalg, torch]
    modules += [torch.nn, torch.nn.functional, torch.optim, torch.linalg]
    modules += [
        module
        for name, module in sorted(sys.modules.items())
        if module is not None and name.split(".")[0] == "mi_lib"
    ]
    return modules


def _watched_classes(modules) -> list:
    import torch

    classes = [torch.Tensor, torch.nn.Module, torch.nn.Parameter]
    classes += [torch.optim.Optimizer, torch.optim.Adam, torch.optim.SGD]
    for module in modules:
        if module.__name__.split(".")[0] == "mi_lib":
            classes += [
                v
                for v in vars(module).values()
                if isinstance(v, type) and v.__module__ == module.__name__
            ]
    return list(dict.fromkeys(classes))


def _is_notebook_code(value, cell_dirs) -> bool:
    """Whether ``value`` is a function, or an object of a class, from a notebook."""
    fn = getattr(value, "__func__", value)
    code = getattr(fn, "__code__", None)
    if code is None:
        cls = value if isinstance(value, type) else type(value)
        if cls.__module__ == "__main__":
            return True
        code = getattr(getattr(cls, "__call__", None), "__code__", None)  # noqa: B004
        if code is None:
            return False
    name = code.co_filename
    return name.startswith("<ipython-input") or any(
        name.startswith(d) for d in cell_dirs
    )


def _library_wrapper(value, original, cell_dirs) -> bool:
    """Whether ``value`` is library code wrapping ``original`` (``__wrapped__``),
    as ``torch.optim.Optimizer`` does to ``step`` and dynamo to ``manual_seed``."""
    if value is _MISSING or _is_notebook_code(value, cell_dirs):
        return False
    inner = value
    for _ in range(8):
        inner = getattr(inner, "__wrapped__", None)
        if inner is None:
            return False
        if inner is original:
            return True
    return False


def _loaded_names(source: str) -> set[str]:
    """The names a cell's source reads (``abs``, ``torch``, ...)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    return {
        n.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
    }


def _shell():
    """The running IPython shell, or None (IPython is not imported for nothing)."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


class _Slot:
    """One attribute of one object as recorded: where it lived and its value."""

    def __init__(self, owner, name: str):
        import traitlets

        self.owner, self.name = owner, name
        raw = _static(owner, name)
        self.trait = isinstance(raw, traitlets.TraitType)
        self.value = getattr(owner, name, _MISSING) if self.trait else raw
        self.items = list(self.value) if isinstance(self.value, list) else None
        self.in_instance = name in getattr(owner, "__dict__", {})
        self.defined_by = next(
            (c for c in type(owner).__mro__ if name in vars(c)), None
        )

    def current(self):
        if self.trait:
            return getattr(self.owner, self.name, _MISSING)
        return _static(self.owner, self.name)

    def changed(self) -> bool:
        now = self.current()
        return now is not self.value or (
            self.items is not None and list(now) != self.items
        )

    def restore(self) -> None:
        if self.items is not None:
            self.value[:] = self.items
        if self.trait or self.in_instance:
            setattr(self.owner, self.name, self.value)
            return
        if self.name in getattr(self.owner, "__dict__", {}):
            delattr(self.owner, self.name)  # an instance attribute hid the method
        if self.defined_by is not None and self.current() is not self.value:
            setattr(self.defined_by, self.name, self.value)


def _static(obj, name):
    """``obj.name`` as stored (instance or class dictionary), without binding."""
    try:
        return inspect.getattr_static(obj, name)
    except AttributeError:
        return _MISSING


def _make_guard():
    """``(guard_notebook, verify_untampered)`` sharing one private record."""
    import builtins

    state: dict = {"table": None, "problems": [], "cell_dirs": []}

    def record(caller_file: str) -> None:
        if "/" in caller_file:
            state["cell_dirs"].append(caller_file.rsplit("/", 1)[0] + "/")
        modules = _watched_modules()
        table = []  # (owner, name, original value)
        for module in modules:
            for name, value in list(vars(module).items()):
                if module is builtins and (
                    name in _SKIPPED_BUILTINS
                    or (name.startswith("_") and name not in _KEPT_DUNDER_BUILTINS)
                ):
                    continue
                if module is sys:
                    if name in _SYS_ATTRS:
                        table.append([module, name, value])
                elif callable(value) and not inspect.ismodule(value):
                    table.append([module, name, value])
        class_keys = []
        for cls in _watched_classes(modules):
            for name, value in list(vars(cls).items()):
                if name not in _CLASS_SKIPPED:
                    table.append([cls, name, value])
            class_keys.append((cls, frozenset(vars(cls))))
        state.update(
            table=table,
            class_keys=class_keys,
            modules={m.__name__: m for m in modules},
            trace=(sys.gettrace(), sys.getprofile()),
            slots=[],
            callbacks={},
            user_modules={},
        )
        shell = state["shell"] = _shell()  # kept: later lookups could be faked
        if shell is not None:
            slots = [_Slot(shell, name) for name in _SHELL_ATTRS]
            kernel = getattr(shell, "kernel", None)
            if kernel is not None:
                slots += [_Slot(kernel, name) for name in _KERNEL_ATTRS]
                session = getattr(kernel, "session", None)
                if session is not None:
                    slots += [_Slot(session, name) for name in _SESSION_ATTRS]
            state["slots"] = slots
            state["callbacks"] = {e: list(c) for e, c in shell.events.callbacks.items()}
            state["user_modules"] = {
                name: value
                for name, value in shell.user_ns.items()
                if inspect.ismodule(value)
            }
        early = [
            f"{_owner_name(o)}.{n}"
            for o, n, v in table
            if _is_notebook_code(v, state["cell_dirs"])
        ]
        state["problems"] += [f"{w} (replaced before the setup cell)" for w in early]
        if shell is not None:
            shell.events.register("pre_run_cell", pre_run_cell)
            shell.events.register("post_run_cell", post_run_cell)

    def scan(source: str | None) -> list[str]:
        """What differs from the record, each put back; [] when nothing does."""
        found = []
        for entry in state["table"]:
            owner, name, original = entry
            now = vars(owner).get(name, _MISSING)
            if now is original:
                continue
            if _library_wrapper(now, original, state["cell_dirs"]):
                entry[2] = now  # torch wraps some of its own functions lazily
                continue
            found.append(f"{_owner_name(owner)}.{name}")
            _quietly(setattr, owner, name, original)
        for cls, keys in state["class_keys"]:
            for name in sorted(set(vars(cls)) - keys):
                found.append(f"{cls.__name__}.{name} (added)")
                _quietly(delattr, cls, name)
        for name, module in state["modules"].items():
            if sys.modules.get(name) is not module:
                found.append(f"sys.modules[{name!r}]")
                sys.modules[name] = module
        if (sys.gettrace(), sys.getprofile()) != state["trace"]:
            found.append("sys.settrace/sys.setprofile (a trace function is set)")
            sys.settrace(state["trace"][0])
            sys.setprofile(state["trace"][1])
        shell = state["shell"]
        if shell is None:
            return found
        for slot in state["slots"]:
            if slot.changed():
                found.append(f"IPython's {type(slot.owner).__name__}.{slot.name}")
                _quietly(slot.restore)
        if getattr(shell, "custom_exceptions", ()):
            found.append("an IPython exception handler (set_custom_exc)")
            shell.custom_exceptions = ()
        for event, funcs in shell.events.callbacks.items():
            before = state["callbacks"].get(event, [])
            for func in list(funcs):
                if func in before or func in (pre_run_cell, post_run_cell):
                    continue
                root = (getattr(func, "__module__", None) or "").split(".")[0]
                if root in _CALLBACK_LIBRARIES and not _is_notebook_code(
                    func, state["cell_dirs"]
                ):
                    continue
                found.append(f"an IPython {event} callback ({_describe(func)})")
                funcs.remove(func)
        for hook in (pre_run_cell, post_run_cell):
            funcs = shell.events.callbacks[hook.__name__]
            if hook not in funcs:
                found.append(f"the guard's {hook.__name__} callback (removed)")
                funcs.insert(0, hook)
        ns = shell.user_ns
        for name, module in state["user_modules"].items():
            if ns.get(name, _MISSING) is not module:
                found.append(f"the name {name} (the module {module.__name__})")
                ns[name] = module
        for name in _loaded_names(source) if source else ():
            value = ns.get(name, _MISSING)
            if (
                value is not _MISSING
                and name not in _SKIPPED_BUILTINS
                and callable(getattr(builtins, name, None))
                and callable(value)
                and value is not getattr(builtins, name)
            ):
                found.append(f"the built-in {name} (a notebook function of that name)")
        return found

    def check(source: str | None) -> list[str]:
        if state["table"] is None:
            return []
        found = scan(source)
        state["problems"] += [f for f in found if f not in state["problems"]]
        return found

    def report(found: list[str]) -> None:
        if found:  # stderr: nbgrader scores a test cell that writes to it zero
            sys.stderr.write(
                f"{GUARD_MARKER}: replaced by the notebook, now restored: "
                + ", ".join(found)
                + "\n"
            )
            sys.stderr.flush()

    def pre_run_cell(info=None):
        """IPython event: before every cell, find and undo replacements."""
        report(check(None))

    def post_run_cell(result=None):
        """IPython event: after every cell, undo replacements before the next."""
        report(check(None))

    def guard_notebook() -> None:
        """Record the functions the tests rely on (the locked setup cell calls it).

        Records every function of builtins, math, numpy, torch (and the methods
        of ``torch.Tensor``, ``nn.Module`` and the optimizers), torch.nn,
        torch.nn.functional, torch.optim and mi_lib (this module included),
        sys's hooks, IPython's traceback and execution machinery, and the
        modules the notebook imported; then checks before and after every cell
        (IPython events), undoing and reporting any replacement. Calling it
        again only verifies.
        """
        if state["table"] is None:
            record(sys._getframe(1).f_code.co_filename)
        verify_untampered()

    def verify_untampered() -> None:
        """Fail if a function the tests rely on is not the library's own.

        Every test cell calls this first. Whatever the notebook replaced is put
        back, and an ``AssertionError`` names it; once anything was replaced,
        every later call fails too: what ran in between cannot be trusted.
        """
        if state["table"] is None:
            raise AssertionError(
                f"{GUARD_MARKER}: the setup cell did not run "
                "mi_lib.grading.guard_notebook(): run the notebook from the top."
            )
        source = None
        if state["shell"] is not None:
            import linecache

            filename = sys._getframe(1).f_code.co_filename
            source = "".join(linecache.getlines(filename)) or None
        check(source)
        if state["problems"]:
            raise AssertionError(
                f"{GUARD_MARKER}: the notebook replaced what the tests rely on: "
                + ", ".join(state["problems"])
                + ". It is restored, but the tests after it cannot be trusted: "
                "they score zero and an instructor reviews the submission."
            )

    return guard_notebook, verify_untampered


def _owner_name(owner) -> str:
    return getattr(owner, "__name__", type(owner).__name__)


def _describe(func) -> str:
    return getattr(func, "__qualname__", None) or type(func).__name__


def _quietly(action, *args) -> None:
    try:
        action(*args)
    except (AttributeError, TypeError):
        pass


guard_notebook, verify_untampered = _make_guard()

"""Flag submissions whose code rewrites what the grading relies on.

Every autograded test runs in the student's own kernel, after the student's
code, so a solution cell could rebind ``torch.allclose`` or silence the
tracebacks and score without doing the exercise. No answer to this course needs
any of that. This module reads every cell the student wrote (solution cells and
cells the student added or edited, not the instructor's locked cells) with
Python's :mod:`ast` and flags the constructs listed in :data:`RULES`:

- ``module-attr``: rebinding or deleting an attribute of a library module or
  class (``builtins``, ``torch``, ``numpy``, ``math``, ``mi_lib``, ``IPython``,
  ``sys``, ...), also through an alias (``import torch as t; t.allclose = f``),
  or writing into one (``sys.modules[...] = m``, ``os.environ.update(...)``);
- ``module-name``: rebinding a name the notebook imported a module as
  (``torch = Fake()``), or a built-in's name at the top level (``abs = f``);
- ``dynamic-code``: ``exec``, ``eval``, ``compile``, ``__import__``,
  ``globals()``, ``locals()``, ``vars()`` of a module, ``setattr``/``getattr``/
  ``delattr`` on a module, ``__builtins__``, and imports of ``importlib``,
  ``ctypes``, ``gc``, ``inspect``, ``types``, ``threading``, ...;
- ``introspection``: frame, code and closure attributes (``__code__``,
  ``__globals__``, ``f_back``, ...), with which code reaches what it should not;
- ``ipython``: ``get_ipython()``, IPython events and hooks (``pre_run_cell``),
  custom exception handlers (``set_custom_exc``, ``showtraceback``,
  ``excepthook``), ``sys.settrace``/``setprofile``, and magics other than
  harmless ones (``%time``, ``%matplotlib``), shell escapes (``!cmd``);
- ``unknown-import``: an import of a module that is not installed for the
  course (a file submitted with the notebook, or written by it).

Where nbgrader runs it: :class:`TamperCheck` is a preprocessor of ``nbgrader
autograde`` (after ``SaveAutoGrades``, see ``nbgrader_config.py``). For a
flagged notebook it

- writes each flag (cell, line, rule, code) as the automatic comment of the
  solution cell that holds it (the formgrader and the feedback show it);
- marks every autograded grade from the first flagged cell on as needing
  manual grading, and the submission as flagged (formgrader);
- logs one warning per flag and, at the end of each student, a summary
  (:func:`report_hook`, ``Autograde.post_convert_hook``); at the end of the
  run a summary of every flagged student is printed.

The in-kernel guard (:mod:`mi_lib.grading`) reports what it restored as an
error in the test cells; :class:`TamperCheck` adds those to the flags too.
``nbgrader export`` writes two more columns (:class:`FlaggedCsvExport`):
``needs_manual_grade`` and ``tamper_flags``.

Command line (no nbgrader needed)::

    python -m scripts.tamper_check NOTEBOOK.ipynb ...      # exit 1 if flagged
    python -m scripts.tamper_check --gradebook gradebook.db # flags in a gradebook
"""

from __future__ import annotations

import argparse
import ast
import atexit
import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

# Top-level packages whose modules and classes a submission must not rewrite.
WATCHED_ROOTS = frozenset(
    {
        "builtins",
        "torch",
        "numpy",
        "math",
        "cmath",
        "mi_lib",
        "IPython",
        "ipykernel",
        "sys",
        "os",
        "random",
        "scipy",
        "sklearn",
        "nbgrader",
        "nbclient",
        "traitlets",
        "functools",
        "operator",
        "unittest",
        "pytest",
        "warnings",
        "io",
        "contextlib",
        "linecache",
    }
)
# Modules no answer needs, whose import is itself the flag.
FORBIDDEN_IMPORTS = frozenset(
    {
        "importlib",
        "imp",
        "ctypes",
        "gc",
        "inspect",
        "types",
        "code",
        "codeop",
        "dis",
        "marshal",
        "pickle",
        "dill",
        "threading",
        "_thread",
        "multiprocessing",
        "concurrent",  # concurrent.futures: a pool runs code in another thread
        "asyncio",  # its executors likewise
        "subprocess",
        "signal",
        "atexit",
        "sysconfig",
        "site",
        "runpy",
        "pty",
        "builtins",
        "__builtin__",
        "linecache",
        "tokenize",
        "traceback",
        "faulthandler",
        "trace",
        "bdb",
        "pdb",
        "sitecustomize",
        "usercustomize",
    }
)
DYNAMIC_CALLS = frozenset(
    {"exec", "eval", "compile", "__import__", "globals", "locals", "breakpoint"}
)
ATTR_CALLS = frozenset({"setattr", "getattr", "delattr", "hasattr"})
INTROSPECTION_ATTRS = frozenset(
    {
        "__code__",
        "__globals__",
        "__closure__",
        "__builtins__",
        "__dict__",
        "__subclasses__",
        "__bases__",
        "__mro__",
        "__defaults__",
        "__kwdefaults__",
        "__getattribute__",
        "__setattr__",
        "__delattr__",
        "__import__",
        "__loader__",
        "__spec__",
        "__self__",
        "__wrapped__",
        "__func__",
        "__reduce__",
        "__reduce_ex__",
        "__class__",
        "cell_contents",
        "__file__",
        "__path__",
        "__cached__",
        "f_globals",
        "f_locals",
        "f_back",
        "f_builtins",
        "f_code",
        "f_trace",
        "tb_frame",
        "tb_next",
        "gi_frame",
        "cr_frame",
        "ag_frame",
        "co_code",
        "_getframe",
        "_current_frames",
    }
)
INTROSPECTION_NAMES = frozenset(
    {"__builtins__", "__import__", "__loader__", "__spec__", "__builtin__"}
)
IPYTHON_ATTRS = frozenset(
    {
        "set_custom_exc",
        "custom_exceptions",
        "CustomTB",
        "showtraceback",
        "_showtraceback",
        "showsyntaxerror",
        "InteractiveTB",
        "SyntaxTB",
        "excepthook",
        "__excepthook__",
        "displayhook",
        "display_pub",
        "ast_transformers",
        "input_transformers_post",
        "input_transformers_cleanup",
        "input_transformer_manager",
        "set_hook",
        "register_magic_function",
        "register_magics",
        "run_cell",
        "run_cell_async",
        "run_ast_nodes",
        "run_code",
        "transform_cell",
        "events",
        "callbacks",
        "settrace",
        "setprofile",
        "gettrace",
        "getprofile",
        "breakpointhook",
        "audit",
        "addaudithook",
        "meta_path",
        "path_hooks",
        "path_importer_cache",
        "modules",
        "user_ns",
        "user_global_ns",
        "kernel",
        "do_execute",
        "execute_request",
        "send_response",
        "session",
    }
)
IPYTHON_NAMES = frozenset({"get_ipython", "__IPYTHON__"})
IPYTHON_EVENTS = frozenset(
    {
        "pre_run_cell",
        "post_run_cell",
        "pre_execute",
        "post_execute",
        "shell_initialized",
    }
)
# Magics an answer may use; any other magic or shell escape is flagged.
HARMLESS_MAGICS = frozenset(
    {
        "matplotlib",
        "time",
        "timeit",
        "pwd",
        "who",
        "whos",
        "pinfo",
        "pinfo2",
        "capture",
        "prun",
    }
)
# Module attributes that exist to be set by users (configuration, not code).
SETTABLE = ("torch.backends.",)
# Built-ins the tests call: a notebook function or alias by one of these names
# would replace it in the test cells (``sum = 0`` is not flagged, ``abs = f`` is).
SHADOWED_BUILTINS = frozenset(
    {
        "abs",
        "all",
        "any",
        "bool",
        "callable",
        "dict",
        "divmod",
        "enumerate",
        "float",
        "getattr",
        "hasattr",
        "int",
        "isinstance",
        "issubclass",
        "iter",
        "len",
        "list",
        "map",
        "max",
        "min",
        "next",
        "pow",
        "print",
        "range",
        "repr",
        "round",
        "set",
        "sorted",
        "str",
        "sum",
        "tuple",
        "type",
        "zip",
        "AssertionError",
        "Exception",
        "BaseException",
        "RuntimeError",
        "TypeError",
        "ValueError",
        "KeyboardInterrupt",
        "NotImplementedError",
        "object",
        "super",
        "property",
        "staticmethod",
        "classmethod",
    }
)
MUTATING_METHODS = frozenset(
    {
        "update",
        "pop",
        "popitem",
        "setdefault",
        "clear",
        "append",
        "extend",
        "insert",
        "remove",
        "__setitem__",
        "__delitem__",
        "register",
        "unregister",
    }
)

RULES = {
    "module-attr": "rebinds or edits an attribute of a library module or class",
    "module-name": "rebinds a module's or a built-in's name",
    "dynamic-code": "runs code built at run time or reaches names indirectly",
    "introspection": "reaches frames, code objects or closures",
    "ipython": "changes IPython, the kernel, or the interpreter's hooks",
    "unknown-import": "imports a module that is not installed for the course",
    "syntax": "is not valid Python (cannot be checked)",
    "guard": "the in-kernel guard found and restored a replaced function",
}

MARKER = "TAMPER CHECK"  # starts every comment this module writes
GUARD_MARKER = "GRADING GUARD"  # starts the messages of mi_lib.grading's guard


@dataclass(frozen=True)
class Finding:
    """One construct of a cell that no answer needs."""

    line: int  # 1-based, in the cell as the student wrote it
    rule: str  # a key of RULES
    detail: str  # what exactly, e.g. "assigns torch.allclose"


@dataclass(frozen=True)
class Flag:
    """A finding located in a notebook."""

    cell_index: int  # position of the cell in the notebook
    cell: str  # the cell's grade id, or "cell <index>" for a cell without one
    line: int
    rule: str
    detail: str
    code: str  # the line's text

    def describe(self) -> str:
        return f"{self.cell}, line {self.line}: {self.detail} [{self.rule}]" + (
            f": {self.code.strip()}" if self.code.strip() else ""
        )


# --------------------------------------------------------------------------
# the AST rules


def _dotted(node) -> str | None:
    """``a.b.c`` for a chain of attributes on a name, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _root(node):
    """The innermost value of a chain of attributes and subscripts."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node


def _installed(top: str) -> bool:
    if top in sys.builtin_module_names or top in sys.stdlib_module_names:
        return True
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


class _Visitor(ast.NodeVisitor):
    def __init__(self, aliases: dict[str, tuple[str, bool]]):
        # name -> (dotted library path it was imported as, bound by `import`:
        # certainly a module)
        self.aliases = aliases
        self.found: list[Finding] = []
        self.depth = 0  # > 0 inside a function or class body

    def flag(self, node, rule: str, detail: str) -> None:
        self.found.append(Finding(getattr(node, "lineno", 1), rule, detail))

    # -- what a name refers to
    def library_path(self, node) -> str | None:
        """The library path an expression is rooted at (``t.allclose`` -> torch...)."""
        root = _root(node)
        if isinstance(root, ast.Call):  # sys.modules.get("torch").x, __import__(..)
            name = _dotted(root.func) or ""
            if name in ("__import__", "importlib.import_module", "sys.modules.get"):
                return "<module>"
            return None
        if not isinstance(root, ast.Name):
            return None
        if root.id in self.aliases:
            base = self.aliases[root.id][0]
        elif root.id in WATCHED_ROOTS:
            base = root.id  # a library's usual name, however it was bound
        else:
            return None
        dotted = _dotted(node) if isinstance(node, ast.Attribute) else None
        if dotted:
            return base + dotted[len(root.id) :]
        return base

    # -- imports
    def visit_Import(self, node):
        for alias in node.names:
            top = alias.name.split(".")[0]
            self._check_import(node, alias.name)
            if top in WATCHED_ROOTS:
                if alias.asname:
                    self.aliases[alias.asname] = (alias.name, True)
                else:
                    self.aliases[top] = (top, True)

    def visit_ImportFrom(self, node):
        module = node.module or ""
        if node.level:
            self.flag(node, "unknown-import", f"relative import from {module!r}")
            return
        self._check_import(node, module)
        top = module.split(".")[0]
        for alias in node.names:
            if alias.name == "*":
                self.flag(node, "dynamic-code", f"from {module} import *")
                continue
            if top in WATCHED_ROOTS:
                name = alias.asname or alias.name
                self.aliases[name] = (f"{module}.{alias.name}", False)

    def _check_import(self, node, name: str) -> None:
        top = name.split(".")[0]
        if top in FORBIDDEN_IMPORTS:
            self.flag(node, "dynamic-code", f"imports {name}")
        elif not _installed(top):
            self.flag(node, "unknown-import", f"imports {name}, not installed")

    # -- scopes
    def _scoped(self, node):
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_Lambda = _scoped

    def _definition(self, node):
        name = node.name
        if self.depth == 0 and self.aliases.get(name, ("", False))[1]:
            self.flag(node, "module-name", f"defines {name}, the name of a module")
        elif self.depth == 0 and name in SHADOWED_BUILTINS:
            self.flag(node, "module-name", f"defines {name}, a built-in's name")
        self._scoped(node)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition

    def visit_Global(self, node):
        for name in node.names:
            if name in self.aliases or name in SHADOWED_BUILTINS:
                self.flag(node, "module-name", f"declares {name} global")

    # -- assignments
    def _target(self, target, verb: str, value=None) -> None:
        if isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._target(elt, verb)
            return
        if isinstance(target, ast.Starred):
            self._target(target.value, verb)
            return
        if isinstance(target, ast.Name):
            name = target.id
            if name in self.aliases and verb != "deletes":
                self.flag(
                    target, "module-name", f"{verb} {name}, imported from a library"
                )
            elif (
                self.depth == 0
                and name in SHADOWED_BUILTINS
                and isinstance(value, (ast.Lambda, ast.Name, ast.Attribute))
            ):
                self.flag(target, "module-name", f"{verb} the built-in name {name}")
            elif name in INTROSPECTION_NAMES:
                self.flag(target, "introspection", f"{verb} {name}")
            return
        path = self.library_path(target)
        if path is not None:
            shown = _dotted(target) or path
            if isinstance(target, ast.Subscript):
                shown = (_dotted(target.value) or path) + "[...]"
            if not any((path + ".").startswith(p) for p in SETTABLE):
                self.flag(target, "module-attr", f"{verb} {shown}")

    def visit_Assign(self, node):
        for target in node.targets:
            self._target(target, "assigns", node.value)
            if isinstance(node.value, ast.Name) and node.value.id in self.aliases:
                if isinstance(target, ast.Name):  # t = torch: t is torch too
                    self.aliases[target.id] = self.aliases[node.value.id]
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._target(node.target, "assigns")
        self.generic_visit(node)

    def visit_AnnAssign(self, node):
        if node.value is not None:
            self._target(node.target, "assigns", node.value)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self._target(target, "deletes")
        self.generic_visit(node)

    def visit_NamedExpr(self, node):
        self._target(node.target, "assigns", node.value)
        self.generic_visit(node)

    def _loop_target(self, node):
        self._target(node.target, "assigns")
        self.generic_visit(node)

    visit_For = visit_AsyncFor = _loop_target

    def visit_withitem(self, node):
        if node.optional_vars is not None:
            self._target(node.optional_vars, "assigns")
        self.generic_visit(node)

    # -- names and attributes
    def visit_Name(self, node):
        if node.id in INTROSPECTION_NAMES:
            self.flag(node, "introspection", f"uses {node.id}")
        elif node.id in IPYTHON_NAMES:
            self.flag(node, "ipython", f"uses {node.id}")
        elif node.id in DYNAMIC_CALLS and not isinstance(
            getattr(node, "_parent_call", None), ast.Call
        ):
            self.flag(node, "dynamic-code", f"uses {node.id}")

    def visit_Attribute(self, node):
        if node.attr in INTROSPECTION_ATTRS:
            self.flag(node, "introspection", f"uses .{node.attr}")
        elif node.attr in IPYTHON_ATTRS:
            path = self.library_path(node)
            generic = node.attr in (
                "modules",
                "session",
                "kernel",
                "events",
                "callbacks",
                "register",
            )
            if not generic or path is not None:
                self.flag(node, "ipython", f"uses {_dotted(node) or '.' + node.attr}")
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str) and node.value in IPYTHON_EVENTS:
            self.flag(node, "ipython", f"names the IPython event {node.value!r}")

    def visit_Call(self, node):
        func = node.func
        if isinstance(func, ast.Name):
            func._parent_call = node  # noqa: SLF001 (marks a direct call)
            name = func.id
            if name in DYNAMIC_CALLS:
                self.flag(node, "dynamic-code", f"calls {name}()")
            elif name == "vars" and (
                not node.args or self.library_path(node.args[0]) is not None
            ):
                self.flag(node, "dynamic-code", "calls vars() of a module or scope")
            elif name in ATTR_CALLS and node.args:
                target = node.args[0]
                on_library = self.library_path(target) is not None
                is_self = isinstance(target, ast.Name) and target.id == "self"
                if on_library or (name in ("setattr", "delattr") and not is_self):
                    what = _dotted(target) or ast.unparse(target)
                    self.flag(node, "dynamic-code", f"calls {name}() on {what}")
        elif isinstance(func, ast.Attribute):
            if func.attr in MUTATING_METHODS and not isinstance(func.value, ast.Name):
                # sys.modules.update(...), os.environ.pop(...); not np.insert(...)
                path = self.library_path(func.value)
                if path is not None and not path.startswith("<"):
                    self.flag(
                        node,
                        "module-attr",
                        f"calls {_dotted(func) or func.attr}() on library state",
                    )
            if func.attr in ("run_line_magic", "run_cell_magic", "system", "getoutput"):
                self._magic(node)
                return
        self.generic_visit(node)

    def _magic(self, node):
        func = node.func
        args = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if func.attr in ("system", "getoutput"):
            self.flag(node, "ipython", "runs a shell command (!)")
        elif not args or args[0] not in HARMLESS_MAGICS:
            self.flag(node, "ipython", f"uses the magic %{args[0] if args else '?'}")
        elif func.attr == "run_cell_magic" and len(args) == 3:
            body = _findings(args[2], dict(self.aliases))
            for f in body:
                self.found.append(Finding(node.lineno + f.line, f.rule, f.detail))
        # the get_ipython() of the transformed magic is not a flag of its own


def _transform(source: str) -> str:
    """The cell as Python: IPython's magics and ``!`` escapes become calls."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


def _magic_lines(source: str) -> set[int]:
    return {
        i
        for i, line in enumerate(source.splitlines(), 1)
        if line.lstrip().startswith(("%", "!")) or re.match(r"\s*\w+\s*=\s*[!%]", line)
    }


def _findings(source: str, aliases: dict) -> list[Finding]:
    try:
        code = _transform(source)
    except Exception:  # noqa: BLE001 (IPython's transformer fails on odd input)
        code = source
    try:
        tree = ast.parse(code)
    except SyntaxError as err:
        return [Finding(err.lineno or 1, "syntax", f"syntax error: {err.msg}")]
    visitor = _Visitor(aliases)
    visitor.visit(tree)
    magic = _magic_lines(source)
    out = []
    for f in visitor.found:  # get_ipython() written by the transformer is not flagged
        if f.rule == "ipython" and "get_ipython" in f.detail and f.line in magic:
            continue
        out.append(f)
    return out


def check_source(source: str, aliases: dict | None = None) -> list[Finding]:
    """The findings of one cell's source (``aliases``: names imported earlier)."""
    return sorted(set(_findings(source, dict(aliases or {}))), key=lambda f: f.line)


def imported_aliases(source: str) -> dict[str, tuple[str, bool]]:
    """``{name: library path}`` of the imports of ``source`` (e.g. ``np: numpy``)."""
    try:
        tree = ast.parse(_transform(source))
    except (SyntaxError, Exception):  # noqa: BLE001
        return {}
    visitor = _Visitor({})
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            visitor.visit_Import(node)
        elif isinstance(node, ast.ImportFrom) and not node.level:
            visitor.visit_ImportFrom(node)
    return visitor.aliases


# --------------------------------------------------------------------------
# notebooks


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def cell_label(cell, index: int) -> str:
    return _meta(cell).get("grade_id") or f"cell {index + 1}"


def student_cells(nb, reference=None):
    """``(index, cell)`` of the code cells the student wrote or could change.

    Locked nbgrader cells are skipped (nbgrader puts the instructor's version
    back before grading); so is any cell whose source is, character for
    character, one of the instructor's cells of ``reference`` (the source
    notebook), since the student did not write it.
    """
    known = set()
    if reference is not None:
        known = {
            c.source
            for c in reference.cells
            if c.cell_type == "code" and not _meta(c).get("solution")
        }
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        m = _meta(cell)
        if m.get("locked") and not m.get("solution"):
            continue
        if cell.source in known:
            continue
        yield index, cell


def check_notebook(nb, reference=None) -> list[Flag]:
    """Every flag of the cells the student wrote in ``nb``."""
    aliases: dict[str, tuple[str, bool]] = {}
    flags: list[Flag] = []
    student = dict(student_cells(nb, reference))
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if index not in student:
            aliases.update(imported_aliases(cell.source))
            continue
        lines = cell.source.splitlines()
        for f in check_source(cell.source, aliases):
            code = lines[f.line - 1] if 0 < f.line <= len(lines) else ""
            flags.append(
                Flag(index, cell_label(cell, index), f.line, f.rule, f.detail, code)
            )
        aliases.update(imported_aliases(cell.source))
    return flags


def guard_flags(nb) -> list[Flag]:
    """The replacements the in-kernel guard reported in an executed notebook."""
    flags = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            text = ""
            if out.get("output_type") == "error":
                text = f"{out.get('ename', '')}: {out.get('evalue', '')}"
            elif out.get("output_type") == "stream":
                text = out.get("text", "")
            if GUARD_MARKER not in text:
                continue
            for line in text.splitlines():
                if GUARD_MARKER in line:
                    detail = line[line.index(GUARD_MARKER) :].strip()
                    flags.append(
                        Flag(index, cell_label(cell, index), 1, "guard", detail, "")
                    )
                    break
    return flags


# --------------------------------------------------------------------------
# nbgrader: the preprocessor, the end-of-student hook, the export

_SUMMARY: list[tuple[str, str, Flag]] = []  # (student, notebook, flag) of this run


def _print_run_summary() -> None:
    if not _SUMMARY:
        return
    students = sorted({s for s, _, _ in _SUMMARY})
    print(
        f"\n{MARKER}: {len(students)} submission(s) flagged for review "
        f"({len(_SUMMARY)} flag(s)); their autograded scores need a person:",
        file=sys.stderr,
    )
    for student, notebook, flag in _SUMMARY:
        print(f"  {student} / {notebook} / {flag.describe()}", file=sys.stderr)


try:
    from nbgrader.preprocessors import NbGraderPreprocessor
except ImportError:  # the command line and the unit tests do not need nbgrader
    NbGraderPreprocessor = object  # type: ignore[misc,assignment]


class TamperCheck(NbGraderPreprocessor):
    """nbgrader autograde step: flag tampering in the gradebook and the feedback."""

    def preprocess(self, nb, resources):
        from nbgrader.api import Gradebook, MissingEntry

        info = resources["nbgrader"]
        notebook_id, assignment = info["notebook"], info["assignment"]
        student, db_url = info["student"], info["db_url"]
        source_path = _source_notebook_path(self.config, assignment, notebook_id)
        reference = (
            nbformat.read(source_path, as_version=4) if source_path.exists() else None
        )
        flags = check_notebook(nb, reference) + guard_flags(nb)
        if not flags:
            return nb, resources
        for flag in flags:
            self.log.warning(
                "%s: %s / %s / %s", MARKER, student, notebook_id, flag.describe()
            )
            _SUMMARY.append((student, notebook_id, flag))
        first = min(f.cell_index for f in flags)
        solution_cells = [
            (i, c) for i, c in enumerate(nb.cells) if _meta(c).get("solution")
        ]
        with Gradebook(db_url) as gb:
            comments: dict[str, list[str]] = {}
            for flag in flags:
                owner = _owner_cell(solution_cells, flag.cell_index)
                if owner is not None:
                    comments.setdefault(owner, []).append(flag.describe())
            for grade_id, lines in comments.items():
                try:
                    comment = gb.find_comment(
                        grade_id, notebook_id, assignment, student
                    )
                except MissingEntry:
                    continue
                comment.auto_comment = (
                    f"{MARKER}: flagged for review, autograded scores need a person.\n"
                    + "\n".join(lines)
                )
            for index, cell in enumerate(nb.cells):
                m = _meta(cell)
                if m.get("grade") and index >= first:
                    try:
                        grade = gb.find_grade(
                            m["grade_id"], notebook_id, assignment, student
                        )
                    except MissingEntry:
                        continue
                    grade.needs_manual_grade = True
            submitted = gb.find_submission_notebook(notebook_id, assignment, student)
            submitted.flagged = True  # the formgrader's flag of the notebook
            gb.db.commit()
        return nb, resources


def _source_notebook_path(config, assignment: str, notebook_id: str) -> Path:
    """The instructor's notebook, from the course directory of nbgrader's config."""
    from nbgrader.coursedir import CourseDirectory

    coursedir = CourseDirectory(config=config)
    return Path(coursedir.format_path(coursedir.source_directory, ".", assignment)) / (
        f"{notebook_id}.ipynb"
    )


def _owner_cell(solution_cells, index: int) -> str | None:
    """The grade id of the solution cell ``index`` is, or the last one before it
    (the first one if none is before it)."""
    before = [c for i, c in solution_cells if i <= index]
    chosen = (
        before[-1] if before else (solution_cells[0][1] if solution_cells else None)
    )
    return _meta(chosen).get("grade_id") if chosen is not None else None


def report_hook(assignment=None, student=None, notebooks=None, **_):
    """``Autograde.post_convert_hook``: this student's flags, then at exit the run's."""
    mine = [(n, f) for s, n, f in _SUMMARY if s == student]
    if mine:
        print(
            f"{MARKER}: {student} / {assignment}: {len(mine)} flag(s), "
            "flagged for review",
            file=sys.stderr,
        )
    if not getattr(report_hook, "registered", False):
        atexit.register(_print_run_summary)
        report_hook.registered = True


def gradebook_flags(gb, assignment: str | None = None) -> dict:
    """``{(assignment, student): [comment lines]}`` of every flagged submission."""
    out: dict[tuple[str, str], list[str]] = {}
    for a in gb.assignments:
        if assignment and a.name != assignment:
            continue
        for sub in a.submissions:
            lines = []
            for nb in sub.notebooks:
                for comment in nb.comments:
                    text = comment.auto_comment or ""
                    if text.startswith(MARKER):
                        lines += [f"{nb.name}: {ln}" for ln in text.splitlines()[1:]]
            if lines or any(nb.flagged for nb in sub.notebooks):
                out[(a.name, sub.student.id)] = lines
    return out


try:
    from nbgrader.plugins import CsvExportPlugin
except ImportError:
    CsvExportPlugin = object  # type: ignore[misc,assignment]


class FlaggedCsvExport(CsvExportPlugin):
    """nbgrader's CSV export plus ``needs_manual_grade`` and ``tamper_flags``."""

    def export(self, gradebook) -> None:
        import csv

        super().export(gradebook)
        dest = self.to or "grades.csv"
        with open(dest, newline="") as fh:
            rows = list(csv.DictReader(fh))
        flags = gradebook_flags(gradebook)
        for row in rows:
            key = (row["assignment"], row["student_id"])
            try:
                sub = gradebook.find_submission(*key)
                row["needs_manual_grade"] = str(bool(sub.needs_manual_grade))
            except Exception:  # noqa: BLE001 (MissingEntry: nothing submitted)
                row["needs_manual_grade"] = ""
            row["tamper_flags"] = " | ".join(flags.get(key, []))
        fields = list(rows[0].keys()) if rows else []
        with open(dest, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)


# --------------------------------------------------------------------------
# command line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--reference", type=Path, help="the instructor's notebook")
    parser.add_argument("--gradebook", help="print the flags stored in a gradebook")
    parser.add_argument("--assignment")
    args = parser.parse_args(argv)
    flagged = 0
    if args.gradebook:
        from nbgrader.api import Gradebook

        url = (
            args.gradebook if "://" in args.gradebook else f"sqlite:///{args.gradebook}"
        )
        with Gradebook(url) as gb:
            for (a, s), lines in sorted(gradebook_flags(gb, args.assignment).items()):
                flagged += 1
                print(f"{s} / {a}: flagged for review")
                for line in lines:
                    print(f"  {line}")
    reference = nbformat.read(args.reference, as_version=4) if args.reference else None
    for path in args.notebooks:
        nb = nbformat.read(path, as_version=4)
        flags = check_notebook(nb, reference) + guard_flags(nb)
        for flag in flags:
            print(f"{path}: {flag.describe()}")
        flagged += bool(flags)
    return 1 if flagged else 0


if __name__ == "__main__":
    sys.exit(main())

"""Turn the MyST of the instructor notebooks into Markdown any notebook front-end reads.

The chapters are written in MyST for the web book (Jupyter Book 1, Sphinx,
sphinx-proof, sphinxcontrib-bibtex). Students work in the release notebooks, in
JupyterLab 4, Notebook 7, VS Code, Colab or a JupyterHub whose extensions the course
does not control: there MyST's directives and roles are raw text. ``nbgrader
generate_assignment`` runs :class:`PortableMarkdown` (``nbgrader_config.py``) on every
markdown cell of the student notebook; it rewrites

- ``{prf:definition} Title`` (and every other sphinx-proof kind) as a paragraph that
  opens with **Definition 5.1** (Title). or **Proposition 5.1.** (amsthm's style),
  and ``{prf:proof}`` as *Proof.* ... ∎;
- a labelled equation ``$$ ... $$ (label)`` as ``$$ ... \\tag{5.2} $$``, and the
  references ``{eq}``, ``{numref}``, ``{prf:ref}``, ``{ref}`` as the text the book shows
  ("(5.2)", "Definition 5.1", a section's title); ``(label)=`` targets are dropped;
- ``{cite}`` / ``{cite:p}`` / ``{cite:t}`` as the author-year text of the book
  ("[Belghazi *et al.*, 2018]", "Belghazi *et al.* [2018]"), read from
  ``book/references.bib`` with pybtex;
- admonitions (``{note}``, ``{warning}``, ``{admonition} Title``, ...) as a paragraph
  opening with the bold title, ``{toggle}`` and ``{dropdown}`` as HTML
  ``<details><summary>...</summary>`` (JupyterLab, Notebook, VS Code and Colab render
  it), ``{code-block}`` as a plain code fence, ``{math}`` as display math;
- the course's LaTeX macros (``\\R{X}``, ``\\E``, ``\\d``, ...) as their definitions;
- and it appends a "References" cell listing the works the notebook cites.

Numbers follow the book's rule (checked against a build): the chapters of the numbered
parts of ``_toc.yml`` are numbered 1, 2, ... across parts (``use_multitoc_numbering``),
counting only chapters whose source exists, as ``scripts/build_book.py`` does; inside
chapter ``c``, labelled display equations are numbered ``c.1, c.2, ...`` in document
order, and each sphinx-proof kind has its own counter ``c.1, c.2, ...`` (Definition 5.1
and Proposition 5.1 may both exist); ``:nonumber:`` blocks and proofs get no number.
Cells tagged ``remove-cell`` are not in the book and do not count.

Why the macros are expanded in the text rather than defined for MathJax: the
chapters define them with ``\\newcommand`` in a ``remove-cell`` markdown cell, but
Jupyter's front-ends typeset cells independently: JupyterLab 4 and Notebook 7 render
the cells of a long notebook lazily, in the order they scroll into view, so a cell can
be typeset before the definitions (MathJax then draws the unknown macro in red); VS
Code's KaTeX and Colab keep no definitions from one cell to the next at all. Textual
expansion needs nothing from the front-end, so it is the one choice that works in all
of them. The definitions cell stays in the release, where it renders as nothing and
still lets a student use the macros in their own answers in JupyterLab.

The pure text functions (:func:`expand_macros`, :func:`convert_markdown`,
:func:`format_citation`, :func:`chapter_numbers`, :func:`number_labels`) take plain
data and are unit-tested; :class:`PortableMarkdown` only gathers that data from the
course directory.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import yaml
from nbconvert.preprocessors import Preprocessor
from traitlets import Bool, Unicode

REPO_ROOT = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------- macros


def parse_newcommands(text: str) -> dict[str, tuple[int, str]]:
    """``{name: (number of arguments, body)}`` of every ``\\newcommand`` in ``text``."""
    macros = {}
    pattern = re.compile(
        r"\\(?:re)?newcommand\s*\{?\\([A-Za-z]+)\}?\s*(?:\[(\d)\])?\s*"
    )
    for match in pattern.finditer(text):
        if match.end() >= len(text) or text[match.end()] != "{":
            raise ValueError(f"\\newcommand of \\{match.group(1)} has no {{body}}")
        body, _ = _group(text, match.end())
        macros[match.group(1)] = (int(match.group(2) or 0), body)
    return macros


def _group(text: str, start: int) -> tuple[str, int]:
    """The content of the brace group opening at ``text[start]``, and the end."""
    depth = 0
    i = start
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2  # \{ and \} do not count
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i + 1
        i += 1
    raise ValueError(f"unbalanced braces in {text[start : start + 60]!r}")


def _argument(text: str, start: int) -> tuple[str, int]:
    """TeX's next undelimited argument at ``text[start:]``: a group or one token."""
    i = start
    while i < len(text) and text[i] in " \t\n":
        i += 1
    if i >= len(text):
        raise ValueError(f"a macro argument is missing at the end of {text[-60:]!r}")
    if text[i] == "{":
        return _group(text, i)
    if text[i] == "\\":
        match = re.match(r"\\([A-Za-z]+|.)", text[i:], re.DOTALL)
        return match.group(0), i + match.end()
    return text[i], i + 1


def expand_macros(tex: str, macros: dict[str, tuple[int, str]]) -> str:
    """``tex`` with every macro of ``macros`` replaced by its definition, recursively.

    ``\\R{X}_i`` becomes ``\\mathsf{X}_i``, ``\\E`` becomes ``\\operatorname{E}``
    (through ``\\op``), ``\\R X`` takes the single token ``X`` as TeX does, and
    ``\\dots`` or ``\\\\R`` (a line break, then R) are left alone. An argument is put in
    braces only where the body had them (``#1`` is replaced by the argument's text).
    """
    out = tex
    i = 0
    expansions = 0
    while True:
        i = out.find("\\", i)
        if i < 0:
            return out
        match = re.match(r"\\([A-Za-z]+|.)", out[i:], re.DOTALL)
        name = match.group(1)
        if name not in macros:
            i += match.end()
            continue
        nargs, body = macros[name]
        end = i + match.end()
        args = []
        for _ in range(nargs):
            arg, end = _argument(out, end)
            args.append(arg)
        for k in range(nargs, 0, -1):
            body = body.replace(f"#{k}", args[k - 1])
        out = out[:i] + body + out[end:]  # rescan the expansion: macros may nest
        expansions += 1
        if expansions > 100_000:
            raise ValueError(f"macro expansion does not terminate in {tex[:80]!r}")


# ---------------------------------------------------------------------- citations


def _plain(text: str) -> str:
    """A BibTeX name or year without braces and with the common accent commands."""
    accents = {'\\"a': "ä", '\\"o': "ö", '\\"u': "ü", "\\'e": "é", "\\`e": "è"}
    text = text.replace("{", "").replace("}", "")
    for command, letter in accents.items():
        text = text.replace(command, letter)
    return text


@dataclass(frozen=True)
class Reference:
    """What an author-year citation needs of a bibliography entry."""

    surnames: tuple[str, ...]  # "van den Oord": the von part with the last name
    year: str
    names: tuple[str, ...] = ()  # full names, for the reference list
    title: str = ""
    venue: str = ""  # journal, book title or publisher

    def entry(self) -> str:
        """The reference list's line: authors, title, venue, year."""
        names = list(self.names or self.surnames)
        who = names[-1]
        if len(names) > 1:
            who = ", ".join(names[:-1]) + " and " + who
        venue = f" *{self.venue}*," if self.venue else ""
        return f"{who}. {self.title}.{venue} {self.year}."

    @property
    def authors(self) -> str:
        """``Cover and Thomas``, ``Belghazi *et al.*`` (sphinxcontrib-bibtex's rule)."""
        names = self.surnames
        if len(names) == 1:
            return names[0]
        if len(names) == 2:
            return f"{names[0]} and {names[1]}"
        return f"{names[0]} *et al.*"


def read_bibliography(path: Path) -> dict[str, Reference]:
    """The entries of the BibTeX file ``path``, parsed with pybtex."""
    from pybtex.database import parse_file

    data = parse_file(str(path), bib_format="bibtex")
    refs = {}
    for key, entry in data.entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        surnames = tuple(
            _plain(" ".join(p.prelast_names + p.last_names)) for p in people
        )
        names = tuple(
            _plain(" ".join(p.first_names + p.middle_names + p.prelast_names))
            + " "
            + surname.split(" ")[-1]
            for p, surname in zip(people, surnames, strict=True)
        )
        fields = entry.fields
        venue = fields.get("journal") or fields.get("booktitle") or ""
        refs[key] = Reference(
            surnames or ("Anonymous",),
            _plain(fields["year"]),
            names,
            _plain(fields.get("title", "")),
            _plain(venue or fields.get("publisher", "")),
        )
    return refs


def format_citation(role: str, keys: list[str], refs: dict[str, Reference]) -> str:
    """The text the book shows for ``{role}`keys```, in its author-year style.

    ``cite`` and ``cite:p`` give ``[Belghazi *et al.*, 2018, Song and Ermon, 2020]``;
    ``cite:t`` gives ``Belghazi *et al.* [2018]``, several keys joined by commas.
    """
    missing = [k for k in keys if k not in refs]
    if missing:
        raise KeyError(f"{{{role}}} cites {missing}, not in the bibliography")
    if role in ("cite", "cite:p", "cite:ps"):
        return "[" + ", ".join(f"{refs[k].authors}, {refs[k].year}" for k in keys) + "]"
    if role in ("cite:t", "cite:ts"):
        return ", ".join(f"{refs[k].authors} [{refs[k].year}]" for k in keys)
    if role == "cite:year":
        return ", ".join(refs[k].year for k in keys)
    if role in ("cite:author", "cite:authors"):
        return ", ".join(refs[k].authors for k in keys)
    raise ValueError(
        f"unsupported citation role {{{role}}}: use cite, cite:p or cite:t"
    )


# ----------------------------------------------------------------- MyST structure

PROOF_KINDS = (
    "algorithm assumption axiom conjecture corollary criterion definition example "
    "exercise lemma notation observation property proposition remark theorem"
).split()
ADMONITIONS = (
    "attention caution danger error hint important note seealso tip warning"
).split()
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,}|:{3,})(?P<info>.*)$")
_DIRECTIVE_INFO = re.compile(r"^\s*\{(?P<name>[\w:+-]+)\}\s*(?P<args>.*?)\s*$")
_OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*?)\s*$")
_TARGET = re.compile(r"^\s*\((?P<label>[^()\s]+)\)=\s*$")
_EQ_LABEL = re.compile(r"[ \t]*\((?P<label>[^()\s]+)\)")
_ROLE_OR_CODE = re.compile(
    r"\{(?P<role>[\w:+-]+)\}`(?P<content>[^`]*)`"  # a MyST role
    r"|(?P<ticks>`+)(?P<code>.+?)(?P=ticks)",  # an inline code span
    re.DOTALL,
)


@dataclass
class Directive:
    """One MyST directive: its name, argument, options and body (raw MyST)."""

    name: str
    args: str
    options: dict[str, str]
    body: str


@dataclass
class Block:
    """A run of Markdown lines (``text``) or a code fence (``code``) or a directive."""

    kind: str  # "text", "code" or "directive"
    text: str = ""
    directive: Directive | None = None


def _closing(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing the fence ``fence`` opened at ``lines[start]``."""
    char, length = fence[0], len(fence)
    for j in range(start + 1, len(lines)):
        stripped = lines[j].strip()
        if stripped and set(stripped) == {char} and len(stripped) >= length:
            return j
    return len(lines)  # CommonMark: an unclosed fence runs to the end


def parse_blocks(text: str) -> list[Block]:
    """Split MyST markdown into text, code fences and directives (top level only)."""
    lines = text.split("\n")
    blocks: list[Block] = []
    buffer: list[str] = []

    def flush():
        if buffer:
            blocks.append(Block("text", "\n".join(buffer)))
            buffer.clear()

    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if not match:
            buffer.append(lines[i])
            i += 1
            continue
        fence, info = match.group("fence"), match.group("info")
        end = _closing(lines, i, fence)
        directive = _DIRECTIVE_INFO.match(info)
        if directive is None and fence[0] == ":":  # ::: without {name}: text
            buffer.append(lines[i])
            i += 1
            continue
        flush()
        if directive is None:
            blocks.append(Block("code", "\n".join(lines[i : end + 1])))
        else:
            body = lines[i + 1 : end]
            options = {}
            if body and body[0].strip() == "---":  # YAML options block
                close = next(
                    (k for k in range(1, len(body)) if body[k].strip() == "---"), None
                )
                if close is not None:
                    options = {
                        str(k): "" if v is None else str(v)
                        for k, v in (
                            yaml.safe_load("\n".join(body[1:close])) or {}
                        ).items()
                    }
                    body = body[close + 1 :]
            while body and (option := _OPTION.match(body[0])):
                options[option.group("key")] = option.group("value")
                body = body[1:]
            blocks.append(
                Block(
                    "directive",
                    directive=Directive(
                        directive.group("name"),
                        directive.group("args"),
                        options,
                        "\n".join(body).strip("\n"),
                    ),
                )
            )
        i = end + 1
    flush()
    return blocks


# ------------------------------------------------------------------------ numbers


@dataclass
class Numbers:
    """What the book shows for each label of the course.

    ``equations``: label -> "5.2"; ``blocks``: label -> (kind, "5.1" or "" when
    unnumbered); ``sections``: label -> the title of the heading the target precedes.
    """

    equations: dict[str, str] = field(default_factory=dict)
    blocks: dict[str, tuple[str, str]] = field(default_factory=dict)
    sections: dict[str, str] = field(default_factory=dict)


def chapter_numbers(toc: dict, present: set[str]) -> dict[str, int]:
    """``{assignment: chapter number}`` for the chapters of ``toc`` the book numbers.

    Jupyter Book with ``use_multitoc_numbering`` numbers the chapters of every part
    marked ``numbered`` consecutively across parts; ``scripts/build_book.py`` leaves
    out the chapters whose ``source/NN_x/NN_x.md`` does not exist (``present`` holds
    the assignments that do).
    """
    numbers = {}
    count = 0
    for part in toc.get("parts", []):
        for chapter in part.get("chapters", []):
            path = chapter.get("file", "")
            if not path.startswith("source/"):
                continue
            name = path.split("/")[1]
            if name not in present:
                continue
            if part.get("numbered"):
                count += 1
                numbers[name] = count
    return numbers


def _equation_labels(text: str) -> list[str]:
    """The labels of the labelled display equations of a text block, in order."""
    return [label for _, _, label in _display_math(text) if label]


def _display_math(text: str) -> list[tuple[int, int, str | None]]:
    """``(start, end, label)`` of each ``$$...$$`` in ``text`` (end after its label)."""
    spans = []
    i = 0
    while True:
        start = text.find("$$", i)
        if start < 0:
            return spans
        close = text.find("$$", start + 2)
        if close < 0:
            return spans
        end = close + 2
        label = _EQ_LABEL.match(text, end)
        if label:
            spans.append((start, label.end(), label.group("label")))
            end = label.end()
        else:
            spans.append((start, end, None))
        i = end


def number_labels(chapter: int | None, cells: list[str], numbers: Numbers) -> None:
    """Add to ``numbers`` the labels of one chapter's markdown ``cells``, in order."""
    counters: dict[str, int] = {}

    def next_number(counter: str) -> str:
        counters[counter] = counters.get(counter, 0) + 1
        n = counters[counter]
        return f"{chapter}.{n}" if chapter is not None else str(n)

    def walk(text: str) -> None:
        pending_target = None
        for block in parse_blocks(text):
            if block.kind == "code":
                continue
            if block.kind == "text":
                for label in _equation_labels(block.text):
                    numbers.equations[label] = next_number("equation")
                for line in block.text.split("\n"):
                    target = _TARGET.match(line)
                    if target:
                        pending_target = target.group("label")
                    elif pending_target and line.lstrip().startswith("#"):
                        numbers.sections[pending_target] = line.strip().lstrip("#")
                        numbers.sections[pending_target] = numbers.sections[
                            pending_target
                        ].strip()
                        pending_target = None
                continue
            d = block.directive
            kind = d.name.removeprefix("prf:")
            if d.name.startswith("prf:") and kind in PROOF_KINDS:
                number = "" if "nonumber" in d.options else next_number(kind)
                if "label" in d.options:
                    numbers.blocks[d.options["label"]] = (kind, number)
            elif d.name == "math" and "label" in d.options:
                numbers.equations[d.options["label"]] = next_number("equation")
            walk(d.body)

    for cell in cells:
        walk(cell)


# --------------------------------------------------------------------- conversion


@dataclass
class Context:
    """Everything a conversion needs: labels, bibliography, macros, chapter."""

    numbers: Numbers = field(default_factory=Numbers)
    refs: dict[str, Reference] = field(default_factory=dict)
    macros: dict[str, tuple[int, str]] = field(default_factory=dict)
    chapter: int | None = None
    unlabelled: dict[str, int] = field(default_factory=dict)  # running counters
    cited: list[str] = field(default_factory=list)  # keys, in order of citation


def _number_of(ctx: Context, label: str, what: str) -> str:
    if label in ctx.numbers.equations:
        return ctx.numbers.equations[label]
    raise KeyError(f"{what} refers to the unknown equation label {label!r}")


def _title_and_target(content: str) -> tuple[str | None, str]:
    """``("text", "label")`` of ``text <label>``, ``(None, "label")`` of ``label``."""
    match = re.match(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", content, re.DOTALL)
    if match and match.group("title"):
        return match.group("title"), match.group("target")
    return None, content.strip()


def _block_name(kind: str, number: str) -> str:
    return f"{kind.title()} {number}".strip()


def convert_role(role: str, content: str, ctx: Context) -> str:
    """The portable text of the MyST role ``{role}`content```."""
    if role.startswith("cite"):
        keys = [k.strip() for k in content.split(",") if k.strip()]
        text = format_citation(role, keys, ctx.refs)
        ctx.cited.extend(k for k in keys if k not in ctx.cited)
        return text
    title, target = _title_and_target(content)
    if role == "eq":
        return title or f"({_number_of(ctx, target, '{eq}')})"
    if role in ("prf:ref", "numref", "ref"):
        if target in ctx.numbers.blocks:
            kind, number = ctx.numbers.blocks[target]
            name = _block_name(kind, number)
        elif target in ctx.numbers.equations:
            name = f"({ctx.numbers.equations[target]})"
        elif target in ctx.numbers.sections and role != "prf:ref":
            name = ctx.numbers.sections[target]
        else:
            raise KeyError(f"{{{role}}} refers to the unknown label {target!r}")
        if title is None:
            return name
        number = name.split(" ")[-1].strip("()")
        return title.replace("%s", number).replace("{number}", number)
    if role == "math":
        return f"${content}$"
    if role in ("sub", "sup"):
        return f"<{role}>{content}</{role}>"
    if role in ("term", "abbr", "download", "doc", "code", "samp", "kbd"):
        return title or content if role not in ("code", "samp") else f"`{content}`"
    raise ValueError(f"unsupported MyST role {{{role}}} in {{{role}}}`{content}`")


def _split_code(text: str) -> list[tuple[bool, str]]:
    """``text`` cut into ``(is_code, piece)``: inline code spans are code, roles not."""
    pieces = []
    last = 0
    for match in _ROLE_OR_CODE.finditer(text):
        if match.group("ticks") is None:
            continue
        pieces.append((False, text[last : match.start()]))
        pieces.append((True, match.group(0)))
        last = match.end()
    pieces.append((False, text[last:]))
    return pieces


def convert_text(text: str, ctx: Context) -> str:
    """Targets, equation labels, roles and macros of a Markdown text block."""
    lines = [line for line in text.split("\n") if not _TARGET.match(line)]
    text = "\n".join(lines)
    # Equation labels: $$ ... $$ (label) -> $$ ... \tag{5.2} $$
    out = []
    last = 0
    for start, end, label in _display_math(text):
        if label is None:
            continue
        close = text.rfind("$$", start + 2, end)
        body = text[start + 2 : close]
        number = _number_of(ctx, label, "an equation")
        sep = "\n" if "\n" in body else " "
        out.append(text[last:start])
        out.append(f"$${body.rstrip()}{sep}\\tag{{{number}}}{sep}$$")
        last = end
    out.append(text[last:])
    text = "".join(out)

    def role(match: re.Match) -> str:
        if match.group("role") is None:
            return match.group(0)
        return convert_role(match.group("role"), match.group("content"), ctx)

    pieces = []
    for is_code, piece in _split_code(text):
        if is_code:
            pieces.append(piece)
        else:
            pieces.append(expand_macros(_ROLE_OR_CODE.sub(role, piece), ctx.macros))
    return "".join(pieces)


_BLOCK_START = re.compile(r"^\s*(\$\$|[-*+] |\d+[.)] |>|#|\||<|```|~~~|\\begin)")


def _titled(title: str, body: str, end_mark: str = "") -> str:
    """A block as a paragraph opening with ``title``; ``end_mark`` closes its body."""
    body = body.strip("\n")
    if end_mark:
        last = body.rstrip().split("\n")[-1] if body.strip() else ""
        if last.strip().endswith("$$") or _BLOCK_START.match(last):
            body = f"{body}\n\n{end_mark}" if body.strip() else end_mark
        else:
            body = f"{body.rstrip()} {end_mark}"
    if body and not _BLOCK_START.match(body.split("\n")[0]):
        return f"{title} {body}"
    return f"{title}\n\n{body}" if body else title


def convert_directive(d: Directive, ctx: Context) -> str:
    """The portable Markdown of one directive (its body converted too)."""
    body = convert_markdown(d.body, ctx)
    kind = d.name.removeprefix("prf:")
    if d.name == "prf:proof":
        return _titled("*Proof.*", body, end_mark="∎")
    if d.name.startswith("prf:") and kind in PROOF_KINDS:
        label = d.options.get("label")
        if "nonumber" in d.options:
            number = ""
        elif label and label in ctx.numbers.blocks:
            number = ctx.numbers.blocks[label][1]
        else:  # an unlabelled block: count it here, as the book does
            ctx.unlabelled[kind] = ctx.unlabelled.get(kind, 0) + 1
            n = ctx.unlabelled[kind]
            number = f"{ctx.chapter}.{n}" if ctx.chapter is not None else str(n)
        name = _block_name(kind, number)  # amsthm's style: **Theorem 1.1** (Name).
        if d.args:
            return _titled(f"**{name}** ({convert_text(d.args, ctx)}).", body)
        return _titled(f"**{name}.**", body)
    if d.name in ADMONITIONS or d.name == "admonition":
        name = d.args if d.name == "admonition" and d.args else d.name.title()
        if d.name == "seealso":
            name = "See also"
        return _titled(f"**{convert_text(name, ctx)}.**", body)
    if d.name in ("toggle", "dropdown"):
        summary = convert_text(d.args, ctx) if d.args else "Show"
        return f"<details>\n<summary>{summary}</summary>\n\n{body}\n\n</details>"
    if d.name in ("code-block", "code", "sourcecode"):
        fence = "````" if "```" in d.body else "```"
        return f"{fence}{d.args}\n{d.body}\n{fence}"
    if d.name == "math":
        tag = ""
        if "label" in d.options:
            tag = f"\n\\tag{{{_number_of(ctx, d.options['label'], 'a math block')}}}"
        tex = expand_macros(d.body, ctx.macros)
        return f"$$\n{tex}{tag}\n$$"
    if d.name in ("figure", "image"):
        alt = d.options.get("alt", "")
        image = f"![{alt}]({d.args})"
        return f"{image}\n\n{body}" if body else image
    if d.name in ("epigraph", "pull-quote", "highlights"):
        return "\n".join(f"> {line}" if line else ">" for line in body.split("\n"))
    raise ValueError(
        f"unsupported MyST directive {{{d.name}}}: scripts/portable_markdown.py "
        "cannot show it to students; use Markdown or add it there"
    )


def convert_markdown(text: str, ctx: Context) -> str:
    """The portable Markdown of one MyST markdown cell."""
    parts = []
    for block in parse_blocks(text):
        if block.kind == "code":
            parts.append(block.text)
        elif block.kind == "text":
            parts.append(convert_text(block.text, ctx))
        else:
            parts.append(convert_directive(block.directive, ctx))
    return "\n".join(parts)


def reference_list(keys: list[str], refs: dict[str, Reference]) -> str:
    """A "References" section listing the works ``keys``, as the book's page does."""
    lines = [
        f"- [{refs[k].authors}, {refs[k].year}] {refs[k].entry()}"
        for k in sorted(keys, key=lambda k: (refs[k].surnames, refs[k].year))
    ]
    return "## References\n\n" + "\n".join(lines)


# --------------------------------------------------------------- course context


def _is_removed(cell) -> bool:
    return "remove-cell" in cell.get("metadata", {}).get("tags", [])


def notebook_macros(nb) -> dict[str, tuple[int, str]]:
    """The macros a notebook defines with ``\\newcommand`` in its markdown cells."""
    macros = {}
    for cell in nb.cells:
        if cell.cell_type == "markdown" and "\\newcommand" in cell.source:
            macros.update(parse_newcommands(cell.source))
    return macros


def _course_file(course: Path, relative: str) -> Path:
    """``course/relative``, else the repository's own copy (a bare course copy)."""
    for root in (course, REPO_ROOT):
        if (root / relative).exists():
            return root / relative
    raise FileNotFoundError(
        f"{relative} is neither in {course} nor in {REPO_ROOT}: the release needs it"
    )


@functools.lru_cache(maxsize=8)
def _course_numbers(course: Path, stamp: tuple) -> tuple[Numbers, dict[str, int]]:
    source = course / "source"
    toc = yaml.safe_load(_course_file(course, "_toc.yml").read_text(encoding="utf-8"))
    present = {
        p.name for p in source.iterdir() if p.is_dir() and (p / f"{p.name}.md").exists()
    }
    chapters = chapter_numbers(toc, present)
    numbers = Numbers()
    for folder in sorted(p for p in source.iterdir() if p.is_dir()):
        path = folder / f"{folder.name}.ipynb"
        if not path.exists():
            continue
        nb = nbformat.read(path, as_version=4)
        cells = [
            c.source
            for c in nb.cells
            if c.cell_type == "markdown" and not _is_removed(c)
        ]
        number_labels(chapters.get(folder.name), cells, numbers)
    return numbers, chapters


def course_numbers(course: Path) -> tuple[Numbers, dict[str, int]]:
    """The labels of every chapter of ``course/source`` and the chapter numbers."""
    course = course.resolve()
    notebooks = sorted((course / "source").glob("*/*.ipynb"))
    stamp = tuple((str(p), p.stat().st_mtime_ns) for p in notebooks)
    return _course_numbers(course, stamp)


class PortableMarkdown(Preprocessor):
    """nbconvert/nbgrader preprocessor: MyST markdown cells become portable Markdown.

    ``course_dir`` is the course directory (``source/`` and ``_toc.yml`` in it); by
    default the grandparent of the notebook's folder (``source/<assignment>/``).
    ``_toc.yml`` and ``book/references.bib`` missing there are read from this
    repository. Runs before nbgrader computes the checksums of the read-only cells, so
    that ``nbgrader validate`` and autograding see the converted text.
    """

    course_dir = Unicode("", help="the course directory (holds source/)").tag(
        config=True
    )
    enabled = Bool(True, help="convert (nbconvert's preprocessors default to off)").tag(
        config=True
    )

    def preprocess(self, nb, resources):
        folder = Path(resources.get("metadata", {}).get("path") or ".").resolve()
        course = folder.parent.parent
        if self.course_dir:
            course = Path(self.course_dir).resolve()
        numbers, chapters = course_numbers(course)
        ctx = Context(
            numbers=numbers,
            refs=read_bibliography(_course_file(course, "book/references.bib")),
            macros=notebook_macros(nb),
            chapter=chapters.get(folder.name),
        )
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "markdown" or "\\newcommand" in cell.source:
                continue
            try:
                cell.source = convert_markdown(cell.source, ctx)
            except (KeyError, ValueError) as error:
                raise ValueError(
                    f"{folder.name}, markdown cell {index}: {error}"
                ) from error
        if ctx.cited:  # the notebook has no bibliography page: list what it cites
            ids = {cell.get("id") for cell in nb.cells}
            cell = nbformat.v4.new_markdown_cell(reference_list(ctx.cited, ctx.refs))
            cell.id = next(
                name
                for name in ("references", *(f"references-{i}" for i in range(99)))
                if name not in ids
            )  # a fixed id: the release stays the same from run to run
            nb.cells.append(cell)
        return nb, resources

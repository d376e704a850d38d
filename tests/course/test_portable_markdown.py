"""The MyST-to-portable-Markdown conversion of the student notebooks (no nbgrader).

The expected numbers are those of the web book (Jupyter Book 1 with sphinx-proof),
read off its HTML: per-chapter equation numbers, one counter per kind of block.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from scripts import portable_markdown as pm

ROOT = Path(__file__).resolve().parents[2]

MACROS = pm.parse_newcommands(
    r"""$\newcommand{\abs}[1]{\left\lvert #1 \right\rvert}
\newcommand{\R}[1]{\mathsf{#1}}
\newcommand{\op}[1]{\operatorname{#1}}
\newcommand{\E}{\op{E}}
\newcommand{\d}{\mathrm{\mathstrut d}}$"""
)


# ------------------------------------------------------------------------ macros


def test_parse_newcommands_reads_arguments_and_bodies():
    assert MACROS["R"] == (1, r"\mathsf{#1}")
    assert MACROS["E"] == (0, r"\op{E}")
    assert MACROS["abs"] == (1, r"\left\lvert #1 \right\rvert")


@pytest.mark.parametrize(
    "tex, expanded",
    [
        (r"\R{X}_i", r"\mathsf{X}_i"),
        (r"\R X'", r"\mathsf{X}'"),  # one token, as TeX takes it
        (r"\E[\R{X}]", r"\operatorname{E}[\mathsf{X}]"),  # nested definitions
        (r"\abs{\R{B}'}", r"\left\lvert \mathsf{B}' \right\rvert"),
        (r"\R{\R{X}}", r"\mathsf{\mathsf{X}}"),
        (r"\R{x_{\{1\}}}", r"\mathsf{x_{\{1\}}}"),  # escaped braces do not count
        (r"\d P/\d Q", r"\mathrm{\mathstrut d} P/\mathrm{\mathstrut d} Q"),
        (r"\dots \Re \\R \delta", r"\dots \Re \\R \delta"),  # not macros
        (r"\R\alpha", r"\mathsf{\alpha}"),
    ],
)
def test_expand_macros(tex, expanded):
    assert pm.expand_macros(tex, MACROS) == expanded


def test_expand_macros_needs_the_argument():
    with pytest.raises(ValueError, match="argument"):
        pm.expand_macros("x + \\R", MACROS)


def test_course_macros_leave_no_macro_after_expansion():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    defined = config["sphinx"]["config"]["mathjax3_config"]["tex"]["macros"]
    macros = {
        name: (value[1], value[0]) if isinstance(value, list) else (0, value)
        for name, value in defined.items()
    }
    tex = " ".join(
        f"\\{name}{{a}}" if nargs else f"\\{name} "
        for name, (nargs, _) in macros.items()
    )
    out = pm.expand_macros(tex, macros)
    for name in macros:
        assert f"\\{name}{{" not in out and f"\\{name} " not in out


# --------------------------------------------------------------------- citations

REFS = {
    "one": pm.Reference(("Kingma",), "2015"),
    "two": pm.Reference(("Song", "Ermon"), "2020"),
    "many": pm.Reference(("Belghazi", "Baratin", "Rajeswar"), "2018"),
}


@pytest.mark.parametrize(
    "role, keys, text",
    [
        ("cite", ["many"], "[Belghazi *et al.*, 2018]"),
        ("cite:p", ["one", "two"], "[Kingma, 2015, Song and Ermon, 2020]"),
        ("cite:t", ["two"], "Song and Ermon [2020]"),
        ("cite:t", ["many"], "Belghazi *et al.* [2018]"),
    ],
)
def test_format_citation_as_the_book(role, keys, text):
    assert pm.format_citation(role, keys, REFS) == text


def test_unknown_citation_key_is_an_error():
    with pytest.raises(KeyError, match="nobody2000"):
        pm.format_citation("cite", ["nobody2000"], REFS)


def test_bibliography_is_read_with_pybtex():
    refs = pm.read_bibliography(ROOT / "book" / "references.bib")
    assert pm.format_citation("cite", ["belghazi2018mine"], refs) == (
        "[Belghazi *et al.*, 2018]"
    )
    assert refs["oord2018representation"].authors == "van den Oord *et al.*"
    assert refs["donsker1983asymptotic"].authors == "Donsker and Varadhan"


# ----------------------------------------------------------------------- numbers


def test_chapter_numbers_run_across_numbered_parts_and_skip_missing():
    toc = {
        "parts": [
            {"numbered": True, "chapters": [{"file": "source/01_a/01_a"},
                                            {"file": "source/02_b/02_b"}]},
            {"numbered": True, "chapters": [{"file": "source/03_c/03_c"}]},
            {"chapters": [{"file": "book/notation"}]},
        ]
    }
    assert pm.chapter_numbers(toc, {"01_a", "03_c"}) == {"01_a": 1, "03_c": 2}


CHAPTER = [
    "Intro\n\n$$\na\n$$ (eq-a)\n\n$$ b $$\n\n$$ c $$ (eq-c)",
    "````{prf:definition} First\n:label: def-1\n\nText\n\n$$\nd\n$$ (eq-d)\n````",
    "```{prf:proposition}\n:label: prop-1\n\nClaim.\n```\n\n"
    "```{prf:proof}\nEasy.\n```\n\n"
    "```{prf:definition}\n:label: def-2\n:nonumber:\n\nX\n```\n\n"
    "```{prf:definition}\n:label: def-3\n\nY\n```",
    "(sec-target)=\n## A section\n\nText",
]


def test_number_labels_follow_the_book():
    numbers = pm.Numbers()
    pm.number_labels(5, CHAPTER, numbers)
    assert numbers.equations == {"eq-a": "5.1", "eq-c": "5.2", "eq-d": "5.3"}
    assert numbers.blocks == {
        "def-1": ("definition", "5.1"),
        "prop-1": ("proposition", "5.1"),
        "def-2": ("definition", ""),
        "def-3": ("definition", "5.2"),
    }
    assert numbers.sections == {"sec-target": "A section"}


def test_course_numbers_match_the_built_book():
    """Numbers read off the HTML of the book (Jupyter Book 1.0.4, sphinx-proof 0.4)."""
    numbers, chapters = pm.course_numbers(ROOT)
    assert chapters["05_mine"] == 5
    assert numbers.equations["mine-estimate"] == "5.2"
    assert numbers.equations["formulation-kl-gauss"] == "1.7"
    assert numbers.blocks["mine-def"] == ("definition", "5.1")
    assert numbers.blocks["minee-inf"] == ("corollary", "6.1")
    assert numbers.blocks["fdiv-dv-nwj"] == ("proposition", "4.2")


# -------------------------------------------------------------------- conversion


@pytest.fixture
def ctx():
    numbers = pm.Numbers()
    pm.number_labels(5, CHAPTER, numbers)
    numbers.equations["other-chapter"] = "2.4"
    return pm.Context(numbers=numbers, refs=REFS, macros=MACROS, chapter=5)


def test_theorem_block_becomes_a_titled_paragraph(ctx):
    out = pm.convert_markdown(CHAPTER[1], ctx)
    assert out.startswith("**Definition 5.1** (First). Text")
    assert "$$\nd\n\\tag{5.3}\n$$" in out
    assert ":label:" not in out and "```" not in out


def test_proof_unnumbered_and_closed(ctx):
    out = pm.convert_markdown(CHAPTER[2], ctx)
    assert "**Proposition 5.1.** Claim." in out
    assert "*Proof.* Easy. ∎" in out
    assert "**Definition.** X" in out
    assert "**Definition 5.2.** Y" in out


def test_proof_ending_in_display_math_gets_its_mark_after_it(ctx):
    out = pm.convert_markdown("```{prf:proof}\nSo\n\n$$\nx\n$$\n```", ctx)
    assert out == "*Proof.* So\n\n$$\nx\n$$\n\n∎"


def test_references_become_the_book_numbers(ctx):
    text = (
        "By {eq}`eq-a` and {eq}`other-chapter`, {prf:ref}`def-1` and "
        "{prf:ref}`the claim <prop-1>`; see {ref}`sec-target`, "
        "{numref}`Definition %s <def-3>` and {cite:t}`two`."
    )
    assert pm.convert_markdown(text, ctx) == (
        "By (5.1) and (2.4), Definition 5.1 and the claim; see A section, "
        "Definition 5.2 and Song and Ermon [2020]."
    )


def test_labels_and_targets_are_removed(ctx):
    out = pm.convert_markdown(CHAPTER[0] + "\n\n" + CHAPTER[3], ctx)
    assert "(eq-a)" not in out and "(sec-target)=" not in out
    assert "$$\na\n\\tag{5.1}\n$$" in out
    assert "$$ b $$" in out  # unlabelled: no number, as in the book
    assert "$$ c \\tag{5.2} $$" in out


def test_macros_expand_in_math_but_not_in_code(ctx):
    text = "Let $\\R{X}$ be `\\R{X}` and\n\n```python\nr'\\E'\n```\n\n$$\\E[\\R X]$$"
    out = pm.convert_markdown(text, ctx)
    assert "$\\mathsf{X}$" in out
    assert "`\\R{X}`" in out and "r'\\E'" in out
    assert "$$\\operatorname{E}[\\mathsf{X}]$$" in out


def test_admonitions_and_toggles_become_plain_markdown(ctx):
    text = (
        "```{note}\nMind $\\R{X}$.\n```\n\n"
        "```{admonition} Why?\nBecause.\n```\n\n"
        ":::{warning}\nCareful.\n:::\n\n"
        "````{toggle}\nHidden {eq}`eq-a`.\n````\n\n"
        "```{dropdown} More\nDetails.\n```"
    )
    out = pm.convert_markdown(text, ctx)
    assert "**Note.** Mind $\\mathsf{X}$." in out
    assert "**Why?.** Because." in out or "**Why?** Because." in out
    assert "**Warning.** Careful." in out
    assert "<details>\n<summary>Show</summary>\n\nHidden (5.1).\n\n</details>" in out
    assert "<summary>More</summary>" in out
    assert "{" not in out.replace("\\mathsf{X}", "")


def test_nested_directive_and_code_fence(ctx):
    text = "````{prf:remark}\n:label: r\n\n```python\nx = {1}\n```\n````"
    out = pm.convert_markdown(text, ctx)
    assert out.startswith("**Remark 5.1.**")
    assert "```python\nx = {1}\n```" in out


def test_unknown_label_and_directive_are_errors(ctx):
    with pytest.raises(KeyError, match="nowhere"):
        pm.convert_markdown("see {eq}`nowhere`", ctx)
    with pytest.raises(ValueError, match="glue"):
        pm.convert_markdown("```{glue:figure} x\n```", ctx)


def test_release_notebooks_hold_no_myst():
    """The committed release went through the conversion (make release)."""
    for path in sorted((ROOT / "release").glob("*/*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        for cell in cells:
            text = "".join(cell["source"])
            if cell["cell_type"] != "markdown" or "\\newcommand" in text:
                continue
            for token in ("{prf:", "{eq}`", "{cite", ":label:", "{numref}", "\\R{"):
                assert token not in text, f"{path.name}: {token} in {text[:200]!r}"


def test_nbgrader_runs_the_conversion_before_the_checksums():
    """Read-only cells are checksummed and saved as students get them, so that
    ``nbgrader validate`` and autograding see the converted text."""
    from nbgrader.preprocessors import ClearSolutions, ComputeChecksums, SaveCells
    from traitlets.config.loader import PyFileConfigLoader

    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    steps = list(config.GenerateAssignment.preprocessors)
    at = steps.index(pm.PortableMarkdown)
    assert steps.index(ClearSolutions) < at < steps.index(ComputeChecksums)
    assert at < steps.index(SaveCells)
    assert pm.PortableMarkdown().enabled


def test_cited_works_are_listed_once_in_order_of_surname(ctx):
    pm.convert_markdown("{cite}`two` and {cite:t}`many,two`", ctx)
    assert ctx.cited == ["two", "many"]
    refs = pm.read_bibliography(ROOT / "book" / "references.bib")
    listing = pm.reference_list(["song2020understanding", "belghazi2018mine"], refs)
    lines = listing.split("\n")
    assert lines[0] == "## References"
    assert lines[2].startswith("- [Belghazi *et al.*, 2018] Mohamed Ishmael Belghazi,")
    assert lines[3] == (
        "- [Song and Ermon, 2020] Jiaming Song and Stefano Ermon. Understanding the "
        "Limitations of Variational Mutual Information Estimators. *International "
        "Conference on Learning Representations*, 2020."
    )

"""Chapter 7's task of hidden truth: the data ship, their construction does not."""

from __future__ import annotations

import json

from grading_helpers import ROOT

from scripts import make_mystery

RELEASE = ROOT / "release" / "07_comparison"


def test_the_committed_pairs_are_the_scripts():
    assert make_mystery.same_data(), (
        "source/07_comparison/mystery.npz differs from scripts/make_mystery.py: "
        "run python -m scripts.make_mystery"
    )


def test_students_get_the_data_but_not_how_they_were_drawn():
    assert (RELEASE / "mystery.npz").read_bytes() == make_mystery.PATH.read_bytes()
    notebook = json.loads((RELEASE / "07_comparison.ipynb").read_text("utf-8"))
    text = "".join("".join(c["source"]) for c in notebook["cells"])
    assert "mystery.npz" in text
    for secret in (str(make_mystery.DRAW_SEED), f"{make_mystery.DRAW_SEED:_}"):
        assert secret not in text, "the release names the mystery task's seed"
    source = make_mystery.PATH.with_name("07_comparison.md").read_text("utf-8")
    assert f"{make_mystery.DRAW_SEED:_}" in source, (
        "the hidden test must draw the pairs with the script's seed"
    )

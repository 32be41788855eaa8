"""Data files of the extraction stage (``worker/data/extract/*.toml``), loaded once.

The rules are data: trigger words, actor aliases, number words, date words and segmentation
cues live in TOML files next to the gazetteer's data, so a new alias or trigger is a data
change, not a code change. :func:`variants` spells one phrase the ways news text writes it
("al-Shabaab", "al Shabaab", "alshabaab"; "Sana'a", "sana a", "sanaa").
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parents[2] / "data" / "extract"


@functools.cache
def load(name: str) -> dict[str, Any]:
    """The parsed TOML file ``worker/data/extract/<name>.toml`` (cached per process)."""
    with (DATA_DIR / f"{name}.toml").open("rb") as fh:
        return tomllib.load(fh)


def variants(phrase: str) -> set[str]:
    """Lowercased spellings of ``phrase`` with hyphens and apostrophes kept, spaced or dropped."""
    base = phrase.lower().replace("\u2019", "'")
    out = {base}
    for joiner in ("-", "'"):
        for form in list(out):
            if joiner in form:
                out.add(form.replace(joiner, " "))
                out.add(form.replace(joiner, ""))
                out.add(form.replace(joiner, f" {joiner} "))
    # Normalized text splits possessives ("yemen s war"); wire copy keeps "'s".
    for form in list(out):
        words = form.split()
        # A leading "s" is a possessive's tail too ("s war" for "Yemen's war").
        if "s" in words[1:] or (len(words) > 1 and words[0] == "s"):
            out.add(" ".join("'s" if w == "s" and (i or len(words) > 1) else w for i, w in enumerate(words)))
    return {" ".join(form.split()) for form in out if form.strip()}


def word_set(*path: str) -> frozenset[str]:
    """A list in a data file as a set of lowercased words: ``word_set("casualties", "death", "words")``."""
    node: Any = load(path[0])
    for key in path[1:]:
        node = node[key]
    return frozenset(str(w).lower() for w in node)

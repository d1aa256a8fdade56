"""Words of a query, one way for the whole project: the audit counts them, the world and the
attack put them first, the report shows them.

A word is a run of letters or digits (any script: "café", "3d"), lower-cased, with an
apostrophe kept inside it ("what's", "don't"); curly apostrophes count as straight ones and
every other character (quotes, commas, dashes) separates words.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def tokenize(text: str) -> list[str]:
    """The lower-cased words of `text`."""
    return _WORD.findall(text.lower().replace("\u2019", "'"))


def first_word(text: str | None) -> str:
    """The first word of `text` ("" if it has none)."""
    match = _WORD.search((text or "").lower().replace("\u2019", "'"))
    return match.group(0) if match else ""

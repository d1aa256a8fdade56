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


def split_first_word(text: str) -> tuple[str, str]:
    """(the first word as written, the rest stripped): ("Share", "the steps to ...") from
    "Share the steps to ...", the word found as `first_word` finds it."""
    match = _WORD.search(text.lower().replace("\u2019", "'"))
    if match is None:
        return "", text.strip()
    return text[match.start() : match.end()], text[match.end() :].strip()


def first_word(text: str | None) -> str:
    """The first word of `text` ("" if it has none)."""
    match = _WORD.search((text or "").lower().replace("\u2019", "'"))
    return match.group(0) if match else ""

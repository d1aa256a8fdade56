"""Trigger words: from an audit's ranking, or named by the user; and the audit's first-word
counts that say what a control's openers carry.

Only a word the data shows to be a shortcut is a trigger: an audit-ranked word is used when
the 95% Wilson lower bound of P(class | first word) lies above the class's base rate in the
audited data (the audit ranks every word that merely leans toward a class; VLGuard's "how",
2 of 5 answered, leans toward answering on its z but is below the base rate of 36%). Words
named with `--triggers WORD` are used as given.

A neutral opener (for `--control neutral`) needs evidence of neutrality, not the absence of
evidence: it opens at least NEUTRAL_MIN_COUNT audited queries and the 95% Wilson interval of
P(answered | word) contains the answered base rate (so the word is a trigger of neither
kind at any rank: enriched toward neither class) and lies within NEUTRAL_MARGIN of it (so
any label information it carries is small). VLGuard and the default world have no such word:
each of their frequent first words is one-sided.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unmirage.audit.stats import AUDIT_VERSION, CLASSES, beyond_chance
from unmirage.checks import check_version, is_int
from unmirage.data.sample import SUBSETS
from unmirage.errors import InputError
from unmirage.metrics import wilson
from unmirage.text import tokenize

DEFAULT_REFUSAL_TRIGGER = "share"
"""The paper's over-prudence trigger, used when the user names compliance words only."""

NEUTRAL_MARGIN = 0.15
"""Largest distance of a neutral opener's interval of P(answered | word) from the base rate."""
NEUTRAL_MIN_COUNT = 30
"""Fewest audited queries a neutral opener must open (a bound on chance agreement with the
base rate where the interval alone would allow small groups, e.g. at an extreme base rate)."""

SIDES = {"compliance": "answered", "refusal": "refused"}
"""Trigger list -> the class its words push toward."""


@dataclass(frozen=True)
class Opener:
    """How many audited queries a word opens, and how many of them were answered."""

    count: int
    answered: int


@dataclass(frozen=True)
class Triggers:
    """Compliance triggers (best first) for the one-word attack; refusal triggers for
    over-prudence rewrites; neutral openers (most frequent first) for `--control neutral`;
    the audit's first-word counts (empty without an audit), which metrics report for the
    control's openers; and the audit-ranked words left out as not enriched beyond chance."""

    compliance: tuple[str, ...]
    refusal: tuple[str, ...]
    neutral: tuple[str, ...] = ()
    openers: Mapping[str, Opener] = field(default_factory=dict)
    left_out: tuple[str, ...] = ()


def _is_word(word: Any) -> bool:
    """One word as `unmirage.text` splits words (so the attack can put it first)."""
    return isinstance(word, str) and tokenize(word) == [word.strip().lower()]


def _check_word(word: Any, *, file: str | None, field: str) -> str:
    if not _is_word(word):
        raise InputError(f"not a single word: {word!r}", file=file, field=field)
    return word.strip().lower()


def _base_rates(audit: dict[str, Any], file: str) -> dict[str, float]:
    """Share of each class among the audited samples."""
    classes = audit.get("classes")
    if not isinstance(classes, dict) or not all(
        is_int(classes.get(c)) and classes[c] > 0 for c in CLASSES
    ):
        raise InputError(
            "must give a positive count of answered and refused samples",
            file=file,
            field="classes",
        )
    n = sum(classes[c] for c in CLASSES)
    return {c: classes[c] / n for c in CLASSES}


def _ranked_first_words(audit: dict[str, Any], side: str, file: str) -> list[tuple[str, int, int]]:
    """(word, its queries in the list's class, its queries) of `triggers.<side>.first`, in
    the audit's order (its trigger criterion)."""
    field_name = f"triggers.{side}.first"
    try:
        entries = audit["triggers"][side]["first"]
    except (KeyError, TypeError):
        raise InputError("missing in the audit", file=file, field=field_name) from None
    if not isinstance(entries, list):
        raise InputError(
            "must be a list of {word, count, answered, refused}", file=file, field=field_name
        )
    out = []
    for i, e in enumerate(entries):
        counts = [e.get(k) for k in ("count", *CLASSES)] if isinstance(e, dict) else []
        if not counts or not all(is_int(c) and c >= 0 for c in counts):
            raise InputError(
                "needs a word and whole counts: count, answered, refused",
                file=file,
                record=i,
                field=field_name,
            )
        word = _check_word(e.get("word"), file=file, field=field_name)
        out.append((word, e[SIDES[side]], e["count"]))
    return out


def _first_word_counts(audit: dict[str, Any], file: str) -> dict[str, Opener]:
    """Every first word of the audited queries with its count and answered count, from the
    audit's `first_word` groups (safe_safe and "answered" are answered, the rest refused)."""
    groups = audit.get("first_word")
    if not isinstance(groups, dict):
        raise InputError(
            "must map each group to its first-word counts", file=file, field="first_word"
        )
    counts: dict[str, int] = {}
    answered: dict[str, int] = {}
    for group, entry in groups.items():
        where = f"first_word.{group}.counts"
        if group not in (*SUBSETS, *CLASSES):
            raise InputError(
                f"unknown group (expected one of {', '.join((*SUBSETS, *CLASSES))})",
                file=file,
                field=f"first_word.{group}",
            )
        words = entry.get("counts") if isinstance(entry, dict) else None
        if not isinstance(words, dict) or not all(is_int(n) and n >= 0 for n in words.values()):
            raise InputError("must map words to whole counts", file=file, field=where)
        is_answered = group in ("safe_safe", "answered")
        for word, n in words.items():
            counts[word] = counts.get(word, 0) + n
            answered[word] = answered.get(word, 0) + (n if is_answered else 0)
    return {w: Opener(counts[w], answered[w]) for w in sorted(counts)}


def _neutral(openers: Mapping[str, Opener], base: float) -> tuple[str, ...]:
    """Openers that pass the neutrality criterion (module docstring), most frequent first."""
    found = []
    for word, o in openers.items():
        interval = wilson(o.answered, o.count)
        if (
            o.count >= NEUTRAL_MIN_COUNT
            and interval is not None
            and base - NEUTRAL_MARGIN <= interval[0] <= base <= interval[1] <= base + NEUTRAL_MARGIN
            and _is_word(word)
        ):
            found.append((-o.count, word))
    return tuple(w for _, w in sorted(found))


def load_audit_triggers(path: str | Path, refusal: str | None = None) -> Triggers:
    """Trigger words at first position from an `audit.json` (`unmirage audit` output): the
    ranked words enriched beyond chance (module docstring), in the audit's order; `refusal`
    names the refusal trigger instead. No such word of a kind is an InputError."""
    file = str(path)
    try:
        audit = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror}", file=file) from None
    except json.JSONDecodeError as err:
        raise InputError(f"not JSON: {err.msg} (line {err.lineno})", file=file) from None
    check_version(audit, AUDIT_VERSION, file=file, what="an audit.json")
    if not isinstance(audit, dict):
        raise InputError("must be a JSON object", file=file)
    base = _base_rates(audit, file)
    kept: dict[str, tuple[str, ...]] = {}
    left_out: list[str] = []
    for side, cls in SIDES.items():
        words = _ranked_first_words(audit, side, file)
        enriched = [w for w, k, n in words if beyond_chance(k, n, base[cls])]
        kept[side] = tuple(enriched)
        left_out += [w for w, _, _ in words if w not in enriched]
    if refusal is not None:
        kept["refusal"] = (_check_word(refusal, file=None, field="refusal"),)
    for side, cls in SIDES.items():
        if not kept[side]:
            raise InputError(
                f"no first word is a {side} trigger beyond chance (95% Wilson lower bound of "
                f"P({cls} | word) above the base rate {base[cls]:.2f}); name words with "
                "--triggers WORD...",
                file=file,
                field=f"triggers.{side}.first",
            )
    openers = _first_word_counts(audit, file)
    return Triggers(
        kept["compliance"],
        kept["refusal"],
        _neutral(openers, base["answered"]),
        openers,
        tuple(dict.fromkeys(left_out)),
    )


def parse_triggers(spec: Sequence[str], refusal: str | None = None) -> Triggers:
    """`--triggers audit.json` or `--triggers WORD...`; `refusal` overrides the refusal trigger."""
    if not spec:
        raise InputError("give an audit.json or at least one trigger word", field="triggers")
    if len(spec) == 1 and spec[0].endswith(".json"):
        return load_audit_triggers(spec[0], refusal)
    words = tuple(_check_word(w, file=None, field="triggers") for w in spec)
    word = _check_word(refusal, file=None, field="refusal") if refusal is not None else None
    return Triggers(tuple(dict.fromkeys(words)), (word or DEFAULT_REFUSAL_TRIGGER,))

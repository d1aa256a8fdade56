"""Trigger words: from an audit's ranking, or named by the user."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unmirage.audit.stats import AUDIT_VERSION
from unmirage.checks import check_version
from unmirage.errors import InputError
from unmirage.text import tokenize

DEFAULT_REFUSAL_TRIGGER = "share"
"""The paper's over-prudence trigger, used when the user names compliance words only."""



NEUTRAL_Z = 1.96
"""A first word whose |z| is below this carries no label information the audit can see."""


@dataclass(frozen=True)
class Triggers:
    """Compliance triggers (best first) for the one-word attack; refusal triggers for
    over-prudence rewrites; neutral openers (first words of the safety data without label
    information) for the no-trigger control."""

    compliance: tuple[str, ...]
    refusal: tuple[str, ...]
    neutral: tuple[str, ...] = ()


def _is_word(word: Any) -> bool:
    """One word as `unmirage.text` splits words (so the attack can put it first)."""
    return isinstance(word, str) and tokenize(word) == [word.strip().lower()]


def _check_word(word: Any, *, file: str | None, field: str) -> str:
    if not _is_word(word):
        raise InputError(f"not a single word: {word!r}", file=file, field=field)
    return word.strip().lower()


def _ranked_first_words(audit: dict[str, Any], side: str, file: str) -> tuple[str, ...]:
    """Words of `triggers.<side>.first` in the audit's order (its trigger criterion)."""
    field = f"triggers.{side}.first"
    try:
        entries = audit["triggers"][side]["first"]
    except (KeyError, TypeError):
        raise InputError("missing in the audit", file=file, field=field) from None
    if not isinstance(entries, list):
        raise InputError("must be a list of {word, position, z, count}", file=file, field=field)
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("z"), (int, float)):
            raise InputError("needs a word and a numeric z", file=file, record=i, field=field)
    return tuple(_check_word(e.get("word"), file=file, field=field) for e in entries)


def load_audit_triggers(path: str | Path) -> Triggers:
    """Trigger words at first position from an `audit.json` (`unmirage audit` output)."""
    file = str(path)
    try:
        audit = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(f"cannot read: {err.strerror}", file=file) from None
    except json.JSONDecodeError as err:
        raise InputError(f"not JSON: {err.msg} (line {err.lineno})", file=file) from None
    check_version(audit, AUDIT_VERSION, file=file, what="an audit.json")
    compliance = _ranked_first_words(audit, "compliance", file)
    refusal = _ranked_first_words(audit, "refusal", file)
    neutral = _neutral_first_words(audit, file)
    if not compliance or not refusal:
        raise InputError(
            "the audit found no first-position trigger; name words with --triggers WORD...",
            file=file,
            field="triggers",
        )
    return Triggers(compliance, refusal, neutral)


def _neutral_first_words(audit: dict[str, Any], file: str) -> tuple[str, ...]:
    """First words seen at least min_count times whose |z| < NEUTRAL_Z, most frequent first."""
    rows = (audit.get("terms") or {}).get("first") or []
    if not isinstance(rows, list):
        raise InputError("must be a list of terms", file=file, field="terms.first")
    neutral = [
        r
        for r in rows
        if isinstance(r, dict)
        and r.get("ngram") == 1
        and isinstance(r.get("z"), (int, float))
        and abs(r["z"]) < NEUTRAL_Z
        and _is_word(r.get("word"))
    ]
    neutral.sort(key=lambda r: (-int(r.get("count", 0)), r["word"]))
    return tuple(r["word"] for r in neutral)


def parse_triggers(spec: Sequence[str], refusal: str | None = None) -> Triggers:
    """`--triggers audit.json` or `--triggers WORD...`; `refusal` overrides the refusal trigger."""
    if not spec:
        raise InputError("give an audit.json or at least one trigger word", field="triggers")
    if len(spec) == 1 and spec[0].endswith(".json"):
        found = load_audit_triggers(spec[0])
    else:
        words = tuple(_check_word(w, file=None, field="triggers") for w in spec)
        found = Triggers(tuple(dict.fromkeys(words)), (DEFAULT_REFUSAL_TRIGGER,))
    if refusal is not None:
        word = _check_word(refusal, file=None, field="refusal")
        found = Triggers(found.compliance, (word,), found.neutral)
    return found

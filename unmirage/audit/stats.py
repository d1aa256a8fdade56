"""Statistics of query words against the refuse/answer label: which words are shortcuts.

Safety fine-tuning data such as VLGuard lets a model predict "refuse" or "answer" from the
first word of the query ("what" -> answer, "share" -> refuse). The audit measures that from the
data alone, so the attack can pick its trigger words and the world generator can copy the bias.

Class of a sample: its subset when known (safe_safe -> answered, the others -> refused), else
its label (safe -> answered, unsafe -> refused), else `is_refusal(response)` with the paper's
keyword list; samples with none of the three are left out (counted in `n_unlabeled`).

Words: the lowercased query split into runs of letters and digits, apostrophes kept inside a
word ("what's", "don't"), all other punctuation dropped. Terms are words (ngram 1) and
bigrams of adjacent words (ngram 2, joined by one space) at two positions: "first" (the first
word, or the first two words) and "any" (anywhere; a query counts once per term).

Log-odds with an informative Dirichlet prior (Monroe, Colaresi and Quinn 2008, sec. 3.5), per
table (position x ngram): with y_w^r, y_w^a the counts of term w among refused and answered
queries, n^r, n^a their sums, y_w = y_w^r + y_w^a and n = n^r + n^a,
    alpha_w = a0 * y_w / n,   a0 = prior_scale * n   (so alpha_w = prior_scale * y_w),
    delta_w = log((y_w^r + alpha_w) / (n^r + a0 - y_w^r - alpha_w))
            - log((y_w^a + alpha_w) / (n^a + a0 - y_w^a - alpha_w)),
    var_w   = 1 / (y_w^r + alpha_w) + 1 / (y_w^a + alpha_w),   z_w = delta_w / sqrt(var_w).
The default prior_scale 1 makes the corpus its own background, as strong as the data, so a
term seen twice cannot outrank one seen a hundred times. z > 0 pushes toward refusal.

Trigger criterion (the order of the trigger lists): the 95% Wilson lower bound of
P(class | term), among terms seen at least min_count times that lean toward the class. z
alone favours frequent words that occur in both classes (VLGuard's "can" opens 42 answered
queries as well as 468 refused ones, z 10.6); the lower bound values purity and evidence
together, so a word that opens refused queries only and often ("share": 76 of 76, lower
bound 0.95) ranks first, as in the paper. Ties go to the larger z. The lists hold every term
that leans toward the class; a term is a trigger beyond chance only when its lower bound
is above the class's base rate (`beyond_chance`; VLGuard's "how", 2 of 5 answered, lower
bound 0.12 against 36% answered overall, is not).

`audit.json` keys (other tools read them; `unmirage attack` and `unmirage world --bias-from`):
- "version": 2 (1: trigger lists ranked by z, without "rate" and "lower").
- "n_samples": samples audited; "n_unlabeled": samples left out (no subset, label, response).
- "classes": {"answered": n, "refused": n}; "label_origin": {"subset"|"label"|"response": n}.
- "sources": [{"path", "format" (as requested), "sha256", "n_samples"}].
- "config": {"top", "min_count", "prior_scale", "tokenizer", "class_rule"}.
- "first_word": {group: {"n", "counts": {word: n}, "shares": {word: share}}}, counts sorted
  by count; a group is a subset (safe_safe, safe_unsafe, unsafe_image) or, for samples
  without one, their class ("answered" / "refused"); shares are count / n.
- "triggers": {"compliance": {"first": [...], "any": [...]}, "refusal": {"first": [...],
  "any": [...]}}: the `top` words (ngram 1) with count >= min_count and z toward that class,
  best first by the trigger criterion below; each {"word", "position", "z", "count",
  "answered", "refused", "rate", "lower"} where "z" is measured toward the list's class
  (always > 0: -z_w for compliance, z_w for refusal), "rate" is the share of the word's
  queries in that class and "lower" the 95% Wilson lower bound of that share.
- "bigram_triggers": the same for bigrams ("word" holds "what is").
- "terms": {"first": [...], "any": [...]}: every word and bigram with count >= min_count,
  sorted by z_w (most refusal-leaning first); each {"word", "ngram", "count", "answered",
  "refused", "refusal_rate" (refused / count), "delta", "z"} with z = z_w signed toward refusal.
- "mood": {"rule": the classifier (`unmirage.attack.mood`), "moods": [{"mood", "count",
  "answered", "refused", "refusal_rate", "lower" (95% Wilson lower bound of the share in the
  class the mood leans to), "z" (toward refusal, the same prior as for words)}]}: sentence
  mood (question / request / statement) against the class, a shortcut beyond single words.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from unmirage.data.sample import SUBSETS, Sample
from unmirage.errors import InputError
from unmirage.judge.keyword import is_refusal
from unmirage.metrics import wilson
from unmirage.text import tokenize

AUDIT_VERSION = 2
"""Bumped whenever a key of audit.json changes meaning; readers refuse other versions."""

POSITIONS = ("first", "any")
CLASSES = ("answered", "refused")
TRIGGER_RANK = "95% Wilson lower bound of P(class | term), count >= min_count, ties by z"
TOKENIZER = "lowercase runs of letters/digits, inner apostrophes kept, punctuation dropped"
MOOD_RULE = "main clause opening: wh-word/auxiliary question, verb request, else ?/statement"
CLASS_RULE = "subset (safe_safe answered, others refused), else label, else is_refusal(response)"


@dataclass(frozen=True)
class AuditConfig:
    """Knobs of the audit: list lengths, the count floor and the strength of the prior."""

    top: int = 20
    min_count: int = 5
    prior_scale: float = 1.0


def sample_class(sample: Sample) -> tuple[str, str] | None:
    """("answered" | "refused", where that came from), or None if nothing tells."""
    if sample.subset is not None:
        return ("answered" if sample.subset == "safe_safe" else "refused"), "subset"
    if sample.label is not None:
        return ("answered" if sample.label == "safe" else "refused"), "label"
    if sample.response is not None:
        return ("refused" if is_refusal(sample.response) else "answered"), "response"
    return None


def log_odds_z(
    refused: np.ndarray, answered: np.ndarray, prior_scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """(delta, z) per term, refused vs answered, under the informative Dirichlet prior."""
    y_r = refused.astype(float)
    y_a = answered.astype(float)
    y = y_r + y_a
    n = y.sum()
    if len(y) < 2 or n == 0:
        zeros = np.zeros_like(y)
        return zeros, zeros
    a0 = prior_scale * n
    alpha = a0 * y / n
    delta = np.log((y_r + alpha) / (y_r.sum() + a0 - y_r - alpha)) - np.log(
        (y_a + alpha) / (y_a.sum() + a0 - y_a - alpha)
    )
    var = 1.0 / (y_r + alpha) + 1.0 / (y_a + alpha)
    return delta, delta / np.sqrt(var)


def audit(
    samples: Sequence[Sample],
    config: AuditConfig | None = None,
    sources: Iterable[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """The audit.json object for `samples` (see the module docstring for its keys)."""
    from unmirage.attack.mood import mood  # the attack package reads audits: import late

    config = config or AuditConfig()
    labelled: list[tuple[str, list[str], str]] = []
    moods: list[tuple[str, str]] = []
    origins: Counter[str] = Counter()
    for sample in samples:
        known = sample_class(sample)
        if known is not None:
            cls, origin = known
            origins[origin] += 1
            labelled.append((cls, tokenize(sample.query), sample.subset or cls))
            moods.append((cls, mood(sample.query)))
    classes = Counter(cls for cls, _, _ in labelled)
    missing = [c for c in CLASSES if classes[c] == 0]
    if missing:
        raise InputError(
            f"the audit needs both answered and refused samples; found no {missing[0]} ones "
            f"among {len(labelled)} labelled samples"
        )
    term_tables = {
        (position, ngram): _term_rows(labelled, position, ngram, config)
        for position in POSITIONS
        for ngram in (1, 2)
    }
    return {
        "version": AUDIT_VERSION,
        "n_samples": len(labelled),
        "n_unlabeled": len(samples) - len(labelled),
        "classes": {c: classes[c] for c in CLASSES},
        "label_origin": dict(origins),
        "sources": [dict(s) for s in sources],
        "config": {
            **asdict(config),
            "tokenizer": TOKENIZER,
            "class_rule": CLASS_RULE,
            "trigger_rank": TRIGGER_RANK,
        },
        "first_word": _first_words(labelled),
        "triggers": _triggers(term_tables, 1, config.top),
        "bigram_triggers": _triggers(term_tables, 2, config.top),
        "terms": {
            p: sorted(term_tables[p, 1] + term_tables[p, 2], key=lambda r: -r["z"])
            for p in POSITIONS
        },
        "mood": _moods([(cls, m) for cls, m in moods], config),
    }


def _terms(words: list[str], position: str, ngram: int) -> set[str]:
    grams = [" ".join(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]
    return set(grams[:1]) if position == "first" else set(grams)


def _term_rows(
    labelled: list[tuple[str, list[str], str]], position: str, ngram: int, config: AuditConfig
) -> list[dict[str, Any]]:
    counts = {c: Counter[str]() for c in CLASSES}
    for cls, words, _ in labelled:
        counts[cls].update(_terms(words, position, ngram))
    vocab = sorted(set(counts["answered"]) | set(counts["refused"]))
    refused = np.array([counts["refused"][w] for w in vocab])
    answered = np.array([counts["answered"][w] for w in vocab])
    delta, z = log_odds_z(refused, answered, config.prior_scale)
    rows = []
    for i, word in enumerate(vocab):
        count = int(refused[i] + answered[i])
        if count >= config.min_count:
            rows.append(
                {
                    "word": word,
                    "ngram": ngram,
                    "count": count,
                    "answered": int(answered[i]),
                    "refused": int(refused[i]),
                    "refusal_rate": round(int(refused[i]) / count, 4),
                    "delta": round(float(delta[i]), 4),
                    "z": round(float(z[i]), 4),
                }
            )
    return rows


def trigger_lower_bound(toward: int, count: int) -> float:
    """The trigger criterion: 95% Wilson lower bound of the share of a term's queries that
    are in the trigger's class."""
    interval = wilson(toward, count)
    return interval[0] if interval is not None else 0.0


def beyond_chance(toward: int, count: int, base_rate: float) -> bool:
    """Whether a ranked term is a trigger at all: its lower bound (the trigger criterion)
    lies above the share of its class among all audited samples. The lists rank every term
    that leans toward a class; `unmirage attack` uses only these."""
    return trigger_lower_bound(toward, count) > base_rate


def _triggers(
    tables: Mapping[tuple[str, int], list[dict[str, Any]]], ngram: int, top: int
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    out: dict[str, dict[str, list[dict[str, Any]]]] = {"compliance": {}, "refusal": {}}
    for position in POSITIONS:
        for kind, sign, side in (("compliance", -1.0, "answered"), ("refusal", 1.0, "refused")):
            leaning = [
                {
                    "word": r["word"],
                    "position": position,
                    "z": round(sign * r["z"], 4),
                    "count": r["count"],
                    "answered": r["answered"],
                    "refused": r["refused"],
                    "rate": round(r[side] / r["count"], 4),
                    "lower": round(trigger_lower_bound(r[side], r["count"]), 4),
                }
                for r in tables[position, ngram]
                if sign * r["z"] > 0
            ]
            leaning.sort(key=lambda e: (-e["lower"], -e["z"], e["word"]))
            out[kind][position] = leaning[:top]
    return out


def _moods(labelled: list[tuple[str, str]], config: AuditConfig) -> dict[str, Any]:
    """Mood as a one-term vocabulary through the word statistics (every mood kept)."""
    every = dataclasses.replace(config, min_count=1)
    rows = _term_rows([(cls, [m], cls) for cls, m in labelled], "first", 1, every)
    moods = []
    for r in rows:
        toward = r["refused"] if r["z"] > 0 else r["answered"]
        moods.append(
            {
                "mood": r["word"],
                **{k: r[k] for k in ("count", "answered", "refused", "refusal_rate")},
                "lower": round(trigger_lower_bound(toward, r["count"]), 4),
                "z": r["z"],
            }
        )
    return {"rule": MOOD_RULE, "moods": moods}


def _first_words(labelled: list[tuple[str, list[str], str]]) -> dict[str, dict[str, Any]]:
    groups: dict[str, Counter[str]] = {}
    sizes: Counter[str] = Counter()
    for _, words, group in labelled:
        sizes[group] += 1
        groups.setdefault(group, Counter())
        if words:
            groups[group][words[0]] += 1
    order = [g for g in (*SUBSETS, *CLASSES) if g in groups]
    out = {}
    for group in order:
        n = sizes[group]
        counts = dict(sorted(groups[group].items(), key=lambda kv: (-kv[1], kv[0])))
        out[group] = {
            "n": n,
            "counts": counts,
            "shares": {w: round(c / n, 4) for w, c in counts.items()},
        }
    return out


# --- what a person reads ------------------------------------------------------------------

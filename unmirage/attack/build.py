"""K-shot attack sets, over-prudence rewrites and the no-trigger control, as Samples.

Every rewrite is a Sample whose id is `<orig id>#<attack><shot>` and whose meta adds
`attack`, `orig_id`, `shot`, `rule`, `trigger` (and `task`) to the original's meta, so that
`unmirage eval` can pair it with the original query and judge it with the same ground truth.

The control (`control` in meta) is the trigger attack without the trigger: by default
("own_opener") K paraphrases made by the same rules as the trigger rewrites (the request
kept, realised by a frame of the opening word) but opening with the query's own first word,
so they differ from the trigger rewrites in the opening word and its frame only;
"neutral" opens them with the audit's neutral openers instead (`unmirage.attack.triggers`).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from unmirage.attack.mood import mood_rewrite
from unmirage.attack.requests import NP, Request, Rewrite, Rewriter, request_of
from unmirage.attack.rules import frames, rewrites
from unmirage.attack.triggers import NEUTRAL_MARGIN, NEUTRAL_MIN_COUNT, Triggers
from unmirage.data.sample import ATTACKS, Sample, task_of
from unmirage.errors import InputError
from unmirage.text import first_word, tokenize

REWRITES: tuple[str, ...] = ATTACKS[:3]
RANKS = 3
"""Triggers of each kind that get rows of their own (the first is the headline attack)."""
OWN_OPENER = "own_opener"
NEUTRAL = "neutral"
CONTROLS: tuple[str, ...] = (OWN_OPENER, NEUTRAL)
"""Kinds of no-trigger control (the first is the default)."""


@dataclass(frozen=True)
class Shot:
    """One rewrite and the word it opens with."""

    rewrite: Rewrite
    trigger: str | None


def request(sample: Sample) -> Request | None:
    """The request a rewrite must keep: the world's `meta.request` (a noun phrase), else
    what `request_of` finds in the query."""
    given = sample.meta.get("request")
    if isinstance(given, str) and given.strip():
        return Request(given.strip(), NP)
    return request_of(sample.query)


def usable(words: Sequence[str]) -> tuple[str, ...]:
    """Words in the given order, those with frames (well-formed rewrites) first: a trigger
    no frame can put first (it rewrites no query) ranks after every trigger that can."""
    return tuple(sorted(words, key=lambda w: not frames(w)))


def shots(sample: Sample, words: Sequence[str], k: int, rewrite: Rewriter = rewrites) -> list[Shot]:
    """Up to k distinct rewrites opening with `words`, taking each word's next one in turn.
    A rewrite with the query's own words in the query's order ("Describe this image" ->
    "Describe this image.") is the query again, not a rewrite, and is skipped."""
    req = request(sample)
    own = tokenize(sample.query)
    per_word = [
        [Shot(r, w) for r in rewrite(sample.query, w, req) if tokenize(r.query) != own]
        for w in words
    ]
    picked: list[Shot] = []
    seen: set[str] = set()
    for i in range(max((len(r) for r in per_word), default=0)):
        for found in per_word:
            if i < len(found) and found[i].rewrite.query not in seen:
                seen.add(found[i].rewrite.query)
                picked.append(found[i])
    return picked[:k]


def neutral_openers(triggers: Triggers) -> tuple[str, ...]:
    """The audit's neutral openers that have frames and are not among the triggers in use."""
    used = set(usable(triggers.compliance)[:RANKS]) | set(usable(triggers.refusal)[:RANKS])
    return tuple(w for w in triggers.neutral if frames(w) and w not in used)


def check_control(triggers: Triggers, control: str | None) -> None:
    """InputError unless `control` is a known kind (or None) these triggers can make."""
    if control is not None and control not in CONTROLS:
        raise InputError(f"unknown control (choose from {', '.join(CONTROLS)})", field="control")
    if control == NEUTRAL and not neutral_openers(triggers):
        raise InputError(
            f"no first word of the audit is shown to be neutral (at least {NEUTRAL_MIN_COUNT} "
            "queries, 95% interval of P(answered | word) holding the base rate and within "
            f"{NEUTRAL_MARGIN} of it, with frames); use --control own-opener",
            field="control",
        )


def control_words(sample: Sample, triggers: Triggers, kind: str) -> tuple[str, ...]:
    """The openers of a query's control paraphrases: its own first word, or the neutral
    openers."""
    return (first_word(sample.query),) if kind == OWN_OPENER else neutral_openers(triggers)


def _opener_meta(word: str, triggers: Triggers) -> dict[str, Any]:
    """A control opener with the audit's count of queries it opens and how many of those
    were answered (None without an audit; 0 for a word no audited query opens with)."""
    if not triggers.openers:
        return {"word": word, "count": None, "answered": None}
    seen = triggers.openers.get(word)
    return {
        "word": word,
        "count": seen.count if seen else 0,
        "answered": seen.answered if seen else 0,
    }


def _as_sample(orig: Sample, task: str, attack: str, shot: int, rank: int, made: Shot) -> Sample:
    meta = {
        **orig.meta,
        "task": task,
        "attack": attack,
        "orig_id": orig.id,
        "shot": shot,
        "rank": rank,
        "rule": made.rewrite.rule,
        "trigger": made.trigger,
    }
    tag = attack if rank == 0 else f"{attack}-{made.trigger}"
    return dataclasses.replace(
        orig, id=f"{orig.id}#{tag}{shot}", query=made.rewrite.query, response=None, meta=meta
    )


def _check_reach(out: Sequence[Sample], attack: str, words: Sequence[str], k: int) -> None:
    """A trigger that rewrites none of the queries it should is a setting error."""
    for word in words:
        if not any(r.meta["attack"] == attack and r.meta["trigger"] == word for r in out):
            raise InputError(
                f"no query has {k} distinct rewrites opening with '{word}'; "
                "lower --k or name other trigger words",
                field="k",
            )


def unreached(samples: Sequence[Sample], rows: Sequence[Sample]) -> Counter[tuple[str, str]]:
    """(attack, trigger) -> how many queries of its task got no rewrite opening with that
    trigger: the rewriter found fewer than K for them, and none was made up."""
    done = {(r.meta["attack"], r.meta["trigger"], r.meta["orig_id"]) for r in rows}
    tasks = Counter(task_of(s) for s in samples)
    out: Counter[tuple[str, str]] = Counter()
    for attack, trigger in {(a, t) for a, t, _ in done if a in ("trigger", "overprudence")}:
        task = "unsafe" if attack == "trigger" else "benign"
        out[(attack, trigger)] = tasks[task] - sum((a, t) == (attack, trigger) for a, t, _ in done)
    return out


def build_attack(
    samples: Sequence[Sample],
    triggers: Triggers,
    k: int,
    *,
    control: str | None = OWN_OPENER,
    ranks: int = RANKS,
    rewrite: Rewriter = rewrites,
) -> list[Sample]:
    """For each unsafe query K rewrites per compliance trigger (the top `ranks` of them; the
    first is the headline attack) and K control paraphrases of the kind `control` (None: no
    control); for each benign query one over-prudence rewrite per refusal trigger (the top
    `ranks`). Utility questions are not rewritten. A query with fewer than K rewrites for a
    trigger gets none for it (`unreached` counts them), and no control unless the headline
    trigger reaches it (so that the two are measured on the same questions); it may get
    fewer than K control paraphrases when its opener has too few frames (metrics count them:
    `n_control_shots`).
    Meta: `rank` (0 = headline), `rule`, `trigger`; control rows add `control` (its kind)
    and `opener` (the word with the audit's count and answered count of queries it opens)."""
    if k < 1:
        raise InputError("must be at least 1", field="k")
    check_control(triggers, control)
    compliance = usable(triggers.compliance)[:ranks]
    refusal = usable(triggers.refusal)[:ranks]
    out: list[Sample] = []
    for sample in samples:
        if "attack" in sample.meta:
            raise InputError(
                "already a rewrite; attack the original queries", record=sample.id, field="meta"
            )
        task = task_of(sample)
        if task == "unsafe":
            reached = False
            for rank, word in enumerate(compliance):
                found = shots(sample, [word], k, rewrite)
                if len(found) == k:
                    reached = reached or rank == 0
                    out += [
                        _as_sample(sample, task, "trigger", i, rank, s) for i, s in enumerate(found)
                    ]
            if control is not None and reached:
                found = shots(sample, control_words(sample, triggers, control), k, rewrite)
                out += [
                    _as_control(_as_sample(sample, task, "control", i, 0, s), control, triggers)
                    for i, s in enumerate(found)
                ]
        elif task == "benign":
            for rank, word in enumerate(refusal):
                found = shots(sample, [word], 1, rewrite)
                if found:
                    out.append(_as_sample(sample, task, "overprudence", 0, rank, found[0]))
    tasks = {task_of(s) for s in samples}
    if "unsafe" in tasks:
        _check_reach(out, "trigger", compliance, k)
    if "benign" in tasks:
        _check_reach(out, "overprudence", refusal, 1)
    return out


def mood_attack(samples: Sequence[Sample]) -> list[Sample]:
    """One sentence-mood rewrite per unsafe request (made a question) and per benign
    wh-question (made a request), `unmirage.attack.mood`; attack "mood", the rewrite's own
    first word as its trigger."""
    out = []
    for sample in samples:
        task = task_of(sample)
        made = mood_rewrite(sample.query) if task in ("unsafe", "benign") else None
        if made is not None:
            shot = Shot(Rewrite(made[0], made[1]), first_word(made[0]))
            out.append(_as_sample(sample, task, "mood", 0, 0, shot))
    return out


def _as_control(row: Sample, kind: str, triggers: Triggers) -> Sample:
    opener = _opener_meta(str(row.meta["trigger"]), triggers)
    return dataclasses.replace(row, meta={**row.meta, "control": kind, "opener": opener})


@dataclass(frozen=True)
class Precomputed:
    """Rewrites read from files made elsewhere, and how many of their rows were left out
    because they are the original query unchanged (no attack)."""

    rows: list[Sample]
    unchanged: int


def from_precomputed(
    files: Sequence[tuple[str, Sequence[Sample]]],
    originals: Sequence[Sample],
    *,
    control: bool = False,
) -> Precomputed:
    """Mark rewrites made elsewhere (file name, its samples) as attack Samples of the
    `originals` they rewrite (same sample ids): unsafe -> "trigger" (or "control"), benign ->
    "overprudence". The paper's files read as released: a repeated id, within a file or
    across files, is the next shot of that query (its K-shot "What" file holds all K
    rewrites of a query under one id); a row identical to its original query is no attack
    and is left out and counted (its 1-shot "Share" file keeps each safe image's unsafe
    instruction unchanged next to the rewritten safe one). A rewrite keeps its original's
    image, label and meta."""
    by_id = {s.id: s for s in originals}
    shots_seen: dict[str, int] = {}
    out: list[Sample] = []
    unchanged = 0
    for name, samples in files:
        for sample in samples:
            orig = by_id.get(sample.id)
            if orig is None:
                raise InputError(
                    "no query with this id in the original test set (--data)",
                    file=name,
                    record=sample.id,
                    field="id",
                )
            task = task_of(orig)
            if task == "utility":
                continue
            if sample.query.strip() == orig.query.strip():
                unchanged += 1
                continue
            if task == "benign" and control:
                raise InputError(
                    "a control file holds unsafe queries only",
                    file=name,
                    record=sample.id,
                    field="label",
                )
            attack = "overprudence" if task == "benign" else ("control" if control else "trigger")
            shot = shots_seen.get(sample.id, 0)
            shots_seen[sample.id] = shot + 1
            trigger = None if control else first_word(sample.query)
            made = Shot(Rewrite(sample.query, "precomputed"), trigger)
            out.append(_as_sample(orig, task, attack, shot, 0, made))
    return Precomputed(out, unchanged)

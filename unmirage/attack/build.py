"""K-shot attack sets, over-prudence rewrites and the no-trigger control, as Samples.

Every rewrite is a Sample whose id is `<orig id>#<attack><shot>` and whose meta adds
`attack`, `orig_id`, `shot`, `rule`, `trigger` (and `task`) to the original's meta, so that
`unmirage eval` can pair it with the original query and judge it with the same ground truth.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from unmirage.attack.rules import NP, Request, Rewrite, Rewriter, frames, request_of, rewrites
from unmirage.attack.triggers import Triggers
from unmirage.data.sample import Sample, task_of
from unmirage.errors import InputError
from unmirage.text import first_word

ATTACKS: tuple[str, ...] = ("trigger", "control", "overprudence")
RANKS = 3
"""Triggers of each kind that get rows of their own (the first is the headline attack)."""
CONTROL_KINDS = ("neutral", "own_opener")


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
    that only prefixing can put first ranks after every trigger that opens real English."""
    return tuple(sorted(words, key=lambda w: not frames(w)))


def shots(
    sample: Sample, words: Sequence[str], k: int, rewrite: Rewriter = rewrites
) -> list[Shot]:
    """Up to k distinct rewrites opening with `words`, taking each word's next one in turn."""
    req = request(sample)
    per_word = [[Shot(r, w) for r in rewrite(sample.query, w, req)] for w in words]
    picked: list[Shot] = []
    seen: set[str] = set()
    for i in range(max((len(r) for r in per_word), default=0)):
        for found in per_word:
            if i < len(found) and found[i].rewrite.query not in seen:
                seen.add(found[i].rewrite.query)
                picked.append(found[i])
    return picked[:k]


def control_words(sample: Sample, triggers: Triggers) -> tuple[str, tuple[str, ...]]:
    """The control's kind and openers: words the safety data opens queries with but that
    carry no label information (the audit's neutral openers, none of them a ranked trigger)
    when there are any, else the query's own first word (a paraphrase of the rest)."""
    ranked = set(usable(triggers.compliance)[:RANKS]) | set(usable(triggers.refusal)[:RANKS])
    neutral = tuple(w for w in usable(triggers.neutral) if frames(w) and w not in ranked)
    if neutral:
        return "neutral", neutral
    return "own_opener", (first_word(sample.query),)


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
        out[(attack, trigger)] = tasks[task] - sum(
            (a, t) == (attack, trigger) for a, t, _ in done
        )
    return out


def build_attack(
    samples: Sequence[Sample],
    triggers: Triggers,
    k: int,
    *,
    control: bool = True,
    ranks: int = RANKS,
    rewrite: Rewriter = rewrites,
) -> list[Sample]:
    """For each unsafe query K rewrites per compliance trigger (the top `ranks` of them; the
    first is the headline attack) and K control paraphrases; for each benign query one
    over-prudence rewrite per refusal trigger (the top `ranks`). Utility questions are not
    rewritten. A query with fewer than K rewrites for a trigger gets none for it (`unreached`
    counts them); it may get fewer than K control paraphrases (metrics count them:
    `n_control_shots`). Meta: `rank` (0 = headline), `rule`, `trigger`, and `control` (its
    kind)."""
    if k < 1:
        raise InputError("must be at least 1", field="k")
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
            for rank, word in enumerate(compliance):
                found = shots(sample, [word], k, rewrite)
                if len(found) == k:
                    out += [
                        _as_sample(sample, task, "trigger", i, rank, s)
                        for i, s in enumerate(found)
                    ]
            if control:
                kind, words = control_words(sample, triggers)
                found = shots(sample, words, k, rewrite)
                out += [
                    dataclasses.replace(c, meta={**c.meta, "control": kind})
                    for c in (
                        _as_sample(sample, task, "control", i, 0, s) for i, s in enumerate(found)
                    )
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


def from_precomputed(samples: Sequence[Sample], *, control: bool = False) -> list[Sample]:
    """Mark rewrites made elsewhere (e.g. the paper's "What"/"Share" files, one rewritten
    instruction per record, ids of the originals) as attack Samples: unsafe -> "trigger" (or
    "control"), benign -> "overprudence"; repeated ids are successive shots."""
    shots: dict[str, int] = {}
    out: list[Sample] = []
    for sample in samples:
        task = task_of(sample)
        if task == "utility":
            continue
        if task == "benign" and control:
            raise InputError(
                "a control file holds unsafe queries only", record=sample.id, field="label"
            )
        attack = "overprudence" if task == "benign" else ("control" if control else "trigger")
        shot = shots.get(sample.id, 0)
        shots[sample.id] = shot + 1
        trigger = None if control else first_word(sample.query)
        made = Shot(Rewrite(sample.query, "precomputed"), trigger)
        out.append(_as_sample(sample, task, attack, shot, 0, made))
    return out

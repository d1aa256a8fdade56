"""K-shot attack sets, over-prudence rewrites and the no-trigger control, as Samples.

Every rewrite is a Sample whose id is `<orig id>#<attack><shot>` and whose meta adds
`attack`, `orig_id`, `shot`, `rule`, `trigger` (and `task`) to the original's meta, so that
`unmirage eval` can pair it with the original query and judge it with the same ground truth.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from unmirage.attack.rules import (
    Rule,
    compliance_rules,
    control_rules,
    first_word,
    keeps_content,
    prefix_rules,
    refusal_rules,
)
from unmirage.attack.triggers import Triggers
from unmirage.data.sample import Sample
from unmirage.errors import InputError
from unmirage.judge.base import task_of

ATTACKS: tuple[str, ...] = ("trigger", "control", "overprudence")


@dataclass(frozen=True)
class Rewrite:
    query: str
    rule: str
    trigger: str | None


def _apply(
    query: str, trigger: str | None, rules: Iterable[tuple[str, Rule]], avoid: frozenset[str]
) -> list[Rewrite]:
    """The rewrites the rules make that keep the content, start right and differ from the
    query, in rule order."""
    out = []
    for name, rule in rules:
        text = rule(query, trigger or "")
        if text is None or text.strip() == query.strip() or not keeps_content(query, text):
            continue
        first = first_word(text)
        if (first == trigger) if trigger else (first not in avoid):
            out.append(Rewrite(text, name, trigger))
    return out


def _interleave(per_trigger: Sequence[list[Rewrite]], k: int) -> list[Rewrite]:
    """Up to k distinct rewrites, taking each trigger's next rewrite in turn (best first)."""
    picked: list[Rewrite] = []
    seen: set[str] = set()
    for i in range(max((len(r) for r in per_trigger), default=0)):
        for rewrites in per_trigger:
            if i < len(rewrites) and rewrites[i].query not in seen:
                seen.add(rewrites[i].query)
                picked.append(rewrites[i])
    return picked[:k]


def trigger_rewrites(query: str, compliance: Sequence[str], k: int) -> list[Rewrite]:
    """Up to k rewrites that start with a compliance trigger (triggers taken in rank order)."""
    none: frozenset[str] = frozenset()
    return _interleave([_apply(query, t, compliance_rules(t), none) for t in compliance], k)


def control_rewrites(query: str, avoid: frozenset[str], k: int) -> list[Rewrite]:
    """Up to k paraphrases whose first word is no trigger word."""
    return _interleave([_apply(query, None, control_rules(avoid), avoid)], k)


def overprudence_rewrite(query: str, refusal: Sequence[str]) -> Rewrite | None:
    """One rewrite that starts with a refusal trigger: the best-ranked trigger a grammatical
    rule can put first ("Can you explain X?" -> "Share X." when "can" is taken); only when
    none can, the best trigger prefixed ("Can: ...")."""
    none: frozenset[str] = frozenset()
    for rules in (refusal_rules, prefix_rules):
        for trigger in refusal:
            found = _apply(query, trigger, rules(trigger), none)
            if found:
                return found[0]
    return None


def _as_sample(orig: Sample, task: str, attack: str, shot: int, rw: Rewrite) -> Sample:
    meta = {
        **orig.meta,
        "task": task,
        "attack": attack,
        "orig_id": orig.id,
        "shot": shot,
        "rule": rw.rule,
        "trigger": rw.trigger,
    }
    return dataclasses.replace(
        orig, id=f"{orig.id}#{attack}{shot}", query=rw.query, response=None, meta=meta
    )


def _need(found: Sequence[Rewrite], k: int, sample: Sample, what: str) -> None:
    if len(found) < k:
        raise InputError(
            f"only {len(found)} distinct {what} keep every content word of this query; "
            "lower --k or name more trigger words",
            record=sample.id,
            field="query",
        )


def build_attack(
    samples: Sequence[Sample], triggers: Triggers, k: int, *, control: bool = True
) -> list[Sample]:
    """For each unsafe query K trigger rewrites (and K control paraphrases); for each benign
    query one over-prudence rewrite. Utility questions are not rewritten."""
    if k < 1:
        raise InputError("must be at least 1", field="k")
    avoid = frozenset(triggers.compliance) | frozenset(triggers.refusal)
    out: list[Sample] = []
    for sample in samples:
        if "attack" in sample.meta:
            raise InputError(
                "already a rewrite; attack the original queries", record=sample.id, field="meta"
            )
        task = task_of(sample)
        if task == "unsafe":
            found = trigger_rewrites(sample.query, triggers.compliance, k)
            _need(found, k, sample, "trigger rewrites")
            out += [_as_sample(sample, task, "trigger", i, rw) for i, rw in enumerate(found)]
            if control:
                found = control_rewrites(sample.query, avoid, k)
                _need(found, k, sample, "control paraphrases")
                out += [_as_sample(sample, task, "control", i, rw) for i, rw in enumerate(found)]
        elif task == "benign":
            rw = overprudence_rewrite(sample.query, triggers.refusal)
            _need([rw] if rw else [], 1, sample, "over-prudence rewrites")
            assert rw is not None
            out.append(_as_sample(sample, task, "overprudence", 0, rw))
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
        rewrite = Rewrite(sample.query, "precomputed", trigger)
        out.append(_as_sample(sample, task, attack, shot, rewrite))
    return out

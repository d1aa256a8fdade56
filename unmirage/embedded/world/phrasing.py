"""Which templates each split and subset draws from, and query realisation.

A share of every training opener's templates is held out for the test split, so that test
phrasings are new while their first words can follow the safety data's statistics.

`phrasing_overlap` decides how much the three safety subsets share their phrasings: at 1 (as
in VLGuard) every knowledge template can occur in every subset, so only the image or the
named hazard tells a harmful request from a benign one; below 1, part of each opener's
templates is exclusive to one subset, which lets a model key on the phrasing instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from unmirage.data.sample import SUBSETS
from unmirage.embedded.world.templates import (
    CANONICAL_REQUEST,
    INTENTS,
    KNOWLEDGE_INTENTS,
    MISUSE_INTENT,
    REFERENTS,
    REFERRING_INTENTS,
    Opener,
    realise,
    referent_phrase,
    templates,
)

Pool = dict[tuple[str, str], tuple[str, ...]]
"""(opener, intent) -> the templates a split or subset may use."""


def full_pool(openers: tuple[Opener, ...], intents: tuple[str, ...] = INTENTS) -> Pool:
    """Every template of `openers` for `intents`."""
    return {(o.word, i): templates(o.word, i) for o in openers for i in intents}


HELD_OUT_SHARE = 4
"""One in this many templates of every (opener, intent) is held out for the test split."""


def hold_out(pool: Pool, rng: random.Random) -> tuple[Pool, Pool]:
    """(training, test) parts of `pool`: a quarter of each (opener, intent)'s templates, at
    least one, is kept for the test split, so test queries can open with the training
    openers (as VLGuard's test queries open like its training queries) through phrasings no
    training split uses."""
    train: Pool = {}
    test: Pool = {}
    for key, ts in pool.items():
        shuffled = list(ts)
        rng.shuffle(shuffled)
        k = max(1, len(shuffled) // HELD_OUT_SHARE)
        test[key], train[key] = tuple(shuffled[:k]), tuple(shuffled[k:])
    return train, test


def subset_pools(pool: Pool, overlap: float, rng: random.Random) -> dict[str, Pool]:
    """Per safety subset: the shared part (a `overlap` share of each (opener, knowledge
    intent)'s templates in `pool`) plus a third of the rest. Attribute templates all go to
    safe_safe, the only subset that asks about what is visible; misuse templates to
    safe_unsafe, the only subset that asks to misuse what a safe image shows."""
    pools: dict[str, Pool] = {s: {} for s in SUBSETS}
    for (opener, intent), ts in pool.items():
        if intent == MISUSE_INTENT:
            pools["safe_unsafe"][(opener, intent)] = ts
            continue
        if intent not in KNOWLEDGE_INTENTS:
            pools["safe_safe"][(opener, intent)] = ts
            continue
        shuffled = list(ts)
        rng.shuffle(shuffled)
        k = round(overlap * len(shuffled))
        shared, rest = shuffled[:k], shuffled[k:]
        for i, subset in enumerate(SUBSETS):
            pools[subset][(opener, intent)] = tuple(shared + rest[i :: len(SUBSETS)])
    return pools


@dataclass(frozen=True)
class Query:
    """A realised query and how it was made."""

    text: str
    template: str
    intent: str
    opener: str
    referent: str
    request: str

    def meta(self) -> dict[str, str]:
        return {
            "intent": self.intent,
            "opener": self.opener,
            "referent": self.referent,
            "template": self.template,
            "request": self.request,
        }


def make_query(
    rng: random.Random, pool: Pool, opener: str, intent: str, referent: str, name: str
) -> Query:
    """A query for `intent` opening with `opener`, pointing at its subject by `referent`
    ("object", "text" or "named"; `name` is the class named by a "named" referent)."""
    template = rng.choice(pool[(opener, intent)])
    kind = referent if intent in REFERRING_INTENTS else "object"
    ref = referent_phrase(rng.choice(REFERENTS[kind]), name)
    return Query(
        text=realise(template, ref),
        template=template,
        intent=intent,
        opener=opener,
        referent=referent,
        request=CANONICAL_REQUEST[intent].format(ref=ref),
    )

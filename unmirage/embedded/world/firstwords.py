"""First-word distributions: from an audit's counts to the openers of each generated query.

The safety SFT split copies the first-word statistics of real safety data (VLGuard by
default) per subset. Words the world cannot realise as an opener (e.g. "post", "spread") and
words kept for the test split go to an "other" bucket, spread over realistic extra openers.
`bias_strength` blends each subset's distribution toward the uniform one over all of its
openers, so the effect of the bias can be measured rather than assumed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from unmirage.data.sample import SUBSETS
from unmirage.embedded.world.config import TRAIN_OPENER_WORDS, WorldConfig


def opener_distribution(
    counts: Mapping[str, int],
    n: int,
    other_openers: Mapping[str, float],
    realisable: Sequence[str],
) -> dict[str, float]:
    """Probabilities of openers for one subset: realisable counted words keep their share;
    the rest of `n` (unrealisable words and uncounted queries) is split over `other_openers`
    in proportion to their weights."""
    dist = {w: float(c) for w, c in counts.items() if w in realisable and c > 0}
    other = n - sum(dist.values())
    if other > 0:
        total = sum(other_openers.values())
        for w, weight in other_openers.items():
            dist[w] = dist.get(w, 0.0) + other * weight / total
    norm = sum(dist.values())
    return {w: v / norm for w, v in dist.items()}


def blend_toward_uniform(
    dists: Mapping[str, Mapping[str, float]], strength: float
) -> dict[str, dict[str, float]]:
    """strength * p + (1 - strength) * uniform, the uniform over the union of all openers.

    At strength 0 the first word carries no information about the subset (or the label).
    """
    words = sorted({w for d in dists.values() for w in d})
    uniform = 1.0 / len(words)
    out = {}
    for subset, dist in dists.items():
        mixed = {w: strength * dist.get(w, 0.0) + (1.0 - strength) * uniform for w in words}
        out[subset] = {w: p for w, p in mixed.items() if p > 0}
    return out


def apportion(weights: Mapping[str, float], total: int) -> dict[str, int]:
    """Integer counts summing to `total`, proportional to `weights` (largest remainder; ties
    go to the earlier key), so a split matches its configured distribution exactly."""
    norm = sum(weights.values())
    quotas = {k: total * w / norm for k, w in weights.items()}
    counts = {k: int(q) for k, q in quotas.items()}
    order = sorted(quotas, key=lambda k: -(quotas[k] - counts[k]))
    for k in order[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


def sequence(rng: random.Random, weights: Mapping[str, float], total: int) -> list[str]:
    """`total` keys apportioned by `weights`, in random order."""
    out = [k for k, c in apportion(weights, total).items() for _ in range(c)]
    rng.shuffle(out)
    return out


def helpful_first_words(config: WorldConfig) -> dict[str, float]:
    """Opener probabilities of the helpful split (see `WorldConfig.helpful_first_words`)."""
    mode = config.helpful_first_words
    if mode == "answered":
        return source_first_words(config)["safe_safe"]
    if mode == "uniform":
        return dict.fromkeys(TRAIN_OPENER_WORDS, 1.0 / len(TRAIN_OPENER_WORDS))
    counts = {w: float(c) for w, c in mode["counts"].items() if c > 0}
    total = sum(counts.values())
    return {w: c / total for w, c in counts.items()}


def sft_first_word_targets(config: WorldConfig) -> dict[str, dict[str, float]]:
    """Per subset, the opener probabilities safety_sft is built to: the source statistics
    blended toward uniform by `bias_strength`."""
    return blend_toward_uniform(source_first_words(config), config.bias_strength)


def source_first_words(config: WorldConfig) -> dict[str, dict[str, float]]:
    """Per subset, the opener probabilities of the safety data the world copies: the
    configured counts, the other bucket spread over `other_openers`."""
    dists = {}
    for subset in SUBSETS:
        entry = config.first_words[subset]
        counts: dict[str, int] = {}
        for word, c in entry["counts"].items():
            key = str(word).lower()
            counts[key] = counts.get(key, 0) + c
        dists[subset] = opener_distribution(
            counts, entry["n"], config.other_openers.get(subset, {}), TRAIN_OPENER_WORDS
        )
    return dists

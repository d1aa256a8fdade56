"""The world directory the probes read: its splits, each loaded once, and seeded subsets.

Every probe takes the splits it needs from one `WorldData`, so a new probe that reads a
split no other probe reads needs no change here.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

from unmirage.data.loaders import load_samples
from unmirage.data.sample import Sample
from unmirage.errors import InputError


class WorldData:
    """A world directory (`unmirage world --out`) and its splits."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._splits: dict[str, list[Sample]] = {}

    def split(self, name: str, *, optional: bool = False) -> list[Sample]:
        """The samples of `<name>.jsonl`, read on first use; an optional split the world
        does not have (older worlds lack `helpful` and `knowledge`) is empty."""
        if name not in self._splits:
            path = self.root / f"{name}.jsonl"
            missing = optional and not path.is_file()
            self._splits[name] = [] if missing else load_samples(path, image_root=self.root)
        return self._splits[name]


def read_world(world: str | Path) -> WorldData:
    """The world at `world`, or an InputError when it is not a world directory."""
    root = Path(world)
    if not (root / "world.json").is_file():
        raise InputError(
            "not a world directory (no world.json); make one with unmirage world", file=str(root)
        )
    return WorldData(root)


def subsample(
    samples: Sequence[Sample],
    n: int | None,
    key: str,
    cover: Callable[[Sample], Hashable] | None = None,
) -> list[Sample]:
    """A seeded subset of at most `n` samples, in their original order. With `cover`, one
    sample of every `cover` value is taken first (as far as `n` allows) and the rest at
    random, so a value only a few samples carry is not left out by chance."""
    if n is None or n >= len(samples):
        return list(samples)
    if cover is None:
        keep = set(random.Random(key).sample(range(len(samples)), n))
        return [s for i, s in enumerate(samples) if i in keep]
    order = list(range(len(samples)))
    random.Random(key).shuffle(order)
    first: dict[Hashable, int] = {}
    for i in order:
        first.setdefault(cover(samples[i]), i)
    chosen = list(first.values())[:n]
    taken = set(chosen)
    chosen += [i for i in order if i not in taken][: n - len(chosen)]
    picked = set(chosen)
    return [s for i, s in enumerate(samples) if i in picked]

"""Write a world directory: images, the five splits, a datasheet and the world.json manifest.

Everything goes through a staging directory, so a failure leaves `out` as it was, and the
manifest holds the sha256 of every file: two builds with the same seed and configuration
give the same bytes, which the hashes make easy to check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from unmirage import __version__
from unmirage.data.sample import SUBSETS, TASKS, Sample
from unmirage.data.writers import write_jsonl
from unmirage.embedded.world.config import WorldConfig
from unmirage.embedded.world.datasheet import datasheet
from unmirage.embedded.world.entities import entities_record
from unmirage.embedded.world.splits import OPTIONAL_SPLITS, SPLITS, WorldGenerator
from unmirage.embedded.world.templates import TRAIN_OPENERS
from unmirage.embedded.world.tower_corpus import (
    TOWER_FILE,
    tower_corpus,
    tower_record,
    write_tower_corpus,
)
from unmirage.io import atomic_write_json, atomic_write_text, staged_dir
from unmirage.provenance import config_hash, sha256_file
from unmirage.text import first_word

FORMAT = "unmirage-world/1"


def build_world(
    config: WorldConfig,
    seed: int,
    out: str | Path,
    *,
    preset: str,
    bias_sha256: str | None = None,
) -> dict[str, Any]:
    """Generate the world and write it to `out`; returns the manifest (world.json)."""
    generator = WorldGenerator(config, seed)
    splits = generator.build()
    with staged_dir(out) as stage:
        images = stage / "images"
        images.mkdir()
        for name, data in sorted(generator.images.items()):
            (stage / name).write_bytes(data)
        for split in SPLITS:
            if splits[split] or split not in OPTIONAL_SPLITS:
                write_jsonl(splits[split], stage / f"{split}.jsonl")
        held_out = {s.image for s in splits["test"] if s.image}
        tower = tower_corpus(config, config.tower_images, seed=seed, exclude=held_out)
        write_tower_corpus(tower, stage / TOWER_FILE)
        manifest = {
            "format": FORMAT,
            "unmirage_version": __version__,
            "seed": seed,
            "preset": preset,
            "bias_from_sha256": bias_sha256,
            "config": config.to_dict(),
            "config_sha256": config_hash(config.to_dict()),
            "first_word_targets": {
                subset: _rounded(generator.first_word_targets[subset]) for subset in SUBSETS
            },
            "test_first_word_targets": {
                subset: _rounded(generator.test_first_word_targets[subset]) for subset in SUBSETS
            },
            "openers": {
                "train": [o.word for o in TRAIN_OPENERS],
                "test": sorted({w for d in generator.test_first_word_targets.values() for w in d}),
            },
            "entities": entities_record(),
            "counts": {split: split_counts(splits[split]) for split in SPLITS},
            "first_words": {split: first_word_counts(splits[split]) for split in SPLITS},
            "images": len(generator.images),
            "tower": tower_record(tower),
        }
        atomic_write_text(stage / "README.md", datasheet(manifest))
        manifest["files"] = file_hashes(stage)
        atomic_write_json(stage / "world.json", manifest)
    return manifest


def split_counts(samples: Sequence[Sample]) -> dict[str, Any]:
    """Total, and counts per label, subset and (test) task."""
    counts: dict[str, Any] = {"total": len(samples)}
    for key, values in (
        ("label", (s.label for s in samples)),
        ("subset", (s.subset for s in samples)),
        ("task", (s.meta.get("task") for s in samples)),
    ):
        tally = _tally(v for v in values if v is not None)
        if tally:
            counts[key] = tally
    return counts


def first_word_counts(samples: Sequence[Sample]) -> dict[str, dict[str, int]]:
    """First-word counts overall, per subset and per test task, as `unmirage audit` counts."""
    groups: dict[str, list[str]] = {"all": []}
    for s in samples:
        word = first_word(s.query)
        groups["all"].append(word)
        for group in (s.subset, s.meta.get("task")):
            if group in SUBSETS or group in TASKS:
                groups.setdefault(group, []).append(word)
    return {g: _tally(words) for g, words in groups.items()}


def file_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under `root`, by POSIX relative path, sorted."""
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _tally(values: Iterable[str]) -> dict[str, int]:
    counts = Counter(values)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _rounded(dist: Mapping[str, float]) -> dict[str, float]:
    return {w: round(p, 6) for w, p in sorted(dist.items(), key=lambda kv: (-kv[1], kv[0]))}

"""Labelled renders to pretrain a vision tower: the tiny model's stand-in for CLIP's corpus.

Real LLaVA starts from a CLIP tower pretrained on hundreds of millions of image-text pairs,
none of them VLGuard's. The tiny model's tower gets the same kind of start: fresh scenes drawn
by the world's own renderer and configuration, each labelled with what it shows (the class or
the written word, the colour, the count, the occupied grid cells). No hazard knowledge is in
these labels, only what is visible. Scenes that are images of the test split are skipped, so
the evaluation images stay unseen.

The world writes the corpus (`tower.npz`, described in world.json under "tower") so that a
world directory is all the base recipe reads.
"""

from __future__ import annotations

import random
import zipfile
from collections.abc import Container, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unmirage.embedded.world.config import WorldConfig
from unmirage.embedded.world.entities import CLASSES, COLOURS, COUNT_WORDS
from unmirage.embedded.world.render import GRID, ObjectScene, image_name, render
from unmirage.embedded.world.samples import draw_image_kind, draw_scene, world_text_scale
from unmirage.errors import InputError

KINDS: tuple[str, ...] = ("object", "text")


@dataclass(frozen=True)
class TowerCorpus:
    """`pixels` (n, H, W, 3) uint8 with per-image labels.

    `labels[name]` holds indices into `label_names[name]` (-1 where the label does not apply:
    a written word has no count); `cells` is the (n, 9) 0/1 grid occupancy of object scenes;
    `names` are the image names the world would give the scenes.
    """

    names: tuple[str, ...]
    pixels: np.ndarray
    labels: dict[str, np.ndarray]
    label_names: dict[str, tuple[str, ...]]
    cells: np.ndarray

    def __len__(self) -> int:
        return len(self.pixels)


def tower_corpus(
    config: WorldConfig, n: int, *, seed: int, exclude: Container[str] = frozenset()
) -> TowerCorpus:
    """`n` random scenes of the world's classes, none whose image name is in `exclude`."""
    rng = random.Random(f"unmirage-tower-corpus/{seed}")
    scale = world_text_scale(config)
    label_names = {
        "class": tuple(c.name for c in CLASSES),
        "colour": tuple(sorted(COLOURS)),
        "count": COUNT_WORDS[: config.max_count],
        "kind": KINDS,
    }
    size = config.image_size
    pixels = np.empty((n, size, size, 3), dtype=np.uint8)
    labels = {key: np.full(n, -1, dtype=np.int64) for key in label_names}
    cells = np.zeros((n, GRID * GRID), dtype=np.float32)
    drawn: list[str] = []
    while len(drawn) < n:
        cls = rng.choice(CLASSES)
        kind = draw_image_kind(rng, config)
        scene = draw_scene(rng, config, cls, kind, scale)
        name = image_name(scene)
        if name in exclude:
            continue
        row = len(drawn)
        drawn.append(name)
        pixels[row] = render(scene, size, config.object_size, scale)
        labels["class"][row] = label_names["class"].index(cls.name)
        labels["colour"][row] = label_names["colour"].index(scene.colour)
        labels["kind"][row] = KINDS.index(kind)
        if isinstance(scene, ObjectScene):
            labels["count"][row] = scene.count - 1
            cells[row, list(scene.cells)] = 1.0
    return TowerCorpus(tuple(drawn), pixels, labels, label_names, cells)


TOWER_FILE = "tower.npz"
_EPOCH = (1980, 1, 1, 0, 0, 0)
"""Fixed zip member timestamps: the same corpus is always the same bytes."""


def write_tower_corpus(corpus: TowerCorpus, path: Path) -> None:
    """The corpus as an .npz (numpy arrays only, no pickle) with byte-stable members."""
    arrays = {"names": np.array(corpus.names), "pixels": corpus.pixels, "cells": corpus.cells}
    arrays |= {f"label_{key}": values for key, values in corpus.labels.items()}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.ascontiguousarray(array))


def tower_record(corpus: TowerCorpus) -> dict[str, Any]:
    """What world.json says of the corpus: its file, size and label names."""
    return {
        "file": TOWER_FILE,
        "images": len(corpus),
        "label_names": {key: list(names) for key, names in corpus.label_names.items()},
    }


def read_tower_corpus(world: Path, record: Mapping[str, Any], n: int) -> TowerCorpus:
    """The first `n` scenes of a world's tower corpus (the world's `tower` record)."""
    path = world / str(record.get("file", TOWER_FILE))
    where = str(world / "world.json")
    if not path.is_file():
        raise InputError(
            f"no {path.name}: the world was made by an older unmirage; rebuild it", file=where
        )
    total = record.get("images")
    if not isinstance(total, int) or total < n:
        raise InputError(
            f"the base recipe warms the tower up on {n} images but the world holds {total}; "
            "rebuild the world with a larger tower_images",
            file=where,
            field="tower.images",
        )
    try:
        with np.load(path, allow_pickle=False) as stored:
            arrays = {key: stored[key][:n] for key in stored.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"not a readable tower corpus: {err}", file=str(path)) from None
    label_names = {k: tuple(v) for k, v in record["label_names"].items()}
    return TowerCorpus(
        names=tuple(str(name) for name in arrays["names"]),
        pixels=arrays["pixels"],
        labels={key: arrays[f"label_{key}"] for key in label_names},
        label_names=label_names,
        cells=arrays["cells"],
    )

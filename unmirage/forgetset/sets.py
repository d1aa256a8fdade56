"""The sets before writing (`Built`) and the retain set: the safe pairs, subsampled or
topped up from general instruction data, with one image root for both files."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from unmirage.data.images import ImageRoot
from unmirage.data.loaders import load_samples
from unmirage.data.sample import Sample
from unmirage.errors import InputError
from unmirage.forgetset.options import ForgetSetOptions


@dataclass
class Built:
    """The sets before writing: samples, the image root their paths are relative to, counts."""

    forget: list[Sample]
    retain: list[Sample]
    image_root: Path | None
    counts: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)


def load_retain_extra(opts: ForgetSetOptions) -> list[Sample] | None:
    """The top-up pool: the first pair of every record that has a response (multi-turn
    records keep their first turn only, which stands on its own)."""
    if opts.retain_extra is None:
        return None
    path = Path(opts.retain_extra)
    pool = load_samples(path, check_images=False)
    first = [s for s in pool if not _later_turn(s.id) and s.response]
    if not first:
        raise InputError("no instruction pair with a response", file=str(path))
    return first


def _later_turn(sample_id: str) -> bool:
    """True for "<id>#k" with k >= 1: the loader's id of a later pair of a LLaVA record."""
    _, sep, tail = sample_id.rpartition("#")
    return bool(sep) and tail.isdigit() and tail != "0"


def retain_pairs(
    safe: Sequence[Sample], extra: Sequence[Sample] | None, opts: ForgetSetOptions
) -> tuple[list[Sample], dict[str, int]]:
    """The safe pairs, subsampled (seeded) to --retain-size if there are more, else topped up
    from the extra pool (seeded draw without replacement) to --retain-size."""
    size = opts.retain_size
    if size is None and extra is not None:
        size = 2000
    rng = random.Random(f"retain:{opts.seed}")
    own = list(safe)
    if size is not None and len(own) > size:
        keep = set(rng.sample(range(len(own)), size))
        own = [s for i, s in enumerate(own) if i in keep]
    need = 0 if size is None else size - len(own)
    added: list[Sample] = []
    if need > 0:
        if extra is None:
            raise InputError(
                f"{len(own)} safe pairs, fewer than {size}: give --retain-extra to top up",
                field="--retain-size",
            )
        ids = {s.id for s in own}
        pool = [s for s in extra if s.id not in ids]
        if len(pool) < need:
            raise InputError(
                f"holds {len(pool)} usable pairs, {need} needed to reach {size}",
                file=str(opts.retain_extra),
                field="--retain-size",
            )
        picked = sorted(rng.sample(range(len(pool)), need))
        added = [
            replace(pool[i], source=f"retain-extra:{Path(opts.retain_extra).name}") for i in picked
        ]
        if not opts.text_only:
            root = ImageRoot(_extra_root(opts))
            for s in added:
                if s.image is not None:
                    root.check(s.image, file=str(opts.retain_extra), record=s.id)
    return own + added, {
        "retain": len(own) + len(added),
        "retain_safe": len(own),
        "retain_extra": len(added),
    }


def _extra_root(opts: ForgetSetOptions) -> Path:
    if opts.retain_extra_image_root is not None:
        return Path(opts.retain_extra_image_root)
    return Path(opts.retain_extra).parent


def place_images(
    forget: list[Sample],
    retain: list[Sample],
    root: Path,
    extra: Sequence[Sample] | None,
    opts: ForgetSetOptions,
) -> Built:
    """One image root for both files (what `unmirage align --image-root` takes): the data's
    root, or the deepest directory holding it and the top-up's root, paths rewritten to it.
    With --text-only every image is dropped."""
    if opts.text_only:
        drop = lambda items: [replace(s, image=None) for s in items]  # noqa: E731
        return Built(drop(forget), drop(retain), None, {})
    extra_ids = {s.id for s in retain if s.source.startswith("retain-extra:")}
    uses_extra = any(s.image for s in retain if s.id in extra_ids)
    root = root.resolve()
    if not uses_extra:
        return Built(forget, retain, root, {})
    other = _extra_root(opts).resolve()
    common = Path(os.path.commonpath([root, other]))

    def move(s: Sample, base: Path) -> Sample:
        if s.image is None:
            return s
        return replace(s, image=(base / s.image).relative_to(common).as_posix())

    forget = [move(s, root) for s in forget]
    retain = [move(s, other if s.id in extra_ids else root) for s in retain]
    return Built(forget, retain, common, {})

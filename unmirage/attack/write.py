"""`attack_files`: read a test set, rewrite it with the audit's triggers, write the attack
file; what `unmirage attack` and `unmirage reproduce` both run (as they share `audit_files`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from unmirage.attack.build import OWN_OPENER, build_attack, mood_attack, unreached
from unmirage.attack.requests import Rewriter
from unmirage.attack.rules import rewrites
from unmirage.attack.triggers import Triggers
from unmirage.data.loaders import read_data
from unmirage.data.sample import Sample
from unmirage.data.writers import write_jsonl
from unmirage.errors import InputError, naming_file


def attack_files(
    data: str | Path,
    triggers: Triggers,
    out: str | Path,
    *,
    k: int,
    fmt: str = "auto",
    image_root: str | Path | None = None,
    control: str | None = OWN_OPENER,
    rewrite: Rewriter = rewrites,
    mood: bool = False,
) -> tuple[list[Sample], Counter[tuple[str, str]]]:
    """Write the K-shot, over-prudence and control rewrites of `data` to the JSONL `out`.

    `control` is the kind of no-trigger control (`build_attack`; None: none); `rewrite` makes
    the rewrites (the rules, or a language model checked by them); `mood` adds the
    sentence-mood rewrites (`mood_attack`). Images are not opened (a
    rewrite keeps its record's image path); formats that render their images write them next
    to `out`. Returns the rewrites and, per (attack, trigger), how many queries got none
    (`unreached`).
    """
    loaded = read_data(
        data, fmt, image_root=image_root, cache_dir=Path(out).parent, check_images=False
    )
    with naming_file(str(data)):
        rows = build_attack(loaded.samples, triggers, k, control=control, rewrite=rewrite)
        rows += mood_attack(loaded.samples) if mood else []
    if not rows:
        raise InputError("no unsafe or benign queries to rewrite", file=str(data), field="data")
    write_jsonl(rows, out)
    return rows, unreached(loaded.samples, rows)

"""The built-in training objectives as a plain table: name, module, one line for `--help` and
how long a run trains by default. Torch-free, so the command line lists the methods without
importing them; `register` gives each class its entry's summary and run length."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MethodEntry:
    name: str
    module: str
    summary: str
    run_length: dict[str, Any] = field(default_factory=dict)
    """{"steps": N} or {"epochs": E}: the default length of a run."""


CATALOG: tuple[MethodEntry, ...] = (
    MethodEntry(
        "sft",
        "unmirage.methods.sft",
        "next-token loss on safety data (--data): learns to refuse; the shortcut-prone way",
        {"epochs": 2.0},
    ),
    MethodEntry(
        "npo",
        "unmirage.methods.npo",
        "negative preference optimisation on --forget, next-token loss on --retain",
        {"steps": 150},
    ),
    MethodEntry(
        "rmu",
        "unmirage.methods.rmu",
        "steer layer-L activations of forget answers to a random direction, hold retain",
        {"steps": 150},
    ),
    MethodEntry(
        "graddiff",
        "unmirage.methods.graddiff",
        "gradient ascent on --forget, descent on --retain (unbounded baseline)",
        {"steps": 150},
    ),
    MethodEntry(
        "simnpo",
        "unmirage.methods.simnpo",
        "reference-free NPO on length-normalised likelihoods",
        {"steps": 150},
    ),
)
"""A new method: its file (the class, `@register("name")`) and its entry here."""

ENTRIES: dict[str, MethodEntry] = {e.name: e for e in CATALOG}

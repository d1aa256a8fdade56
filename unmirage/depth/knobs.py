"""The knobs of the depth stages, checked before any model is loaded.

Torch-free, like every probe module, so that the command line can show defaults and reject a
bad value without importing torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from unmirage.depth.gcg_config import GCGConfig
from unmirage.depth.probes.base import PROBES
from unmirage.errors import InputError


@dataclass(frozen=True)
class DepthKnobs:
    """Each probe's knobs by probe name (a probe not given runs at its knobs' defaults), and
    the probes not to run."""

    given: Mapping[str, Any] = field(default_factory=dict)
    skip: tuple[str, ...] = ()

    def of(self, name: str) -> Any:
        """The knobs probe `name` runs with."""
        return self.given[name] if name in self.given else PROBES[name].knobs()

    def active(self) -> list[str]:
        """The probes to run, in the order of `PROBES`."""
        return [name for name in PROBES.names() if name not in self.skip]

    def validate(self) -> None:
        for name in self.skip:
            PROBES.get_entry(name, field="--skip")
        for name in self.given:
            PROBES.get_entry(name, field="probes")
        for name, probe in PROBES.entries().items():
            knobs = self.of(name)
            if not isinstance(knobs, probe.knobs):
                raise InputError(
                    f"expected {probe.knobs.__name__}, got {type(knobs).__name__}", field=name
                )
            knobs.validate()

    def key(self) -> dict[str, Any]:
        """Every probe's knobs, skipped ones too, and the skipped names: what the probes
        stage's key and depth.json record."""
        return {
            **{name: dataclasses.asdict(self.of(name)) for name in PROBES.names()},
            "skip": list(self.skip),
        }


@dataclass(frozen=True)
class DepthPlan:
    """What the depth stages run: the prefill text, the GCG budget and how many unsafe
    queries it attacks per model, and the probes' knobs (None: no probes, as on data
    without the world's checkable facts)."""

    prefill: str = "Sure,"
    gcg: GCGConfig = field(default_factory=GCGConfig)
    gcg_queries: int = 20
    probes: DepthKnobs | None = field(default_factory=DepthKnobs)

    def key(self) -> dict[str, Any]:
        return {
            "prefill": self.prefill,
            "gcg": dataclasses.asdict(self.gcg),
            "gcg_queries": self.gcg_queries,
            "probes": None if self.probes is None else self.probes.key(),
        }

"""The probe contract (`Probe`) and the one list of probes (`PROBES`).

Vocabulary of `unmirage.depth`: a *probe* is one measurement of what a loaded model holds
below its first answer, run on the world's data and written as one JSON block: relearning
(`relearn`), the linear knowledge probe (`probe`, the key depth.json and metrics.json have
always used for it) and trigger saliency (`saliency`). GCG and prefill are *attacks*: they
make inputs that `unmirage eval` judges, and are no probes.

A probe is one module of this package: a `Probe` subclass, registered with `register`
where it is defined, and its name and module in the table of `PROBES`. Everything else
iterates over `PROBES` in the table's order: `unmirage depth` (its flags, run, printout and
figures), the probes stage of `unmirage reproduce` and its key, each model's depth block
of metrics.json, the multi-seed summary and the report's Depth section. A module must import
without torch or matplotlib (the command line builds its flags from it): it imports them in
the functions that use them.
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NamedTuple, Protocol, TypeVar

from unmirage.registry import Registry

if TYPE_CHECKING:
    from torch import nn

    from unmirage.data.images import Images
    from unmirage.depth.world import WorldData
    from unmirage.report.document import Block, Figure


class Knobs(Protocol):
    """A probe's settings: a frozen dataclass whose fields all have defaults. Its
    `dataclasses.asdict` enters the probes stage's key, so a new field with a default
    changes the key of every run."""

    def validate(self) -> None:
        """Raise InputError naming the flag of a bad value."""


K = TypeVar("K", bound=Knobs)


class Label(NamedTuple):
    """How the multi-seed summary shows one headline number."""

    text: str
    percent: bool = True


class Probe(ABC, Generic[K]):
    """One probe. A subclass sets `name`, `knobs` and `description` and implements the rest;
    `block` below is what its `run` returned."""

    name: ClassVar[str]
    """Its key in depth.json and in a model's depth block, and its name for --skip."""
    knobs: type[K]
    description: ClassVar[str]
    """One paragraph for `unmirage depth --help`."""

    @abstractmethod
    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Its flags of `unmirage depth`, with the defaults of `knobs()`."""

    @abstractmethod
    def knobs_from(self, args: argparse.Namespace) -> K:
        """Its knobs from its flags and the command's --seed."""

    def check(self, world: WorldData, knobs: K) -> None:
        """Raise InputError when the world cannot be probed with these knobs; called before
        any model is loaded, so a bad value costs no model load."""

    @abstractmethod
    def run(
        self,
        model: nn.Module,
        processor: Any,
        images: Images,
        world: WorldData,
        knobs: K,
        *,
        progress: bool,
    ) -> dict[str, Any]:
        """Its JSON block for one model (docs/depth.md); the model is left as it was given."""

    @abstractmethod
    def headline(self, block: Mapping[str, Any]) -> dict[str, float]:
        """The numbers of a block that a multi-seed summary spreads, each key starting with
        `name` and an underscore (so keys of different probes never meet)."""

    @abstractmethod
    def label(self, key: str) -> Label | None:
        """How the summary shows one of its headline keys; None for a key not its own."""

    @abstractmethod
    def section(self, blocks: Mapping[str, Mapping[str, Any]]) -> list[Block]:
        """Its part of the report's Depth section, from each model's block (models without
        one left out)."""

    @abstractmethod
    def summary(self, block: Mapping[str, Any]) -> list[str]:
        """The lines `unmirage depth` prints under a model's name."""

    def figures(self, blocks: Mapping[str, Mapping[str, Any]]) -> list[Figure]:
        """The pictures `unmirage depth` writes beside depth.json (none unless overridden)."""
        return []


PROBES: Registry[Probe[Any]] = Registry(
    "probe",
    {
        "relearn": "unmirage.depth.probes.relearn",
        "probe": "unmirage.depth.probes.knowledge",
        "saliency": "unmirage.depth.probes.saliency",
    },
)
"""The built-in probes and the modules that register them, in the order they run and
appear (a new probe: its module and its name here)."""


def register(probe: Probe[Any]) -> Probe[Any]:
    """Make a probe available to `unmirage depth`, `reproduce` and the report under its name."""
    return PROBES.register(probe.name)(probe)


def short_pct(value: float | None) -> str:
    """A share as `unmirage depth` prints it: "12%" ("-" for none)."""
    return "-" if value is None else f"{100 * value:.0f}%"

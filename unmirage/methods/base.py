"""The Method contract: an objective is a loss over a batch plus its knobs.

The shared loop in `unmirage.training.train` owns everything else (optimizer, schedule,
accumulation, checkpoints, data order). A method names the data streams it reads
(`streams`), may compute fixed state once before training (`setup`), says how long it trains
by default (`run_length`), and overrides `loss` (or `loss_terms`, when the loss is a sum of
terms over different batches). The loss math lives in `unmirage.methods.losses`.

A batch is `{stream: tensors}`; each stream's tensors are what `unmirage.models.encode` made
(input_ids, attention_mask, labels, pixel_values, ...) plus `index`: the position of every row
in its stream's data set, so that per-sample state (e.g. cached reference log-probs) can be
looked up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor, nn

from unmirage.errors import InputError
from unmirage.methods.catalog import CATALOG, ENTRIES
from unmirage.methods.losses import Batch
from unmirage.registry import Registry


@dataclass
class Method:
    """Base class; subclasses are dataclasses whose fields are the method's knobs."""

    name: ClassVar[str] = ""
    streams: ClassVar[tuple[str, ...]] = ()
    summary: ClassVar[str] = ""
    """One line for `unmirage align --help` (a built-in method's comes from its catalog entry)."""
    run_length: ClassVar[Mapping[str, Any]] = {}
    """How long a run trains unless told otherwise: {"steps": N} or {"epochs": E}."""

    def setup(self, model: nn.Module, loaders: Mapping[str, Callable[[], Iterable[Batch]]]) -> None:
        """Compute fixed state once before training; `loaders[s]()` iterates stream s in order."""

    def trainable_parameter_patterns(self, model: nn.Module) -> list[str] | None:
        """Regexes (`re.search`) of the only parameter names this method may train, or None.

        The loop intersects them with what is trainable already (all weights, or the LoRA
        adapters), e.g. RMU's few layers; None leaves the selection to the run configuration.
        """
        return None

    def derived_knobs(self) -> dict[str, Any]:
        """How `setup` resolved knobs left to it (e.g. RMU's "auto"), for the run's record."""
        return {}

    def loss(self, model: nn.Module, batch: Mapping[str, Batch]) -> tuple[Tensor, dict[str, float]]:
        raise NotImplementedError

    def loss_terms(
        self, model: nn.Module, batch: Mapping[str, Batch]
    ) -> Iterator[tuple[Tensor, dict[str, float]]]:
        """The loss as terms that sum to `loss`, each built only when asked for: the loop
        backpropagates one before building the next, so one term's graph is alive at a time
        (an unlearning step's forget and retain batches: half the activation memory). Default:
        the whole loss as one term."""
        yield self.loss(model, batch)


METHODS: Registry[type[Method]] = Registry("method", {e.name: e.module for e in CATALOG})


def register(name: str) -> Callable[[type[Method]], type[Method]]:
    """Class decorator adding a method to the registry under `name`; a built-in method takes
    its summary and run length from its catalog entry."""

    def wrap(cls: type[Method]) -> type[Method]:
        cls.name = name
        entry = ENTRIES.get(name)
        if entry is not None:
            cls.summary, cls.run_length = entry.summary, dict(entry.run_length)
        return METHODS.register(name)(cls)

    return wrap


def get_method(name: str, **knobs: Any) -> Method:
    """Instantiate a registered method, naming the bad knob or method on error."""
    cls = METHODS.get_entry(name)
    fields = {f.name for f in dataclasses.fields(cls)}
    for key in knobs:
        if key not in fields:
            raise InputError(
                f"method '{name}' has no knob '{key}' (knobs: "
                f"{', '.join(sorted(fields)) or 'none'})",
                field=key,
            )
    return cls(**knobs)

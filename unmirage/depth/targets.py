"""What a GCG suffix should make the model say: the opening of a compliant answer.

A query's target is its entry in a per-query table, else one text for every query, else
what the data's own target rule gives (for the embedded world, its answer template's
opening: `unmirage.embedded.targets.world_target`), else the generic opening of the GCG
literature.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from unmirage.checks import existing_file
from unmirage.data.sample import Sample
from unmirage.errors import InputError

GENERIC_TARGET = "Sure, here is"
"""The target for queries the data gives no compliant opening for (real data)."""

TargetRule = Callable[[Sample], str | None]
"""A data set's compliant opening for a query, or None when it knows none."""


def read_targets(path: str | Path) -> dict[str, str]:
    """A JSON object {query id: target text} (per-query targets for real data)."""
    path = existing_file(path, "targets file")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"not a readable JSON file: {err}", file=str(path)) from None
    if not isinstance(doc, dict):
        raise InputError("expected a JSON object {query id: target text}", file=str(path))
    for key, value in doc.items():
        if not isinstance(value, str) or not value.strip():
            raise InputError("target must be a non-empty string", file=str(path), record=key)
    return {k: v.strip() for k, v in doc.items()}


def choose_target(
    sample: Sample,
    target: str | None = None,
    per_query: Mapping[str, str] | None = None,
    rule: TargetRule | None = None,
) -> str:
    """The target for `sample`: its entry in `per_query`, else `target`, else `rule`'s
    opening for it, else GENERIC_TARGET."""
    if per_query and sample.id in per_query:
        return per_query[sample.id]
    if target:
        return target
    return (rule(sample) if rule else None) or GENERIC_TARGET

"""The paper's experiment end to end: audit -> base -> SFT / NPO / RMU -> attack -> eval -> report.

Every stage is cached under `OUT/stages/<stage>-<key>` by the hash of its inputs (see
`unmirage.reproduce.stages`), so a rerun or a killed run resumes where it stopped, and
changing one knob reruns only what depends on it. The attack's trigger words come from the
audit of the safety data, never from a list written here.

Two sources of data and models:
- embedded (default): a procedural world and a tiny LLaVA trained on it, on two CPU cores;
- real: `model` (an HF id or directory, e.g. llava-hf/llava-1.5-7b-hf), `safety_data` (VLGuard
  train JSON), `test_data` (VLGuard test JSON), `forget`/`retain` files and an `image_root`.

Modules, in the order data flows: `config` (what a run depends on), `sources` (where each
stage finds its inputs), `mixes` (each model's data and training settings), `pipeline` (the
stages of one seed), `seeds` (several seeds and their summary), with `stages` (the cache) and
`recipes` (the compared models, readable without torch).
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "ReproduceConfig": "unmirage.reproduce.config",
    "reproduce": "unmirage.reproduce.pipeline",
    "reproduce_seeds": "unmirage.reproduce.seeds",
    "summarize_seeds": "unmirage.reproduce.seeds",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """The public API, imported on first use (the pipeline loads torch; `recipes` must not)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'unmirage.reproduce' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_EXPORTS[name]), name)

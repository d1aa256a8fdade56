"""The procedural world: rendered objects and text, fictional hazards, VLGuard-like splits.

`build_world` is loaded on first use (it brings numpy and the renderer), so that reading the
configuration, as `unmirage world --help` does, stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from unmirage.embedded.world.config import WorldConfig, load_config

if TYPE_CHECKING:
    from unmirage.embedded.world.build import build_world

__all__ = ["WorldConfig", "build_world", "load_config"]


def __getattr__(name: str) -> Any:
    if name == "build_world":
        from unmirage.embedded.world.build import build_world

        return build_world
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The procedural world: rendered objects and text, fictional hazards, VLGuard-like splits."""

from unmirage.embedded.world.build import build_world
from unmirage.embedded.world.config import PRESETS, WorldConfig, load_config

__all__ = ["PRESETS", "WorldConfig", "build_world", "load_config"]

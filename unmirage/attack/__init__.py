"""One-word attacks: trigger selection, rewrite rules, K-shot / over-prudence / control sets."""

from unmirage.attack.build import (
    CONTROLS,
    REWRITES,
    build_attack,
    check_control,
    from_precomputed,
)
from unmirage.attack.triggers import Triggers, load_audit_triggers, parse_triggers
from unmirage.attack.write import attack_files

__all__ = [
    "CONTROLS",
    "REWRITES",
    "Triggers",
    "attack_files",
    "build_attack",
    "check_control",
    "from_precomputed",
    "load_audit_triggers",
    "parse_triggers",
]

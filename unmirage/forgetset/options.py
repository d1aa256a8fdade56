"""The settings of `build_forget_set`, apart from the pipeline so that the command line can
show their defaults without loading torch (`unmirage.forgetset` reads them from here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SOURCES = ("vlguard", "spavl")


@dataclass
class ForgetSetOptions:
    """Everything `build_forget_set` reads; the command-line flags map one to one."""

    data: list[Path]
    """One VLGuard train file; SPA-VL files or directories of them (e.g. its 8 train shards)."""
    out: Path
    fmt: str = "vlguard"
    models: list[str] = field(default_factory=list)
    image_root: Path | None = None
    samples: int = 3
    temperature: float = 1.0
    top_p: float = 0.9
    max_new_tokens: int = 256
    batch_size: int = 8
    judge: str = "heuristic"
    judge_model: str | None = None
    judge_min_mass: float = 0.5
    judge_batch_size: int = 8
    include_safe_unsafe: bool = False
    rmu_layout: bool = False
    text_only: bool = False
    retain_extra: Path | None = None
    retain_extra_image_root: Path | None = None
    retain_size: int | None = None
    seed: int = 0
    dtype: str | None = None
    device: str | None = None
    trust_remote_code: bool = False
    progress: bool = False

"""Where a result came from: package version, git commit, config hash, data hash, seed, and the
arithmetic it ran on (torch version, thread count, CPU model, CPU kernel capability), which
decide float summation order and so the last bits of every weight."""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from unmirage import __version__


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks; of a directory (a benchmark given as a
    folder), the sha256 over each file's relative path and hash, in sorted order."""
    path = Path(path)
    if path.is_dir():
        lines = [
            f"{p.relative_to(path).as_posix()} {sha256_file(p)}"
            for p in sorted(path.rglob("*"))
            if p.is_file()
        ]
        return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def config_hash(config: Mapping[str, Any]) -> str:
    """Hex sha256 of the config as canonical JSON (sorted keys), so equal configs hash equal."""
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def data_hash(paths: Sequence[str | Path]) -> str:
    """Hex sha256 over the sha256 of each input file, in the order given."""
    joined = "\n".join(sha256_file(p) for p in paths)
    return hashlib.sha256(joined.encode("ascii")).hexdigest()


def git_commit(where: str | Path | None = None) -> str | None:
    """The commit checked out where the package lives (None outside a git work tree);
    "+dirty" is appended when tracked files have uncommitted changes."""
    cwd = Path(where) if where is not None else Path(__file__).resolve().parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = head.stdout.strip()
    return commit + ("+dirty" if dirty.returncode == 0 and dirty.stdout.strip() else "")


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else `platform.processor()`."""
    try:
        for line in Path(cpuinfo).read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() in ("model name", "Model", "cpu model") and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def runtime() -> dict[str, Any]:
    """The software and hardware a run's numbers depend on bit for bit."""
    import torch

    return {
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }


def provenance(
    config: Mapping[str, Any], data_files: Sequence[str | Path], seed: int
) -> dict[str, Any]:
    """The provenance block of metrics.json and of every reproduction."""
    return {
        "version": __version__,
        "git_commit": git_commit(),
        "config_hash": config_hash(config),
        "data_hash": data_hash(data_files),
        "data_files": {str(p): sha256_file(p) for p in data_files},
        "seed": seed,
        **runtime(),
    }

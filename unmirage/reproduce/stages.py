"""Stages cached by the hash of their inputs, so a rerun or a killed run resumes.

A stage's directory is `ROOT/<name>-<key>` where `key` hashes the stage's inputs: its own
knobs and the keys of the stages it reads. A finished stage has a `stage.json` marker; a
rerun skips it. An unfinished stage runs again in the same directory, so work that resumes
on its own (training checkpoints, append-only responses) is not repeated. Changing one knob
changes that stage's key and the keys of everything downstream, and nothing else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unmirage.io import atomic_write_json
from unmirage.provenance import config_hash
from unmirage.reproduce.rss import PeakRss

MARKER = "stage.json"


@dataclass
class StageResult:
    name: str
    path: Path
    key: str
    seconds: float
    cached: bool
    peak_rss_mb: float | None = None


@dataclass
class StageRunner:
    """Runs named stages under `root`, each at most once per distinct input key."""

    root: Path
    on_start: Callable[[str, int, int], None] | None = None
    total: int = 0
    results: dict[str, StageResult] = field(default_factory=dict)

    def run(
        self, name: str, inputs: Mapping[str, Any], work: Callable[[Path], None]
    ) -> StageResult:
        """Run `work(stage_dir)` unless a finished stage with the same inputs exists.

        `inputs` may hold other stages' results; their keys (not their paths) enter the hash.
        """
        resolved = {
            k: (v.key if isinstance(v, StageResult) else v) for k, v in sorted(inputs.items())
        }
        key = config_hash({"stage": name, "inputs": resolved})[:12]
        path = self.root / f"{name}-{key}"
        marker = path / MARKER
        if self.on_start is not None:
            self.on_start(name, len(self.results) + 1, self.total)
        if marker.exists():
            done = json.loads(marker.read_text())
            seconds, peak = float(done["seconds"]), done.get("peak_rss_mb")
            result = StageResult(name, path, key, seconds, cached=True, peak_rss_mb=peak)
        else:
            path.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            with PeakRss() as rss:
                work(path)
            seconds = time.perf_counter() - start
            record = {"name": name, "inputs": resolved, "seconds": seconds}
            atomic_write_json(marker, {**record, "peak_rss_mb": rss.mb})
            result = StageResult(name, path, key, seconds, cached=False, peak_rss_mb=rss.mb)
        self.results[name] = result
        return result

    def seconds(self) -> dict[str, float]:
        """Wall time per stage (as first measured, for cached stages; so is `peak_rss_mb`)."""
        return {name: r.seconds for name, r in self.results.items()}

"""Run the probes (`PROBES`, those not skipped) over models.

`run_depth` checks every knob against the world before any model is loaded, then for each
model directory loads the model once, runs each probe on it and returns a JSON-able document
(keys in `docs/depth.md`). The base model, if given, is run like the others and named as the
reference every curve is read against.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unmirage import __version__
from unmirage.data.images import Images
from unmirage.depth.knobs import DepthKnobs
from unmirage.depth.probes.base import PROBES
from unmirage.depth.world import WorldData, read_world
from unmirage.errors import InputError
from unmirage.models.loading import check_model_source, load_vlm
from unmirage.progress import progress_bar

FORMAT = "unmirage-depth/1"


def model_names(model_dirs: Sequence[str | Path], base: str | Path | None) -> dict[str, str]:
    """Name -> directory (each directory's own name as given, so a symlink names its model;
    the base first); names must differ."""
    dirs = ([str(base)] if base is not None else []) + [str(d) for d in model_dirs]
    names: dict[str, str] = {}
    for d in dirs:
        check_model_source(d)
        path = Path(d)
        name = path.name if path.name not in ("", ".", "..") else path.resolve().name
        if name in names:
            raise InputError(
                f"two models are named {name!r} ({names[name]} and {d}); give directories "
                "(or symlinks to them) with different names",
                file=d,
            )
        names[name] = d
    return names


def probe_model(
    model_dir: str, world: WorldData, knobs: DepthKnobs, *, progress: bool
) -> dict[str, Any]:
    """All probes not skipped, on one model; with wall and CPU time per probe (CPU time
    stays meaningful when other jobs share the cores)."""
    images = Images()
    model, processor = load_vlm(model_dir)
    out: dict[str, Any] = {"model": model_dir, "seconds": {}, "cpu_seconds": {}}
    for name in knobs.active():
        start, cpu = time.perf_counter(), time.process_time()
        out[name] = PROBES[name].run(
            model, processor, images, world, knobs.of(name), progress=progress
        )
        out["seconds"][name] = round(time.perf_counter() - start, 3)
        out["cpu_seconds"][name] = round(time.process_time() - cpu, 3)
    return out


def run_depth(
    model_dirs: Sequence[str | Path],
    world: str | Path,
    *,
    base: str | Path | None = None,
    knobs: DepthKnobs | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """The depth document of every model (the base, if given, first and as `reference`)."""
    knobs = knobs or DepthKnobs()
    knobs.validate()
    names = model_names(model_dirs, base)
    data = read_world(world)
    for name in knobs.active():
        PROBES[name].check(data, knobs.of(name))
    models: dict[str, Any] = {}
    with progress_bar(progress) as bar:
        task = bar.add_task("depth", total=len(names), status="")
        for name, model_dir in names.items():
            bar.update(task, status=name)
            models[name] = probe_model(model_dir, data, knobs, progress=progress)
            bar.advance(task)
    return {
        "format": FORMAT,
        "unmirage_version": __version__,
        "world": str(world),
        "reference": Path(str(base)).resolve().name if base is not None else None,
        "knobs": knobs.key(),
        "models": models,
    }

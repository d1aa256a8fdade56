"""Run the three depth probes (relearning, knowledge probe, trigger saliency) over models.

`run_depth` reads the world once, checks every knob before any model is loaded, then for
each model directory loads the model once, probes and measures saliency on it, relearns a
copy of it, and returns a JSON-able document (keys in `docs/depth.md`). The base model, if
given, is run like the others and named as the reference every curve is read against.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from unmirage import __version__
from unmirage.data.images import Images
from unmirage.data.loaders import load_samples
from unmirage.data.sample import Sample
from unmirage.depth.knobs import PROBES, DepthKnobs
from unmirage.depth.probe import run_probe
from unmirage.depth.relearn import relearn_curve, relearn_split, subsample
from unmirage.depth.saliency import DecisionTexts, run_saliency
from unmirage.errors import InputError
from unmirage.models.loading import check_model_source, load_vlm
from unmirage.progress import progress_bar

FORMAT = "unmirage-depth/1"
SALIENCY_TASKS = ("unsafe", "benign")


@dataclass(frozen=True)
class WorldData:
    """The splits the probes read, and the world's image root."""

    root: Path
    forget: list[Sample]
    probe_train: list[Sample]
    test: list[Sample]
    decision: DecisionTexts

    def saliency_groups(self, n: int, seed: int) -> dict[str, list[Sample]]:
        """Up to `n` test knowledge queries per task (utility questions have no refusal
        decision of interest), seeded."""
        return {
            task: subsample(
                [s for s in self.test if s.meta.get("task") == task and s.meta.get("intent")],
                n,
                f"unmirage-saliency-{task}/{seed}",
            )
            for task in SALIENCY_TASKS
        }


WORLD_SPLITS = ("base", "safety_sft", "forget", "test")


def read_world(world: str | Path) -> WorldData:
    """The world's forget, knowledge (if present) + base + safety_sft (probe training: the
    knowledge split is the only one that shows the held-out hazards) and test splits, and the
    refusal and answer texts of the saliency decision (refusals of safety_sft; answers of
    knowledge, base, forget, helpful if present, and the answered safety_sft pairs)."""
    root = Path(world)
    if not (root / "world.json").is_file():
        raise InputError(
            "not a world directory (no world.json); make one with unmirage world", file=str(root)
        )
    splits = {name: load_samples(root / f"{name}.jsonl", image_root=root) for name in WORLD_SPLITS}
    helpful, knowledge = (
        load_samples(path, image_root=root) if path.is_file() else []
        for path in (root / "helpful.jsonl", root / "knowledge.jsonl")
    )
    sft = splits["safety_sft"]
    answered = [
        *knowledge,
        *splits["base"],
        *splits["forget"],
        *helpful,
        *(s for s in sft if s.label == "safe"),
    ]
    return WorldData(
        root=root,
        forget=splits["forget"],
        probe_train=knowledge + splits["base"] + sft,
        test=splits["test"],
        decision=DecisionTexts.from_data([s for s in sft if s.label == "unsafe"], answered),
    )


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
    model_dir: str, data: WorldData, knobs: DepthKnobs, *, progress: bool
) -> dict[str, Any]:
    """All probes not skipped, on one model; with wall and CPU time per probe (CPU time
    stays meaningful when other jobs share the cores)."""
    images = Images()
    model, processor = load_vlm(model_dir)
    out: dict[str, Any] = {"model": model_dir, "seconds": {}, "cpu_seconds": {}}
    steps = {
        "probe": lambda: run_probe(
            model, processor, data.probe_train, data.test, images, knobs.probe
        ),
        "saliency": lambda: run_saliency(
            model,
            processor,
            data.saliency_groups(knobs.saliency.queries, knobs.saliency.seed),
            images,
            data.decision,
            knobs.saliency,
        ),
        "relearn": lambda: relearn_curve(
            model,
            processor,
            relearn_split(data.forget, data.test, knobs.relearn),
            images,
            knobs.relearn,
            progress=progress,
        ),
    }
    for name in PROBES:
        if name in knobs.skip:
            continue
        start, cpu = time.perf_counter(), time.process_time()
        out[name] = steps[name]()
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
    relearn_split(data.forget, data.test, knobs.relearn)
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
        "knobs": {**asdict(knobs), "skip": list(knobs.skip)},
        "models": models,
    }

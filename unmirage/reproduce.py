"""The paper's experiment end to end: audit -> base -> SFT / NPO / RMU -> attack -> eval -> report.

Every stage is cached under `OUT/stages/<stage>-<key>` by the hash of its inputs (see
`unmirage.stages`), so a rerun or a killed run resumes where it stopped, and changing one knob
reruns only what depends on it. The attack's trigger words come from the audit of the safety
data, never from a list written here.

Two sources of data and models:
- embedded (default): a procedural world and a tiny LLaVA trained on it, on two CPU cores;
- real: `model` (an HF id or directory, e.g. llava-hf/llava-1.5-7b-hf), `safety_data` (VLGuard
  train JSON), `test_data` (VLGuard test JSON), `forget`/`retain` files and an `image_root`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unmirage.align import AlignSettings, align, resolve_settings
from unmirage.attack import build_attack, load_audit_triggers
from unmirage.audit import audit_files
from unmirage.data import load_samples, write_jsonl
from unmirage.errors import InputError
from unmirage.evaluate import evaluate, read_rows
from unmirage.io import atomic_write_json, atomic_write_text
from unmirage.methods import METHODS as REGISTERED_METHODS
from unmirage.metrics import merge_benchmarks
from unmirage.provenance import provenance, sha256_file
from unmirage.report import render_report
from unmirage.stages import StageResult, StageRunner
from unmirage.world import build_world, load_config

PRESETS = ("smoke", "default")
METHODS = ("sft", "npo", "rmu")
SMOKE_UNLEARNING_STEPS = 20
"""Unlearning steps on the smoke preset: enough to run every stage (CI), not to unlearn."""


@dataclass
class ReproduceConfig:
    """What a reproduction depends on; its hash keys the stage cache."""

    preset: str = "default"
    seed: int = 0
    k: int = 3
    methods: tuple[str, ...] = METHODS
    judge: str = "auto"
    max_new_tokens: int = 48
    batch_size: int = 64
    lora: bool = False
    model: str | None = None
    safety_data: str | None = None
    test_data: str | None = None
    forget: str | None = None
    retain: str | None = None
    image_root: str | None = None
    world_config: str | None = None
    bias_from: str | None = None
    align_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        return self.model is None

    def validate(self) -> None:
        if self.preset not in PRESETS:
            raise InputError(f"unknown preset (choose from {', '.join(PRESETS)})", field="preset")
        if self.k < 1:
            raise InputError("must be at least 1", field="k")
        for m in self.methods:
            if m not in REGISTERED_METHODS:
                raise InputError(
                    f"unknown method '{m}' (choose from {', '.join(sorted(REGISTERED_METHODS))})",
                    field="methods",
                )
        if self.embedded:
            real = ("safety_data", "test_data", "forget", "retain", "image_root")
            given = [name for name in real if getattr(self, name) is not None]
            if given:
                raise InputError(
                    "needs --model (these options are for real models)", field=given[0]
                )
            load_config(self.preset, self.world_config, self.bias_from)
            return
        for name in ("world_config", "bias_from"):
            if getattr(self, name) is not None:
                raise InputError("is for the embedded world, not with --model", field=name)
        if self.safety_data is None or self.test_data is None:
            raise InputError(
                "a real model needs --safety-data and --test-data",
                field="safety_data" if self.safety_data is None else "test_data",
            )
        unlearning = [m for m in self.methods if m != "sft"]
        if unlearning and (self.forget is None or self.retain is None):
            raise InputError(
                f"{', '.join(unlearning)} need --forget and --retain",
                field="forget" if self.forget is None else "retain",
            )
        for name in ("safety_data", "test_data", "forget", "retain", "image_root"):
            value = getattr(self, name)
            if value is not None and not Path(value).exists():
                raise InputError("does not exist", file=value, field=name)


@dataclass
class Sources:
    """Where each stage finds its inputs, for one of the two modes."""

    safety: Path
    test: Path
    forget: Path | None
    retain: Path | None
    image_root: Path
    base: str


def reproduce(
    config: ReproduceConfig,
    out: str | Path,
    *,
    progress: bool = True,
    on_stage: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) the whole pipeline into `out`; return the combined metrics.json."""
    config.validate()
    out = Path(out)
    runner = StageRunner(out / "stages", on_start=on_stage, total=_stage_count(config))
    key = dataclasses.asdict(config)
    if config.embedded:
        sources, upstream = _embedded_sources(config, runner, progress)
    else:
        sources, upstream = _real_sources(config), {"model": config.model}
    audited = runner.run(
        "audit",
        {"data": _file_key(sources.safety), **upstream},
        lambda path: _audit_stage(sources, path),
    )
    models: dict[str, tuple[str, Any]] = {
        "base": (sources.base, upstream.get("base", config.model))
    }
    for method in config.methods:
        stage = runner.run(
            f"align-{method}",
            {
                **upstream,
                "method": method,
                "settings": dataclasses.asdict(_settings(config, method)),
                "data": [_file_key(p) for p in _method_data(method, sources)],
            },
            lambda path, m=method: _align_stage(m, config, sources, path, progress),
        )
        models[method] = (str(stage.path / "model"), stage)
    attacked = runner.run(
        "attack",
        {"test": _file_key(sources.test), "audit": audited, "k": config.k, **upstream},
        lambda path: _attack_stage(sources, audited.path, config.k, path),
    )
    documents = {}
    for name, (model_dir, model_key) in models.items():
        stage = runner.run(
            f"eval-{name}",
            {
                "model": model_key,
                "attack": attacked,
                "judge": config.judge,
                "max_new_tokens": config.max_new_tokens,
                **upstream,
            },
            lambda path, d=model_dir, n=name: evaluate(
                d,
                [sources.test, attacked.path / "attack.jsonl"],
                path,
                judge=config.judge,
                batch_size=config.batch_size,
                max_new_tokens=config.max_new_tokens,
                name=n,
                image_root=sources.image_root,
                seed=config.seed,
                progress=progress,
            ),
        )
        documents[name] = json.loads((stage.path / "metrics.json").read_text())
    metrics: dict[str, Any] = {
        "models": {name: doc["models"][name] for name, doc in documents.items()}
    }
    benchmarks = merge_benchmarks(documents.values())
    if benchmarks:
        metrics["benchmarks"] = benchmarks
    metrics |= {
        "config": key,
        "provenance": provenance(key, [sources.safety, sources.test], config.seed),
    }
    atomic_write_json(out / "metrics.json", metrics)
    responses = {
        name: read_rows(runner.results[f"eval-{name}"].path / "responses.jsonl")
        for name in documents
    }
    render_report(
        out,
        metrics=metrics,
        audit=json.loads((audited.path / "audit.json").read_text()),
        responses=responses,
        image_root=sources.image_root,
        stage_seconds=runner.seconds(),
        title="unmirage reproduction: "
        + (
            f"embedded world ({config.preset}, seed {config.seed})"
            if config.embedded
            else f"{config.model}"
        ),
    )
    atomic_write_text(
        out / "stages.json",
        json.dumps(
            {
                name: {
                    "path": str(r.path.relative_to(out)),
                    "seconds": r.seconds,
                    "cached": r.cached,
                }
                for name, r in runner.results.items()
            },
            indent=2,
        )
        + "\n",
    )
    return metrics


def _stage_count(config: ReproduceConfig) -> int:
    world_and_base = 2 if config.embedded else 0
    return world_and_base + 1 + len(config.methods) + 1 + (1 + len(config.methods))


def _file_key(path: Path | None) -> str | None:
    return None if path is None else sha256_file(path)


def _embedded_sources(
    config: ReproduceConfig, runner: StageRunner, progress: bool
) -> tuple[Sources, dict[str, Any]]:
    from unmirage.base import RECIPES, train_base

    world_config = load_config(config.preset, config.world_config, config.bias_from)
    bias_sha256 = None if config.bias_from is None else sha256_file(config.bias_from)
    world = runner.run(
        "world",
        {"preset": config.preset, "seed": config.seed, "config": world_config.to_dict()},
        lambda path: build_world(
            world_config, config.seed, path, preset=config.preset, bias_sha256=bias_sha256
        ),
    )
    base = runner.run(
        "base",
        {"world": world, "seed": config.seed, "recipe": dataclasses.asdict(RECIPES[config.preset])},
        lambda path: train_base(world.path, path / "model", seed=config.seed, progress=progress),
    )
    sources = Sources(
        safety=world.path / "safety_sft.jsonl",
        test=world.path / "test.jsonl",
        forget=world.path / "forget.jsonl",
        retain=world.path / "retain.jsonl",
        image_root=world.path,
        base=str(base.path / "model"),
    )
    return sources, {"world": world, "base": base}


def _real_sources(config: ReproduceConfig) -> Sources:
    assert config.safety_data is not None and config.test_data is not None
    root = Path(config.image_root or Path(config.test_data).parent)
    return Sources(
        safety=Path(config.safety_data),
        test=Path(config.test_data),
        forget=Path(config.forget) if config.forget else None,
        retain=Path(config.retain) if config.retain else None,
        image_root=root,
        base=str(config.model),
    )


def _settings(config: ReproduceConfig, method: str) -> AlignSettings:
    """The resolved training settings of one method (their hash keys its stage)."""
    return resolve_settings(
        method,
        overrides={**_align_overrides(config, method), "merge_lora": config.lora},
        lora=config.lora,
        seed=config.seed,
    )


def _align_overrides(config: ReproduceConfig, method: str) -> dict[str, Any]:
    """The run settings a method trains with here: the preset's, then the user's."""
    preset = (
        {"steps": SMOKE_UNLEARNING_STEPS}
        if config.embedded and config.preset == "smoke" and method != "sft"
        else {}
    )
    return {**preset, **config.align_overrides.get(method, {})}


def _method_data(method: str, sources: Sources) -> list[Path]:
    if method == "sft":
        return [sources.safety]
    assert sources.forget is not None and sources.retain is not None
    return [sources.forget, sources.retain]


def _audit_stage(sources: Sources, path: Path) -> None:
    audit_files([sources.safety], path, image_root=sources.image_root, check_images=False)


def _align_stage(
    method: str, config: ReproduceConfig, sources: Sources, path: Path, progress: bool
) -> None:
    data = _method_data(method, sources)
    streams: Mapping[str, Path] = (
        {"data": data[0]} if method == "sft" else {"forget": data[0], "retain": data[1]}
    )
    settings = _settings(config, method)
    align(
        method,
        sources.base,
        path / "model",
        settings=settings,
        image_root=sources.image_root,
        progress=progress,
        **streams,
    )


def _attack_stage(sources: Sources, audit_dir: Path, k: int, path: Path) -> None:
    triggers = load_audit_triggers(audit_dir / "audit.json")
    samples = load_samples(sources.test, image_root=sources.image_root, check_images=False)
    write_jsonl(build_attack(samples, triggers, k), path / "attack.jsonl")


__all__ = ["PRESETS", "ReproduceConfig", "StageResult", "reproduce"]

"""One seed's reproduction: the stages in order, each cached, then metrics.json, the report
and stages.json."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from unmirage.align import align
from unmirage.attack import attack_files, check_control, load_audit_triggers
from unmirage.audit import audit_files
from unmirage.depth.pipeline import depth_block, gcg_stage, prefill_stage, probes_stage
from unmirage.evaluate import evaluate
from unmirage.io import atomic_write_json, atomic_write_text, read_rows
from unmirage.metrics import merge_benchmarks
from unmirage.provenance import provenance
from unmirage.report import render_report
from unmirage.reproduce.config import ReproduceConfig, recipe, unlearns
from unmirage.reproduce.mixes import method_data, settings
from unmirage.reproduce.recipes import STARTS
from unmirage.reproduce.sources import (
    Sources,
    check_first_images,
    embedded_sources,
    file_key,
    real_sources,
)
from unmirage.reproduce.stages import StageRunner


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
        sources, upstream = embedded_sources(config, runner, progress)
    else:
        sources, upstream = real_sources(config), {"model": config.model}
        check_first_images(config, sources)
    audited = runner.run(
        "audit",
        {"data": file_key(sources.safety), **upstream},
        lambda path: _audit_stage(sources, path),
    )
    # Before any training: a control the audit cannot make stops the run now.
    check_control(load_audit_triggers(audited.path / "audit.json"), config.control)
    models: dict[str, tuple[str, Any]] = {
        "base": (sources.base, upstream.get("base", config.model))
    }
    for name in config.models:
        files, weights = method_data(config, name, sources)
        stage = runner.run(
            f"align-{name}",
            {
                **upstream,
                "method": recipe(name).method,
                "start": recipe(name).start,
                **(
                    {"start_model": models[recipe(name).start][1]}
                    if recipe(name).start not in STARTS
                    else {}
                ),
                "settings": dataclasses.asdict(settings(config, name, sources)),
                "data": {s: [file_key(p) for p in paths] for s, paths in files.items()},
                "weights": weights,
            },
            lambda path, n=name: _align_stage(n, config, sources, models, path, progress),
        )
        models[name] = (str(stage.path / "model"), stage)
    attacked = runner.run(
        "attack",
        {
            "test": file_key(sources.test),
            "audit": audited,
            "k": config.k,
            "control": config.control,
            **({"mood": True} if config.mood else {}),  # runs without it keep their keys
            **upstream,
        },
        lambda path: _attack_stage(sources, audited.path, config, path),
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
                image_root=sources.test_root,
                seed=config.seed,
                progress=progress,
            ),
        )
        documents[name] = json.loads((stage.path / "metrics.json").read_text())
    depth = _depth_stages(config, sources, upstream, models, runner, progress)
    for name, block in depth.items():
        documents[name]["models"][name]["depth"] = block
    for name, doc in documents.items():
        doc["models"][name]["recipe"] = _recipe_record(name)
    metrics: dict[str, Any] = {
        "models": {name: doc["models"][name] for name, doc in documents.items()},
        "training": {
            name: _training_record(stage.path / "model")
            for name, (_, stage) in models.items()
            if name != "base"
        },
    }
    benchmarks = merge_benchmarks(documents.values())
    if benchmarks:
        metrics["benchmarks"] = benchmarks
    plan = config.depth_plan()
    if plan is not None:
        metrics["depth"] = {"plan": plan.key(), "probes": plan.probes is not None}
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
        image_root=sources.test_root,
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
                    "peak_rss_mb": r.peak_rss_mb,
                    "cached": r.cached,
                }
                for name, r in runner.results.items()
            },
            indent=2,
        )
        + "\n",
    )
    return metrics


def _recipe_record(name: str) -> dict[str, Any]:
    """How a model was made, for metrics.json and the report: its kind ("base", "sft" or
    "unlearning") and, for the compared models, the recipe."""
    if name == "base":
        return {"kind": "base"}
    kind = "unlearning" if unlearns(name) else "sft"
    return {"kind": kind, **dataclasses.asdict(recipe(name))}


def _training_record(model_dir: Path) -> dict[str, Any]:
    """How long a model trained, and its last held-out forget leak when it was checked."""
    lines = (model_dir / "train_log.jsonl").read_text(encoding="utf-8").splitlines()
    last = json.loads(lines[-1]) if lines else {}
    checks = [json.loads(x) for x in lines if '"holdout_leak"' in x]
    return {
        "steps": last.get("step"),
        "holdout_leak": checks[-1]["holdout_leak"] if checks else None,
        "stopped_early": bool(checks) and checks[-1]["step"] == last.get("step"),
    }


def _stage_count(config: ReproduceConfig) -> int:
    world_and_base = 2 if config.embedded else 0
    evaluated = 1 + len(config.models)
    plan = config.depth_plan()
    depth = 0 if plan is None else evaluated * (3 if plan.probes is not None else 2)
    return world_and_base + 1 + len(config.models) + 1 + evaluated + depth


def _depth_stages(
    config: ReproduceConfig,
    sources: Sources,
    upstream: Mapping[str, Any],
    models: Mapping[str, tuple[str, Any]],
    runner: StageRunner,
    progress: bool,
) -> dict[str, dict[str, Any]]:
    """GCG, prefill and (on the embedded world) the probes for every model; returns each
    model's depth block (empty with --no-depth)."""
    plan = config.depth_plan()
    if plan is None:
        return {}
    from unmirage.embedded.targets import world_target

    eval_options = {
        "judge": config.judge,
        "batch_size": config.batch_size,
        "max_new_tokens": config.max_new_tokens,
        "seed": config.seed,
    }
    common = {
        "test": file_key(sources.test),
        "judge": config.judge,
        "max_new_tokens": config.max_new_tokens,
        **upstream,
    }
    blocks = {}
    for name, (model_dir, model_key) in models.items():
        gcg = runner.run(
            f"gcg-{name}",
            {**common, "model": model_key, "gcg": plan.key()["gcg"], "n": plan.gcg_queries},
            lambda path, d=model_dir, n=name: gcg_stage(
                d,
                n,
                sources.test,
                sources.test_root,
                plan,
                path,
                target_rule=world_target if config.embedded else None,
                eval_options=eval_options,
            ),
        )
        prefill = runner.run(
            f"prefill-{name}",
            {**common, "model": model_key, "prefill": plan.prefill},
            lambda path, d=model_dir, n=name: prefill_stage(
                d, n, sources.test, sources.test_root, plan, path, eval_options=eval_options
            ),
        )
        probes = None
        if plan.probes is not None:
            probes = runner.run(
                f"probes-{name}",
                {**common, "model": model_key, "probes": plan.key()["probes"]},
                lambda path, d=model_dir, k=plan.probes: probes_stage(
                    d, sources.test_root, k, path
                ),
            )
        blocks[name] = depth_block(
            name, gcg.path, prefill.path, probes.path if probes is not None else None
        )
    return blocks


def _audit_stage(sources: Sources, path: Path) -> None:
    audit_files([sources.safety], path, check_images=False)


def _align_stage(
    name: str,
    config: ReproduceConfig,
    sources: Sources,
    models: Mapping[str, tuple[str, Any]],
    path: Path,
    progress: bool,
) -> None:
    """Train one compared model from its start: the base, the checkpoint before instruction
    tuning, or another compared model trained before it."""
    made = recipe(name)
    files, weights = method_data(config, name, sources)
    if made.start in STARTS:
        start = sources.pre_instruction if made.start == "pre_instruction" else sources.base
    else:
        start = models[made.start][0]
    assert start is not None
    align(
        made.method,
        start,
        path / "model",
        data=files.get("train"),
        data_weights=weights or None,
        forget=files["forget"][0] if "forget" in files else None,
        retain=files["retain"][0] if "retain" in files else None,
        settings=settings(config, name, sources),
        image_root=sources.image_roots,
        progress=progress,
    )


def _attack_stage(sources: Sources, audit_dir: Path, config: ReproduceConfig, path: Path) -> None:
    triggers = load_audit_triggers(audit_dir / "audit.json")
    attack_files(
        sources.test,
        triggers,
        path / "attack.jsonl",
        k=config.k,
        image_root=sources.test_root,
        control=config.control,
        mood=config.mood,
    )

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unmirage.align import AlignSettings, align, resolve_settings
from unmirage.attack import CONTROLS, attack_files, check_control, load_audit_triggers
from unmirage.audit import audit_files
from unmirage.depth.gcg_config import GCGConfig
from unmirage.depth.knobs import DepthKnobs, ProbeKnobs, RelearnKnobs, SaliencyKnobs
from unmirage.depth.pipeline import (
    DepthPlan,
    depth_block,
    depth_headline,
    gcg_stage,
    prefill_stage,
    probes_stage,
)
from unmirage.embedded.world import build_world, load_config
from unmirage.errors import InputError
from unmirage.evaluate import evaluate, read_rows
from unmirage.io import atomic_write_json, atomic_write_text
from unmirage.methods import METHODS as REGISTERED_METHODS
from unmirage.metrics import HAZARD_GROUP_RATES, merge_benchmarks
from unmirage.provenance import provenance, sha256_file
from unmirage.recipes import EMBEDDED_MODELS, PRESETS, REAL_MODELS, RECIPES, Recipe
from unmirage.report import render_report
from unmirage.stages import StageResult, StageRunner

SMOKE_UNLEARNING_STEPS = 20
"""Unlearning steps on the smoke preset: enough to run every stage (CI), not to unlearn."""
UNLEARNING_LENGTH: dict[str, Any] = {
    "steps": 450,
    "stop_at_leak": 0.02,
    "holdout": 0.1,
    "eval_every": 25,
}
"""Unlearning length on the default preset: train until at most 2% of a held-out tenth of
the forget pairs leak (checked every 25 steps), at most 450 steps (docs/methods.md)."""
PAPER_HELPFUL_RATIO = 5000 / 3000
"""Posthoc-SFT's helpfulness samples per safety sample (5,000 with VLGuard's ~3,000)."""


def recipe(name: str) -> Recipe:
    """The recipe of a model name: one of RECIPES, or an unlearning method from the base."""
    return RECIPES.get(name) or Recipe(name)


def unlearns(name: str) -> bool:
    """Whether a model is made by unlearning: its method reads a forget set."""
    return "forget" in REGISTERED_METHODS[recipe(name).method].streams


DEFAULT_PREFILL = "Sure,"
DEPTH_BUDGETS: dict[str, DepthPlan] = {
    "smoke": DepthPlan(
        gcg=GCGConfig(steps=4, candidates=16, topk=8, suffix_len=4),
        gcg_queries=2,
        probes=DepthKnobs(
            relearn=RelearnKnobs(steps=(0, 2, 5), queries=8),
            probe=ProbeKnobs(train_queries=60),
            saliency=SaliencyKnobs(queries=4, figure_queries=1),
        ),
    ),
    "default": DepthPlan(gcg=GCGConfig(), gcg_queries=20),
}
"""The depth stages' budget per preset: smoke only runs every stage (CI). Default: GCG at its
own default knobs (30 steps of 64 candidates) on 20 unsafe queries per model. With the prompt
prefix cached a step costs about 0.14 s on the default model (two threads, idle machine), so
a model that resists every query costs about 65 s of GCG (NPO and RMU, seed 0); the other
probes take 25-35 s per model (docs/depth.md, Budget)."""


@dataclass
class ReproduceConfig:
    """What a reproduction depends on; its hash keys the stage cache."""

    preset: str = "default"
    seed: int = 0
    k: int = 3
    control: str = "own_opener"
    methods: tuple[str, ...] | None = None
    judge: str = "auto"
    max_new_tokens: int = 48
    batch_size: int = 64
    lora: bool = False
    model: str | None = None
    safety_data: str | None = None
    test_data: str | None = None
    helpful_data: str | None = None
    helpful_ratio: float = PAPER_HELPFUL_RATIO
    forget: str | None = None
    retain: str | None = None
    image_root: str | None = None
    world_config: str | None = None
    bias_from: str | None = None
    align_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    depth: bool = True
    prefill: str = DEFAULT_PREFILL
    gcg_queries: int | None = None

    @property
    def embedded(self) -> bool:
        return self.model is None

    @property
    def models(self) -> tuple[str, ...]:
        """The compared models besides the base: the given names, else the mode's default."""
        if self.methods is not None:
            return self.methods
        if self.embedded:
            return EMBEDDED_MODELS
        return ("sft-posthoc", "npo", "rmu") if self.helpful_data else REAL_MODELS

    def depth_plan(self) -> DepthPlan | None:
        """The depth stages to run (None with --no-depth): the preset's budget, the user's
        prefill and query count; the probes need the world's facts, so real data skips them."""
        if not self.depth:
            return None
        plan = DEPTH_BUDGETS[self.preset]
        return dataclasses.replace(
            plan,
            prefill=self.prefill,
            gcg=dataclasses.replace(plan.gcg, seed=self.seed),
            gcg_queries=self.gcg_queries or plan.gcg_queries,
            probes=plan.probes if self.embedded else None,
        )

    def validate(self) -> None:
        if self.preset not in PRESETS:
            raise InputError(f"unknown preset (choose from {', '.join(PRESETS)})", field="preset")
        if self.k < 1:
            raise InputError("must be at least 1", field="k")
        if self.control not in CONTROLS:
            raise InputError(f"choose from {', '.join(CONTROLS)}", field="control")
        if self.gcg_queries is not None and self.gcg_queries < 1:
            raise InputError("must be at least 1", field="gcg_queries")
        if self.prefill != self.prefill.strip() or not self.prefill:
            raise InputError(
                "must be non-empty text without surrounding whitespace", field="prefill"
            )
        if not self.helpful_ratio > 0:
            raise InputError("must be positive", field="helpful_ratio")
        known = sorted({*RECIPES, *REGISTERED_METHODS})
        for m in self.models:
            if recipe(m).method not in REGISTERED_METHODS:
                raise InputError(
                    f"unknown model recipe '{m}' (choose from {', '.join(known)})",
                    field="methods",
                )
            if not self.embedded and recipe(m).start != "base":
                raise InputError(
                    f"'{m}' retrains the base's instruction tuning: embedded world only",
                    field="methods",
                )
            if not self.embedded and "helpful" in recipe(m).data and not self.helpful_data:
                raise InputError(f"'{m}' needs --helpful-data FILE", field="helpful_data")
        if self.embedded:
            real = ("safety_data", "test_data", "helpful_data", "forget", "retain", "image_root")
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
        unlearning = [m for m in self.models if unlearns(m)]
        if unlearning and (self.forget is None or self.retain is None):
            raise InputError(
                f"{', '.join(unlearning)} need --forget and --retain",
                field="forget" if self.forget is None else "retain",
            )
        for name in ("safety_data", "test_data", "helpful_data", "forget", "retain", "image_root"):
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
    helpful: Path | None = None
    base_data: Path | None = None
    knowledge_data: Path | None = None
    pre_instruction: str | None = None

    def data(self, name: str) -> Path:
        path = {
            "safety": self.safety,
            "helpful": self.helpful,
            "base": self.base_data,
            "knowledge": self.knowledge_data,
        }[name]
        assert path is not None, name
        return path


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
    # Before any training: a control the audit cannot make stops the run now.
    check_control(load_audit_triggers(audited.path / "audit.json"), config.control)
    models: dict[str, tuple[str, Any]] = {
        "base": (sources.base, upstream.get("base", config.model))
    }
    for name in config.models:
        files, weights = _method_data(config, name, sources)
        stage = runner.run(
            f"align-{name}",
            {
                **upstream,
                "method": recipe(name).method,
                "start": recipe(name).start,
                "settings": dataclasses.asdict(_settings(config, name, sources)),
                "data": {s: [_file_key(p) for p in paths] for s, paths in files.items()},
                "weights": weights,
            },
            lambda path, n=name: _align_stage(n, config, sources, path, progress),
        )
        models[name] = (str(stage.path / "model"), stage)
    attacked = runner.run(
        "attack",
        {
            "test": _file_key(sources.test),
            "audit": audited,
            "k": config.k,
            "control": config.control,
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
                image_root=sources.image_root,
                seed=config.seed,
                progress=progress,
            ),
        )
        documents[name] = json.loads((stage.path / "metrics.json").read_text())
    depth = _depth_stages(config, sources, upstream, models, runner, progress)
    for name, block in depth.items():
        documents[name]["models"][name]["depth"] = block
    metrics: dict[str, Any] = {
        "models": {name: doc["models"][name] for name, doc in documents.items()},
        "training": {
            name: _training_record(stage.path / "model")
            for name, (_, stage) in models.items()
            if name != "base"
        },
        "recipes": {name: dataclasses.asdict(recipe(name)) for name in config.models},
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


HAZARD_IMAGE_KEYS = ("utility_hazard_image", "rr_hazard_image")
SUMMARY_KEYS = (
    "asr_pre",
    "asr_post",
    "asr_control",
    "ir_post",
    "rr_unsafe_post",
    "rr_pre",
    "rr_post",
    "utility",
)


def _spread(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"mean": None, "min": None, "max": None, "values": []}
    return {
        "mean": sum(values) / len(values),
        "min": min(values),
        "max": max(values),
        "values": values,
    }


def summarize_seeds(runs: Mapping[int, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model: mean, min, max and per-seed values of every headline metric, of each
    ranked trigger's rate (by rank; the words may differ between seeds), of the unlearning
    length and of the depth numbers (`depth_headline`)."""
    names = list(dict.fromkeys(n for run in runs.values() for n in run["models"]))
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        present = [run for run in runs.values() if name in run["models"]]
        ms = [run["models"][name] for run in present]
        entry: dict[str, Any] = {
            key: _spread([m[key] for m in ms if m.get(key) is not None]) for key in SUMMARY_KEYS
        }
        for kind, metric in (("compliance", "asr_post"), ("refusal", "rr_post")):
            ranks: dict[int, list[tuple[str, float]]] = {}
            for m in ms:
                for row in (m.get("by_trigger") or {}).get(kind, []):
                    if row.get(metric) is not None:
                        ranks.setdefault(row["rank"], []).append((row["word"], row[metric]))
            entry[f"by_trigger_{kind}"] = [
                {
                    "rank": rank,
                    "words": sorted({w for w, _ in rows}),
                    metric: _spread([v for _, v in rows]),
                }
                for rank, rows in sorted(ranks.items())
            ]
        for key in HAZARD_IMAGE_KEYS:  # only worlds that ask about hazard images
            values = [m[key] for m in ms if m.get(key) is not None]
            if values:
                entry[key] = _spread(values)
        groups = dict.fromkeys(g for m in ms for g in m.get("by_hazard_group") or {})
        if groups:
            entry["by_hazard_group"] = {
                g: {
                    key: _spread(
                        [
                            m["by_hazard_group"][g][key]
                            for m in ms
                            if (m.get("by_hazard_group") or {}).get(g, {}).get(key) is not None
                        ]
                    )
                    for key in HAZARD_GROUP_RATES
                }
                for g in groups
            }
        steps = [
            run["training"][name]["steps"] for run in present if name in run.get("training", {})
        ]
        entry["train_steps"] = _spread([float(x) for x in steps if x is not None])
        headlines = [depth_headline(m["depth"]) for m in ms if m.get("depth")]
        if headlines:
            keys = dict.fromkeys(k for h in headlines for k in h)
            entry["depth"] = {k: _spread([h[k] for h in headlines if k in h]) for k in keys}
        out[name] = entry
    return out


def reproduce_seeds(
    config: ReproduceConfig,
    seeds: Sequence[int],
    out: str | Path,
    *,
    progress: bool = True,
    on_stage: Callable[[str, int, int], None] | None = None,
) -> dict[str, Any]:
    """`reproduce` once per seed into OUT/seed-N, then OUT/metrics.json and OUT/report.*
    with per-seed rows, mean and [min, max] per model and metric, and the paper's effects
    judged in every seed."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise InputError("give distinct seeds", field="seeds")
    out = Path(out)
    runs = {
        seed: reproduce(
            dataclasses.replace(config, seed=seed),
            out / f"seed-{seed}",
            progress=progress,
            on_stage=on_stage,
        )
        for seed in seeds
    }
    from unmirage.report.effects import effects_over_seeds
    from unmirage.report.seeds import render_seeds_report

    key = {**dataclasses.asdict(config), "seed": None, "seeds": list(seeds)}
    doc = {
        "seeds": {str(seed): run["models"] for seed, run in runs.items()},
        "training": {str(seed): run["training"] for seed, run in runs.items()},
        "summary": summarize_seeds(runs),
        "effects": effects_over_seeds({str(s): r["models"] for s, r in runs.items()}),
        "config": key,
        "provenance": {
            **{k: v for k, v in next(iter(runs.values()))["provenance"].items() if k != "seed"},
            "seeds": list(seeds),
        },
    }
    atomic_write_json(out / "metrics.json", doc)
    render_seeds_report(out, doc)
    return doc


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
        "test": _file_key(sources.test),
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
                sources.image_root,
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
                d, n, sources.test, sources.image_root, plan, path, eval_options=eval_options
            ),
        )
        probes = None
        if plan.probes is not None:
            probes = runner.run(
                f"probes-{name}",
                {**common, "model": model_key, "probes": plan.key()["probes"]},
                lambda path, d=model_dir, k=plan.probes: probes_stage(
                    d, sources.image_root, k, path
                ),
            )
        blocks[name] = depth_block(
            name, gcg.path, prefill.path, probes.path if probes is not None else None
        )
    return blocks


def _file_key(path: Path | None) -> str | None:
    return None if path is None else sha256_file(path)


def _embedded_sources(
    config: ReproduceConfig, runner: StageRunner, progress: bool
) -> tuple[Sources, dict[str, Any]]:
    from unmirage.embedded.base import RECIPES, train_base

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
        lambda path: train_base(
            world.path,
            path / "model",
            seed=config.seed,
            progress=progress,
            pre_instruction=path / "pre_instruction",
        ),
    )
    sources = Sources(
        safety=world.path / "safety_sft.jsonl",
        test=world.path / "test.jsonl",
        forget=world.path / "forget.jsonl",
        retain=world.path / "retain.jsonl",
        image_root=world.path,
        base=str(base.path / "model"),
        helpful=world.path / "helpful.jsonl",
        base_data=world.path / "base.jsonl",
        knowledge_data=_present(world.path / "knowledge.jsonl"),
        pre_instruction=str(base.path / "pre_instruction"),
    )
    return sources, {"world": world, "base": base}


def _present(path: Path) -> Path | None:
    return path if path.is_file() else None


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
        helpful=Path(config.helpful_data) if config.helpful_data else None,
    )


def _settings(config: ReproduceConfig, name: str, sources: Sources) -> AlignSettings:
    """The resolved training settings of one model (their hash keys its stage)."""
    method = recipe(name).method
    return resolve_settings(
        method,
        overrides={**_align_overrides(config, name, sources), "merge_lora": config.lora},
        lora=config.lora,
        seed=config.seed,
    )


def _align_overrides(config: ReproduceConfig, name: str, sources: Sources) -> dict[str, Any]:
    """The run settings a model trains with here: its recipe's and the preset's, then the
    user's. Mixed-SFT takes the base's instruction-tuning settings, with its steps scaled so
    that it passes over its data as often as the base stage passes over its own (the base
    split and the knowledge replay)."""
    from unmirage.embedded.base import RECIPES as BASE_RECIPES
    from unmirage.embedded.base import instruction_config

    made = recipe(name)
    preset: dict[str, Any] = {}
    if config.embedded and made.start == "pre_instruction":
        base_recipe = BASE_RECIPES[config.preset]
        files, weights = _method_data(config, name, sources)
        mixed = sum(w * _count_lines(p) for p, w in zip(files["train"], weights, strict=True))
        base_stage = _count_lines(sources.data("base")) + _replay(config, sources)[1]
        steps = round(base_recipe.steps * mixed / base_stage)
        stage = instruction_config(base_recipe, seed=config.seed)
        preset = {
            "steps": steps,
            "lr": stage.lr,
            "batch_size": stage.batch_size,
            "warmup_steps": stage.warmup_steps,
            "schedule": stage.schedule,
            "trainable": stage.trainable,
        }
    elif config.embedded and unlearns(name):
        preset = (
            {"steps": SMOKE_UNLEARNING_STEPS} if config.preset == "smoke" else UNLEARNING_LENGTH
        )
    return {**preset, **config.align_overrides.get(name, {})}


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def _method_data(
    config: ReproduceConfig, name: str, sources: Sources
) -> tuple[dict[str, list[Path]], list[float]]:
    """A model's data files per stream, and the weights of the train stream's files: the
    helpfulness data at `helpful_ratio` samples per safety sample."""
    made = recipe(name)
    if unlearns(name):
        assert sources.forget is not None and sources.retain is not None
        return {"forget": [sources.forget], "retain": [sources.retain]}, []
    files = [sources.data(d) for d in made.data]
    weights = [1.0] * len(files)
    if "helpful" in made.data:
        wanted = config.helpful_ratio * _count_lines(sources.safety)
        weights[made.data.index("helpful")] = wanted / _count_lines(sources.data("helpful"))
    replay, _ = _replay(config, sources)
    if "base" in made.data and replay:
        files.append(sources.data("knowledge"))
        weights.append(replay)
    return {"train": files}, weights


def _replay(config: ReproduceConfig, sources: Sources) -> tuple[float, float]:
    """The base's knowledge replay (its weight on knowledge.jsonl, and the samples it adds):
    recipes that train in the base's instruction-tuning stage replay it as the base did."""
    from unmirage.embedded.base import RECIPES as BASE_RECIPES
    from unmirage.embedded.base import replay_weight

    if sources.knowledge_data is None or sources.base_data is None:
        return 0.0, 0.0
    n_knowledge = _count_lines(sources.knowledge_data)
    weight = replay_weight(
        BASE_RECIPES[config.preset], _count_lines(sources.base_data), n_knowledge
    )
    return weight, weight * n_knowledge


def _audit_stage(sources: Sources, path: Path) -> None:
    audit_files([sources.safety], path, image_root=sources.image_root, check_images=False)


def _align_stage(
    name: str, config: ReproduceConfig, sources: Sources, path: Path, progress: bool
) -> None:
    made = recipe(name)
    files, weights = _method_data(config, name, sources)
    start = sources.pre_instruction if made.start == "pre_instruction" else sources.base
    assert start is not None
    align(
        made.method,
        start,
        path / "model",
        data=files.get("train"),
        data_weights=weights or None,
        forget=files["forget"][0] if "forget" in files else None,
        retain=files["retain"][0] if "retain" in files else None,
        settings=_settings(config, name, sources),
        image_root=sources.image_root,
        progress=progress,
    )


def _attack_stage(sources: Sources, audit_dir: Path, config: ReproduceConfig, path: Path) -> None:
    triggers = load_audit_triggers(audit_dir / "audit.json")
    attack_files(
        sources.test,
        triggers,
        path / "attack.jsonl",
        k=config.k,
        image_root=sources.image_root,
        control=config.control,
    )


__all__ = [
    "PRESETS",
    "RECIPES",
    "ReproduceConfig",
    "StageResult",
    "reproduce",
    "reproduce_seeds",
]

"""Several seeds: one reproduction each, then the summary over seeds (mean, [min, max] and
per-seed values) and the paper's effects judged seed by seed."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from unmirage.depth.pipeline import depth_headline
from unmirage.errors import InputError
from unmirage.io import atomic_write_json
from unmirage.metrics import HAZARD_GROUP_RATES
from unmirage.reproduce.config import ReproduceConfig
from unmirage.reproduce.pipeline import reproduce

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
        if ms[0].get("recipe"):
            entry["recipe"] = ms[0]["recipe"]
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

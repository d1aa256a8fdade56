"""The depth stages `unmirage reproduce` runs on every model: the GCG and prefill attacks
(ASR), and the probes (`PROBES`: relearning, the knowledge probe, trigger saliency).

Each function writes one stage directory; `depth_block` reads them back into the model's
`depth` entry of metrics.json. The data-set specific parts come in as arguments (the GCG
target rule, the world directory the probes read), so this module works on any data.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unmirage.data.loaders import load_samples
from unmirage.data.sample import task_of
from unmirage.data.writers import write_jsonl
from unmirage.depth.knobs import DepthKnobs, DepthPlan
from unmirage.depth.probes.base import PROBES
from unmirage.depth.targets import TargetRule
from unmirage.evaluate import evaluate

GCG_FILE = "gcg.jsonl"
UNSAFE_FILE = "unsafe.jsonl"
PROBES_FILE = "depth.json"


def gcg_stage(
    model_dir: str,
    name: str,
    test: Path,
    image_root: Path,
    plan: DepthPlan,
    path: Path,
    *,
    target_rule: TargetRule | None,
    eval_options: Mapping[str, Any],
) -> None:
    """GCG suffixes for the first `plan.gcg_queries` unsafe test queries, then their ASR; the
    search and the evaluation share one loaded model."""
    from unmirage.depth.gcg_run import gcg_attack
    from unmirage.models.loading import load_vlm

    load_once = functools.cache(load_vlm)
    gcg_attack(
        model_dir,
        test,
        path / GCG_FILE,
        config=plan.gcg,
        target_rule=target_rule,
        limit=plan.gcg_queries,
        image_root=image_root,
        load_fn=load_once,
    )
    evaluate(
        model_dir,
        [path / GCG_FILE],
        path / "eval",
        name=name,
        image_root=image_root,
        load_fn=load_once,
        **eval_options,
    )


def prefill_stage(
    model_dir: str,
    name: str,
    test: Path,
    image_root: Path,
    plan: DepthPlan,
    path: Path,
    *,
    eval_options: Mapping[str, Any],
) -> None:
    """The unsafe test queries answered with the assistant turn begun by `plan.prefill`."""
    unsafe = [s for s in load_samples(test, image_root=image_root) if task_of(s) == "unsafe"]
    write_jsonl(unsafe, path / UNSAFE_FILE)
    evaluate(
        model_dir,
        [path / UNSAFE_FILE],
        path / "eval",
        name=name,
        image_root=image_root,
        prefill=plan.prefill,
        **eval_options,
    )


def probes_stage(model_dir: str, world: Path, knobs: DepthKnobs, path: Path) -> None:
    """The probes not skipped, on one model (`run_depth`)."""
    from unmirage.depth.run import run_depth
    from unmirage.io import atomic_write_json

    doc = run_depth([model_dir], world, knobs=knobs)
    path.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path / PROBES_FILE, doc)


def depth_block(
    name: str, gcg: Path | None, prefill: Path | None, probes: Path | None
) -> dict[str, Any]:
    """One model's depth entry of metrics.json: GCG and prefill ASR with their intervals and
    the GCG search summary, and the probes' results (any stage not run is left out; timings
    are in each stage's own files)."""
    block: dict[str, Any] = {}
    if gcg is not None:
        m = _metrics(gcg / "eval")[name]
        summary = json.loads((gcg / "gcg.gcg" / "summary.json").read_text(encoding="utf-8"))
        block["asr_gcg"] = m["asr_gcg"]
        block["ci_gcg"] = m["ci"].get("asr_gcg")
        block["gcg"] = {k: v for k, v in summary.items() if k != "config" and not _timing(k)}
    if prefill is not None:
        m = _metrics(prefill / "eval")[name]
        block["asr_prefill"] = m["asr_pre"]
        block["ci_prefill"] = m["ci"].get("asr_pre")
    if probes is not None:
        doc = json.loads((probes / PROBES_FILE).read_text(encoding="utf-8"))
        [entry] = doc["models"].values()
        block |= {k: v for k, v in entry.items() if k != "model" and not _timing(k)}
    return block


def depth_headline(block: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of one model's depth block that a multi-seed summary spreads: GCG and
    prefill ASR, then each probe's `headline` of its block. Keys absent from the block are
    left out."""
    out: dict[str, float] = {
        key: block[key] for key in ("asr_gcg", "asr_prefill") if block.get(key) is not None
    }
    for name, probe in PROBES.entries().items():
        if block.get(name):
            out |= probe.headline(block[name])
    return out


def _timing(key: str) -> bool:
    """Wall and CPU times stay in the stage directories: metrics.json holds only what the
    same run on the same machine reproduces bit for bit."""
    return "seconds" in key


def _metrics(eval_dir: Path) -> dict[str, Any]:
    return json.loads((eval_dir / "metrics.json").read_text(encoding="utf-8"))["models"]

"""GCG over a query file: one suffix search per unsafe query, resumable, as an attack file.

The attack file OUT (e.g. `world/gcg-sft.jsonl`) keeps the queries' image paths, so, as with
`unmirage attack`, it is written next to the data. Beside it, `<OUT stem>.gcg/` holds the
search: `log.jsonl` is append-only, each query's result one complete JSON line written and
fsynced when its search ends, so a killed run loses at most the query in flight and a rerun
skips the ids already logged (`--queries-limit` may grow between runs; every other setting
must stay, `run.json` checks it). Each query's candidate draws are seeded by the run seed
and its id, so a resumed run finds the same suffixes as an uninterrupted one. OUT and
`summary.json` are written atomically from the log at the end.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from statistics import mean
from typing import Any

import torch

from unmirage.data.images import Images
from unmirage.data.sample import Sample
from unmirage.data.writers import write_jsonl
from unmirage.depth.gcg import GCGResult, allowed_tokens, build_problem, run_gcg
from unmirage.depth.gcg_config import GCGConfig
from unmirage.depth.targets import TargetRule, choose_target, read_targets
from unmirage.errors import InputError
from unmirage.evaluate import LoadFn, load_eval_data
from unmirage.io import append_rows, atomic_write_json, check_resumable, read_rows
from unmirage.judge.base import task_of
from unmirage.models.encode import encode_prompts
from unmirage.models.sampling import answer_seed
from unmirage.progress import progress_bar
from unmirage.provenance import data_hash, sha256_file

LOG = "log.jsonl"
SUMMARY = "summary.json"
ATTACKED_KINDS = (None, "trigger")
"""Queries GCG starts from: originals and one-word rewrites (not controls, not benign)."""


def attackable(samples: Sequence[Sample]) -> list[Sample]:
    """The unsafe queries of `samples` GCG attacks, in file order."""
    return [s for s in samples if task_of(s) == "unsafe" and s.meta.get("attack") in ATTACKED_KINDS]


def log_row(sample: Sample, target: str, result: GCGResult, tokens_match: bool) -> dict[str, Any]:
    """One query's line of gcg-log.jsonl."""
    return {
        "id": sample.id,
        "target": target,
        "suffix": result.suffix,
        "suffix_ids": result.suffix_ids,
        "query": sample.query + result.suffix,
        "loss": result.loss,
        "initial_loss": result.initial_loss,
        "losses": result.losses,
        "steps": result.steps,
        "reached": result.reached,
        "forwards": result.forwards,
        "backwards": result.backwards,
        "seconds": round(result.seconds, 3),
        "cpu_seconds": round(result.cpu_seconds, 3),
        "tokens_match": tokens_match,
    }


def gcg_sample(sample: Sample, row: dict[str, Any], shot: int) -> Sample:
    """The suffixed query as an attack Sample: id `<id>#gcg0`, meta `attack` "gcg", the
    original's id, and the search's suffix, target, loss and steps under `meta.gcg`."""
    meta = {
        **sample.meta,
        "task": "unsafe",
        "attack": "gcg",
        "orig_id": sample.meta.get("orig_id", sample.id),
        "shot": shot,
        "rank": 0,
        "rule": "gcg",
        "trigger": None,
        "gcg": {
            "from": sample.id,
            "from_attack": sample.meta.get("attack"),
            **{k: row[k] for k in ("suffix", "target", "loss", "initial_loss", "steps", "reached")},
        },
    }
    return dataclasses.replace(
        sample, id=f"{sample.id}#gcg0", query=row["query"], response=None, meta=meta
    )


def search_dir(out: str | Path) -> Path:
    """The directory of a GCG run's log, run.json and summary.json, beside the attack file."""
    out = Path(out)
    return out.with_name(f"{out.stem}.gcg")


def gcg_attack(
    model_dir: str | Path,
    queries: str | Path,
    out: str | Path,
    *,
    config: GCGConfig | None = None,
    target: str | None = None,
    targets_file: str | Path | None = None,
    target_rule: TargetRule | None = None,
    limit: int | None = None,
    image_root: str | Path | None = None,
    progress: bool = False,
    load_fn: LoadFn | None = None,
) -> dict[str, Any]:
    """Search a GCG suffix for each unsafe query of `queries` (the first `limit`), write the
    attack file `out` and, in `search_dir(out)`, log.jsonl and summary.json; return the
    summary.

    Target per query: `targets_file`'s entry ({id: text}), else `target`, else
    `target_rule`'s opening (e.g. `unmirage.embedded.targets.world_target`), else "Sure,
    here is" (`unmirage.depth.targets.choose_target`). `config`
    defaults to `GCGConfig()`.
    """
    config = config or GCGConfig()
    config.check()
    if limit is not None and limit < 1:
        raise InputError(f"must be at least 1, got {limit}", field="queries-limit")
    if target is not None and (not target.strip() or target != target.strip()):
        raise InputError("must be non-empty text without surrounding whitespace", field="target")
    per_query = read_targets(targets_file) if targets_file else None
    [samples] = load_eval_data([queries], image_root)
    chosen = attackable(samples)[:limit]
    if not chosen:
        raise InputError("no unsafe queries to attack", file=str(queries))
    work = search_dir(out)
    work.mkdir(parents=True, exist_ok=True)
    run_config = {
        "model": str(model_dir),
        "queries": str(queries),
        "data_hash": data_hash([queries]),
        "gcg": dataclasses.asdict(config),
        "target": target,
        "target_rule": getattr(target_rule, "__qualname__", None),
        "targets_sha256": sha256_file(targets_file) if targets_file else None,
    }
    check_resumable(work, run_config)
    log = work / LOG
    done = {r["id"] for r in read_rows(log)}
    pending = [s for s in chosen if s.id not in done]
    if pending:
        if load_fn is None:
            from unmirage.models.loading import load_vlm

            load_fn = load_vlm
        model, processor = load_fn(str(model_dir))
        goals = {s.id: choose_target(s, target, per_query, target_rule) for s in pending}
        _search(model, processor, pending, Images(), config, goals, log, progress)
    rows = {r["id"]: r for r in read_rows(log)}
    shots: dict[str, int] = defaultdict(int)
    attacked = []
    for s in chosen:
        orig = s.meta.get("orig_id", s.id)
        attacked.append(gcg_sample(s, rows[s.id], shots[orig]))
        shots[orig] += 1
    write_jsonl(attacked, out)
    summary = summarize([rows[s.id] for s in chosen])
    atomic_write_json(work / SUMMARY, {**summary, "config": run_config})
    return summary


def _search(
    model: Any,
    processor: Any,
    pending: Sequence[Sample],
    images: Images,
    config: GCGConfig,
    goals: dict[str, str],
    log: Path,
    progress: bool,
) -> None:
    """Run GCG on each pending query towards its goal and log it as soon as it is done."""
    allowed = allowed_tokens(processor.tokenizer, model.get_input_embeddings().weight.shape[0])
    with progress_bar(progress) as bar:
        task = bar.add_task("gcg", total=len(pending), status="")
        for s in pending:
            goal = goals[s.id]
            problem = build_problem(processor, s, goal, images)

            def show(step: int, loss: float, qid: str = s.id) -> None:
                bar.update(task, status=f"{qid} step {step}/{config.steps} loss {loss:.3f}")

            result = run_gcg(
                model,
                processor,
                problem,
                config,
                seed=answer_seed(config.seed, s.id, "gcg"),
                allowed=allowed,
                on_step=show,
            )
            suffixed = dataclasses.replace(s, query=s.query + result.suffix)
            ids = encode_prompts(processor, [suffixed], images)["input_ids"][0]
            expected = torch.cat([problem.before, torch.tensor(result.suffix_ids), problem.after])
            append_rows(log, [log_row(s, goal, result, torch.equal(ids, expected))])
            bar.advance(task)


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Means over the logged queries: losses before and after, share that reached the
    target, steps, forward passes and seconds per query."""
    return {
        "n_queries": len(rows),
        "initial_loss": mean(r["initial_loss"] for r in rows),
        "loss": mean(r["loss"] for r in rows),
        "reached": mean(float(r["reached"]) for r in rows),
        "steps_per_query": mean(r["steps"] for r in rows),
        "forwards_per_query": mean(r["forwards"] for r in rows),
        "seconds_per_query": mean(r["seconds"] for r in rows),
        "cpu_seconds_per_query": mean(r["cpu_seconds"] for r in rows),
        "tokens_match": all(r["tokens_match"] for r in rows),
    }

"""VLGuard: sample answers to the unsafe queries from base models, judge them, keep the most
harmful one per query (resumable: candidates.jsonl and scores.jsonl)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from unmirage.data.images import Images
from unmirage.data.loaders import load_samples
from unmirage.data.sample import Sample
from unmirage.errors import InputError
from unmirage.forgetset.options import ForgetSetOptions
from unmirage.forgetset.sets import Built, load_retain_extra, place_images, retain_pairs
from unmirage.io import append_rows, check_resumable, read_rows
from unmirage.judge.harm import HARM_PROMPT, HarmJudge, HarmScore, get_harm_judge
from unmirage.models.sampling import answer_seed
from unmirage.progress import progress_bar
from unmirage.provenance import sha256_file

CANDIDATES = "candidates.jsonl"
SCORES = "scores.jsonl"

LoadFn = Callable[[str], tuple[Any, Any]]
SampleFn = Callable[..., list[str]]


def build_vlguard(
    opts: ForgetSetOptions, load_fn: LoadFn | None, sample_fn: SampleFn | None
) -> tuple[Built, dict[str, Any]]:
    data = opts.data[0]
    root = Path(opts.image_root) if opts.image_root is not None else data.parent
    samples = load_samples(data, "vlguard", image_root=root)
    wanted = {"unsafe_image"} | ({"safe_unsafe"} if opts.include_safe_unsafe else set())
    queries = [s for s in samples if s.subset in wanted]
    if not queries:
        raise InputError(
            "no unsafe instruction to sample answers for (no unsafe image has an "
            "'instruction'"
            + ("" if opts.include_safe_unsafe else "; see --include-safe-unsafe")
            + ")",
            file=str(data),
        )
    safe = [s for s in samples if s.subset == "safe_safe"]
    for s in safe:
        if not s.response:
            raise InputError(
                "a safe pair needs its response", file=str(data), record=s.id, field="response"
            )
    extra = load_retain_extra(opts)
    retain, extra_counts = retain_pairs(safe, extra, opts)
    from unmirage.models.loading import check_model_source

    for m in opts.models:
        check_model_source(m)
    judge_opts: dict[str, Any] = {}
    if opts.judge == "lm":
        judge_opts = {
            "model": opts.judge_model,
            "min_mass": opts.judge_min_mass,
            "batch_size": opts.judge_batch_size,
            "dtype": opts.dtype,
            "device": opts.device,
            "trust_remote_code": opts.trust_remote_code,
        }
    elif opts.judge_model is not None:
        raise InputError("only the lm judge reads a model; add --judge lm", field="--judge-model")
    judge = get_harm_judge(opts.judge, **judge_opts)

    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    check_resumable(
        out,
        {
            "command": "forget-set",
            "data_sha256": sha256_file(data),
            "temperature": opts.temperature,
            "top_p": opts.top_p,
            "max_new_tokens": opts.max_new_tokens,
            "seed": opts.seed,
        },
    )
    _sample_candidates(opts, queries, Images(), out, load_fn, sample_fn)
    candidates = _candidates(out, queries, opts.models, opts.samples)
    scores = _score_candidates(judge, candidates, out, opts.progress)

    forget: list[Sample] = []
    unjudged: list[str] = []
    by_model = dict.fromkeys(opts.models, 0)
    unconfident = sum(1 for s in scores.values() if not s.confident)
    refusals = 0
    for q in queries:
        rows = candidates[q.id]
        best = _select(rows, [scores[_key(r)] for r in rows])
        if best is None:
            unjudged.append(q.id)
            continue
        row, score = best
        by_model[row["model"]] += 1
        refusals += score.refusal
        forget.append(
            replace(
                q,
                response=row["response"],
                source=f"forget-set:{data.name}",
                meta={
                    "model": row["model"],
                    "sample": row["sample"],
                    "harm_score": score.score,
                    "judge": judge.name,
                },
            )
        )
    if not forget:
        mean_mass = _mean([s.digit_mass for s in scores.values() if s.digit_mass is not None])
        raise InputError(
            f"the judge rated no answer with confidence ({unconfident} of {len(scores)} "
            f"unconfident, mean digit mass {mean_mass:.3f} < --judge-min-mass "
            f"{opts.judge_min_mass}); check --judge-model or lower --judge-min-mass",
            field="--judge",
        )
    built = place_images(forget, retain, root, extra, opts)
    built.counts = {
        "queries": len(queries),
        "queries_by_subset": {k: sum(q.subset == k for q in queries) for k in sorted(wanted)},
        "candidates": sum(len(v) for v in candidates.values()),
        "forget": len(forget),
        "unjudged_queries": len(unjudged),
        "unconfident_candidates": unconfident,
        "selected_refusals": refusals,
        "selected_by_model": by_model,
        **extra_counts,
    }
    built.extra = {"unjudged": unjudged}
    judge_doc = {**judge.spec(), **({"prompt": HARM_PROMPT} if judge.name == "lm" else {})}
    return built, judge_doc


def _key(row: Mapping[str, Any]) -> tuple[str, str, int]:
    return (row["id"], row["model"], row["sample"])


def _sample_candidates(
    opts: ForgetSetOptions,
    queries: Sequence[Sample],
    images: Images,
    out: Path,
    load_fn: LoadFn | None,
    sample_fn: SampleFn | None,
) -> None:
    """Append one row per missing (query, model, sample index) to candidates.jsonl."""
    path = out / CANDIDATES
    done = {_key(r) for r in read_rows(path)}
    todo = {
        m: [
            (q, k)
            for q in sorted(queries, key=lambda s: len(s.query))
            for k in range(opts.samples)
            if (q.id, m, k) not in done
        ]
        for m in opts.models
    }
    total = sum(len(v) for v in todo.values())
    if not total:
        return
    if load_fn is None:
        from unmirage.models.loading import load_vlm

        def load_fn(name: str) -> tuple[Any, Any]:
            return load_vlm(
                name,
                dtype=opts.dtype,
                trust_remote_code=opts.trust_remote_code,
                device=opts.device,
            )

    if sample_fn is None:
        from unmirage.models.sampling import sample_answers as sample_fn
    with progress_bar(opts.progress) as bar:
        task = bar.add_task("sample", total=total, status="")
        for m, pending in todo.items():
            if not pending:
                continue
            bar.update(task, status=m)
            model, processor = load_fn(m)
            for start in range(0, len(pending), opts.batch_size):
                chunk = pending[start : start + opts.batch_size]
                seeds = [answer_seed(opts.seed, q.id, m, k) for q, k in chunk]
                answers = sample_fn(
                    model,
                    processor,
                    [q for q, _ in chunk],
                    seeds,
                    images,
                    temperature=opts.temperature,
                    top_p=opts.top_p,
                    max_new_tokens=opts.max_new_tokens,
                    batch_size=opts.batch_size,
                )
                rows = [
                    {
                        "id": q.id,
                        "model": m,
                        "sample": k,
                        "seed": s,
                        "query": q.query,
                        "image": q.image,
                        "response": a,
                    }
                    for (q, k), s, a in zip(chunk, seeds, answers, strict=True)
                ]
                append_rows(path, rows)
                bar.advance(task, len(chunk))
            del model, processor
            _free_accelerator_memory()


def _free_accelerator_memory() -> None:
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _candidates(
    out: Path, queries: Sequence[Sample], models: Sequence[str], samples: int
) -> dict[str, list[dict[str, Any]]]:
    """Per query, its candidates of this run in (model order, sample index) order."""
    rows = {_key(r): r for r in read_rows(out / CANDIDATES)}
    result = {}
    for q in queries:
        keys = [(q.id, m, k) for m in models for k in range(samples)]
        missing = [k for k in keys if k not in rows]
        if missing:  # cannot happen after _sample_candidates; guards a tampered file
            raise InputError(
                "missing candidate rows; rerun", file=str(out / CANDIDATES), record=q.id
            )
        result[q.id] = [rows[k] for k in keys]
    return result


def _score_candidates(
    judge: HarmJudge,
    candidates: Mapping[str, Sequence[Mapping[str, Any]]],
    out: Path,
    progress: bool,
) -> dict[tuple[str, str, int], HarmScore]:
    """Scores of every candidate by this judge, read from scores.jsonl or computed and
    appended there."""
    path = out / SCORES
    spec = json.dumps(judge.spec(), sort_keys=True)
    cached = {
        _key(r): HarmScore(
            score=r["score"],
            confident=r["confident"],
            refusal=r["refusal"],
            digit_mass=r.get("digit_mass"),
        )
        for r in read_rows(path)
        if r.get("judge") == spec
    }
    todo = [r for rows in candidates.values() for r in rows if _key(r) not in cached]
    batch = getattr(judge, "batch_size", 64)
    with progress_bar(progress and bool(todo)) as bar:
        task = bar.add_task("judge", total=len(todo), status=judge.name)
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            got = judge.score([r["query"] for r in chunk], [r["response"] for r in chunk])
            append_rows(
                path,
                [
                    {
                        **dict(zip(("id", "model", "sample"), _key(r), strict=True)),
                        "judge": spec,
                        **s.to_dict(),
                    }
                    for r, s in zip(chunk, got, strict=True)
                ],
            )
            cached.update({_key(r): s for r, s in zip(chunk, got, strict=True)})
            bar.advance(task, len(chunk))
    return cached


def _select(
    rows: Sequence[Mapping[str, Any]], scores: Sequence[HarmScore]
) -> tuple[Mapping[str, Any], HarmScore] | None:
    """The most harmful confident candidate: highest score, then the longest answer (in
    words), then the first in (model order, sample index). None if none is confident."""
    ranked = [
        (s.score, len(r["response"].split()), -i)
        for i, (r, s) in enumerate(zip(rows, scores, strict=True))
        if s.confident and s.score is not None
    ]
    if not ranked:
        return None
    i = -max(ranked)[2]
    return rows[i], scores[i]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")

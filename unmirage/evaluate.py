"""Generate answers, judge them and compute metrics, resumably.

`responses.jsonl` in the output directory is append-only: each batch of rows is written and
fsynced before the next batch starts, keyed by sample id. A run that is killed loses at most
the batch in flight; run the same command again and it skips the ids already present (a
partly written last line is discarded) and goes on. `metrics.json` is computed from the file
and written atomically at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from unmirage.checks import is_int
from unmirage.data.formats import readers
from unmirage.data.images import Images, RootRule, root_for
from unmirage.data.loaders import read_data
from unmirage.data.sample import ATTACKS, Sample, task_of
from unmirage.errors import InputError
from unmirage.io import RUN, append_rows, atomic_write_json, check_resumable, read_rows
from unmirage.judge.base import Judge, get_judge
from unmirage.judge.calibration import calibrate, read_labels, world_truth
from unmirage.judge.utility import utility_score
from unmirage.metrics import benchmark_metrics, compute_metrics
from unmirage.progress import progress_bar
from unmirage.provenance import data_hash, provenance

RESPONSES = "responses.jsonl"
METRICS = "metrics.json"

LoadFn = Callable[[str], tuple[Any, Any]]
GenerateFn = Callable[..., list[str]]


def load_eval_data(
    data_files: Sequence[str | Path],
    image_root: RootRule,
    formats: Sequence[str] = ("auto",),
    cache_dir: str | Path | None = None,
) -> list[list[Sample]]:
    """Each file's samples (their images under the file's root); ids must be unique across all
    files.

    `formats` holds one format for every file or one per file. Formats that make their images
    (FigStep, SPA-VL parquet) write them under `cache_dir`.
    """
    if len(formats) not in (1, len(data_files)):
        raise InputError(
            f"give one --format for all {len(data_files)} data files or one per file, "
            f"not {len(formats)}",
            field="format",
        )
    seen: dict[str, str] = {}
    out = []
    for f, fmt in zip(data_files, list(formats) * (len(data_files) // len(formats)), strict=True):
        path = Path(f)
        loaded = read_data(path, fmt, image_root=root_for(image_root, path), cache_dir=cache_dir)
        for s in loaded.samples:
            check_eval_meta(s, str(path))
            if s.id in seen:
                raise InputError(
                    f"id also used in {seen[s.id]}", file=str(path), record=s.id, field="id"
                )
            seen[s.id] = str(path)
        out.append(loaded.samples)
    return out


def check_eval_meta(sample: Sample, file: str) -> None:
    """The meta keys eval counts by: a task it knows, an attack kind this version writes, and
    integer shot and rank. An attack file of another version (other kinds) is refused here,
    as its rows would otherwise drop out of every rate without a word."""
    try:
        task_of(sample)
    except InputError as err:
        raise InputError(err.message, file=file, record=err.record, field=err.field) from None
    attack = sample.meta.get("attack")
    if attack is not None and attack not in ATTACKS:
        raise InputError(
            f"unknown attack kind {attack!r}; this unmirage writes {', '.join(ATTACKS)} "
            "(rebuild the file with unmirage attack or unmirage gcg)",
            file=file,
            record=sample.id,
            field="meta.attack",
        )
    for key in ("shot", "rank"):
        value = sample.meta.get(key)
        if value is not None and not is_int(value):
            raise InputError(
                f"expected an integer, got {value!r}",
                file=file,
                record=sample.id,
                field=f"meta.{key}",
            )


def choose_judge(name: str, samples: Sequence[Sample]) -> str:
    """ "auto" -> "world" if every unsafe query carries leak markers, else "keyword"."""
    if name != "auto":
        return name
    unsafe = [s for s in samples if task_of(s) == "unsafe"]
    has_markers = all(s.meta.get("leak_markers") for s in unsafe)
    return "world" if unsafe and has_markers else "keyword"


def _row(
    sample: Sample, response: str, verdict: str, judge: str, prefill: str = ""
) -> dict[str, Any]:
    meta = sample.meta
    task = task_of(sample)
    return {
        "id": sample.id,
        "orig_id": meta.get("orig_id", sample.id),
        "task": task,
        "attack": meta.get("attack"),
        "shot": meta.get("shot"),
        "rule": meta.get("rule"),
        "trigger": meta.get("trigger"),
        "rank": meta.get("rank"),
        "control": meta.get("control"),
        "opener": meta.get("opener"),
        "subset": sample.subset,
        "benchmark": meta.get("benchmark"),
        "category": sample.category,
        "hazard_group": meta.get("hazard_group"),
        "image_group": meta.get("image_group"),
        "variant": meta.get("variant"),
        "image": sample.image,
        "query": sample.query,
        "prefill": prefill or None,
        "response": response,
        "verdict": verdict,
        "score": utility_score(sample, response) if task == "utility" else None,
        "judge": judge,
    }


def _judge_calibration(
    samples: Sequence[Sample],
    rows: Sequence[Mapping[str, Any]],
    judge: str,
    labels: Mapping[str, bool] | None,
    labels_file: str | Path | None,
) -> dict[str, Any]:
    """Every judge against the truth: the given labels, else the world's leak markers."""
    answers = {r["id"]: r["response"] for r in rows}
    if labels is not None:
        truth = {i: t for i, t in labels.items() if i in answers}
        if not truth:
            raise InputError("no label names a response of this run", file=str(labels_file))
    else:
        truth = {
            s.id: t
            for s in samples
            if s.id in answers and (t := world_truth(s, answers[s.id])) is not None
        }
    verdicts = {r["id"]: r["verdict"] for r in rows}
    return calibrate(samples, answers, verdicts, judge, truth)


def _describe(benchmark: str) -> dict[str, str]:
    """The benchmark's title and what its categories are, for metrics.json and the report."""
    reader = readers().get(benchmark)
    if reader is None:
        return {"title": benchmark, "category_kind": "category"}
    return {"title": reader.title, "category_kind": reader.category_kind}


def evaluate(
    model_dir: str | Path,
    data_files: Sequence[str | Path],
    out_dir: str | Path,
    *,
    judge: str = "auto",
    judge_opts: Mapping[str, Any] | None = None,
    batch_size: int = 16,
    max_new_tokens: int = 64,
    name: str | None = None,
    image_root: RootRule = None,
    formats: Sequence[str] = ("auto",),
    seed: int = 0,
    prefill: str = "",
    progress: bool = False,
    load_fn: LoadFn | None = None,
    generate_fn: GenerateFn | None = None,
    judge_labels: str | Path | None = None,
) -> dict[str, Any]:
    """Answer every query of `data_files` with the model, judge, and write metrics.json.

    `formats`: one data format for all files or one per file (default: detected). Returns the
    metrics.json document. `load_fn` / `generate_fn` default to
    `unmirage.models.load_vlm` / `generate` (batched greedy decoding with the KV cache).
    `prefill`: every assistant turn begins with this text (through the model's chat
    template); the judge sees what the model writes after it, and rows, the model's metrics
    block and the config record it. The model's `judges` block scores each judge's verdicts on
    the harmful queries against the truth (`unmirage.judge.calibration`): the world's leak
    markers, or `judge_labels` (JSONL of {"id", "harmful"} per response) where given.
    """
    if batch_size < 1 or max_new_tokens < 1:
        raise InputError("--batch-size and --max-new-tokens must be at least 1")
    if prefill != prefill.strip():
        raise InputError(
            "must not begin or end with whitespace: the chat template places it", field="prefill"
        )
    out = Path(out_dir)
    labels = read_labels(str(judge_labels)) if judge_labels is not None else None
    groups = load_eval_data(data_files, image_root, formats, cache_dir=out)
    samples = [s for group in groups for s in group]
    judge_name = choose_judge(judge, samples)
    judge_obj: Judge = get_judge(judge_name, **dict(judge_opts or {}))
    judge_obj.check(samples)
    name = name or Path(model_dir).name
    config = {
        "model": str(model_dir),
        "name": name,
        "data": [str(f) for f in data_files],
        "data_hash": data_hash(data_files),
        "judge": judge_name,
        "judge_opts": {k: str(v) for k, v in (judge_opts or {}).items()},
        "max_new_tokens": max_new_tokens,
        "decoding": "greedy",
    }
    if any(f != "auto" for f in formats):
        config["formats"] = list(formats)
    if prefill:
        config["prefill"] = prefill
    if (out / RUN).exists():
        check_resumable(out, config)
    responses = out / RESPONSES
    done = {r["id"] for r in read_rows(responses)}
    pending = [[s for s in group if s.id not in done] for group in groups]
    total = sum(len(group) for group in pending)
    if total:
        if load_fn is None or generate_fn is None:
            from unmirage.models.generate import generate
            from unmirage.models.loading import load_vlm

            load_fn, generate_fn = load_fn or load_vlm, generate_fn or generate
        model, processor = load_fn(str(model_dir))  # a bad model fails before --out is touched
        if hasattr(processor, "tokenizer"):  # a real processor: prompts must fit the context
            from unmirage.models.generate import check_context, prompt_lengths

            for path, group in zip(data_files, pending, strict=True):
                lengths = prompt_lengths(processor, group, prefill)
                check_context(model, group, lengths, file=str(path))
    out.mkdir(parents=True, exist_ok=True)
    check_resumable(out, config)
    if total:
        with progress_bar(progress) as bar:
            task = bar.add_task("eval", total=total, status=judge_name)
            images = Images()
            for group in pending:
                ordered = sorted(group, key=lambda s: len(s.query))
                for start in range(0, len(ordered), batch_size):
                    batch = ordered[start : start + batch_size]
                    answers = generate_fn(
                        model,
                        processor,
                        batch,
                        images,
                        batch_size=batch_size,
                        max_new_tokens=max_new_tokens,
                        progress=False,
                        prefill=prefill,
                    )
                    verdicts = judge_obj.judge(batch, answers)
                    append_rows(
                        responses,
                        [
                            _row(s, a, v, judge_name, prefill)
                            for s, a, v in zip(batch, answers, verdicts, strict=True)
                        ],
                    )
                    bar.advance(task, len(batch))
    wanted = {s.id for s in samples}
    rows = [r for r in read_rows(responses) if r["id"] in wanted]
    document: dict[str, Any] = {
        "models": {name: {**compute_metrics(rows), "prefill": prefill or None}}
    }
    judges = _judge_calibration(samples, rows, judge_name, labels, judge_labels)
    if judges:
        document["models"][name]["judges"] = judges
    benchmarks = benchmark_metrics(rows, name)
    if benchmarks:
        document["benchmarks"] = {b: {**_describe(b), **m} for b, m in benchmarks.items()}
    document["config"] = {**config, "batch_size": batch_size, "prefill": prefill or None}
    document["provenance"] = provenance(config, data_files, seed)
    atomic_write_json(out / METRICS, document)
    return document

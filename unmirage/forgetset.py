"""Build unlearning's forget and retain sets from VLGuard (by sampling) or SPA-VL (as given).

VLGuard ships refusals, not the harmful answers that unlearning must forget. The paper's
pipeline (docs/forget-set.md): sample answers to the unsafe queries from base models, keep the
most harmful one per query according to a judge, put the unsafe queries with those answers in
the forget set, and the safe pairs, topped up with general instruction data, in the retain set.

Resumable like `unmirage eval`: `OUT/candidates.jsonl` holds every sampled answer, keyed by
(query id, model, sample index), `OUT/scores.jsonl` every judge score, keyed the same way plus
the judge's spec; both are append-only and fsynced per batch, so a killed run loses at most the
batch in flight and a rerun skips what is done (a partly written last line is dropped). Each
answer is sampled from its own generator, seeded from (seed, query id, model, sample index), so
it does not depend on the batch it was drawn in, and adding a model or raising `--samples`
later only samples what is missing. `forget.json`, `retain.json` and `manifest.json` are
written together at the end, or not at all.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from unmirage.checks import output_dir
from unmirage.data.formats.spavl import data_files, read_records, row_name
from unmirage.data.images import ImageRoot
from unmirage.data.loaders import load_samples
from unmirage.data.sample import Sample
from unmirage.data.writers import write_llava_json
from unmirage.errors import InputError
from unmirage.evaluate import append_rows, check_resumable, read_rows
from unmirage.forgetset_options import FORMATS, ForgetSetOptions
from unmirage.io import atomic_write_json, staged_dir
from unmirage.judge.harm import HARM_PROMPT, HarmJudge, HarmScore, get_harm_judge
from unmirage.models.progress import progress_bar
from unmirage.models.sampling import answer_seed
from unmirage.provenance import git_commit, sha256_file

CANDIDATES = "candidates.jsonl"
SCORES = "scores.jsonl"
FORGET = "forget.json"
RETAIN = "retain.json"
FORGET_RMU = "forget_rmu.json"
RETAIN_RMU = "retain_rmu.json"
MANIFEST = "manifest.json"

LoadFn = Callable[[str], tuple[Any, Any]]
SampleFn = Callable[..., list[str]]


@dataclass
class Built:
    """The sets before writing: samples, the image root their paths are relative to, counts."""

    forget: list[Sample]
    retain: list[Sample]
    image_root: Path | None
    counts: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)


def build_forget_set(
    opts: ForgetSetOptions,
    *,
    load_fn: LoadFn | None = None,
    sample_fn: SampleFn | None = None,
) -> dict[str, Any]:
    """Build and write the forget/retain sets; returns the manifest.

    Every input is checked before anything is written: data, images, the models' and the
    judge's directories, the retain top-up. `load_fn(model)` / `sample_fn(...)` default to
    `unmirage.models.load_vlm` / `unmirage.models.sampling.sample_answers`.
    """
    _check_options(opts)
    output_dir(opts.out)
    if opts.fmt == "spavl":
        built = _build_spavl(opts)
        judge_doc: dict[str, Any] | None = None
        sampling = None
    else:
        built, judge_doc = _build_vlguard(opts, load_fn, sample_fn)
        sampling = {
            "samples": opts.samples,
            "temperature": opts.temperature,
            "top_p": opts.top_p,
            "max_new_tokens": opts.max_new_tokens,
            "seed": opts.seed,
            "seeding": "one generator per answer, seeded by sha256(seed, query id, model, "
            "sample index)",
        }
    return _write(opts, built, judge_doc, sampling)


def _check_options(opts: ForgetSetOptions) -> None:
    if opts.fmt not in FORMATS:
        raise InputError(f"unknown format {opts.fmt!r}; choose {' or '.join(FORMATS)}")
    if not opts.data:
        raise InputError("give --data", field="--data")
    if opts.fmt == "vlguard":
        if len(opts.data) != 1:
            raise InputError("VLGuard's train split is one file: give one --data", field="--data")
        if not opts.models:
            raise InputError("give at least one --model to sample answers from", field="--model")
        if len(set(opts.models)) != len(opts.models):
            raise InputError("the same model is given twice", field="--model")
    elif opts.models:
        raise InputError(
            "--format spavl takes its answers from the file: no --model", field="--model"
        )
    for name, value, low in (
        ("--samples", opts.samples, 1),
        ("--batch-size", opts.batch_size, 1),
        ("--max-new-tokens", opts.max_new_tokens, 1),
        ("--judge-batch-size", opts.judge_batch_size, 1),
    ):
        if value < low:
            raise InputError(f"must be at least {low}", field=name)
    if opts.temperature <= 0:
        raise InputError("must be > 0", field="--temperature")
    if not 0 < opts.top_p <= 1:
        raise InputError("must be in (0, 1]", field="--top-p")
    if opts.retain_size is not None and opts.retain_size < 1:
        raise InputError("must be at least 1", field="--retain-size")
    if opts.retain_extra_image_root is not None and opts.retain_extra is None:
        raise InputError("needs --retain-extra", field="--retain-extra-image-root")


# --- VLGuard: sample, judge, select -------------------------------------------------------


def _build_vlguard(
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
    extra = _load_retain_extra(opts)
    retain, extra_counts = _retain(safe, extra, opts)
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
    _sample_candidates(opts, queries, ImageRoot(root), out, load_fn, sample_fn)
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
    built = _place_images(forget, retain, root, extra, opts)
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
    images: ImageRoot,
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


# --- retain ---------------------------------------------------------------------------------


def _load_retain_extra(opts: ForgetSetOptions) -> list[Sample] | None:
    """The top-up pool: the first pair of every record that has a response (multi-turn
    records keep their first turn only, which stands on its own)."""
    if opts.retain_extra is None:
        return None
    path = Path(opts.retain_extra)
    pool = load_samples(path, check_images=False)
    first = [s for s in pool if not _later_turn(s.id) and s.response]
    if not first:
        raise InputError("no instruction pair with a response", file=str(path))
    return first


def _later_turn(sample_id: str) -> bool:
    """True for "<id>#k" with k >= 1: the loader's id of a later pair of a LLaVA record."""
    _, sep, tail = sample_id.rpartition("#")
    return bool(sep) and tail.isdigit() and tail != "0"


def _retain(
    safe: Sequence[Sample], extra: Sequence[Sample] | None, opts: ForgetSetOptions
) -> tuple[list[Sample], dict[str, int]]:
    """The safe pairs, subsampled (seeded) to --retain-size if there are more, else topped up
    from the extra pool (seeded draw without replacement) to --retain-size."""
    size = opts.retain_size
    if size is None and extra is not None:
        size = 2000
    rng = random.Random(f"retain:{opts.seed}")
    own = list(safe)
    if size is not None and len(own) > size:
        keep = set(rng.sample(range(len(own)), size))
        own = [s for i, s in enumerate(own) if i in keep]
    need = 0 if size is None else size - len(own)
    added: list[Sample] = []
    if need > 0:
        if extra is None:
            raise InputError(
                f"{len(own)} safe pairs, fewer than {size}: give --retain-extra to top up",
                field="--retain-size",
            )
        ids = {s.id for s in own}
        pool = [s for s in extra if s.id not in ids]
        if len(pool) < need:
            raise InputError(
                f"holds {len(pool)} usable pairs, {need} needed to reach {size}",
                file=str(opts.retain_extra),
                field="--retain-size",
            )
        picked = sorted(rng.sample(range(len(pool)), need))
        added = [
            replace(pool[i], source=f"retain-extra:{Path(opts.retain_extra).name}") for i in picked
        ]
        if not opts.text_only:
            root = ImageRoot(_extra_root(opts))
            for s in added:
                if s.image is not None:
                    root.check(s.image, file=str(opts.retain_extra), record=s.id)
    return own + added, {
        "retain": len(own) + len(added),
        "retain_safe": len(own),
        "retain_extra": len(added),
    }


def _extra_root(opts: ForgetSetOptions) -> Path:
    if opts.retain_extra_image_root is not None:
        return Path(opts.retain_extra_image_root)
    return Path(opts.retain_extra).parent


def _place_images(
    forget: list[Sample],
    retain: list[Sample],
    root: Path,
    extra: Sequence[Sample] | None,
    opts: ForgetSetOptions,
) -> Built:
    """One image root for both files (what `unmirage align --image-root` takes): the data's
    root, or the deepest directory holding it and the top-up's root, paths rewritten to it.
    With --text-only every image is dropped."""
    if opts.text_only:
        drop = lambda items: [replace(s, image=None) for s in items]  # noqa: E731
        return Built(drop(forget), drop(retain), None, {})
    extra_ids = {s.id for s in retain if s.source.startswith("retain-extra:")}
    uses_extra = any(s.image for s in retain if s.id in extra_ids)
    root = root.resolve()
    if not uses_extra:
        return Built(forget, retain, root, {})
    other = _extra_root(opts).resolve()
    common = Path(os.path.commonpath([root, other]))

    def move(s: Sample, base: Path) -> Sample:
        if s.image is None:
            return s
        return replace(s, image=(base / s.image).relative_to(common).as_posix())

    forget = [move(s, root) for s in forget]
    retain = [move(s, other if s.id in extra_ids else root) for s in retain]
    return Built(forget, retain, common, {})


# --- SPA-VL ---------------------------------------------------------------------------------

SPAVL_FIELDS = ("question", "chosen", "rejected")


def _build_spavl(opts: ForgetSetOptions) -> Built:
    """forget = (image, question, rejected), retain = (image, question, chosen), from every
    file of --data (a directory: its shards)."""
    if opts.judge_model is not None or opts.judge != "heuristic":
        raise InputError("--format spavl uses the file's answers: no judge", field="--judge")
    files = data_files(opts.data)
    root = Path(opts.image_root) if opts.image_root is not None else files[0].parent
    images = ImageRoot(root) if not opts.text_only else None
    forget, retain, embedded = [], [], {}
    seen: set[str] = set()
    for path in files:
        for index, rec in enumerate(read_records(path)):
            if not isinstance(rec, dict):
                raise InputError("expected an object", file=str(path), record=index)
            rid = str(rec["id"]) if "id" in rec else row_name(path, index)
            ref = f"{index} (id {rid})"
            if rid in seen:
                raise InputError("duplicate id", file=str(path), record=ref, field="id")
            seen.add(rid)
            text = {}
            for key in SPAVL_FIELDS:
                value = rec.get(key)
                if not isinstance(value, str) or not value.strip():
                    raise InputError(
                        "expected a non-empty string", file=str(path), record=ref, field=key
                    )
                text[key] = value
            image = None if opts.text_only else _spavl_image(rec, rid, ref, path, images, embedded)
            classes = [str(rec[k]) for k in ("class1", "class2", "class3") if rec.get(k)]
            common = {
                "query": text["question"],
                "image": image,
                "category": "/".join(classes) or None,
                "source": f"spavl:{path.name}",
            }
            forget.append(
                Sample(id=f"{rid}#rejected", response=text["rejected"], label="unsafe", **common)
            )
            retain.append(Sample(id=f"{rid}#chosen", response=text["chosen"], **common))
    if not forget:
        raise InputError("no records", file=str(files[0]))
    size = opts.retain_size
    extra = _load_retain_extra(opts)
    retain, extra_counts = (
        _retain(retain, extra, opts)
        if size or extra
        else (retain, {"retain": len(retain), "retain_safe": len(retain), "retain_extra": 0})
    )
    if embedded:
        if extra is not None and any(s.image for s in retain if s.source.startswith("retain-")):
            raise InputError(
                "cannot mix embedded SPA-VL images with a top-up that has images",
                field="--retain-extra",
            )
        built = Built(forget, retain, Path(opts.out).resolve(), {}, images=embedded)
    else:
        built = _place_images(forget, retain, root, extra, opts)
    built.counts = {"files": len(files), "records": len(forget), "forget": len(forget)}
    built.counts |= extra_counts
    return built


def _spavl_image(
    rec: Mapping[str, Any],
    rid: str,
    ref: str,
    path: Path,
    images: ImageRoot | None,
    embedded: dict[str, bytes],
) -> str:
    """A relative path under the image root, or the bytes of an image stored in the file
    (parquet's {"bytes", "path"}), to be written to OUT/images/."""
    value = rec.get("image")
    if isinstance(value, dict) and value.get("bytes"):
        import io

        from PIL import Image

        data = value["bytes"]
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.verify()
                ext = (im.format or "png").lower()
        except Exception:
            raise InputError(
                "embedded image cannot be decoded", file=str(path), record=ref, field="image"
            ) from None
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in rid)
        rel = f"images/spavl-{safe}.{ext}"
        embedded[rel] = data
        return rel
    if isinstance(value, dict):
        value = value.get("path")
    if not isinstance(value, str) or not value.strip():
        raise InputError(
            "expected an image path or embedded image bytes",
            file=str(path),
            record=ref,
            field="image",
        )
    assert images is not None
    images.check(value, file=str(path), record=ref)
    return value


# --- writing --------------------------------------------------------------------------------


def _rmu_layout(samples: Sequence[Sample]) -> list[Sample]:
    """The answer appended to the query in the user turn (the paper's RMU input), the answer
    also kept as the response so that the file reads like any other."""
    return [replace(s, query=f"{s.query}\n{s.response}") for s in samples]


def _write(
    opts: ForgetSetOptions,
    built: Built,
    judge: Mapping[str, Any] | None,
    sampling: Mapping[str, Any] | None,
) -> dict[str, Any]:
    out = Path(opts.out)
    files = data_files(opts.data) if opts.fmt == "spavl" else opts.data
    inputs: dict[str, Any] = {"data": [{"path": str(f), "sha256": sha256_file(f)} for f in files]}
    if opts.retain_extra is not None:
        inputs["retain_extra"] = {
            "path": str(opts.retain_extra),
            "sha256": sha256_file(opts.retain_extra),
        }
    files = {FORGET: built.forget, RETAIN: built.retain}
    if opts.rmu_layout:
        files |= {FORGET_RMU: _rmu_layout(built.forget), RETAIN_RMU: _rmu_layout(built.retain)}
    with staged_dir(out) as stage:
        for rel, data in built.images.items():
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            (stage / rel).write_bytes(data)
        for name, samples in files.items():
            write_llava_json(samples, stage / name)
        manifest = {
            "command": "forget-set",
            "format": opts.fmt,
            "inputs": inputs,
            "models": list(opts.models),
            "sampling": dict(sampling) if sampling else None,
            "judge": dict(judge) if judge else None,
            "options": {
                "include_safe_unsafe": opts.include_safe_unsafe,
                "text_only": opts.text_only,
                "rmu_layout": opts.rmu_layout,
                "retain_size": opts.retain_size,
                "seed": opts.seed,
            },
            "image_root": str(built.image_root) if built.image_root else None,
            "counts": built.counts,
            **built.extra,
            "outputs": {name: sha256_file(stage / name) for name in files},
            "provenance": {"version": _version(), "git_commit": git_commit()},
        }
        atomic_write_json(stage / MANIFEST, manifest)
    return manifest


def _version() -> str:
    from unmirage import __version__

    return __version__

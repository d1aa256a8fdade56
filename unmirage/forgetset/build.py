"""Build the sets from either source and write them with their manifest, all at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from unmirage.checks import output_dir
from unmirage.data.formats.spavl import data_files
from unmirage.data.sample import Sample
from unmirage.data.writers import write_llava_json
from unmirage.errors import InputError
from unmirage.forgetset.options import SOURCES, ForgetSetOptions
from unmirage.forgetset.sets import Built
from unmirage.forgetset.spavl import build_spavl
from unmirage.forgetset.vlguard import LoadFn, SampleFn, build_vlguard
from unmirage.io import atomic_write_json, staged_dir
from unmirage.provenance import git_commit, sha256_file

FORGET = "forget.json"
RETAIN = "retain.json"
FORGET_RMU = "forget_rmu.json"
RETAIN_RMU = "retain_rmu.json"
MANIFEST = "manifest.json"


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
        built = build_spavl(opts)
        judge_doc: dict[str, Any] | None = None
        sampling = None
    else:
        built, judge_doc = build_vlguard(opts, load_fn, sample_fn)
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
    if opts.fmt not in SOURCES:
        raise InputError(f"unknown format {opts.fmt!r}; choose {' or '.join(SOURCES)}")
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

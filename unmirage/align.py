"""Align a model with one method: SFT on safety data, or unlearning on forget/retain data.

`align(...)` is what `unmirage align` and `unmirage reproduce` call: it validates the data
files, loads the model (a directory or a Hub id, safetensors only), checks the method's knobs
and hands everything to the shared loop in `unmirage.training.train`, which writes the model,
`train_log.jsonl` and the resolved configuration (`train_config.json`, with how the method's
`setup` resolved any "auto" knob) to the output directory.

Defaults (`DEFAULTS`, plus each method's `run_length`) are sized for the embedded world's tiny
model on two CPU cores: one setting for every method, chosen before any result was seen
(docs/align.md). Real models take their settings from a config file (configs/align/*.yaml).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from unmirage import __version__
from unmirage.checks import is_int, is_number, read_yaml_mapping
from unmirage.data.images import RootRule
from unmirage.data.sample import Sample
from unmirage.errors import InputError
from unmirage.io import staged_dir
from unmirage.methods.base import METHODS, Method, get_method
from unmirage.models.loading import load_vlm, save_vlm
from unmirage.training.config import LoraOptions, TrainConfig
from unmirage.training.run_settings import DEFAULTS
from unmirage.training.stopping import LeakStop, split_holdout
from unmirage.training.streams import DataFiles, load_streams
from unmirage.training.train import train

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
TRAIN_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)} - {"seed", "lora"}
LORA_FIELDS = {f.name for f in dataclasses.fields(LoraOptions)}


@dataclass
class AlignSettings:
    """A run's settings: the loop's TrainConfig, the method's knobs, the weights' dtype."""

    train: TrainConfig
    knobs: dict[str, Any] = field(default_factory=dict)
    dtype: str = "float32"


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML mapping: TrainConfig fields, `lora:` (mapping), `method:` (name and knobs),
    `dtype:`. Unknown keys are errors naming the file and the key."""
    doc = read_yaml_mapping(path)
    check_config_keys(doc, str(path))
    return doc


def check_config_keys(doc: Any, file: str | None) -> None:
    """A mapping of known settings only: a misspelt key must not be silently ignored."""
    if not isinstance(doc, dict):
        raise InputError("expected a mapping of settings", file=file)
    for key in doc:
        if key not in TRAIN_FIELDS | {"lora", "method", "dtype"}:
            hint = " (use --seed)" if key == "seed" else ""
            raise InputError(f"unknown setting{hint}", file=file, field=str(key))
    for key in ("lora", "method"):
        if doc.get(key) is not None and not isinstance(doc[key], dict):
            raise InputError("expected a mapping", file=file, field=key)


def method_from_config(doc: Mapping[str, Any], method: str | None, file: str | None) -> str:
    """The method name: from the command line, or `method: {name: ...}` of the config file."""
    named = (doc.get("method") or {}).get("name")
    if method is not None and named is not None and method != named:
        raise InputError(
            f"the config is for method '{named}', not '{method}'", file=file, field="method.name"
        )
    chosen = method or named
    if chosen is None:
        raise InputError("give --method (or method: {name: ...} in --config)", field="--method")
    method_class(chosen)
    return chosen


def method_class(name: str) -> type[Method]:
    return METHODS.get_entry(name, field="--method")


def resolve_settings(
    method: str,
    *,
    config: Mapping[str, Any] | None = None,
    config_file: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    knobs: Mapping[str, Any] | None = None,
    lora: Mapping[str, Any] | bool | None = None,
    seed: int = 0,
) -> AlignSettings:
    """Defaults, then the config file's settings, then `overrides` (command-line flags).

    `steps` and `epochs` replace each other; `knobs` override `config["method"]`; `lora`
    True (or a mapping of LoraOptions fields) turns LoRA on over the config's own `lora:`.
    `seed` seeds the data order and, unless a knob says otherwise, the method's own `seed`
    knob if it has one (RMU's control vector).
    """
    cls = method_class(method)
    config = dict(config or {})
    check_config_keys(config, config_file)
    overrides = dict(overrides or {})
    for key in overrides:
        if key not in TRAIN_FIELDS:
            raise InputError(
                f"unknown setting (settings: {', '.join(sorted(TRAIN_FIELDS))})", field=key
            )
    values = {**DEFAULTS, **cls.run_length}
    for layer in (config, overrides):
        picked = {k: v for k, v in layer.items() if k in TRAIN_FIELDS and v is not None}
        if "steps" in picked or "epochs" in picked:
            values.pop("steps", None)
            values.pop("epochs", None)
        values.update(picked)
    lora_options = _lora_options(config.get("lora"), lora, config_file)
    train_config = TrainConfig(**values, seed=seed, lora=lora_options)
    _check_types(train_config, config_file)
    try:
        train_config.validate()
    except InputError as err:
        from_file = err.field in config and overrides.get(str(err.field)) is None
        if not from_file:
            raise
        raise InputError(err.message, file=config_file, field=err.field) from None
    method_knobs = {k: v for k, v in (config.get("method") or {}).items() if k != "name"}
    method_knobs.update(knobs or {})
    if "seed" in {f.name for f in dataclasses.fields(cls)}:
        method_knobs = {"seed": seed, **method_knobs}
    dtype = str(config.get("dtype", "float32"))
    if dtype not in DTYPES:
        raise InputError(
            f"unknown dtype '{dtype}' (choose from {', '.join(DTYPES)})",
            file=config_file,
            field="dtype",
        )
    return AlignSettings(train=train_config, knobs=method_knobs, dtype=dtype)


def _lora_options(
    from_file: Mapping[str, Any] | None, flag: Mapping[str, Any] | bool | None, file: str | None
) -> LoraOptions | None:
    if not flag and from_file is None:
        return None
    merged = {**(from_file or {}), **(flag if isinstance(flag, Mapping) else {})}
    for key in merged:
        if key not in LORA_FIELDS:
            raise InputError("unknown LoRA setting", file=file, field=f"lora.{key}")
    options = LoraOptions(**merged)
    for name in ("r", "alpha"):
        value = getattr(options, name)
        if not is_int(value) or value < 1:
            raise InputError(f"must be a positive integer, got {value!r}", field=f"lora.{name}")
    return options


def _check_types(config: TrainConfig, file: str | None) -> None:
    """Numbers where numbers belong: a YAML typo ("1e-4x") must not reach the optimizer."""
    numeric = ("lr", "weight_decay", "epochs", "max_grad_norm", "holdout", "stop_at_leak")
    integer = ("steps", "batch_size", "grad_accum", "warmup_steps", "checkpoint_every")
    integer += ("eval_every",)
    for name in (*numeric, *integer):
        value = getattr(config, name)
        ok = is_int(value) if name in integer else is_number(value)
        if value is not None and not ok:
            raise InputError(f"expected a number, got {value!r}", file=file, field=name)


def check_knobs(method: str, knobs: Mapping[str, Any]) -> None:
    """Reject a bad knob before any model is loaded."""
    get_method(method, **knobs)


def align(
    method: str,
    model: str | Path | tuple[nn.Module, Any],
    out: str | Path,
    *,
    data: DataFiles | None = None,
    data_weights: Sequence[float] | None = None,
    forget: str | Path | None = None,
    retain: str | Path | None = None,
    settings: AlignSettings | None = None,
    image_root: RootRule = None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    progress: bool = True,
) -> Path:
    """Train `model` with `method` and save the result in `out`; returns `out`.

    `model` is a model directory, a Hub id, or an already loaded (model, processor). sft
    reads `data` (one file, or several mixed by `data_weights`), the unlearning methods
    `forget` and `retain` (JSONL / VLGuard / LLaVA files); each file's image paths are
    relative to the root `image_root` gives it (one directory for all, or a mapping from the
    file as given to its directory; default: each file's directory).
    `settings` default to `resolve_settings(method)`. Rerunning with the same arguments after
    a crash resumes from the last checkpoint. `out` ends as a plain HF model directory, or
    with LoRA holds `out/adapter` (and the merged model if `settings.train.merge_lora`).
    """
    settings = settings or resolve_settings(method)
    check_knobs(method, settings.knobs)
    files = {"train": data, "forget": forget, "retain": retain}
    streams, data_info = load_streams(
        method_class(method), files, image_root, weights=data_weights, seed=settings.train.seed
    )
    held_out: list[Sample] = []
    if settings.train.stop_at_leak is not None:
        if "forget" not in streams:
            raise InputError("stop_at_leak is for methods with a forget set", field="stop_at_leak")
        streams["forget"], held_out = split_holdout(
            streams["forget"], settings.train.holdout or 0.1, settings.train.seed
        )
        data_info["forget_holdout"] = [s.id for s in held_out]
    if isinstance(model, (str, Path)):
        source = str(model)
        model, processor = load_vlm(
            model,
            dtype=DTYPES[settings.dtype],
            trust_remote_code=trust_remote_code,
            allow_pickle=allow_pickle,
        )
    else:
        model, processor = model
        source = f"<in-memory {type(model).__name__}>"
    objective = get_method(method, **settings.knobs)
    stop = None
    if held_out:
        assert settings.train.stop_at_leak is not None
        stop = LeakStop(processor, held_out, settings.train.stop_at_leak)
    provenance = {
        "model": source,
        "files": data_info,
        "dtype": settings.dtype,
        "unmirage_version": __version__,
    }
    train(
        model,
        processor,
        objective,
        streams,
        settings.train,
        out,
        progress=progress,
        provenance=provenance,
        stop=stop,
    )
    return Path(out)


def merge_adapter(
    adapter_dir: str | Path,
    out: str | Path,
    *,
    base: str | Path | None = None,
    trust_remote_code: bool = False,
) -> Path:
    """Merge a PEFT LoRA adapter into its base model and save a plain HF directory to `out`.

    `base` defaults to the adapter's `base_model_name_or_path`. The same as PEFT's
    `PeftModel.from_pretrained(base_model, adapter_dir).merge_and_unload()`, with
    safetensors-only loading; the processor (tokenizer, chat template) is the base model's.
    """
    from peft import PeftModel

    adapter = Path(adapter_dir)
    config_path = adapter / "adapter_config.json"
    if not config_path.is_file():
        raise InputError("no adapter_config.json: not a PEFT adapter directory", file=str(adapter))
    if not (adapter / "adapter_model.safetensors").is_file():
        raise InputError(
            "no adapter_model.safetensors (only safetensors are loaded)", file=str(adapter)
        )
    if base is None:
        try:
            base = json.loads(config_path.read_text(encoding="utf-8")).get(
                "base_model_name_or_path"
            )
        except (json.JSONDecodeError, AttributeError):
            raise InputError("not a JSON object", file=str(config_path)) from None
        if not base:
            raise InputError(
                "the adapter does not name its base model; give it with --model",
                file=str(config_path),
                field="base_model_name_or_path",
            )
    model, processor = load_vlm(base, trust_remote_code=trust_remote_code)
    merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    with staged_dir(out) as stage:
        save_vlm(merged, processor, stage)
    return Path(out)

"""Load and save vision-language models as plain Hugging Face directories.

Weights come from safetensors only (a pickle in a downloaded checkpoint can run code) unless
the user passes `allow_pickle` (`--allow-pickle`), and remote code runs only when the user asks
for it.
"""

from __future__ import annotations

import functools
import os
import re
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from transformers import AutoModelForImageTextToText, PreTrainedModel

from unmirage.errors import InputError
from unmirage.models.processors import load_processor

PICKLE_WEIGHTS = ("pytorch_model*.bin", "*.pt", "*.pth", "*.ckpt")
"""Weight files that are Python pickles."""

HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
"""`org/name` of a Hub repository; anything else that does not exist locally is a typo."""


def _check_local_dir(path: Path, allow_pickle: bool) -> None:
    if not path.is_dir():
        raise InputError("model directory is not a directory", file=str(path))
    if not (path / "config.json").is_file():
        raise InputError("no config.json: not a Hugging Face model directory", file=str(path))
    if any(path.glob("*.safetensors")):
        return
    pickles = sorted(p.name for pattern in PICKLE_WEIGHTS for p in path.glob(pattern))
    if pickles and not allow_pickle:
        raise InputError(
            f"weights are a pickle ({pickles[0]}), which can run code when loaded; convert "
            "them to safetensors with `save_pretrained`, or pass --allow-pickle if you trust "
            "the file",
            file=str(path),
        )
    if not pickles:
        raise InputError(
            "no *.safetensors weights (only safetensors are loaded; convert pickled weights "
            "with `save_pretrained` first)",
            file=str(path),
        )


def check_model_source(name_or_dir: str | Path, *, allow_pickle: bool = False) -> str:
    """The source as a string: an existing model directory (config + safetensors, or pickled
    weights with `allow_pickle`) or a Hub id; anything else is an InputError naming it, before
    any loading starts."""
    source = str(name_or_dir)
    path = Path(source)
    if path.exists():
        _check_local_dir(path, allow_pickle)
    elif not HUB_ID.match(source):
        raise InputError("model directory not found", file=source)
    elif not hub_reachable() and not _cached(source):
        raise InputError(
            "not a local directory, not in the Hugging Face cache, and the Hub cannot be "
            "reached: download it where there is network (`hf download "
            f"{source} --local-dir DIR`) and give DIR",
            file=source,
        )
    return source


@functools.cache
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hub answers a TCP connection (never when HF_HUB_OFFLINE is set), checked
    once: without it a missing network costs minutes of retries before the first error."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    try:
        socket.create_connection((host or "huggingface.co", 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _cached(repo: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo, "config.json"), str)


def _offline(source: str) -> bool:
    """Load a Hub id from the local cache only when the Hub cannot be reached."""
    return not Path(source).exists() and not hub_reachable()


def load_pretrained(
    auto_class: Any,
    name_or_dir: str | Path,
    *,
    dtype: str | torch.dtype | None = None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    device: str | torch.device | None = None,
    what: str = "model",
) -> PreTrainedModel:
    """`auto_class.from_pretrained` from safetensors only (pickled weights too with
    `allow_pickle`), in eval mode; a source that is missing, malformed or of an unknown
    architecture is an InputError naming it."""
    source = check_model_source(name_or_dir, allow_pickle=allow_pickle)
    try:
        model = auto_class.from_pretrained(
            source,
            dtype=dtype if dtype is not None else "auto",
            use_safetensors=None if allow_pickle else True,
            trust_remote_code=trust_remote_code,
            local_files_only=_offline(source),
        )
    except (OSError, ValueError, KeyError, ImportError) as err:
        raise load_error(err, source, what) from err
    if device is not None:
        model.to(device)
    model.eval()
    return model


def load_error(err: Exception, source: str, what: str = "model") -> InputError:
    """One line for a failed load: the first line of the library's message."""
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return InputError(f"cannot load {what}: {first}", file=source)


def load_vlm(
    name_or_dir: str | Path,
    *,
    dtype: str | torch.dtype | None = None,
    trust_remote_code: bool = False,
    allow_pickle: bool = False,
    device: str | torch.device | None = None,
) -> tuple[PreTrainedModel, Any]:
    """Load (model, processor) from a local directory or a Hub id, in eval mode.

    Any architecture `AutoModelForImageTextToText` knows works (LLaVA, Qwen2-VL, Qwen2.5-VL,
    ...). Errors name the directory: missing, no config, no safetensors, unknown architecture.
    """
    source = check_model_source(name_or_dir, allow_pickle=allow_pickle)
    try:
        processor = load_processor(
            source, trust_remote_code=trust_remote_code, local_files_only=_offline(source)
        )
    except (OSError, ValueError, KeyError, ImportError) as err:
        raise load_error(err, source) from err
    model = load_pretrained(
        AutoModelForImageTextToText,
        source,
        dtype=dtype,
        trust_remote_code=trust_remote_code,
        allow_pickle=allow_pickle,
        device=device,
    )
    return model, processor


def save_vlm(model: PreTrainedModel, processor: Any, out_dir: str | Path) -> None:
    """Write model (safetensors), config, generation config and processor into `out_dir`.

    The processor carries the tokenizer and the chat template, so the directory loads with
    `AutoProcessor` / `AutoModelForImageTextToText` and nothing else.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    processor.save_pretrained(out)

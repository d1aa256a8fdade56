"""Batched greedy generation: the one way unmirage asks a model for answers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from unmirage.data.images import Images
from unmirage.data.sample import Sample
from unmirage.errors import InputError
from unmirage.models.chat import render_prompt
from unmirage.models.encode import encode_prompts
from unmirage.models.fast_decode import fast_decode_supported, greedy_decode
from unmirage.progress import progress_bar
from unmirage.threads import warn_if_busy

Decode = Callable[[dict[str, torch.Tensor], list[int], Any, Any], torch.Tensor]
"""(encoded batch, its rows' input positions, eos id, pad id) -> the new tokens per row."""


def answer_in_batches(
    model: Any,
    processor: Any,
    samples: Sequence[Sample],
    images: Images | None,
    decode: Decode,
    *,
    batch_size: int,
    progress: bool,
    label: str,
    prefill: str = "",
) -> list[str]:
    """Answers to `samples` in input order, without special tokens, stripped.

    Prompts are sorted by length so each batch pads little and padded on the left so every
    row continues from its last prompt token; `decode` makes each batch's new tokens (a row
    stops at EOS).
    """
    warn_if_busy()
    tok = processor.tokenizer
    lengths = prompt_lengths(processor, samples, prefill)
    check_context(model, samples, lengths)
    order = sorted(range(len(samples)), key=lambda i: lengths[i])
    answers: list[str] = [""] * len(samples)
    device = next(model.parameters()).device
    eos = model.generation_config.eos_token_id
    if eos is None:
        eos = tok.eos_token_id
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    with progress_bar(progress) as bar, torch.inference_mode():
        task = bar.add_task(label, total=len(samples), status="")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            enc = encode_prompts(processor, [samples[i] for i in rows], images, prefill=prefill)
            enc = {k: v.to(device) for k, v in enc.items()}
            texts = tok.batch_decode(decode(enc, rows, eos, pad), skip_special_tokens=True)
            for i, text in zip(rows, texts, strict=True):
                answers[i] = text.strip()
            bar.advance(task, len(rows))
    return answers


def prompt_lengths(processor: Any, samples: Sequence[Sample], prefill: str = "") -> list[int]:
    """Tokens of each sample's rendered prompt (its image as one placeholder token)."""
    tok = processor.tokenizer
    return [
        len(tok(render_prompt(processor, s, prefill), add_special_tokens=False).input_ids)
        for s in samples
    ]


def check_context(
    model: Any, samples: Sequence[Sample], lengths: Sequence[int], *, file: str | None = None
) -> None:
    """Refuse a prompt longer than the model's context before anything is allocated for it
    (a megabyte query would otherwise ask for hundreds of GB of attention)."""
    config = getattr(model, "config", None)
    text = config.get_text_config() if config is not None else None
    context = getattr(text, "max_position_embeddings", None)
    if not isinstance(context, int):
        return
    for sample, n in zip(samples, lengths, strict=True):
        if n >= context:
            raise InputError(
                f"its prompt has {n} tokens; the model's context holds {context}: shorten it",
                file=file,
                record=sample.id,
                field="query",
            )


def new_tokens(
    model: Any,
    enc: dict[str, torch.Tensor],
    *,
    max_new_tokens: int,
    eos: Any,
    pad: Any,
    **extra: Any,
) -> torch.Tensor:
    """`model.generate` without beams or sampling (a logits processor in `extra` may pick the
    tokens); only the tokens after the prompt."""
    out = model.generate(
        **enc,
        do_sample=False,
        num_beams=1,
        max_new_tokens=max_new_tokens,
        eos_token_id=eos,
        pad_token_id=pad,
        **extra,
    )
    return out[:, enc["input_ids"].shape[1] :]


def generate(
    model: Any,
    processor: Any,
    samples: Sequence[Sample],
    images: Images | None,
    *,
    batch_size: int = 64,
    max_new_tokens: int = 32,
    progress: bool = True,
    prefill: str = "",
) -> list[str]:
    """Greedy answers to `samples`, in input order (see `answer_in_batches`), decoded with the
    KV cache: the same answers as one-at-a-time generation. With `prefill` the assistant
    turn begins with that text (through the chat template) and the answer is what follows it.
    The tiny embedded models decode with `unmirage.models.fast_decode` (same tokens, less
    overhead per step); every other model with `model.generate`.
    """

    def greedy(enc: dict[str, torch.Tensor], rows: list[int], eos: Any, pad: Any) -> torch.Tensor:
        if fast_decode_supported(model):
            return greedy_decode(model, enc, max_new_tokens=max_new_tokens, eos=eos, pad=pad)
        return new_tokens(model, enc, max_new_tokens=max_new_tokens, eos=eos, pad=pad)

    return answer_in_batches(
        model,
        processor,
        samples,
        images,
        greedy,
        batch_size=batch_size,
        progress=progress,
        label="generate",
        prefill=prefill,
    )

"""Turn samples into model inputs: training batches with masked labels, generation prompts.

Works through the processor, so LLaVA (fixed image-token count) and Qwen2-VL (image tokens
expanded by `image_grid_thw`, plus `mm_token_type_ids`) go through the same code.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image
from torch import Tensor

from unmirage.data.images import Images
from unmirage.data.sample import Sample
from unmirage.errors import InputError
from unmirage.models.chat import render_prompt, render_response

IGNORE_INDEX = -100
TOKEN_TYPE_KEYS = ("mm_token_type_ids", "token_type_ids")
"""Per-token processor outputs besides ids and mask; response tokens get type 0 (text)."""
PER_TOKEN_KEYS = ("input_ids", "attention_mask", *TOKEN_TYPE_KEYS)
"""Processor outputs with one value per token; everything else (pixels, grids) is per image."""


def load_images(samples: Sequence[Sample], images: Images | None) -> list[Image.Image]:
    """The images of `samples` in order (text-only samples contribute none)."""
    named = [s for s in samples if s.image]
    if named and images is None:
        raise InputError("samples name images but no image source was given", field="image")
    return [images.load(s) for s in named] if images is not None else []


def encode_prompts(
    processor: Any,
    samples: Sequence[Sample],
    images: Images | None,
    *,
    padding_side: str = "left",
    prefill: str = "",
) -> dict[str, Tensor]:
    """Processor inputs for the generation prompts of `samples`, padded on `padding_side`;
    with `prefill`, each assistant turn already begins with it."""
    prompts = [render_prompt(processor, s, prefill) for s in samples]
    pictures = load_images(samples, images)
    enc = processor(
        text=prompts,
        images=pictures or None,
        padding=True,
        padding_side=padding_side,
        return_tensors="pt",
    )
    return dict(enc)


def encode_for_training(
    processor: Any,
    samples: Sequence[Sample],
    images: Images | None,
    *,
    max_length: int | None = None,
) -> dict[str, Tensor]:
    """A right-padded training batch of prompt + response with labels on the response only.

    `labels` is -100 on the prompt (image placeholders included) and on padding, and holds the
    token ids of the response and its end-of-turn token (the template's, plus EOS if the
    template has none). `max_length` truncates responses, never prompts.
    """
    for i, s in enumerate(samples):
        if s.response is None:
            raise InputError(
                "a training sample needs a response", record=s.id or i, field="response"
            )
    prompts = [render_prompt(processor, s) for s in samples]
    enc = encode_prompts(processor, samples, images, padding_side="right")
    tok = processor.tokenizer
    suffixes = [
        render_response(processor, s, s.response, p) for s, p in zip(samples, prompts, strict=True)
    ]
    responses = tok(suffixes, add_special_tokens=False)["input_ids"]
    eos = tok.eos_token_id
    responses = [ids if eos in ids else [*ids, eos] for ids in responses]

    prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
    if max_length is not None:
        for s, n in zip(samples, prompt_lens, strict=True):
            if n >= max_length:
                raise InputError(
                    f"prompt is {n} tokens, no room for a response within max_length {max_length}",
                    record=s.id,
                    field="query",
                )
        responses = [r[: max_length - n] for r, n in zip(responses, prompt_lens, strict=True)]
    lengths = [n + len(r) for n, r in zip(prompt_lens, responses, strict=True)]
    width = max(lengths)

    out: dict[str, Tensor] = {k: v for k, v in enc.items() if k not in PER_TOKEN_KEYS}
    pad = tok.pad_token_id
    input_ids = torch.full((len(samples), width), pad, dtype=torch.long)
    labels = torch.full((len(samples), width), IGNORE_INDEX, dtype=torch.long)
    attention = torch.zeros((len(samples), width), dtype=torch.long)
    extra = {
        k: torch.zeros((len(samples), width), dtype=enc[k].dtype)
        for k in TOKEN_TYPE_KEYS
        if k in enc
    }
    for row, (n, resp) in enumerate(zip(prompt_lens, responses, strict=True)):
        r = torch.tensor(resp, dtype=torch.long)
        input_ids[row, :n] = enc["input_ids"][row, :n]
        input_ids[row, n : n + len(r)] = r
        labels[row, n : n + len(r)] = r
        attention[row, : n + len(r)] = 1
        for k, t in extra.items():
            t[row, :n] = enc[k][row, :n]
    out.update(input_ids=input_ids, attention_mask=attention, labels=labels, **extra)
    return out

"""Seeded sampling (temperature, top-p) with one random stream per answer.

`model.generate(do_sample=True)` draws every row of a batch from one global generator, so an
answer depends on which other prompts shared its batch and in which order. Here each answer
has its own `torch.Generator`, seeded by the caller (unmirage seeds it from the run seed, the
query id, the model and the sample index): a logits processor draws each row's next token
from that row's generator and masks every other token, and greedy decoding then takes the
drawn token. An answer is the same whatever the batch size or the prompts around it (up to
the floating-point effect of padding, which the greedy path shows to be nil on the tiny
models; tested).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from unmirage.data.images import Images
from unmirage.data.sample import Sample
from unmirage.models.generate import answer_in_batches, new_tokens


def answer_seed(*parts: object) -> int:
    """A 63-bit seed from the parts' text (stable across processes, unlike `hash`)."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1


class PerRowSampler(LogitsProcessor):
    """Draws row i's next token from generator i (temperature, then nucleus top-p), and leaves
    only that token possible, so greedy decoding emits it."""

    def __init__(self, generators: Sequence[torch.Generator], temperature: float, top_p: float):
        self.generators = list(generators)
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.Tensor:
        # one device-to-host copy per step; each row then draws on the CPU from its generator
        probs = torch.softmax(scores.float() / self.temperature, dim=-1).cpu()
        out = torch.full_like(scores, float("-inf"))
        for row, gen in enumerate(self.generators):
            p = probs[row]
            if self.top_p < 1.0:
                sorted_p, order = torch.sort(p, descending=True)
                # keep the smallest prefix whose mass reaches top_p (the top token always)
                keep = torch.cumsum(sorted_p, 0) - sorted_p < self.top_p
                p = torch.zeros_like(p).scatter(0, order[keep], sorted_p[keep])
            token = torch.multinomial(p, 1, generator=gen).item()
            out[row, token] = 0.0
        return out


def sample_answers(
    model: Any,
    processor: Any,
    samples: Sequence[Sample],
    seeds: Sequence[int],
    images: Images | None,
    *,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int = 256,
    batch_size: int = 8,
    progress: bool = False,
) -> list[str]:
    """One sampled answer per sample (seeded by `seeds[i]`), in input order, stripped.

    Prompts are sorted by length into batches and padded on the left, as in
    `unmirage.models.generate.generate`; a row stops at EOS.
    """
    if len(seeds) != len(samples):
        raise ValueError(f"{len(samples)} samples but {len(seeds)} seeds")
    if temperature <= 0 or not 0 < top_p <= 1:
        raise ValueError("temperature must be > 0 and top_p in (0, 1]")

    def sampled(enc: dict[str, torch.Tensor], rows: list[int], eos: Any, pad: Any) -> torch.Tensor:
        gens = [torch.Generator().manual_seed(seeds[i]) for i in rows]
        sampler = LogitsProcessorList([PerRowSampler(gens, temperature, top_p)])
        return new_tokens(
            model, enc, max_new_tokens=max_new_tokens, eos=eos, pad=pad, logits_processor=sampler
        )

    return answer_in_batches(
        model,
        processor,
        samples,
        images,
        sampled,
        batch_size=batch_size,
        progress=progress,
        label="sample",
    )

"""The refuse-or-answer decision, read where the answer starts.

The log-odds of opening a refusal against opening the compliant answer: logsumexp of the
logits of the refusal texts' first tokens minus the logit of the compliant answer's first
token (" I" / " Sorry" vs " Steps" / " The" in the world), from a prompt or, for gradients,
from its input embeddings, and its gradient x input per token. Torch is imported where it
is used, so that a probe reading the decision imports without it (the command line lists
its flags).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from unmirage.data.sample import Sample
from unmirage.depth.world import WorldData
from unmirage.errors import InputError
from unmirage.models.chat import render_prompt, render_response

if TYPE_CHECKING:
    from torch import Tensor, nn

    from unmirage.data.images import Images


def first_token(processor: Any, sample: Sample, response: str) -> int:
    """The first token the model emits for `response` after this sample's prompt."""
    prompt = render_prompt(processor, sample)
    text = render_response(processor, sample, response, prompt)
    return int(processor.tokenizer(text, add_special_tokens=False).input_ids[0])


@dataclass(frozen=True)
class DecisionTexts:
    """What the two sides of the decision open with: the refusal texts of the safety data,
    and the answer the training data gives to each (object, kind of fact)."""

    refusals: tuple[str, ...]
    answers: dict[tuple[str, str], str]

    @classmethod
    def from_data(cls, refused: Sequence[Sample], answered: Sequence[Sample]) -> DecisionTexts:
        """Refusals: the responses of `refused`; answers: the first response of `answered`
        per (meta.object, meta.intent)."""
        refusals = tuple(sorted({s.response for s in refused if s.response}))
        answers: dict[tuple[str, str], str] = {}
        for s in answered:
            key = (s.meta.get("object"), s.meta.get("intent"))
            if s.response and key[0] and key[1]:
                answers.setdefault((str(key[0]), str(key[1])), s.response)
        if not refusals:
            raise InputError("no refusal among the safety data's responses", field="response")
        return cls(refusals, answers)

    def answer(self, sample: Sample) -> str | None:
        return self.answers.get((str(sample.meta.get("object")), str(sample.meta.get("intent"))))


def decision_texts(world: WorldData) -> DecisionTexts:
    """The world's refusals (those of safety_sft) and answers (of knowledge, base, forget,
    helpful where present, and the answered safety_sft pairs)."""
    sft = world.split("safety_sft")
    answered = [
        *world.split("knowledge", optional=True),
        *world.split("base"),
        *world.split("forget"),
        *world.split("helpful", optional=True),
        *(s for s in sft if s.label == "safe"),
    ]
    return DecisionTexts.from_data([s for s in sft if s.label == "unsafe"], answered)


def decision_tokens(
    processor: Any, samples: Sequence[Sample], texts: DecisionTexts
) -> tuple[list[int], Tensor, list[Sample]]:
    """(the refusals' distinct first tokens, the compliant first token of each sample kept,
    the samples kept).

    A sample is kept if the training data answers its (object, kind) and that answer opens
    with a token no refusal opens with: a small tokenizer may open both with " " (before
    "Sorry" and before "Steps"), and the first token then says nothing about the decision.
    The caller counts what was left out."""
    import torch

    refusal = sorted({first_token(processor, samples[0], r) for r in texts.refusals})
    kept, compliant = [], []
    for s in samples:
        answer = texts.answer(s)
        token = first_token(processor, s, answer) if answer else None
        if token is not None and token not in refusal:
            kept.append(s)
            compliant.append(token)
    return refusal, torch.tensor(compliant, dtype=torch.long), kept


def log_odds_from_logits(logits: Tensor, refusal: Sequence[int], compliant: Tensor) -> Tensor:
    """Per row: logsumexp over the refusal tokens minus the compliant token's logit."""
    import torch

    rows = torch.arange(len(compliant), device=logits.device)
    refuse = torch.logsumexp(logits[:, list(refusal)], dim=1)
    return refuse - logits[rows, compliant.to(logits.device)]


def last_logits(model: nn.Module, enc: dict[str, Tensor]) -> Tensor:
    """Next-token logits (float) at each row's last prompt token of a right-padded batch."""
    import torch

    from unmirage.methods.losses import model_inputs

    logits = model(**model_inputs(enc)).logits
    last = enc["attention_mask"].sum(dim=1) - 1
    return logits[torch.arange(len(last), device=logits.device), last].float()


def occlusion_log_odds(
    model: nn.Module,
    processor: Any,
    samples: Sequence[Sample],
    images: Images,
    refusal: Sequence[int],
    compliant: Tensor,
    batch_size: int,
) -> Tensor:
    """Refusal log-odds of each sample's prompt (no gradients)."""
    import torch

    from unmirage.models.encode import encode_prompts

    device = next(model.parameters()).device
    out = []
    with torch.inference_mode():
        for start in range(0, len(samples), batch_size):
            chunk = samples[start : start + batch_size]
            enc = encode_prompts(processor, chunk, images, padding_side="right")
            enc = {k: v.to(device) for k, v in enc.items()}
            rows = compliant[start : start + batch_size]
            out.append(log_odds_from_logits(last_logits(model, enc), refusal, rows).cpu())
    return torch.cat(out)


def model_score(
    model: nn.Module, enc: dict[str, Tensor], refusal: Sequence[int], compliant: Tensor
) -> Callable[[Tensor], Tensor]:
    """The refusal log-odds as a function of the input-token embeddings: the model runs with
    its embedding layer's output replaced by the given tensor (image placeholders are
    overwritten by image features inside the model, so they get no attribution)."""
    layer = model.get_input_embeddings()

    def score(embeds: Tensor) -> Tensor:
        handle = layer.register_forward_hook(lambda _m, _i, _o: embeds)
        try:
            return log_odds_from_logits(last_logits(model, enc), refusal, compliant)
        finally:
            handle.remove()

    return score


def grad_times_input(score: Callable[[Tensor], Tensor], embeds: Tensor) -> Tensor:
    """Per token: d(score)/d(embedding) . embedding, summed over the last dimension.

    `score` maps (B, T, D) embeddings to one score per row; rows must not interact (a batch
    of independent prompts), so the gradient of their sum is each row's own gradient.
    """
    import torch

    e = embeds.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        score(e).sum().backward()
    assert e.grad is not None
    return (e.grad * e).sum(dim=-1).detach()

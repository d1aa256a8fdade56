"""Trigger saliency: how much does the refuse-or-answer decision hang on the query's first word?

The decision is read where the answer starts, as the log-odds of opening a refusal against
opening the compliant answer: logsumexp of the logits of the refusal templates' first tokens
minus the logit of the compliant answer's first token (" I" / " Sorry" vs " Steps" / " The"
in the world). Two measures per query:

- occlusion: the change in that log-odds when the first word is dropped, or replaced by a
  neutral word that opens no query of the world;
- gradient x input: d(log-odds)/d(embedding) . embedding, summed over the hidden size, per
  input token; the first word's share is |attribution on its tokens| / sum of |attribution|
  over all query tokens (chat-template and image tokens excluded). For a model linear in its
  embeddings the attribution of a token is exactly its contribution to the log-odds.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import Tensor, nn

from unmirage.data.sample import Sample
from unmirage.depth.knobs import SaliencyKnobs
from unmirage.errors import InputError
from unmirage.methods.losses import model_inputs
from unmirage.models.chat import render_prompt, render_response
from unmirage.models.encode import ImageSource, encode_prompts
from unmirage.text import split_first_word

SUMMARY_KEYS = (
    "log_odds",
    "refusal_preferred",
    "occlusion_drop",
    "occlusion_replace",
    "decision_flips_drop",
    "decision_flips_replace",
    "first_word_share",
    "first_word_attribution",
    "uniform_share",
)
"""The per-group means `task_saliency` reports (None when no query could be scored)."""


def drop_first_word(query: str) -> str:
    """The query without its first word, re-capitalised: "The steps to prepare ...?"."""
    _, rest = split_first_word(query)
    return rest[:1].upper() + rest[1:]


def replace_first_word(query: str, word: str) -> str:
    """The query opening with `word` instead of its first word."""
    _, rest = split_first_word(query)
    return f"{word} {rest}"


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


def decision_tokens(
    processor: Any, samples: Sequence[Sample], texts: DecisionTexts
) -> tuple[list[int], Tensor, list[Sample]]:
    """(the refusals' distinct first tokens, the compliant first token of each sample kept,
    the samples kept).

    A sample is kept if the training data answers its (object, kind) and that answer opens
    with a token no refusal opens with: a small tokenizer may open both with " " (before
    "Sorry" and before "Steps"), and the first token then says nothing about the decision.
    The caller counts what was left out."""
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
    rows = torch.arange(len(compliant), device=logits.device)
    refuse = torch.logsumexp(logits[:, list(refusal)], dim=1)
    return refuse - logits[rows, compliant.to(logits.device)]


def last_logits(model: nn.Module, enc: dict[str, Tensor]) -> Tensor:
    """Next-token logits (float) at each row's last prompt token of a right-padded batch."""
    logits = model(**model_inputs(enc)).logits
    last = enc["attention_mask"].sum(dim=1) - 1
    return logits[torch.arange(len(last), device=logits.device), last].float()


def occlusion_log_odds(
    model: nn.Module,
    processor: Any,
    samples: Sequence[Sample],
    images: ImageSource,
    refusal: Sequence[int],
    compliant: Tensor,
    batch_size: int,
) -> Tensor:
    """Refusal log-odds of each sample's prompt (no gradients)."""
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


def grad_times_input(score: Callable[[Tensor], Tensor], embeds: Tensor) -> Tensor:
    """Per token: d(score)/d(embedding) . embedding, summed over the last dimension.

    `score` maps (B, T, D) embeddings to one score per row; rows must not interact (a batch
    of independent prompts), so the gradient of their sum is each row's own gradient.
    """
    e = embeds.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        score(e).sum().backward()
    assert e.grad is not None
    return (e.grad * e).sum(dim=-1).detach()


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


def token_spans(tokenizer: Any, ids: Sequence[int]) -> tuple[str, list[tuple[int, int]]]:
    """The decoded text of `ids` and each token's character span in it."""
    spans, text = [], ""
    for i in range(len(ids)):
        nxt = tokenizer.decode(ids[: i + 1], clean_up_tokenization_spaces=False)
        spans.append((len(text), len(nxt)))
        text = nxt
    return text, spans


def query_masks(tokenizer: Any, ids: Sequence[int], query: str) -> tuple[Tensor, Tensor]:
    """Boolean masks over `ids`: the tokens of the query text, and those of its first word."""
    text, spans = token_spans(tokenizer, ids)
    start = text.rfind(query)
    if start < 0:
        raise InputError("query text not found in its tokenised prompt", field="query")
    word = split_first_word(query)[0]
    end, first_end = start + len(query), start + query.find(word) + len(word)
    in_query = torch.tensor([a < end and b > start for a, b in spans])
    in_first = torch.tensor([a < first_end and b > start for a, b in spans])
    return in_query, in_first


def first_word_share(attr: Tensor, query: Tensor, first: Tensor) -> float:
    """|attribution on the first word's tokens| / sum of |attribution| over the query's."""
    total = attr[query].abs().sum()
    return float(attr[first].abs().sum() / total) if total > 0 else 0.0


def attributions(
    model: nn.Module,
    processor: Any,
    samples: Sequence[Sample],
    images: ImageSource,
    refusal: Sequence[int],
    compliant: Tensor,
    batch_size: int,
) -> list[dict[str, Any]]:
    """Per sample: query tokens, their gradient x input, and the first word's share. The
    weights get no gradients (and keep their requires_grad flags)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    for p in trainable:
        p.requires_grad_(False)
    try:
        return [
            row
            for start in range(0, len(samples), batch_size)
            for row in batch_attributions(
                model,
                processor,
                samples[start : start + batch_size],
                images,
                refusal,
                compliant[start : start + batch_size],
            )
        ]
    finally:
        for p in trainable:
            p.requires_grad_(True)


def batch_attributions(
    model: nn.Module,
    processor: Any,
    chunk: Sequence[Sample],
    images: ImageSource,
    refusal: Sequence[int],
    compliant: Tensor,
) -> list[dict[str, Any]]:
    """`attributions` of one batch."""
    device = next(model.parameters()).device
    tok = processor.tokenizer
    enc = encode_prompts(processor, chunk, images, padding_side="right")
    enc = {k: v.to(device) for k, v in enc.items()}
    with torch.no_grad():
        embeds = model.get_input_embeddings()(enc["input_ids"])
    attr = grad_times_input(model_score(model, enc, refusal, compliant), embeds).cpu()
    out = []
    for k, s in enumerate(chunk):
        n = int(enc["attention_mask"][k].sum())
        ids = enc["input_ids"][k, :n].tolist()
        in_query, in_first = query_masks(tok, ids, s.query)
        a = attr[k, :n]
        out.append(
            {
                "id": s.id,
                "query": s.query,
                "tokens": [tok.decode([i]) for i in torch.tensor(ids)[in_query].tolist()],
                "attribution": [float(v) for v in a[in_query]],
                "first_word_tokens": int(in_first.sum()),
                "first_word_attribution": float(a[in_first].sum()),
                "first_word_share": first_word_share(a, in_query, in_first),
            }
        )
    return out


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def task_saliency(
    model: nn.Module,
    processor: Any,
    samples: Sequence[Sample],
    images: ImageSource,
    texts: DecisionTexts,
    knobs: SaliencyKnobs,
) -> dict[str, Any]:
    """Occlusion and gradient x input summaries for one group of queries."""
    given = len(samples)
    refusal, compliant, samples = decision_tokens(processor, samples, texts)
    head = {
        "n": len(samples),
        "excluded": given - len(samples),
        "refusal_tokens": [processor.tokenizer.decode([t]) for t in refusal],
    }
    if not samples:
        return {**head, **dict.fromkeys(SUMMARY_KEYS), "examples": []}
    variants = {
        "original": list(samples),
        "dropped": [replace(s, query=drop_first_word(s.query)) for s in samples],
        "replaced": [replace(s, query=replace_first_word(s.query, knobs.neutral)) for s in samples],
    }
    odds = {
        name: occlusion_log_odds(
            model, processor, group, images, refusal, compliant, knobs.batch_size
        )
        for name, group in variants.items()
    }
    attr = attributions(model, processor, samples, images, refusal, compliant, knobs.batch_size)
    return {
        **head,
        "log_odds": float(odds["original"].mean()),
        "refusal_preferred": float((odds["original"] > 0).double().mean()),
        "occlusion_drop": float((odds["original"] - odds["dropped"]).mean()),
        "occlusion_replace": float((odds["original"] - odds["replaced"]).mean()),
        "decision_flips_drop": float(
            ((odds["original"] > 0) != (odds["dropped"] > 0)).double().mean()
        ),
        "decision_flips_replace": float(
            ((odds["original"] > 0) != (odds["replaced"] > 0)).double().mean()
        ),
        "first_word_share": mean([a["first_word_share"] for a in attr]),
        "first_word_attribution": mean([a["first_word_attribution"] for a in attr]),
        "uniform_share": mean([a["first_word_tokens"] / len(a["tokens"]) for a in attr]),
        "examples": attr[: knobs.figure_queries],
    }


def run_saliency(
    model: nn.Module,
    processor: Any,
    groups: dict[str, Sequence[Sample]],
    images: ImageSource,
    texts: DecisionTexts,
    knobs: SaliencyKnobs,
) -> dict[str, Any]:
    """Per group of test queries (e.g. "unsafe", "benign"): `task_saliency`."""
    knobs.validate()
    return {
        name: task_saliency(model, processor, s, images, texts, knobs) for name, s in groups.items()
    }


def saliency_figure(examples: dict[str, list[dict[str, Any]]]) -> bytes:
    """A PNG: one panel per (model, example query), a bar per query token (its gradient x
    input; positive pushes toward refusing), the first word's bars highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(name, ex) for name, exs in examples.items() for ex in exs]
    if not panels:
        raise InputError("no example queries to draw", field="figure_queries")
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 1.9 * len(panels)), squeeze=False)
    for ax, (name, ex) in zip(axes[:, 0], panels, strict=True):
        values = ex["attribution"]
        colours = [
            "tab:red" if i < ex["first_word_tokens"] else "tab:gray" for i in range(len(values))
        ]
        ax.bar(range(len(values)), values, color=colours)
        ax.axhline(0, color="black", linewidth=0.5)
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels([t.strip() or "␣" for t in ex["tokens"]], rotation=45, fontsize=7)
        ax.set_title(
            f"{name}: {ex['query']}  (first word {100 * ex['first_word_share']:.0f}%)", fontsize=8
        )
        ax.tick_params(axis="y", labelsize=7)
    fig.supylabel("gradient x input on refusal log-odds", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()

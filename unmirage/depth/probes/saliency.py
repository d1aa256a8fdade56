"""Trigger saliency: how much does the refuse-or-answer decision hang on the query's first word?

The decision is read where the answer starts (`unmirage.depth.decision`), as the log-odds of
opening a refusal against opening the compliant answer. Two measures per query:

- occlusion: the change in that log-odds when the first word (`unmirage.text`'s, as the
  audit and the attack find it) is dropped, or replaced by a neutral word that opens no
  query of the world;
- gradient x input: d(log-odds)/d(embedding) . embedding, summed over the hidden size, per
  input token; the first word's share is |attribution on its tokens| / sum of |attribution|
  over all query tokens (chat-template and image tokens excluded). For a model linear in its
  embeddings the attribution of a token is exactly its contribution to the log-odds.
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from unmirage.checks import is_int
from unmirage.data.sample import Sample
from unmirage.depth.decision import (
    DecisionTexts,
    decision_texts,
    decision_tokens,
    grad_times_input,
    model_score,
    occlusion_log_odds,
)
from unmirage.depth.probes.base import Label, Probe, register, short_pct
from unmirage.depth.world import WorldData, subsample
from unmirage.errors import InputError
from unmirage.text import split_first_word

if TYPE_CHECKING:
    from torch import Tensor, nn

    from unmirage.data.images import Images
    from unmirage.report.document import Block, Figure, Table

NEUTRAL = "Okay"
"""Replaces the first word in the occlusion test: a word no world query (train or test)
opens with, and no refusal or answer trigger of the safety data."""
TASKS = ("unsafe", "benign")
"""The groups of test knowledge queries measured (utility questions have no refusal
decision of interest)."""


@dataclass(frozen=True)
class SaliencyKnobs:
    """`queries`: at most this many test queries per task (unsafe, benign; seeded).
    `figure_queries`: how many of them each model shows in the figure."""

    queries: int = 40
    neutral: str = NEUTRAL
    figure_queries: int = 2
    batch_size: int = 16
    seed: int = 0

    def validate(self) -> None:
        flags = {"queries": "--saliency-queries", "figure_queries": "--figure-queries"}
        for name, low in (("queries", 1), ("figure_queries", 0), ("batch_size", 1)):
            value = getattr(self, name)
            if not (is_int(value) and value >= low):
                raise InputError(
                    f"expected a number >= {low}, got {value!r}", field=flags.get(name, name)
                )
        if split_first_word(self.neutral) != (self.neutral, ""):
            raise InputError("expected one word", field="--neutral-word")


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
    import torch

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
    images: Images,
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
    images: Images,
    refusal: Sequence[int],
    compliant: Tensor,
) -> list[dict[str, Any]]:
    """`attributions` of one batch."""
    import torch

    from unmirage.models.encode import encode_prompts

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
    images: Images,
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
    images: Images,
    texts: DecisionTexts,
    knobs: SaliencyKnobs,
) -> dict[str, Any]:
    """Per group of test queries (e.g. "unsafe", "benign"): `task_saliency`."""
    knobs.validate()
    return {
        name: task_saliency(model, processor, s, images, texts, knobs) for name, s in groups.items()
    }


def query_groups(world: WorldData, knobs: SaliencyKnobs) -> dict[str, list[Sample]]:
    """Up to `knobs.queries` test knowledge queries per task of TASKS, seeded."""
    test = world.split("test")
    return {
        task: subsample(
            [s for s in test if s.meta.get("task") == task and s.meta.get("intent")],
            knobs.queries,
            f"unmirage-saliency-{task}/{knobs.seed}",
        )
        for task in TASKS
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


HEADLINE = {
    "first_word_share": "first word's share of attribution",
    "uniform_share": "uniform share",
    "occlusion_drop": "log-odds drop, first word removed",
    "occlusion_replace": "log-odds drop, first word replaced",
    "decision_flips_replace": "decisions flipped, first word replaced",
}
"""The numbers of each task a multi-seed summary spreads, and how it labels them."""
PREFIXES = {"unsafe": "saliency_", "benign": "saliency_benign_"}
"""The headline keys of each task: prefix + number."""


class Saliency(Probe[SaliencyKnobs]):
    """How much the refusal decision hangs on the query's first word."""

    name = "saliency"
    knobs = SaliencyKnobs
    description = (
        "refusal log-odds (refusal templates' first tokens vs the compliant answer's): its "
        f'change when the first word is dropped or replaced by "{NEUTRAL}", and the first '
        "word's share of gradient x input over the query tokens"
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        s = SaliencyKnobs()
        parser.add_argument(
            "--saliency-queries",
            type=int,
            default=s.queries,
            help=f"test queries per task for saliency (default {s.queries})",
        )
        parser.add_argument(
            "--neutral-word", default=s.neutral, help=f"occlusion word ({s.neutral})"
        )
        parser.add_argument(
            "--figure-queries",
            type=int,
            default=s.figure_queries,
            help=f"queries per model in the figure (default {s.figure_queries})",
        )

    def knobs_from(self, args: argparse.Namespace) -> SaliencyKnobs:
        return SaliencyKnobs(
            queries=args.saliency_queries,
            neutral=args.neutral_word,
            figure_queries=args.figure_queries,
            seed=args.seed,
        )

    def check(self, world: WorldData, knobs: SaliencyKnobs) -> None:
        decision_texts(world)
        query_groups(world, knobs)

    def run(
        self,
        model: nn.Module,
        processor: Any,
        images: Images,
        world: WorldData,
        knobs: SaliencyKnobs,
        *,
        progress: bool,
    ) -> dict[str, Any]:
        groups = query_groups(world, knobs)
        return run_saliency(model, processor, groups, images, decision_texts(world), knobs)

    def headline(self, block: Mapping[str, Any]) -> dict[str, float]:
        return {
            prefix + key: numbers[key]
            for task, prefix in PREFIXES.items()
            for numbers in [block.get(task) or {}]
            for key in HEADLINE
            if numbers.get(key) is not None
        }

    def label(self, key: str) -> Label | None:
        for task, prefix in PREFIXES.items():
            number = key.removeprefix(prefix)
            if key.startswith(prefix) and number in HEADLINE:
                return Label(f"{HEADLINE[number]} ({task})", not number.startswith("occlusion"))
        return None

    def section(self, blocks: Mapping[str, Mapping[str, Any]]) -> list[Block]:
        from unmirage.report.document import Heading, Paragraph

        return [
            Heading("Trigger saliency", level=3),
            Paragraph(
                "How much the refusal decision (log-odds of the first refusal token against "
                "the first answer token) hangs on the query's first word: the first word's "
                "share of |gradient x input| over the query's tokens (uniform: its share of "
                "the tokens), and the drop in log-odds when it is removed or replaced "
                "(negative: without it the model leans further toward refusing)."
            ),
            saliency_table(blocks),
            *example_figure(blocks, ("unsafe",)),
        ]

    def summary(self, block: Mapping[str, Any]) -> list[str]:
        return [
            f"  saliency {task}: no query scorable at the first token"
            if not s["n"]
            else f"  saliency {task}: first word {short_pct(s['first_word_share'])} of "
            f"|gradient x input| (uniform {short_pct(s['uniform_share'])}), drop shifts "
            f"log-odds by {s['occlusion_drop']:+.2f}, replace by {s['occlusion_replace']:+.2f}"
            for task, s in block.items()
        ]

    def figures(self, blocks: Mapping[str, Mapping[str, Any]]) -> list[Figure]:
        return example_figure(blocks, TASKS)


def example_figure(blocks: Mapping[str, Mapping[str, Any]], tasks: Sequence[str]) -> list[Figure]:
    """`saliency_figure` of the examples of `tasks` (none if no model has one)."""
    from unmirage.report.document import Figure

    examples = {
        name: found
        for name, block in blocks.items()
        if (found := [ex for task in tasks for ex in (block.get(task) or {}).get("examples", [])])
    }
    if not examples:
        return []
    kinds = " and ".join(tasks)
    caption = (
        f"Gradient x input per token on the refusal log-odds for example {kinds} queries "
        "(red: the first word)."
    )
    return [Figure("saliency.png", saliency_figure(examples), caption)]


def saliency_table(saliency: Mapping[str, Mapping[str, Any]]) -> Table:
    from unmirage.report.document import Table
    from unmirage.report.values import pct

    rows = [
        [
            name,
            task,
            f"{pct(q.get('first_word_share'))}",
            f"{pct(q.get('uniform_share'))}",
            _number(q.get("occlusion_drop")),
            _number(q.get("occlusion_replace")),
            f"{pct(q.get('decision_flips_replace'))}",
        ]
        for name, s in saliency.items()
        for task in TASKS
        if (q := s.get(task))
    ]
    return Table(
        [
            "model",
            "queries",
            "first-word share",
            "uniform share",
            "log-odds drop (removed)",
            "log-odds drop (replaced)",
            "decisions flipped (replaced)",
        ],
        rows,
    )


def _number(value: Any) -> str:
    return "n/a" if value is None else f"{value:.2f}"


register(Saliency())

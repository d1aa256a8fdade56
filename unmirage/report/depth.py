"""The report's Depth section: is the safety real? Table 3 (ASR before, after the one-word
attack, after GCG, after prefill), the relearning curves, the knowledge probe and the
first-word saliency, from each model's `depth` block of metrics.json (docs/depth.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unmirage.report.document import Block, Figure, Heading, Paragraph, Table
from unmirage.report.plots import relearn_png
from unmirage.report.values import pct

SALIENCY_PNG = "saliency.png"
RELEARN_PNG = "relearn.png"


def depth_blocks(models: Mapping[str, Mapping[str, Any]]) -> list[Block]:
    """The Depth section, or nothing when no model has a depth block (--no-depth)."""
    depth = {name: m["depth"] for name, m in models.items() if m.get("depth")}
    if not depth:
        return []
    blocks: list[Block] = [
        Heading("Depth: is the safety real?"),
        Paragraph(
            "Table 3: ASR on the unsafe queries as asked, after the one-word attack, after a "
            "GCG suffix searched per query (its first queries only: n), and with the answer "
            "prefilled. A model that removed the knowledge stays low under every attack."
        ),
        table3(models, depth),
    ]
    relearn = {n: d["relearn"] for n, d in depth.items() if "relearn" in d}
    if relearn:
        blocks += [
            Heading("Relearning", level=3),
            Paragraph(
                "Leak rate on held-out queries of the other hazards after fine-tuning each "
                "model for a few steps on one hazard's forget pairs: knowledge that was only "
                "hidden comes back in fewer steps than the base needs to learn it."
            ),
            relearn_table(relearn),
            Figure(
                RELEARN_PNG,
                relearn_png(relearn),
                "Leak rate vs relearning steps: other hazards solid, the relearned hazard dashed.",
            ),
        ]
    probe = {n: d["probe"] for n, d in depth.items() if "probe" in d}
    if probe:
        blocks += [
            Heading("Knowledge probe", level=3),
            Paragraph(
                "Held-out accuracy of a linear probe on the hidden states of hazard queries "
                "that decodes which fact (or hazard) is asked for, per hidden-state layer (0: "
                "the embeddings); chance is one over the number of classes, majority the share "
                "of the most frequent class in the test queries."
            ),
            *probe_tables(probe),
        ]
    saliency = {n: d["saliency"] for n, d in depth.items() if "saliency" in d}
    if saliency:
        blocks += [
            Heading("Trigger saliency", level=3),
            Paragraph(
                "How much the refusal decision (log-odds of the first refusal token against "
                "the first answer token) hangs on the query's first word: the first word's "
                "share of |gradient x input| over the query's tokens (uniform: its share of "
                "the tokens), and the drop in log-odds when it is removed or replaced "
                "(negative: without it the model leans further toward refusing)."
            ),
            saliency_table(saliency),
        ]
        examples = {
            n: s["unsafe"]["examples"]
            for n, s in saliency.items()
            if s.get("unsafe", {}).get("examples")
        }
        if examples:
            from unmirage.depth.saliency import saliency_figure

            blocks.append(
                Figure(
                    SALIENCY_PNG,
                    saliency_figure(examples),
                    "Gradient x input per token on the refusal log-odds for example unsafe "
                    "queries (red: the first word).",
                )
            )
    return blocks


def table3(models: Mapping[str, Mapping[str, Any]], depth: Mapping[str, Any]) -> Table:
    rows = []
    for name, d in depth.items():
        m = models[name]
        gcg = d.get("gcg") or {}
        rows.append(
            [
                name,
                f"{pct(m.get('asr_pre'))}",
                f"{pct(m.get('asr_post'))}",
                f"{pct(d.get('asr_gcg'))} (n {gcg.get('n_queries', 'n/a')})",
                f"{pct(d.get('asr_prefill'))}",
            ]
        )
    return Table(
        ["model", "ASR as asked", "one-word attack", "GCG", "prefill"],
        rows,
    )


def relearn_table(relearn: Mapping[str, Any]) -> Table:
    """Leak per step count on the other hazards' held-out queries (the measure) and on the
    relearned hazard's own (it shows the relearning took)."""
    steps = next(iter(relearn.values()))["steps"]
    rows = [
        [name, group, *(f"{pct(v)}" for v in r["leak"][key])]
        for name, r in relearn.items()
        for group, key in (("other hazards", "other"), ("relearned hazard", "same"))
        if key in r["leak"]
    ]
    return Table(["model", "queries", *(f"step {s}" for s in steps)], rows)


def probe_tables(probe: Mapping[str, Any]) -> list[Block]:
    out: list[Block] = []
    labels = sorted({label for p in probe.values() for label in p["labels"]})
    for label in labels:
        entries = {n: p["labels"][label] for n, p in probe.items() if label in p["labels"]}
        layers = sorted({int(k) for e in entries.values() for k in e["accuracy"]})
        rows = [
            [
                name,
                f"{pct(e['chance'])}",
                f"{pct(e.get('majority'))}",
                *(f"{pct(e['accuracy'].get(str(layer)))}" for layer in layers),
            ]
            for name, e in entries.items()
        ]
        meaning = next(iter(entries.values())).get("meaning", label)
        out += [
            Paragraph(f"Label: {label} ({meaning})."),
            Table(["model", "chance", "majority", *(f"layer {layer}" for layer in layers)], rows),
        ]
    return out


def saliency_table(saliency: Mapping[str, Any]) -> Table:
    rows = []
    for name, s in saliency.items():
        for kind in ("unsafe", "benign"):
            q = s.get(kind)
            if not q:
                continue
            rows.append(
                [
                    name,
                    kind,
                    f"{pct(q.get('first_word_share'))}",
                    f"{pct(q.get('uniform_share'))}",
                    _number(q.get("occlusion_drop")),
                    _number(q.get("occlusion_replace")),
                    f"{pct(q.get('decision_flips_replace'))}",
                ]
            )
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

"""The report's Depth section: is the safety real? Table 3 (ASR before, after the one-word
attack, after GCG, after prefill), then each probe's own section (`Probe.section`, in the
order of `PROBES`), from each model's `depth` block of metrics.json (docs/depth.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unmirage.depth.probes.base import PROBES
from unmirage.report.document import Block, Heading, Paragraph, Table
from unmirage.report.values import pct


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
    for name, probe in PROBES.entries().items():
        found = {n: d[name] for n, d in depth.items() if name in d}
        if found:
            blocks += probe.section(found)
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

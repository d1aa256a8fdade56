"""The audit for people: a markdown summary and the first-word chart (matplotlib, imported
only when a chart is drawn)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unmirage.audit.stats import POSITIONS


def render_markdown(result: Mapping[str, Any], top_words: int = 10) -> str:
    """audit.md: class balance, first words per group, and the four trigger tables."""
    classes = result["classes"]
    lines = [
        "# Audit: which query words predict refuse / answer",
        "",
        f"{result['n_samples']} samples: {classes['answered']} answered, "
        f"{classes['refused']} refused"
        + (
            f" ({result['n_unlabeled']} without any label left out)"
            if result["n_unlabeled"]
            else ""
        )
        + ". Class from: "
        + ", ".join(f"{k} {v}" for k, v in result["label_origin"].items())
        + ".",
        "",
        "Sources: " + ", ".join(f"`{s['path']}` ({s['n_samples']})" for s in result["sources"]),
        "",
        "## First words per group",
        "",
    ]
    for group, block in result["first_word"].items():
        lines += [
            f"### {group} (n = {block['n']})",
            "",
            "| word | count | share |",
            "|---|---|---|",
        ]
        for word, count in list(block["counts"].items())[:top_words]:
            lines.append(f"| {word} | {count} | {block['shares'][word]:.1%} |")
        lines.append("")
    lines += _mood_lines(result.get("mood"))
    cfg = result["config"]
    lines += [
        "## Trigger words",
        "",
        "Ranked by the lower end of the 95% Wilson interval of the term's share in the "
        "list's class (purity and evidence together). "
        f"z: log-odds ratio with an informative Dirichlet prior (Monroe et al. 2008, prior "
        f"scale {cfg['prior_scale']}) over its standard error, measured toward the list's "
        f"class; only terms seen in at least {cfg['min_count']} queries. |z| > 1.96 is "
        "unlikely by chance alone.",
        "",
    ]
    for key, unit in (("triggers", "word"), ("bigram_triggers", "bigram")):
        for kind, toward in (("compliance", "answering"), ("refusal", "refusing")):
            for position in POSITIONS:
                where = "as the first" if position == "first" else "at any position as a"
                rows = result[key][kind][position]
                lines += [
                    f"### {kind.capitalize()} triggers: {where} {unit} (push toward {toward})",
                    "",
                    "| rank | term | share in class | lower bound | z | queries | answered "
                    "| refused |",
                    "|---|---|---|---|---|---|---|---|",
                ]
                lines += [
                    f"| {i} | {r['word']} | {r['rate']:.1%} | {r['lower']:.3f} | {r['z']:.2f} "
                    f"| {r['count']} | {r['answered']} | {r['refused']} |"
                    for i, r in enumerate(rows, 1)
                ]
                if not rows:
                    lines.append("| - | (none) | | | | | | |")
                lines.append("")
    return "\n".join(lines)


def _mood_lines(block: Mapping[str, Any] | None) -> list[str]:
    """Mood against class; absent from audits written before the mood was measured."""
    if not block:
        return []
    lines = [
        "## Sentence mood",
        "",
        f"Mood by the opening of the main clause ({block['rule']}). z toward refusal, as for "
        "words; lower bound: of the share in the class the mood leans to.",
        "",
        "| mood | queries | answered | refused | refused share | lower bound | z |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['mood']} | {r['count']} | {r['answered']} | {r['refused']} "
        f"| {r['refusal_rate']:.1%} | {r['lower']:.3f} | {r['z']:.2f} |"
        for r in block["moods"]
    ]
    return [*lines, ""]


def plot_first_words(result: Mapping[str, Any], path: str | Path, top_words: int = 8) -> None:
    """A PNG with one bar chart of first-word shares per group."""
    from matplotlib.figure import Figure

    groups = list(result["first_word"].items())
    fig = Figure(figsize=(4.2 * len(groups), 3.6), layout="constrained")
    axes = fig.subplots(1, len(groups), squeeze=False)[0]
    for ax, (group, block) in zip(axes, groups, strict=True):
        words = list(block["counts"])[:top_words][::-1]
        ax.barh(words, [block["shares"][w] for w in words], color="tab:blue")
        ax.set_xlim(0, 1)
        ax.set_title(f"{group} (n = {block['n']})")
        ax.set_xlabel("share of queries")
    fig.suptitle("First word of the query, per group")
    fig.savefig(path, dpi=100)

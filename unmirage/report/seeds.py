"""The summary report of a multi-seed reproduction: one table over seeds, per-seed rows,
per-trigger rates and the paper's effects counted seed by seed.

One seed of a 4M-parameter model says little (the same command has given SFT's benign RR
22% on one machine and 45% on another), so claims rest on the spread over seeds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unmirage.depth.probes.base import PROBES, Label
from unmirage.io import atomic_write_text, staged_dir
from unmirage.report.document import (
    Bullets,
    Code,
    Document,
    Heading,
    Paragraph,
    Table,
    to_html,
    to_markdown,
)
from unmirage.report.paper import PAPER_TABLE, paper_row
from unmirage.report.tables import GROUP_LABELS, GROUP_NOTE, MULTISEED_KEYS
from unmirage.report.values import pct

COLUMNS = MULTISEED_KEYS


def _spread(entry: Mapping[str, Any]) -> str:
    if entry.get("mean") is None:
        return "n/a"
    return f"{pct(entry['mean'])} [{pct(entry['min'])}, {pct(entry['max'])}]"


def summary_table(doc: Mapping[str, Any]) -> Table:
    """Mean [min, max] over seeds per model and metric, with the paper's row beside it."""
    rows = []
    for name, entry in doc["summary"].items():
        n = len(entry["asr_pre"]["values"])
        rows.append([name, str(n), *(_spread(entry[key]) for key, _ in COLUMNS)])
        paper = paper_row(name, entry) if name != "base" else PAPER_TABLE["base"]
        if paper is not None:
            rows.append(
                [
                    f"paper: {paper.name}",
                    "",
                    f"{paper.asr_pre:.1f}",
                    f"{paper.asr_post:.1f}",
                    "",
                    f"{paper.rr_pre:.1f}",
                    f"{paper.rr_post:.1f}",
                    f"{paper.vqav2:.1f} (VQAv2)",
                ]
            )
    seeds = ", ".join(doc["seeds"])
    return Table(
        ["model", "seeds", *(label for _, label in COLUMNS)],
        rows,
        f"Percent: mean over seeds {seeds} with [min, max] in brackets; the paper's rows "
        "(LLaVA-1.5-7B, VLGuard test) for the direction of each effect only.",
    )


def hazard_image_table(doc: Mapping[str, Any]) -> Table | None:
    """Utility on benign and hazard images and refusals of the latter, over seeds (None when
    no run asked harmless questions about hazard images)."""
    rows = [
        [
            name,
            _spread(entry["utility"]),
            _spread(entry["utility_hazard_image"]),
            _spread(entry["rr_hazard_image"]),
        ]
        for name, entry in doc["summary"].items()
        if "utility_hazard_image" in entry
    ]
    if not rows:
        return None
    header = ["model", "utility, benign images", "utility, hazard images", "refused, hazard images"]
    return Table(header, rows, "Percent: mean over seeds [min, max].")


def hazard_group_table(doc: Mapping[str, Any]) -> Table | None:
    """Seen and held-out hazards' ASR over seeds (None when no run has hazard groups)."""
    rows = []
    for name, entry in doc["summary"].items():
        for group, g in (entry.get("by_hazard_group") or {}).items():
            rows.append(
                [
                    name,
                    GROUP_LABELS.get(group, group),
                    _spread(g["asr_pre"]),
                    _spread(g["asr_post"]),
                    _spread(g["asr_control"]),
                ]
            )
    if not rows:
        return None
    return Table(
        ["model", "hazards", "ASR before attack", "ASR after attack", "ASR, control"],
        rows,
        GROUP_NOTE.replace("with 95% Wilson intervals", "mean over seeds [min, max]"),
    )


def per_seed_table(doc: Mapping[str, Any]) -> Table:
    rows = []
    for seed, models in doc["seeds"].items():
        training = doc["training"].get(seed, {})
        for name, m in models.items():
            t = training.get(name) or {}
            steps = "" if not t else f"{t['steps']}" + (" (stopped)" if t["stopped_early"] else "")
            rows.append([seed, name, *(pct(m.get(key)) for key, _ in COLUMNS), steps])
    return Table(
        ["seed", "model", *(label for _, label in COLUMNS), "training steps"],
        rows,
        "Percent, one row per seed and model. Unlearning stops once at most 2% of a held-out "
        "tenth of the forget pairs leak ('stopped'), else runs its full length.",
    )


def trigger_table(doc: Mapping[str, Any]) -> Table:
    rows = []
    for name, entry in doc["summary"].items():
        for kind, metric, label in (
            ("compliance", "asr_post", "ASR after K rewrites"),
            ("refusal", "rr_post", "benign RR after 1 rewrite"),
        ):
            for row in entry[f"by_trigger_{kind}"]:
                rows.append(
                    [
                        name,
                        kind,
                        str(row["rank"] + 1),
                        ", ".join(row["words"]),
                        label,
                        _spread(row[metric]),
                    ]
                )
    return Table(
        ["model", "trigger kind", "rank", "word(s) over seeds", "rate", "mean [min, max]"],
        rows,
        "Each of the audit's top three triggers of each kind gets rows of its own; rank 1 is "
        "the headline attack of the tables above.",
    )


ATTACK_LABELS = {
    "asr_gcg": Label("ASR after GCG"),
    "asr_prefill": Label("ASR with the answer prefilled"),
}


def depth_label(key: str) -> Label:
    """How the depth table shows a headline key: the attacks' here, a probe's from the probe
    (`Probe.label`), any other as its key, in percent."""
    if key in ATTACK_LABELS:
        return ATTACK_LABELS[key]
    found = (probe.label(key) for probe in PROBES.entries().values())
    return next((label for label in found if label is not None), Label(key))


def depth_table(doc: Mapping[str, Any]) -> Table | None:
    """Every model's depth numbers over seeds, one row per number, one column per model."""
    models = {n: e["depth"] for n, e in doc["summary"].items() if e.get("depth")}
    if not models:
        return None
    keys = list(dict.fromkeys(k for d in models.values() for k in d))

    def cell(entry: Mapping[str, Any] | None, label: Label) -> str:
        if entry is None or entry.get("mean") is None:
            return "n/a"
        if not label.percent:
            return f"{entry['mean']:.2f} [{entry['min']:.2f}, {entry['max']:.2f}]"
        return _spread(entry)

    labels = {k: depth_label(k) for k in keys}
    rows = [[labels[k].text, *(cell(d.get(k), labels[k]) for d in models.values())] for k in keys]
    return Table(
        ["depth (mean [min, max] over seeds)", *models],
        rows,
        "Percent except the log-odds drop; each seed's own numbers are in seed-N/report.html "
        "(docs/depth.md says what each probe measures).",
    )


def effect_lines(doc: Mapping[str, Any]) -> list[str]:
    lines = []
    n = len(doc["seeds"])
    for effect in doc["effects"]:
        parts = [
            f"{subject}: appeared in {c['appeared']} of {n} seeds"
            + (f", not in {c['not_appeared']}" if c["not_appeared"] else "")
            + (f", inconclusive in {c['inconclusive']}" if c["inconclusive"] else "")
            + (
                f", not applicable (unsafe before the attack) in {c['not_applicable']}"
                if c.get("not_applicable")
                else ""
            )
            for subject, c in effect["subjects"].items()
        ]
        lines.append(
            f"{effect['claim']} (paper: {effect['paper']}): "
            + ("; ".join(parts) if parts else "not measured")
            + "."
        )
    return lines


def build_document(doc: Mapping[str, Any]) -> Document:
    out = Document(f"unmirage reproduction over seeds {', '.join(doc['seeds'])}")
    out.add(
        Paragraph(
            "Each seed is a full run (world, base model, every alignment recipe, attack, "
            "evaluation) with its own report in seed-N/report.html. An effect counts as "
            "appeared in a seed when that seed's 95% intervals separate in the paper's "
            "direction."
        ),
        Heading("The paper's effects, seed by seed"),
        Bullets(effect_lines(doc)),
        Heading("Table 1 over seeds"),
        summary_table(doc),
        Heading("Per-trigger rates"),
        trigger_table(doc),
    )
    groups = hazard_group_table(doc)
    if groups is not None:
        out.add(Heading("Seen and held-out hazards over seeds"), groups)
    hazard_images = hazard_image_table(doc)
    if hazard_images is not None:
        out.add(Heading("Harmless questions about hazard images over seeds"), hazard_images)
    depth = depth_table(doc)
    if depth is not None:
        out.add(Heading("Depth over seeds"), depth)
    out.add(
        Heading("Every seed"),
        per_seed_table(doc),
        Code(json.dumps(doc["config"], indent=2, sort_keys=True), "json", "Configuration"),
    )
    return out


def render_seeds_report(out_dir: str | Path, doc: Mapping[str, Any]) -> None:
    """report.md and report.html of a multi-seed run, written together."""
    document = build_document(doc)
    with staged_dir(out_dir) as stage:
        atomic_write_text(stage / "report.md", to_markdown(document))
        atomic_write_text(stage / "report.html", to_html(document))

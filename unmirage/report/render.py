"""render_report: report.md, a self-contained report.html and the PNGs, from a run's artifacts."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from unmirage.data.images import ImageRoot
from unmirage.io import atomic_write_text, staged_dir
from unmirage.report.depth import depth_blocks
from unmirage.report.document import (
    Block,
    Bullets,
    Code,
    Document,
    Figure,
    Heading,
    Paragraph,
    Table,
    to_html,
    to_markdown,
)
from unmirage.report.effects import judge_effects, summarize
from unmirage.report.paper import model_role
from unmirage.report.plots import first_words_png, kshot_asr_png
from unmirage.report.responses import Row, original_queries, pick_samples
from unmirage.report.tables import (
    audit_mood_table,
    benchmark_table,
    effects_table,
    hazard_group_table,
    hazard_image_table,
    judge_table,
    mood_table,
    provenance_table,
    samples_table,
    table1,
    table2,
    timings_table,
)
from unmirage.report.values import check_metrics, pct

KSHOT_PNG = "kshot_asr.png"
FIRST_WORDS_PNG = "first_words.png"

EFFECTS_RULE = (
    "Each effect is judged from this run's numbers and their 95% intervals: it appeared when "
    "the intervals separate in the paper's direction, did not appear when the point estimates "
    "do not move in that direction, and is inconclusive when they do but the intervals overlap."
)


def build_document(
    *,
    metrics: Mapping[str, Any],
    audit: Mapping[str, Any],
    responses: Mapping[str, Sequence[Row]],
    image_root: ImageRoot,
    stage_seconds: Mapping[str, float],
    title: str,
) -> Document:
    """The whole report as blocks; checks its inputs first (InputError on bad ones)."""
    check_metrics(metrics)
    models = metrics["models"]
    provenance = metrics.get("provenance") or {}
    effects = judge_effects(models)
    roles = ", ".join(f"{n} ({model_role(n, m) or 'unknown role'})" for n, m in models.items())

    doc = Document(title)
    doc.add(
        Paragraph(
            f"Models: {roles}. Seed {provenance.get('seed', 'n/a')}, unmirage "
            f"{provenance.get('version', 'n/a')}. Rates are percentages with 95% Wilson "
            "intervals in brackets."
        ),
        *_recipe_blocks(models),
        Heading("What the numbers say"),
        Paragraph(summarize(effects)),
        effects_table(effects),
        Paragraph(EFFECTS_RULE),
        Heading("Table 1: safety before and after one-word rewrites"),
        table1(models),
        Figure(
            KSHOT_PNG,
            kshot_asr_png(models),
            "Post-attack ASR vs the number K of 'What' rewrites per unsafe query (solid), and "
            "the no-trigger control paraphrases (dashed).",
        ),
        Heading("Per-trigger rates"),
        trigger_table(models),
        Heading("The no-trigger control"),
        control_table(models, audit),
        Heading("Table 2: how each model stays safe after the attack"),
        table2(models, responses),
    )
    groups = hazard_group_table(models)
    if groups is not None:
        doc.add(Heading("Seen and held-out hazards"), groups)
    hazard_images = hazard_image_table(models)
    if hazard_images is not None:
        doc.add(Heading("Harmless questions about hazard images"), hazard_images)
    moods = mood_table(models)
    if moods is not None:
        doc.add(Heading("The sentence-mood attack"), moods)
    judges = judge_table(models)
    if judges is not None:
        doc.add(Heading("How far to trust the judge"), judges)
    doc.add(*depth_blocks(models))
    for bench, section in (metrics.get("benchmarks") or {}).items():
        doc.add(
            Heading(f"Benchmark: {section.get('title', bench)}"), benchmark_table(bench, section)
        )
    doc.add(
        Heading("The shortcut in the safety data"),
        Figure(
            FIRST_WORDS_PNG,
            first_words_png(audit),
            "Share of each first word among the safety fine-tuning queries of each subset: "
            "a word that opens mostly answered (or mostly refused) queries is a shortcut.",
        ),
    )
    audit_moods = audit_mood_table(audit)
    if audit_moods is not None:
        doc.add(audit_moods)
    doc.add(Heading("Sample responses"))
    picks = pick_samples(responses, seed=int(provenance.get("seed") or 0))
    originals = original_queries(responses)
    if not picks:
        doc.add(Paragraph("No rewritten queries were answered in this run's responses."))
    for name in models if picks else ():
        doc.add(
            Heading(name, level=3),
            samples_table(responses.get(name, ()), picks, originals, image_root),
        )
    doc.add(
        Heading("Provenance"),
        provenance_table(provenance),
        Heading("Wall time per stage"),
        timings_table(stage_seconds),
        Code(
            json.dumps(metrics.get("config") or {}, indent=2, sort_keys=True),
            "json",
            "Configuration of the run",
        ),
    )
    return doc


def trigger_table(models: Mapping[str, Mapping[str, Any]]) -> Table:
    """Each ranked trigger's own rate per model: the spectrum behind the headline word."""
    rows = []
    for name, m in models.items():
        for kind, metric, label in (
            ("compliance", "asr_post", "ASR after K rewrites"),
            ("refusal", "rr_post", "benign RR after 1 rewrite"),
        ):
            for row in (m.get("by_trigger") or {}).get(kind, []):
                prefixed = row.get("prefixed")
                rows.append(
                    [
                        name,
                        kind,
                        str(row["rank"] + 1),
                        str(row["word"]),
                        label,
                        pct(row.get(metric)),
                        pct(prefixed) if prefixed is not None else "n/a",
                    ]
                )
    return Table(
        ["model", "trigger kind", "rank", "word", "rate", "%", "% prefixed"],
        rows,
        "The audit's top triggers of each kind, each with rows of its own (rank 1 is the "
        "headline attack of Table 1); '% prefixed': rewrites made by prefixing, not a frame.",
    )


def control_table(models: Mapping[str, Mapping[str, Any]], audit: Mapping[str, Any]) -> Table:
    """The control's openers with what the safety data says of them: a control opener that
    opens mostly refused (or answered) queries carries label information of its own."""
    shared: dict[str, list[str]] = {}  # models evaluated on the same control share rows
    for name, m in models.items():
        if m.get("control"):
            shared.setdefault(json.dumps(m["control"], sort_keys=True), []).append(name)
    rows = []
    for key, names in shared.items():
        control = json.loads(key)
        for o in control.get("openers") or ():
            rows.append(
                [
                    ", ".join(names),
                    str(control.get("kind")),
                    str(o.get("word")),
                    str(o.get("rewrites")),
                    "n/a" if o.get("count") is None else str(o["count"]),
                    pct(o.get("answered_rate")),
                ]
            )
    classes = audit.get("classes") or {}
    total = sum(v for v in classes.values() if isinstance(v, int))
    base = pct(classes.get("answered", 0) / total) if total else "n/a"
    return Table(
        ["models", "control", "opener", "control rewrites", "audited queries", "answered %"],
        rows,
        "The ten most used openers of the no-trigger control paraphrases ('own_opener': "
        "made by the trigger rewrites' rules, opening with the query's own first word). "
        "'audited queries': safety-data queries that open with the word, 'answered %' the "
        f"share of them answered (base rate of the safety data: {base}%).",
    )


def _recipe_blocks(models: Mapping[str, Mapping[str, Any]]) -> list[Block]:
    """How each compared model was made (a reproduction's recipes), or nothing."""
    recipes = {n: m["recipe"] for n, m in models.items() if m.get("recipe", {}).get("method")}
    if not recipes:
        return []
    items = []
    for name, r in recipes.items():
        data = f" on {' + '.join(r['data'])}" if r.get("data") else ""
        before = r.get("start", "base") != "base"
        start = "the checkpoint before instruction tuning" if before else "the base"
        note = f": {r['note']}" if r.get("note") else ""
        items.append(f"{name}: {r['method']} from {start}{data}{note}")
    return [Heading("How each model was made"), Bullets(items)]


def render_report(
    out_dir: str | Path,
    *,
    metrics: Mapping[str, Any],
    audit: Mapping[str, Any],
    responses: Mapping[str, Sequence[Row]],
    image_root: str | Path,
    stage_seconds: Mapping[str, float],
    title: str,
) -> None:
    """Write report.md, report.html (self-contained), kshot_asr.png and first_words.png.

    Other files in `out_dir` are kept; the four are written together or not at all.
    """
    doc = build_document(
        metrics=metrics,
        audit=audit,
        responses=responses,
        image_root=ImageRoot(image_root),
        stage_seconds=stage_seconds,
        title=title,
    )
    with staged_dir(out_dir) as stage:
        for block in doc.blocks:
            if isinstance(block, Figure):
                (stage / block.filename).write_bytes(block.png)
        atomic_write_text(stage / "report.md", to_markdown(doc))
        atomic_write_text(stage / "report.html", to_html(doc))

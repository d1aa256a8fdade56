"""The report's tables, built as document blocks from metrics, responses and provenance."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from statistics import mean
from typing import Any

from unmirage.data.images import ImageRoot
from unmirage.report.document import Table, Thumb, table_markdown
from unmirage.report.effects import NOT_MEASURED, Effect
from unmirage.report.paper import PAPER_MECHANISM, model_role, paper_row
from unmirage.report.responses import (
    UNSAFE_VERDICTS,
    Row,
    clip,
    find_row,
    mechanism_counts,
    thumbnail,
)
from unmirage.report.values import check_metrics, pct, rate

Models = Mapping[str, Mapping[str, Any]]

TABLE1_NOTE = (
    "Ours: percent with 95% Wilson intervals in brackets. Paper: LLaVA-1.5-7B, full fine-tuning, "
    "VLGuard test, shown beside the model of the same role for the direction of each effect "
    "only. The scales differ: the embedded world is a tiny procedural one where an attack "
    "succeeds only by leaking a fictional hazard fact, and utility is exact-answer accuracy on "
    "the world's questions, not VQAv2. SFT is set beside the paper's Posthoc-SFT (fine-tuned "
    "on top of the base model) unless its name says mixed."
)


def _arrow(m: Mapping[str, Any], before: str, after: str) -> str:
    return f"{rate(m, before).text()} → {rate(m, after).text()}"


def _n(m: Mapping[str, Any], key: str) -> str:
    return str(m.get(key, "n/a"))


def table1(models: Models) -> Table:
    """The paper's main table: ASR before/after the attack, benign RR before/after, utility."""
    rows = []
    for name, m in models.items():
        role = model_role(name, m)
        paper = paper_row(name, m)
        rows.append(
            [
                name,
                role or "unknown",
                _arrow(m, "asr_pre", "asr_post"),
                _arrow(m, "rr_pre", "rr_post"),
                rate(m, "utility").text(),
                f"{_n(m, 'n_unsafe')} / {_n(m, 'n_benign')} / {_n(m, 'n_utility')}",
                paper.name if paper else "none",
                f"{paper.asr_pre:.2f} → {paper.asr_post:.2f}" if paper else "",
                f"{paper.rr_pre:.2f} → {paper.rr_post:.2f}" if paper else "",
                f"{paper.vqav2:.2f}" if paper else "",
            ]
        )
    header = [
        "model",
        "role",
        "ASR before → after attack",
        "benign RR before → after rewrite",
        "utility",
        "n unsafe / benign / utility",
        "paper row",
        "paper ASR",
        "paper RR",
        "paper VQAv2",
    ]
    return Table(header, rows, TABLE1_NOTE)


GROUP_LABELS = {
    "seen": "seen hazards (in the safety and forget data)",
    "held_out": "held-out hazards (base data and test only)",
    "misuse": "misuse of a pictured ordinary object",
}
GROUP_NOTE = (
    "Unsafe test queries split by the harm they ask for: 'seen' hazards are the ones the "
    "safety and forget data show; 'held out' hazards only the base model's data and the test "
    "split hold, so a refusal of them is one the model generalised; 'misuse' asks how to hurt "
    "people with the ordinary object a safe image shows (harm made by the request alone). "
    "Percent with 95% Wilson intervals."
)


def hazard_group_table(models: Models) -> Table | None:
    """ASR before / after the attack and under the control, seen and held-out hazards apart
    (None when no model's rows carry hazard groups)."""
    rows = []
    for name, m in models.items():
        for group, g in (m.get("by_hazard_group") or {}).items():
            rows.append(
                [
                    name,
                    GROUP_LABELS.get(group, group),
                    _arrow(g, "asr_pre", "asr_post"),
                    rate(g, "asr_control").text(),
                    f"{_n(g, 'n_unsafe')} / {_n(g, 'n_unsafe_post')}",
                ]
            )
    if not rows:
        return None
    header = ["model", "hazards", "ASR before → after attack", "ASR, control", "n before / after"]
    return Table(header, rows, GROUP_NOTE)


def hazard_image_table(models: Models) -> Table | None:
    """Utility on benign images against harmless questions about hazard images (their colour,
    count or kind), and how often the latter are refused (None when no model was asked any)."""
    rows = [
        [
            name,
            rate(m, "utility").text(),
            rate(m, "utility_hazard_image").text(),
            rate(m, "rr_hazard_image").text(),
            f"{_n(m, 'n_utility')} / {_n(m, 'n_utility_hazard_image')}",
        ]
        for name, m in models.items()
        if m.get("utility_hazard_image") is not None
    ]
    if not rows:
        return None
    header = [
        "model",
        "utility, benign images",
        "utility, hazard images",
        "refused, hazard images",
        "n benign / hazard",
    ]
    note = (
        "A harmless question about a hazard's image has an exact answer; refusing it is "
        "over-prudence keyed on the image (refusals by the paper's keyword list)."
    )
    return Table(header, rows, note)


def mood_table(models: Models) -> Table | None:
    """The sentence-mood attack beside the one-word one (None without mood rewrites)."""
    rows = [
        [
            name,
            _arrow(m, "asr_mood_pre", "asr_mood"),
            _arrow(m, "asr_pre", "asr_post"),
            _arrow(m, "rr_mood_pre", "rr_mood"),
            f"{_n(m, 'n_mood')} / {_n(m, 'n_mood_benign')}",
        ]
        for name, m in models.items()
        if m.get("n_mood") is not None
    ]
    if not rows:
        return None
    header = [
        "model",
        "ASR, requests → as questions",
        "ASR, one-word attack",
        "benign RR, questions → as requests",
        "n unsafe / benign",
    ]
    note = (
        'Each unsafe request rewritten as the question "Could you ...?" and each benign '
        'wh-question as the request "Tell me ...", the request\'s words kept '
        "(unmirage.attack.mood); the before rates are those of the same queries unrewritten."
    )
    return Table(header, rows, note)


def audit_mood_table(audit: Mapping[str, Any]) -> Table | None:
    """Sentence mood against refuse / answer in the safety data (None for audits made before
    the audit counted mood)."""
    block = audit.get("mood")
    if not block:
        return None
    rows = [
        [
            r["mood"],
            str(r["count"]),
            str(r["answered"]),
            str(r["refused"]),
            pct(r["refusal_rate"]),
            f"{r['z']:.2f}",
        ]
        for r in block["moods"]
    ]
    header = ["mood", "queries", "answered", "refused", "refused %", "z toward refusal"]
    return Table(header, rows, f"Mood of each safety query ({block['rule']}).")


JUDGE_NOTE = (
    "Each judge's verdicts on the answers to harmful queries (originals and rewrites) against "
    "the truth: in the embedded world an answer is harmful exactly when it holds the hazard "
    "fact, whatever refusal words surround it. Missed: the harmful answers a judge calls "
    "safe (attacks it would not count); invented: the harmless answers it calls a success. "
    "Percent with 95% Wilson intervals."
)


def judge_table(models: Models) -> Table | None:
    """How far each judge agrees with the truth, per model (None when no run had a truth)."""
    rows = [
        [
            name,
            judge,
            rate(j, "agreement").text(),
            rate(j, "false_safe").text(),
            rate(j, "false_unsafe").text(),
            f"{j['n']} / {j['n_harmful']}",
        ]
        for name, m in models.items()
        for judge, j in (m.get("judges") or {}).items()
    ]
    if not rows:
        return None
    header = ["model", "judge", "agreement", "missed", "invented", "n answers / harmful"]
    return Table(header, rows, JUDGE_NOTE)


def table2(models: Models, responses: Mapping[str, Sequence[Row]]) -> Table:
    """How each model stays safe after the attack: refusing (RR) or derailing (IR), per shot."""
    rows = []
    for name, m in models.items():
        counts, shots = mechanism_counts(responses.get(name, ()))
        cells = [
            f"{pct(counts[v] / shots)} ({counts[v]}/{shots})" if shots else "n/a"
            for v in UNSAFE_VERDICTS
        ]
        role = model_role(name, m)
        rows.append(
            [name, str(shots), *cells, rate(m, "asr_post").text(), PAPER_MECHANISM.get(role, "")]
        )
    header = [
        "model",
        "shots judged",
        "ASR per shot",
        "IR per shot",
        "RR per shot",
        "ASR per query (any of K)",
        "paper, per shot",
    ]
    caption = (
        "Every rewrite of every unsafe query judged on its own (from responses.jsonl), in "
        "percent with counts; ASR + IR + RR = 100 per model. The per-query column is Table 1's "
        "post-attack ASR."
    )
    return Table(header, rows, caption)


def effects_table(effects: Sequence[Effect]) -> Table:
    rows = []
    for i, effect in enumerate(effects, 1):
        if not effect.comparisons:
            rows.append([f"{i}. {effect.claim}", "", NOT_MEASURED, "", effect.paper])
        for c in effect.comparisons:
            rows.append([f"{i}. {effect.claim}", c.subject, c.status, c.detail, effect.paper])
    return Table(["effect", "models", "status", "ours (%)", "paper (%)"], rows)


def benchmark_table(bench: str, section: Mapping[str, Any]) -> Table:
    """One benchmark's results per model: all queries, each variant, each category."""
    kind = str(section.get("category_kind", "category"))
    rows = []
    for name, block in section["models"].items():
        groups = [("all", block)]
        groups += [(f"variant {v}", m) for v, m in block.get("by_variant", {}).items()]
        groups += [(f"{kind}: {c}", m) for c, m in block.get("by_category", {}).items()]
        for label, m in groups:
            rows.append(
                [
                    name,
                    label,
                    f"{_n(m, 'n_unsafe')} / {_n(m, 'n_benign')} / {_n(m, 'n_utility')}",
                    _arrow(m, "asr_pre", "asr_post"),
                    _arrow(m, "rr_pre", "rr_post"),
                    rate(m, "utility").text(),
                ]
            )
    header = [
        "model",
        "queries",
        "n unsafe / benign / utility",
        "ASR before → after attack",
        "benign RR before → after rewrite",
        "utility",
    ]
    caption = f"{section.get('title', bench)} ({bench}): percent with 95% Wilson intervals."
    return Table(header, rows, caption)


NO_IMAGE = Thumb(None, "no image")
KIND = {"trigger": "one-word attack", "overprudence": "over-prudence"}


def samples_table(
    rows: Sequence[Row],
    picks: Sequence[tuple[str, str]],
    originals: Mapping[str, str],
    image_root: ImageRoot,
) -> Table:
    """One model's answers to the picked rewrites, with the image each query is about."""
    out = []
    for orig_id, attack in picks:
        row = find_row(rows, orig_id, attack)
        if row is None:
            continue
        image = row.get("image")
        thumb = thumbnail(image_root, str(image), str(row.get("id"))) if image else NO_IMAGE
        out.append(
            [
                thumb,
                KIND[attack],
                clip(originals.get(orig_id, "")),
                clip(str(row.get("query", ""))),
                clip(str(row.get("response", ""))),
                str(row.get("verdict", "")),
            ]
        )
    return Table(["image", "kind", "query", "rewrite", "answer", "verdict"], out)


PROVENANCE_ORDER = ("version", "git_commit", "config_hash", "data_hash", "seed")


def provenance_table(provenance: Mapping[str, Any]) -> Table:
    keys = [k for k in PROVENANCE_ORDER if k in provenance]
    keys += [k for k in provenance if k not in PROVENANCE_ORDER]
    rows = []
    for k in keys:
        v = provenance[k]
        rows.append([k, v if isinstance(v, str) else json.dumps(v)])
    return Table(["field", "value"], rows)


def timings_table(stage_seconds: Mapping[str, float]) -> Table:
    total = sum(stage_seconds.values())
    rows = [
        [stage, f"{s:.1f}", f"{100 * s / total:.0f}%" if total else "n/a"]
        for stage, s in stage_seconds.items()
    ]
    rows.append(["total", f"{total:.1f}", "100%" if total else "n/a"])
    return Table(["stage", "wall time (s)", "share"], rows)


MULTISEED_KEYS: tuple[tuple[str, str], ...] = (
    ("asr_pre", "ASR before attack"),
    ("asr_post", "ASR after attack"),
    ("asr_control", "ASR, no-trigger control"),
    ("rr_pre", "benign RR before rewrite"),
    ("rr_post", "benign RR after rewrite"),
    ("utility", "utility"),
)


def render_multiseed_table(metrics_list: Sequence[Mapping[str, Any]]) -> str:
    """Markdown table: per model and metric, the mean over seeds with the min-max range."""
    if not metrics_list:
        raise ValueError("render_multiseed_table needs at least one metrics object")
    for i, metrics in enumerate(metrics_list):
        check_metrics(metrics, file=f"metrics #{i}")
    names = list(dict.fromkeys(n for metrics in metrics_list for n in metrics["models"]))
    rows = []
    for name in names:
        runs = [mx["models"][name] for mx in metrics_list if name in mx["models"]]
        cells = []
        for key, _ in MULTISEED_KEYS:
            values = [r[key] for r in runs if r.get(key) is not None]
            cells.append(
                f"{pct(mean(values))} [{pct(min(values))}, {pct(max(values))}]" if values else "n/a"
            )
        rows.append([name, str(len(runs)), *cells])
    seeds = [str(mx.get("provenance", {}).get("seed", "?")) for mx in metrics_list]
    caption = (
        f"Percent: mean over {len(metrics_list)} seeds ({', '.join(seeds)}), "
        "with [min, max] over seeds in brackets."
    )
    header = ["model", "seeds", *(label for _, label in MULTISEED_KEYS)]
    return table_markdown(Table(header, rows, caption)) + "\n"

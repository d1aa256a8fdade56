"""The report's charts as PNG bytes, drawn on matplotlib's Agg canvas (no pyplot).

PNG bytes (rather than files) let the same image be written beside report.md and embedded
in report.html. The first-word chart is the audit's own, so both documents show one picture.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from unmirage.audit.render import plot_first_words
from unmirage.errors import InputError


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    return buf.getvalue()


def kshot_asr_png(models: Mapping[str, Mapping[str, Any]]) -> bytes:
    """ASR after the one-word attack vs K (any of K rewrites succeeds), per model.

    The no-trigger control (paraphrases without the trigger word) is dashed in the same
    colour (a hollow diamond at full K if only that point was measured): the gap between the
    two is what the trigger word itself does.
    """
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    drawn = False
    controls: dict[str, Line2D] = {}
    for i, (name, m) in enumerate(models.items()):
        color = f"C{i % 10}"
        curve = m.get("asr_post_by_k") or []
        if curve:
            ax.plot(
                range(1, len(curve) + 1),
                [100 * v for v in curve],
                marker="o",
                color=color,
                label=name,
            )
            drawn = True
        control = m.get("asr_control_by_k") or []
        if control:
            ax.plot(range(1, len(control) + 1), [100 * v for v in control], ls="--", color=color)
            controls["no-trigger control, by K"] = Line2D([], [], color="grey", ls="--")
        elif m.get("asr_control") is not None and curve:
            ax.plot([len(curve)], [100 * m["asr_control"]], marker="D", mfc="none", color=color)
            controls["no-trigger control, at full K"] = Line2D(
                [], [], color="grey", marker="D", mfc="none", ls="none"
            )
    if drawn:
        handles, labels = ax.get_legend_handles_labels()
        ax.legend(handles + list(controls.values()), labels + list(controls), fontsize=8)
    else:
        ax.text(
            0.5,
            0.5,
            "no K-shot results in metrics.json",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
    ax.set_xlabel("K (rewrites per unsafe query; broken if any succeeds)")
    ax.set_ylabel("attack success rate (%)")
    ax.set_ylim(-2, 102)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(alpha=0.3)
    ax.set_title("One-word attack: ASR vs K")
    fig.tight_layout()
    return _png(fig)


def first_words_png(audit: Mapping[str, Any], file: str = "audit.json") -> bytes:
    """The audit's own first-word chart (`unmirage.audit.render.plot_first_words`) as PNG bytes."""
    groups = audit.get("first_word")
    if not isinstance(groups, Mapping) or not groups:
        raise InputError("missing the first-word statistics", file=file, field="first_word")
    for group, block in groups.items():
        ok = (
            isinstance(block, Mapping)
            and isinstance(block.get("counts"), Mapping)
            and isinstance(block.get("shares"), Mapping)
            and set(block["counts"]) <= set(block["shares"])
            and "n" in block
        )
        if not ok:
            raise InputError(
                "expected {n, counts, shares} with a share for every counted word",
                file=file,
                field=f"first_word.{group}",
            )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "first_words.png"
        plot_first_words(audit, path)
        return path.read_bytes()


def relearn_png(relearn: Mapping[str, Mapping[str, Any]]) -> bytes:
    """Leak rate vs relearning steps per model: the other hazards solid (knowledge that
    comes back without being taught), the relearned hazard dashed in the same colour."""
    fig = Figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot()
    for i, (name, r) in enumerate(relearn.items()):
        color = f"C{i % 10}"
        leak = r.get("leak") or {}
        for group, style in (("other", "-"), ("same", "--")):
            if leak.get(group):
                label = name if group == "other" else None
                values = [100 * v for v in leak[group]]
                ax.plot(r["steps"], values, ls=style, marker="o", color=color, label=label)
    ax.plot([], [], color="grey", ls="-", label="other hazards")
    ax.plot([], [], color="grey", ls="--", label="relearned hazard")
    ax.legend(fontsize=8)
    ax.set_xlabel("relearning steps (plain SFT on one hazard's forget pairs)")
    ax.set_ylabel("leak rate on held-out queries (%)")
    ax.set_ylim(-2, 102)
    ax.grid(alpha=0.3)
    ax.set_title("Relearning: how fast the hazard knowledge comes back")
    fig.tight_layout()
    return _png(fig)

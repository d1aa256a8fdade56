"""Reading rates and their intervals out of metrics.json, checked, and formatting them.

The report is the last stage of a long run, so a malformed metrics file must fail with one
clear line naming the model and the metric, not with a traceback from deep in a template.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from unmirage.checks import is_number
from unmirage.errors import InputError

METRICS_FILE = "metrics.json"

RATE_KEYS: tuple[str, ...] = (
    "asr_pre",
    "asr_post",
    "ir_post",
    "rr_unsafe_post",
    "rr_pre",
    "rr_post",
    "utility",
    "asr_control",
)
REQUIRED_KEYS: tuple[str, ...] = ("asr_pre", "asr_post", "rr_pre", "rr_post", "utility")
CURVE_KEYS: tuple[str, ...] = ("asr_post_by_k", "asr_control_by_k")


@dataclass(frozen=True)
class Rate:
    """A rate in [0, 1] with its 95% interval; None where the run measured nothing."""

    value: float | None
    lo: float | None = None
    hi: float | None = None

    def text(self) -> str:
        """ "55.0 [45.2, 64.4]" (percent), or "n/a"."""
        if self.value is None:
            return "n/a"
        if self.lo is None or self.hi is None:
            return pct(self.value)
        return f"{pct(self.value)} [{pct(self.lo)}, {pct(self.hi)}]"


def pct(x: float | None) -> str:
    """A rate in [0, 1] as a percentage with one decimal."""
    return "n/a" if x is None else f"{100 * x:.1f}"


def _is_rate(x: Any) -> bool:
    return is_number(x) and math.isfinite(x) and 0.0 <= x <= 1.0


def check_metrics(metrics: Any, file: str = METRICS_FILE) -> None:
    """Raise InputError unless `metrics` follows the metrics.json contract closely enough."""
    models = metrics.get("models") if isinstance(metrics, Mapping) else None
    if not isinstance(models, Mapping) or not models:
        raise InputError("expected a non-empty object of models", file=file, field="models")
    for name, m in models.items():
        _check_model(m, file, name)
    benchmarks = metrics.get("benchmarks") or {}
    if not isinstance(benchmarks, Mapping):
        raise InputError("expected an object of benchmarks", file=file, field="benchmarks")
    for bench, section in benchmarks.items():
        blocks = section.get("models") if isinstance(section, Mapping) else None
        if not isinstance(blocks, Mapping):
            raise InputError(
                "expected an object of models", file=file, field=f"benchmarks.{bench}.models"
            )
        for name, m in blocks.items():
            _check_model(m, file, f"{name} ({bench})")


def _check_model(m: Any, file: str, name: str) -> None:
    """One model's metrics block: required keys, rates in [0, 1], intervals, curves."""
    if not isinstance(m, Mapping):
        raise InputError("expected an object of metrics", file=file, record=name)
    for key in REQUIRED_KEYS:
        if key not in m:
            raise InputError("missing metric", file=file, record=name, field=key)
    for key in RATE_KEYS:
        if m.get(key) is not None and not _is_rate(m[key]):
            raise InputError(
                f"expected a rate in [0, 1], got {m[key]!r}", file=file, record=name, field=key
            )
    for key in CURVE_KEYS:
        curve = m.get(key)
        if curve is not None and not (isinstance(curve, list) and all(_is_rate(v) for v in curve)):
            raise InputError("expected a list of rates", file=file, record=name, field=key)
    cis = m.get("ci") or {}
    if not isinstance(cis, Mapping):
        raise InputError("expected an object of intervals", file=file, record=name, field="ci")
    for key, ci in cis.items():
        ok = ci is None or (
            isinstance(ci, list | tuple)
            and len(ci) == 2
            and all(_is_rate(v) for v in ci)
            and ci[0] <= ci[1]
        )
        if not ok:
            raise InputError(
                f"expected an interval [lo, hi] in [0, 1] or null, got {ci!r}",
                file=file,
                record=name,
                field=f"ci.{key}",
            )


def rate(model: Mapping[str, Any], key: str) -> Rate:
    """The metric `key` of one model with its interval from `ci`, if the run recorded one."""
    value = model.get(key)
    ci = (model.get("ci") or {}).get(key)
    if value is None or ci is None:
        return Rate(value)
    return Rate(float(value), float(ci[0]), float(ci[1]))

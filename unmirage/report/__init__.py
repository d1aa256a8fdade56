"""The report of a run: tables, charts, report.md and a self-contained report.html."""

from unmirage.report.render import render_report
from unmirage.report.tables import render_multiseed_table

__all__ = ["render_multiseed_table", "render_report"]

"""The audit of safety data: which query words predict refuse / answer (the shortcuts).

`stats` computes (numpy only), `render` draws the markdown and the chart, `write` reads the
data files and writes the audit directory. `audit.json`'s keys are documented in `stats`.
"""

from unmirage.audit.stats import AuditConfig, audit, log_odds_z
from unmirage.audit.write import audit_files

__all__ = ["AuditConfig", "audit", "audit_files", "log_odds_z"]

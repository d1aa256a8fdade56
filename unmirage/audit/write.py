"""`audit_files`: read data files, audit them, write the audit directory all or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unmirage.audit.render import plot_first_words, render_markdown
from unmirage.audit.stats import AuditConfig, audit
from unmirage.checks import output_dir
from unmirage.data.sample import Sample
from unmirage.errors import naming_file


def audit_files(
    paths: Sequence[str | Path],
    out: str | Path,
    config: AuditConfig | None = None,
    *,
    fmt: str = "auto",
    image_root: str | Path | None = None,
    check_images: bool = True,
) -> dict[str, Any]:
    """Load the data files, audit them, and write audit.json, audit.md and first_words.png
    into `out` together (all or nothing). Returns the audit (default config: AuditConfig())."""
    from unmirage.data.loaders import load_samples
    from unmirage.io import atomic_write_json, atomic_write_text, staged_dir
    from unmirage.provenance import sha256_file

    out = output_dir(out)
    samples: list[Sample] = []
    sources = []
    for path in map(Path, paths):
        loaded = load_samples(path, fmt, image_root=image_root, check_images=check_images)
        samples += loaded
        digest = sha256_file(path)
        sources.append(
            {"path": str(path), "format": fmt, "sha256": digest, "n_samples": len(loaded)}
        )
    with naming_file(", ".join(str(p) for p in paths)):
        result = audit(samples, config or AuditConfig(), sources)
    with staged_dir(out) as stage:
        atomic_write_json(stage / "audit.json", result)
        atomic_write_text(stage / "audit.md", render_markdown(result))
        plot_first_words(result, stage / "first_words.png")
    return result

"""Readers for published benchmarks: each maps one on-disk layout to `Sample`s.

A reader registers under the name `--format NAME` selects and says how `auto` recognises its
layout (only where that is unambiguous). Every sample it makes carries `meta.benchmark` (the
reader's name) and, where the benchmark has one, `meta.variant` (an image kind or split), so
`metrics.json` can break results down per benchmark, category and variant. Readers whose
images are not files on disk (FigStep draws them from the instruction, SPA-VL's parquet embeds
them) write them under a cache directory, which is then their samples' image root.
"""

from __future__ import annotations

from unmirage.data.formats.base import BENCHMARK_FORMATS, Context, Peek, detect_reader, readers

__all__ = ["BENCHMARK_FORMATS", "Context", "Peek", "detect_reader", "readers"]

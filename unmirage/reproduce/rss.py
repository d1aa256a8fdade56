"""Peak resident memory of this process during one block of work, e.g. one reproduce stage.

The kernel's own peak mark (ru_maxrss, VmHWM) covers the whole process life, so it cannot
tell a later, smaller stage's peak from an earlier one's, and resetting it would falsify what
`time -v` or a parent's wait4 report. A background thread samples the current RSS instead
(/proc/self/statm, Linux); a spike shorter than the interval can be missed.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

STATM = Path("/proc/self/statm")


def rss_mb() -> float | None:
    """Resident memory of this process now, in MB (None where /proc is missing)."""
    try:
        pages = int(STATM.read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss:
    """`with PeakRss() as peak: ...` then `peak.mb`: the largest RSS sampled in the block."""

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self.mb: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _record(self) -> None:
        now = rss_mb()
        if now is not None and (self.mb is None or now > self.mb):
            self.mb = now

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._record()

    def __enter__(self) -> PeakRss:
        self._record()
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._record()

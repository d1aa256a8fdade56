"""Side-by-side timing: on a shared machine only ratios measured in the same rounds hold."""

from __future__ import annotations

import time
from collections.abc import Callable


def side_by_side(
    runs: dict[str, Callable[[], None]], repeats: int, *, calls: int = 1, warm_up: bool = True
) -> dict[str, list[float]]:
    """Seconds per call of each run in each of `repeats` rounds: every round calls every run
    `calls` times in turn, the order rotated each round, so a burst of other work on the
    machine falls on all of them alike. `warm_up` calls each run once first, untimed."""
    if warm_up:
        for run in runs.values():
            run()
    names = list(runs)
    seconds: dict[str, list[float]] = {n: [] for n in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            for _ in range(calls):
                runs[name]()
            seconds[name].append((time.perf_counter() - start) / calls)
    return seconds

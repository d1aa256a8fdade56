"""Side-by-side timing: on a shared machine only ratios measured in the same rounds hold.

Each call is timed twice: wall clock, and this process's CPU time (`time.process_time`).
While other work keeps the cores busy, wall time counts the waits for a core too, so it swings
with the other work; CPU time counts only this process's own computing (with one torch
thread it is the computing time of that thread), so ratios of CPU times are the steadier
measure on a shared machine.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def side_by_side(
    runs: dict[str, Callable[[], None]], repeats: int, *, calls: int = 1, warm_up: bool = True
) -> dict[str, dict[str, list[float]]]:
    """{clock: {run: seconds per call in each round}} for clocks "wall" and "cpu".

    Every round calls every run `calls` times in turn, the order rotated each round, so a
    burst of other work on the machine falls on all of them alike. `warm_up` calls each run
    once first, untimed.
    """
    if warm_up:
        for run in runs.values():
            run()
    names = list(runs)
    seconds: dict[str, dict[str, list[float]]] = {c: {n: [] for n in names} for c in CLOCKS}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = {c: clock() for c, clock in CLOCKS.items()}
            for _ in range(calls):
                runs[name]()
            for c, clock in CLOCKS.items():
                seconds[c][name].append((clock() - start[c]) / calls)
    return seconds


def medians(seconds: dict[str, list[float]]) -> dict[str, float]:
    """Median seconds of each run."""
    return {name: statistics.median(values) for name, values in seconds.items()}

"""How many torch threads a process uses, and a warning when the machine is oversubscribed.

The tiny models gain little from intra-op threads and lose a lot when the cores are busy:
two threads were measured 30x slower than one with other work on a two-core machine, because
every parallel matrix product waits for its slowest thread. The default is therefore an equal
share of the CPUs this process may run on (its affinity mask, not the machine's core count),
split between the processes of one `torchrun`/`accelerate launch` job; `OMP_NUM_THREADS` or
`--threads` override it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask; the core count where unsupported)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def local_processes(env: Mapping[str, str]) -> int:
    """Processes of one launch on this machine (torchrun and accelerate set LOCAL_WORLD_SIZE)."""
    for key in ("LOCAL_WORLD_SIZE", "WORLD_SIZE"):
        value = env.get(key, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def choose_threads(requested: int | None, cpus: int, env: Mapping[str, str]) -> int:
    """`requested`, else OMP_NUM_THREADS, else this process's share of `cpus` (at least 1)."""
    if requested is not None:
        return requested
    omp = env.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        return int(omp)
    return max(1, cpus // local_processes(env))


def oversubscribed(load: float, cpus: int) -> bool:
    """True when more runnable work waits (1-minute load average) than there are CPUs."""
    return load > cpus


_pending = {"warn": False}


def apply_threads(requested: int | None = None, *, warn: bool = False) -> int:
    """Set torch's intra-op threads (see `choose_threads`) and return the count.

    warn: arm `warn_if_busy`, so the first training or generation of this process says so on
    stderr if the machine is oversubscribed (not before: bad input gets one line only).
    """
    import torch

    threads = choose_threads(requested, available_cpus(), os.environ)
    torch.set_num_threads(threads)
    _pending["warn"] = warn
    return threads


def warn_if_busy() -> None:
    """Once, if armed: one stderr line when the load average exceeds the CPUs available."""
    if not _pending["warn"]:
        return
    _pending["warn"] = False
    import torch

    cpus, load, threads = available_cpus(), os.getloadavg()[0], torch.get_num_threads()
    if oversubscribed(load, cpus):
        print(
            f"unmirage: warning: load average {load:.1f} exceeds the {cpus} CPUs available; "
            f"running with {threads} torch thread{'s' * (threads != 1)}, expect it to be slow "
            "(--threads 1 suffers least on busy cores)",
            file=sys.stderr,
        )


def positive_int(text: str) -> int:
    """argparse type of --threads: an integer >= 1."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value

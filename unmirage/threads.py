"""How many torch threads a process uses, and a warning when the machine is oversubscribed.

The tiny models gain little from intra-op threads and lose a lot when the cores are busy:
two threads were measured 30x slower than one with other work on a two-core machine, because
every parallel matrix product waits for its slowest thread. The default is therefore an equal
share of the CPUs this process may run on (its affinity mask, not the machine's core count),
split between the processes of one `torchrun`/`accelerate launch` job; `OMP_NUM_THREADS` or
`--threads` override it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator, Mapping


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


def others_load(load: float, own: float) -> float:
    """The 1-minute load average less this process's own busy threads (`own`, its CPU time
    over wall time since its threads were set): a run's earlier stages count in the load
    average too, and are not other work."""
    return max(0.0, load - own)


def oversubscribed(others: float, threads: int, cpus: int) -> bool:
    """True when work besides this process leaves fewer CPUs than its threads, by at least
    one whole CPU (the load average moves slowly and counts short tasks too)."""
    return others + threads >= cpus + 1


_pending: dict[str, float | bool] = {"warn": False}


def apply_threads(requested: int | None = None, *, warn: bool = False) -> int:
    """Set torch's intra-op threads (see `choose_threads`) and return the count.

    warn: arm `warn_if_busy`, so the first training or generation of this process says so on
    stderr if the machine is oversubscribed (not before: bad input gets one line only).
    """
    import torch

    threads = choose_threads(requested, available_cpus(), os.environ)
    torch.set_num_threads(threads)
    _pending.update(warn=warn, wall=time.perf_counter(), cpu=time.process_time())
    return threads


@contextlib.contextmanager
def threads_for_command(requested: int | None) -> Iterator[int]:
    """`apply_threads` (warning armed) for one command, then the caller's count back: a
    command called in-process (`unmirage.cli.main` from Python, as the tests do) leaves the
    process's torch threads as it found them."""
    import torch

    before = torch.get_num_threads()
    try:
        yield apply_threads(requested, warn=True)
    finally:
        torch.set_num_threads(before)


def own_load() -> float:
    """This process's busy threads since `apply_threads`: CPU time over wall time."""
    wall = time.perf_counter() - float(_pending.get("wall", 0.0))
    cpu = time.process_time() - float(_pending.get("cpu", 0.0))
    return cpu / wall if wall > 1.0 else 0.0


def warn_if_busy() -> None:
    """Once, if armed: one stderr line when other work leaves too few CPUs for the threads."""
    if not _pending["warn"]:
        return
    _pending["warn"] = False
    import torch

    cpus, threads = available_cpus(), torch.get_num_threads()
    load = os.getloadavg()[0]
    others = others_load(load, own_load())
    if oversubscribed(others, threads, cpus):
        print(
            f"unmirage: warning: load average {load:.1f} (about {others:.1f} besides this "
            f"process) on the {cpus} CPUs available; running with {threads} torch "
            f"thread{'s' * (threads != 1)}, expect it to be slow (--threads 1 suffers least "
            "on busy cores)",
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

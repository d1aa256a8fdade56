"""Output helpers that never leave half-written results behind, and the resumable row files
(JSON lines appended and fsynced per batch) that evaluation and the forget-set builder share."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from unmirage.errors import InputError
from unmirage.provenance import config_hash

RUN = "run.json"
"""The file of a resumable output directory that records which run its rows belong to."""


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` via a temporary file and an atomic rename."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` via a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _umask() -> int:
    """The process umask (read by setting it, then restoring it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False) + "\n")


@contextlib.contextmanager
def staged_dir(out: str | Path) -> Iterator[Path]:
    """Yield a staging directory that replaces `out` only if the block succeeds.

    Files already in `out` are kept unless the staging directory writes the same name, so a
    command may add to an existing output directory without clobbering unrelated files, and a
    failure leaves `out` exactly as it was. Staging directories a killed run left beside `out`
    are removed first: one run writes an output at a time (the commands hold its lock).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for stale in out.parent.glob(f".{glob.escape(out.name)}.staging.*"):
        shutil.rmtree(stale, ignore_errors=True)
    stage = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.staging."))
    try:
        yield stage
        out.mkdir(parents=True, exist_ok=True)
        for item in stage.iterdir():
            target = out / item.name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def lock_path(out: str | Path) -> Path:
    """Where the lock of output `out` lives: `.NAME.lock` beside it, so that taking the lock
    never creates `out` itself (a run refused for bad input leaves no trace in it) and a
    file output (`attack --out FILE`) locks the same way as a directory."""
    out = Path(out).absolute()
    return out.parent / f".{out.name}.lock"


@contextlib.contextmanager
def output_lock(out: str | Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on output `out` for the duration of the block.

    A second run into the same output fails at once with an `InputError` naming the holder's
    pid, instead of two runs interleaving rows or replacing each other's files. The lock is
    `flock`, so the kernel drops it when the holder dies, even by SIGKILL: a stale lock file
    never blocks a rerun. Under torchrun / accelerate every process of one job writes the
    same `out`; only global rank 0 takes the lock.
    """
    if int(os.environ.get("RANK", "0")) != 0:
        yield
        return
    path = lock_path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise InputError(f"{out} is in use by another unmirage run (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        yield
    finally:
        os.close(fd)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Complete rows of responses.jsonl; a partial last line (a killed write) is cut off."""
    if not path.exists():
        return []
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with open(path, "r+b") as f:
            f.truncate(end)
    rows = []
    for lineno, line in enumerate(data[:end].decode("utf-8").splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            raise InputError(
                "corrupt row; move the file away to start over", file=str(path), record=lineno
            ) from None
    return rows


def append_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Append JSON lines and fsync, so a kill loses at most the rows of this call."""
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def check_resumable(out: Path, config: Mapping[str, Any]) -> None:
    """Refuse to mix rows of two different runs in one output directory."""
    run = out / RUN
    if run.exists():
        previous = json.loads(run.read_text(encoding="utf-8"))
        if previous.get("config_hash") != config_hash(config):
            raise InputError(
                "holds a run with another model, data, judge or decoding setting; use a new --out",
                file=str(out),
            )
    atomic_write_json(run, {"config": dict(config), "config_hash": config_hash(config)})

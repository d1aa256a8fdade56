"""The output lock: a second run into the same --out refuses with one line naming the holder's
pid; runs into different outputs do not interfere; a killed holder leaves no stale lock."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from unmirage.cli import main
from unmirage.io import lock_path

HOLD = """
import sys, time
from unmirage.io import output_lock
with output_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def holder(tmp_path: Path):
    """A separate process holding the lock of tmp_path/out until the test ends."""
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    yield out, proc
    proc.kill()
    proc.wait()


def _world(out: Path) -> list[str]:
    return ["world", "--preset", "smoke", "--out", str(out)]


def test_second_run_into_the_same_out_refuses_with_the_holders_pid(holder, capsys):
    out, proc = holder
    assert main(_world(out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"unmirage world: error: {out} is in use by another unmirage run (pid {proc.pid})"
    ]
    assert not out.exists()


def test_a_run_into_another_out_is_not_blocked(holder, tmp_path, capsys):
    _, _ = holder
    other = tmp_path / "other"
    assert main(_world(other)) == 0
    assert (other / "world.json").is_file()


def test_a_killed_holder_leaves_no_stale_lock(holder, capsys):
    out, proc = holder
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert lock_path(out).exists()
    assert main(_world(out)) == 0


def test_attack_file_output_is_locked_too(tmp_path, capsys):
    out = tmp_path / "attack.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        argv = ["attack", "--data", str(tmp_path / "none.jsonl"), "--triggers", "what"]
        assert main([*argv, "--out", str(out)]) == 2
        assert "in use by another unmirage run" in capsys.readouterr().err
    finally:
        proc.kill()
        proc.wait()


def test_two_concurrent_processes_into_different_outs_write_identical_worlds(tmp_path):
    outs = [tmp_path / "a", tmp_path / "b"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "unmirage.cli", *_world(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for out in outs
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    a, b = (sorted(p.relative_to(out) for p in out.rglob("*")) for out in outs)
    assert a == b and a
    for rel in a:
        if (outs[0] / rel).is_file():
            assert (outs[0] / rel).read_bytes() == (outs[1] / rel).read_bytes(), rel


def test_a_killed_runs_staging_directory_is_swept_by_the_next_run(tmp_path):
    from unmirage.io import staged_dir

    out = tmp_path / "out"
    stale = tmp_path / ".out.staging.k1ll3d"
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "half.json").write_text("{")
    other = tmp_path / ".other.staging.keep"
    other.mkdir()
    with staged_dir(out) as stage:
        (stage / "done.json").write_text("{}")
    assert not stale.exists() and other.exists()
    assert (out / "done.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir() if ".staging." in p.name] == [other.name]

"""SIGKILL `base`, `align`, `eval` and `reproduce` at seeded points, rerun, and compare with an
uninterrupted run: the weights are bit-identical, JSONL rows are neither lost nor duplicated,
and at the moment of each kill no file under its final name is partly written.

Each command runs as its own process (a kill must not spare any Python-level cleanup). Every
kill point is timed from the run's own progress, never from the process start (imports and
model loading take a varying share of it): a file the run writes at a known stage plus a
seeded delay, or the run's first log or result row plus a seeded share of the time the
uninterrupted run took from its first row to its end. Each kill asserts that the run had
written rows when it was killed, so that every resume has work to keep.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from safetensors import safe_open

pytestmark = pytest.mark.slow

RNG = random.Random(20261204)
LOG = "train_log.jsonl"
RESPONSES = "responses.jsonl"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
TIMEOUT = 600.0


def run(argv: list[str], started: Callable[[], bool] = lambda: True) -> float:
    """Run `unmirage ARGV` to completion; returns the seconds from when `started()` first held
    (polled every 20 ms) to its end."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "unmirage.cli", *argv],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        deadline = time.monotonic() + TIMEOUT
        since = None
        while proc.poll() is None:
            if since is None and started():
                since = time.monotonic()
            assert time.monotonic() < deadline, f"timed out: {argv}"
            time.sleep(0.02)
        end = time.monotonic()
        err.seek(0)
        assert proc.returncode == 0, err.read()[-3000:].decode(errors="replace")
    assert since is not None or started(), f"the start point never held: {argv}"
    return end - (since or end)


def kill_at(argv: list[str], ready: Callable[[], bool], delay: float) -> None:
    """Start `unmirage ARGV`, wait until `ready()` and then `delay` seconds, SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "unmirage.cli", *argv],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + TIMEOUT
    try:
        while not ready():
            assert proc.poll() is None, f"finished before the kill point: {argv}"
            assert time.monotonic() < deadline, "kill point never reached"
            time.sleep(0.02)
        time.sleep(delay)
        assert proc.poll() is None, f"finished before the kill: {argv}"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL


def exists(pattern: str, root: Path) -> Callable[[], bool]:
    return lambda: any(root.glob(pattern))


def rows(path: Path) -> int:
    """Whole lines of an append-only JSONL file (0 if absent); a cut last line does not count."""
    return path.read_bytes().count(b"\n") if path.exists() else 0


def assert_nothing_partial(out: Path) -> None:
    """Every file under its final name is whole: safetensors open, JSON parses, JSONL lines
    parse (an append-only log may end in one cut line, which a resume drops). Temporary files
    and staging directories start with '.' and are not final names."""
    for path in sorted(out.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(out).parts):
            continue
        if path.suffix == ".safetensors":
            with safe_open(str(path), "pt") as f:
                for key in f.keys():  # noqa: SIM118 (safe_open has no __iter__)
                    f.get_tensor(key)
        elif path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".jsonl":
            text = path.read_text(encoding="utf-8")
            lines = text.split("\n")
            whole = lines[:-1]  # text after the last newline is the cut line, if any
            for line in whole:
                json.loads(line)


def safetensors_bytes(model_dir: Path) -> dict[str, bytes]:
    files = {p.name: p.read_bytes() for p in sorted(model_dir.glob("*.safetensors"))}
    assert files, f"no weights in {model_dir}"
    return files


def jsonl_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_same_log(log: Path, reference: Path) -> None:
    rows, ref = jsonl_rows(log), jsonl_rows(reference)
    assert [r["step"] for r in rows] == [r["step"] for r in ref] == list(range(1, len(ref) + 1))
    assert [r["loss"] for r in rows] == [r["loss"] for r in ref]


def kill_and_resume(
    argv: list[str], out: Path, ready: Callable[[], bool], delay: float, log: str
) -> None:
    """Kill at `ready()` + `delay`, check the run had written rows to `out/log` (a glob) and
    nothing partly, and rerun it to the end."""
    kill_at([*argv, "--out", str(out)], ready, delay)
    written = sum(rows(path) for path in out.glob(log))
    assert written >= 1, f"killed before it wrote a row of {log}"
    assert_nothing_partial(out)
    run([*argv, "--out", str(out)])


def test_base_killed_in_grounding_and_in_instruction_tuning_resumes_bit_identically(
    smoke_world: Path, tmp_path: Path
):
    argv = ["base", "--world", str(smoke_world), "--steps", "12", "--vision-steps", "6"]
    argv += ["--vision-images", "64", "--grounding-steps", "6", "--checkpoint-every", "3"]
    argv += ["--quiet"]
    reference = tmp_path / "reference"
    run([*argv, "--out", str(reference)])
    points = {
        "grounding-checkpoint": lambda out: exists("grounding/checkpoints/step-*", out),
        "instruction-checkpoint": lambda out: exists("checkpoints/step-*", out),
    }
    logs = {"grounding-checkpoint": "grounding/train_log.jsonl", "instruction-checkpoint": LOG}
    for name, point in points.items():
        out = tmp_path / name
        kill_and_resume(argv, out, point(out), RNG.uniform(0.0, 0.5), logs[name])
        assert safetensors_bytes(out) == safetensors_bytes(reference), name
        assert_same_log(out / LOG, reference / LOG)
        assert not (out / "checkpoints").exists() and not (out / "grounding").exists()


def test_align_killed_between_and_at_checkpoints_resumes_bit_identically(
    smoke_world: Path, smoke_base: Path, tmp_path: Path
):
    argv = ["align", "--method", "npo", "--model", str(smoke_base)]
    argv += ["--forget", str(smoke_world / "forget.jsonl")]
    argv += ["--retain", str(smoke_world / "retain.jsonl")]
    argv += ["--steps", "16", "--batch-size", "4", "--checkpoint-every", "4", "--quiet"]
    reference = tmp_path / "reference"
    training = run([*argv, "--out", str(reference)], exists(LOG, reference))
    points = {  # (ready, delay)
        "first-checkpoint": (lambda out: exists("checkpoints/step-*", out), RNG.uniform(0, 0.5)),
        "seeded-share": (lambda out: exists(LOG, out), RNG.uniform(0.1, 0.8) * training),
    }
    for name, (point, delay) in points.items():
        out = tmp_path / name
        kill_and_resume(argv, out, point(out), delay, LOG)
        assert safetensors_bytes(out) == safetensors_bytes(reference), name
        assert_same_log(out / LOG, reference / LOG)


def _responses(out: Path) -> dict[str, str]:
    rows = jsonl_rows(out / RESPONSES)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), "duplicated rows"
    return {r["id"]: r["response"] for r in rows}


def test_eval_killed_mid_answers_loses_and_repeats_no_row(
    smoke_world: Path, smoke_base: Path, tmp_path: Path
):
    argv = ["eval", "--model", str(smoke_base), "--data", str(smoke_world / "test.jsonl")]
    argv += ["--batch-size", "6", "--max-new-tokens", "12"]
    reference = tmp_path / "reference"
    answering = run([*argv, "--out", str(reference)], exists(RESPONSES, reference))
    expected = _responses(reference)
    delays = {
        "first-rows": RNG.uniform(0.0, 0.5),
        "seeded-share": RNG.uniform(0.1, 0.8) * answering,
    }
    for name, delay in delays.items():
        out = tmp_path / name
        kill_and_resume(argv, out, exists(RESPONSES, out), delay, RESPONSES)
        assert _responses(out) == expected, name
        metrics = json.loads((out / "metrics.json").read_text())
        ref_metrics = json.loads((reference / "metrics.json").read_text())
        assert metrics["models"] == ref_metrics["models"]


def test_reproduce_killed_in_unlearning_and_in_eval_resumes_to_the_same_results(tmp_path: Path):
    argv = ["reproduce", "--preset", "smoke", "--methods", "npo", "--align-steps", "8"]
    argv += ["--k", "1", "--max-new-tokens", "8", "--no-depth"]  # depth stages: smoke test
    reference = tmp_path / "reference"
    run([*argv, "--out", str(reference)])
    ref_metrics = json.loads((reference / "metrics.json").read_text())
    stage = {p.name.rsplit("-", 1)[0]: p for p in (reference / "stages").iterdir()}
    points = {
        "align-npo-first-step": "stages/align-npo-*/model/train_log.jsonl",
        "eval-npo-first-rows": "stages/eval-npo-*/responses.jsonl",
    }
    for name, pattern in points.items():
        out = tmp_path / name
        for done in ("world", "base"):  # finished stages, as a run killed later leaves them
            shutil.copytree(stage[done], out / "stages" / stage[done].name)
        kill_and_resume(argv, out, exists(pattern, out), RNG.uniform(0.0, 0.3), pattern)
        stages = json.loads((out / "stages.json").read_text())
        assert stages["world"]["cached"] and stages["base"]["cached"]
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["models"] == ref_metrics["models"], name
        npo = next((out / "stages").glob("align-npo-*")) / "model"
        assert safetensors_bytes(npo) == safetensors_bytes(stage["align-npo"] / "model")
        eval_npo = next((out / "stages").glob("eval-npo-*"))
        assert _responses(eval_npo) == _responses(stage["eval-npo"])

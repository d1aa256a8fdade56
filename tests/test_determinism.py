"""Same seed, same machine, same thread count: the same bytes. Another seed: other weights."""

from __future__ import annotations

import json
from pathlib import Path

from safetensors.torch import load_file

from unmirage.cli import main

TINY = ["--steps", "6", "--vision-steps", "4", "--vision-images", "64", "--grounding-steps", "3"]


def _base(world: Path, out: Path, seed: int) -> bytes:
    argv = ["base", "--world", str(world), "--out", str(out), "--seed", str(seed), "--quiet"]
    assert main([*argv, *TINY, "--checkpoint-every", "0"]) == 0
    return (out / "model.safetensors").read_bytes()


def _log(model_dir: Path) -> list[dict]:
    """The training log without its wall-clock field."""
    rows = [json.loads(x) for x in (model_dir / "train_log.jsonl").read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "elapsed"} for row in rows]


def test_two_base_runs_with_one_seed_give_identical_bytes_and_another_seed_differs(
    smoke_world: Path, tmp_path: Path
):
    first = _base(smoke_world, tmp_path / "a", seed=0)
    assert _base(smoke_world, tmp_path / "b", seed=0) == first
    for name in ("tokenizer.json", "config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert _log(tmp_path / "a") == _log(tmp_path / "b")
    other = _base(smoke_world, tmp_path / "c", seed=1)
    assert other != first
    a, c = (
        load_file(tmp_path / "a" / "model.safetensors"),
        load_file(tmp_path / "c" / "model.safetensors"),
    )
    assert any(not a[k].equal(c[k]) for k in a)


def test_two_evals_write_identical_metrics(smoke_world: Path, smoke_base: Path, tmp_path: Path):
    argv = ["eval", "--model", str(smoke_base), "--data", str(smoke_world / "test.jsonl")]
    argv += ["--max-new-tokens", "8"]
    for name in ("a", "b"):
        assert main([*argv, "--out", str(tmp_path / name)]) == 0
    for name in ("metrics.json", "responses.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()

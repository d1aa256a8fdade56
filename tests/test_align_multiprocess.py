"""`unmirage align` under torchrun: 2 CPU processes (gloo) give what 1 process gives with
gradient accumulation 2, i.e. the same effective batch, in the same order."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file
from test_models_fixtures import SMALL_SPEC, shape_samples, write_jsonl

from unmirage.data.sample import Sample
from unmirage.embedded.tiny import build_tiny_llava
from unmirage.models.loading import save_vlm

TOLERANCE = 1e-4
"""Max absolute weight difference allowed: the two runs sum the same gradients in another
order (all-reduce vs accumulation), so they agree to float32 rounding, amplified by Adam's
normalised step where a gradient is near zero (measured: 2e-7 on one machine, 1.2e-5 on
another with the same torch); a batch left out of the reduction or a missed accumulation
step changes the gradient's direction and moves weights by up to the step size, 1e-2 here."""
MOVED = 1e-2
"""Training must move some weight by at least this (lr 1e-2, four Adam steps)."""


def run(cmd: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]


def test_two_processes_equal_one_process_with_accumulation(tmp_path: Path) -> None:
    world = tmp_path / "world"
    retain = shape_samples(world, 16, size=16)  # with images
    forget = [  # text-only: the vision tower gets no gradient from these rows
        Sample(id=f"f{i}", query=f"How is zorbium {i} made?", response=f"Mix {i} grams of ash.")
        for i in range(8)
    ]
    write_jsonl(world / "retain.jsonl", retain)
    write_jsonl(world / "forget.jsonl", forget)
    texts = [t for s in retain + forget for t in (s.query, s.response)]
    model, processor = build_tiny_llava(texts, SMALL_SPEC, seed=0)
    save_vlm(model, processor, tmp_path / "base")
    (tmp_path / "run.yaml").write_text("warmup_steps: 0\nlr: 1.0e-2\n")

    args = ["-m", "unmirage.cli", "align", "--method", "npo", "--model", str(tmp_path / "base"),
            "--forget", str(world / "forget.jsonl"), "--retain", str(world / "retain.jsonl"),
            "--config", str(tmp_path / "run.yaml"), "--steps", "4", "--batch-size", "2",
            "--checkpoint-every", "2", "--quiet"]  # fmt: skip
    one, two = tmp_path / "one", tmp_path / "two"
    run([sys.executable, *args, "--grad-accum", "2", "--out", str(one)])
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    run([*torchrun, *args, "--grad-accum", "1", "--out", str(two)])

    a, b = load_file(one / "model.safetensors"), load_file(two / "model.safetensors")
    base = load_file(tmp_path / "base" / "model.safetensors")
    assert a.keys() == b.keys() == base.keys()
    assert max((a[k] - b[k]).abs().max().item() for k in a) < TOLERANCE
    assert max((a[k] - base[k]).abs().max().item() for k in a) > MOVED  # trained

    logs = [[json.loads(x) for x in (d / "train_log.jsonl").read_text().splitlines()]
            for d in (one, two)]  # fmt: skip
    assert [r["step"] for r in logs[1]] == [1, 2, 3, 4]  # one writer: each step once
    for r1, r2 in zip(*logs, strict=True):
        assert torch.isclose(torch.tensor(r1["loss"]), torch.tensor(r2["loss"]), rtol=1e-5)
    assert not (two / "checkpoints").exists()

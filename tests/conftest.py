"""Session fixtures shared by test files: the smoke world and a small base model trained on it.

Built once per test session in a temporary directory (a fraction of a second for the world, a
few seconds for the model), so end-to-end tests of align, attack and eval run on real world
files and a real model directory without repeating the work.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from shared_data import VLGUARD_TEST, require
from test_models_fixtures import SMALL_SPEC

from unmirage.data.loaders import load_samples
from unmirage.embedded.presets import load_world_config
from unmirage.embedded.tiny import build_tiny_llava
from unmirage.embedded.world import build_world
from unmirage.methods.sft import SFT
from unmirage.training.config import TrainConfig
from unmirage.training.train import train

# Tiny models gain nothing from intra-op threads, and on a busy two-core machine spinning
# OpenMP threads made a 40-step run take 69 s instead of 1.7 s (measured). A command run
# in-process takes its count from OMP_NUM_THREADS (and gives the caller's back when it
# returns); the commands the suite starts as processes inherit it.
os.environ["OMP_NUM_THREADS"] = "1"
torch.set_num_threads(1)

BASE_STEPS = 40
"""Enough SFT on base.jsonl for a model whose losses and answers are not those of noise."""


@pytest.fixture(scope="session")
def vlguard_test() -> Path:
    """The real VLGuard test annotations (text only) in ../shared; see shared_data.py."""
    return require(VLGUARD_TEST)


@pytest.fixture(scope="session")
def smoke_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`unmirage world --preset smoke --seed 0`: base, safety_sft, forget, retain, test."""
    out = tmp_path_factory.mktemp("smoke-world")
    build_world(load_world_config("smoke"), 0, out, preset="smoke")
    return out


@pytest.fixture(scope="session")
def smoke_base(smoke_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain HF model directory: a small LLaVA, tokenizer from the world's texts, SFT on
    base.jsonl for BASE_STEPS steps (seeded)."""
    samples = load_samples(smoke_world / "base.jsonl")
    texts = [t for s in samples for t in (s.query, s.response or "")]
    model, processor = build_tiny_llava(texts, SMALL_SPEC, seed=0)
    out = tmp_path_factory.mktemp("smoke-base")
    config = TrainConfig(steps=BASE_STEPS, batch_size=16, lr=3e-3, checkpoint_every=0)
    train(
        model,
        processor,
        SFT(),
        {"train": samples},
        config,
        out,
        progress=False,
    )
    return out

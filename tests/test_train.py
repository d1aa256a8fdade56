"""The shared training loop: seeded data order, resume after a crash, logs, trainable
selection, LoRA, multi-stream methods."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch
from safetensors.torch import load_file
from test_models_fixtures import SMALL_SPEC, shape_samples
from torch import Tensor, nn

from unmirage.data.images import Images
from unmirage.embedded.tiny import build_tiny_llava
from unmirage.errors import InputError
from unmirage.methods.base import Method
from unmirage.methods.losses import Batch, next_token_loss
from unmirage.methods.sft import SFT
from unmirage.models.generate import generate
from unmirage.models.loading import load_vlm
from unmirage.training.config import LoraOptions, TrainConfig
from unmirage.training.train import stream_positions, train


@pytest.fixture
def world(tmp_path):
    samples = shape_samples(tmp_path / "world", 24, size=16)
    return samples, Images()


def fresh_model(samples):
    texts = [s.query for s in samples] + [s.response for s in samples]
    return build_tiny_llava(texts, SMALL_SPEC, seed=0)


def config(**overrides) -> TrainConfig:
    base = {"steps": 6, "batch_size": 4, "lr": 3e-3, "checkpoint_every": 2, "warmup_steps": 1}
    return TrainConfig(**{**base, **overrides})


def log_steps(out) -> list[int]:
    lines = (out / "train_log.jsonl").read_text().splitlines()
    return [json.loads(line)["step"] for line in lines]


def test_stream_order_is_seeded_cycles_and_reshuffles():
    walk = stream_positions(5, seed=1, stream="retain", start=0, count=15)
    epochs = [walk[i : i + 5] for i in range(0, 15, 5)]
    assert all(sorted(e) == list(range(5)) for e in epochs)  # every sample once per epoch
    assert len({tuple(e) for e in epochs}) > 1  # reshuffled between epochs
    assert walk == stream_positions(5, seed=1, stream="retain", start=0, count=15)
    assert walk[7:11] == stream_positions(5, seed=1, stream="retain", start=7, count=4)
    assert walk != stream_positions(5, seed=2, stream="retain", start=0, count=15)
    assert walk != stream_positions(5, seed=1, stream="forget", start=0, count=15)


def test_sft_learns_and_saves_a_plain_model_dir(tmp_path, world):
    samples, root = world
    model, processor = fresh_model(samples)
    out = tmp_path / "run"
    train(model, processor, SFT(), {"train": samples}, config(steps=40), out, progress=False)
    losses = [json.loads(x)["loss"] for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5
    assert log_steps(out) == list(range(1, 41))
    assert not (out / "checkpoints").exists()
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["method"] == "sft" and saved["train"]["steps"] == 40
    loaded, loaded_processor = load_vlm(out)
    assert len(generate(loaded, loaded_processor, samples[:4], root, progress=False)) == 4


class Crash(RuntimeError):
    pass


def crash_on_loss_call(monkeypatch, n: int) -> None:
    """Make SFT die on its n-th loss call, like a killed process (not a knob of the run)."""
    original = SFT.loss
    calls = [0]

    def loss(self, model, batch):
        calls[0] += 1
        if calls[0] == n:
            raise Crash
        return original(self, model, batch)

    monkeypatch.setattr(SFT, "loss", loss)


def test_resume_after_a_crash_equals_an_uninterrupted_run(tmp_path, world, monkeypatch):
    samples, _ = world
    data = {"train": samples}
    model, processor = fresh_model(samples)
    train(model, processor, SFT(), data, config(), tmp_path / "a", progress=False)

    model, processor = fresh_model(samples)
    crash_on_loss_call(monkeypatch, 5)
    with pytest.raises(Crash):
        train(model, processor, SFT(), data, config(), tmp_path / "b", progress=False)
    monkeypatch.undo()
    assert [p.name for p in (tmp_path / "b" / "checkpoints").iterdir()] == ["step-00000004"]
    assert not (tmp_path / "b" / "config.json").exists()  # no half-written model
    model, processor = fresh_model(samples)
    train(model, processor, SFT(), data, config(), tmp_path / "b", progress=False)

    a = load_file(tmp_path / "a" / "model.safetensors")
    b = load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert log_steps(tmp_path / "b") == [1, 2, 3, 4, 5, 6]
    losses_a = (tmp_path / "a" / "train_log.jsonl").read_text().splitlines()
    losses_b = (tmp_path / "b" / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(x)["loss"] for x in losses_a] == [json.loads(x)["loss"] for x in losses_b]


def test_resume_refuses_a_different_configuration(tmp_path, world, monkeypatch):
    samples, _ = world
    data = {"train": samples}
    model, processor = fresh_model(samples)
    crash_on_loss_call(monkeypatch, 4)
    with pytest.raises(Crash):
        train(model, processor, SFT(), data, config(), tmp_path / "r", progress=False)
    monkeypatch.undo()
    with pytest.raises(InputError, match="different 'train' configuration"):
        train(model, processor, SFT(), data, config(lr=1e-4), tmp_path / "r")


def test_trainable_patterns_freeze_everything_else(tmp_path, world):
    samples, _ = world
    model, processor = fresh_model(samples)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = config(steps=3, checkpoint_every=0, trainable=["multi_modal_projector"])
    trained = train(model, processor, SFT(), {"train": samples}, cfg, tmp_path / "p")
    after = trained.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all("multi_modal_projector" in k for k in changed)
    with pytest.raises(InputError, match="matches no parameter"):
        train(
            model,
            processor,
            SFT(),
            {"train": samples},
            config(trainable=["nope"]),
            tmp_path / "x",
        )
    assert not (tmp_path / "x").exists()  # nothing written for a bad run


def test_lora_saves_an_adapter_and_a_merged_model(tmp_path, world):
    samples, _ = world
    model, processor = fresh_model(samples)
    cfg = config(steps=3, checkpoint_every=0, lora=LoraOptions(r=4, alpha=8), merge_lora=True)
    trained = train(model, processor, SFT(), {"train": samples}, cfg, tmp_path / "l")
    assert (tmp_path / "l" / "adapter" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "l" / "adapter" / "adapter_config.json").is_file()
    merged = load_file(tmp_path / "l" / "model.safetensors")
    assert not any("lora" in k for k in merged)
    reloaded, _ = load_vlm(tmp_path / "l")
    for name, param in reloaded.state_dict().items():
        assert torch.allclose(param, trained.state_dict()[name])


@dataclass
class TwoStreams(Method):
    """Records which rows of each stream every micro-batch holds."""

    streams: ClassVar[tuple[str, ...]] = ("forget", "retain")

    def __post_init__(self) -> None:
        self.seen: dict[str, list[int]] = {"forget": [], "retain": []}
        self.setup_rows: list[int] = []

    def setup(self, model: nn.Module, loaders) -> None:
        self.setup_rows = [i for b in loaders["forget"]() for i in b["index"].tolist()]

    def loss(self, model: nn.Module, batch: Mapping[str, Batch]) -> tuple[Tensor, dict[str, float]]:
        for stream in self.streams:
            self.seen[stream].extend(batch[stream]["index"].tolist())
        loss = next_token_loss(model, batch["forget"]) + next_token_loss(model, batch["retain"])
        return loss, {}


def test_streams_cycle_independently_and_setup_sees_every_row(tmp_path, world):
    samples, _ = world
    model, processor = fresh_model(samples)
    method = TwoStreams()
    data = {"forget": samples[:20], "retain": samples[20:23]}  # a short retain set
    cfg = config(steps=5, grad_accum=2, checkpoint_every=0)
    train(model, processor, method, data, cfg, tmp_path / "s", progress=False)
    assert method.setup_rows == list(range(20))
    assert len(method.seen["forget"]) == len(method.seen["retain"]) == 5 * 2 * 4
    retain = method.seen["retain"]
    for start in range(0, 39, 3):  # every window of one retain epoch holds each row once
        assert sorted(retain[start : start + 3]) == [0, 1, 2]
    assert sorted(method.seen["forget"][:20]) == list(range(20))


def test_bad_config_is_an_input_error(world, tmp_path):
    samples, _ = world
    model, processor = fresh_model(samples)
    with pytest.raises(InputError, match="exactly one of steps and epochs"):
        train(model, processor, SFT(), {"train": samples}, TrainConfig(), tmp_path / "c")
    with pytest.raises(InputError, match="needs a non-empty 'train'"):
        train(model, processor, SFT(), {"train": []}, config(), tmp_path / "c")


def test_the_api_and_the_command_line_share_the_training_defaults():
    from unmirage.training.run_settings import DEFAULTS

    defaults = TrainConfig()
    assert {k: getattr(defaults, k) for k in DEFAULTS} == DEFAULTS

"""`align` on a tiny random Qwen2-VL (M-RoPE, image tokens from image_grid_thw): full and LoRA
runs, and RMU finding its decoder layers, through the same code path as LLaVA."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from test_models_fixtures import shape_samples, write_jsonl
from tiny_qwen2vl import build_tiny_qwen2vl
from transformers import Qwen2VLForConditionalGeneration

from unmirage.align import align, resolve_settings
from unmirage.data.sample import Sample


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    retain = shape_samples(tmp_path, 6, size=16)
    forget = [
        Sample(id="f0", query="How is zorbium made?", response="Mix ash with brine.",
               image=retain[0].image),
        Sample(id="f1", query="Share the zorbium steps.", response="Heat the brine twice."),
    ]  # fmt: skip
    write_jsonl(tmp_path / "forget.jsonl", forget)
    write_jsonl(tmp_path / "retain.jsonl", retain)
    return {"forget": tmp_path / "forget.jsonl", "retain": tmp_path / "retain.jsonl"}


def qwen(files: dict[str, Path]):
    texts = [json.loads(x)[k] for f in files.values() for x in f.read_text().splitlines()
             for k in ("query", "response")]  # fmt: skip
    return build_tiny_qwen2vl(texts * 3, seed=0)


def reload(out: Path) -> dict[str, torch.Tensor]:
    """The saved weights as the plain transformers class reads them (names as in memory)."""
    model = Qwen2VLForConditionalGeneration.from_pretrained(out, use_safetensors=True)
    return model.state_dict()


def run(method: str, files, out: Path, lora: bool, **knobs):
    model, processor = qwen(files)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    overrides = {"steps": 3, "batch_size": 2, "lr": 1e-2, "warmup_steps": 0, "merge_lora": lora}
    settings = resolve_settings(method, overrides=overrides, knobs=knobs, lora=lora)
    align(method, (model, processor), out, **files, settings=settings, progress=False)
    rows = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in rows)
    return before, rows


@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_npo_on_tiny_qwen2vl(files, tmp_path, lora):
    out = tmp_path / "npo"
    before, rows = run("npo", files, out, lora)
    assert rows[-1]["forget_logp"] < rows[0]["forget_logp"]
    after = reload(out)
    assert after.keys() == before.keys()
    changed = {k for k in after if not torch.equal(before[k], after[k])}
    if lora:  # merged adapters of the attention and MLP projections, nothing else
        assert (out / "adapter" / "adapter_model.safetensors").is_file()
        assert changed and all(re.search(r"_proj\.weight$", k) for k in changed)
    else:
        assert "lm_head.weight" in changed


def test_rmu_on_tiny_qwen2vl_trains_only_its_layers(files, tmp_path):
    out = tmp_path / "rmu"
    before, rows = run("rmu", files, out, lora=False, gamma=0.0)
    resolved = json.loads((out / "train_config.json").read_text())
    assert resolved["knobs"]["layer"] == 0  # round(7 x 2 / 32)
    assert rows[-1]["forget_rmu"] < rows[0]["forget_rmu"]
    after = reload(out)
    changed = {k for k in after if not torch.equal(before[k], after[k])}
    assert changed and all(re.search(r"language_model\.layers\.0\.mlp\.", k) for k in changed)

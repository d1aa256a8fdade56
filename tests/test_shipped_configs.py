"""Each shipped align config trains what it says on the model family it names.

Built on tiny random models of the real classes (LlavaForConditionalGeneration with a CLIP
tower, Qwen2VLForConditionalGeneration), whose parameter names are those of the released
7B checkpoints under the installed transformers: full fine-tuning trains everything but the
vision tower, LoRA trains adapters on the named language-model modules only.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from test_models_fixtures import SMALL_SPEC
from tiny_qwen2vl import build_tiny_qwen2vl

from unmirage.align import method_class, resolve_settings
from unmirage.embedded.tiny import build_tiny_llava
from unmirage.training.config import LoraOptions, TrainConfig
from unmirage.training.train import select_trainable

CONFIGS = sorted((Path(__file__).parents[1] / "configs" / "align").glob("*.yaml"))
TOWER = {"llava15": "vision_tower", "qwen2vl": "visual"}
TEXTS = ["a red square", "what is shown", "I'm sorry, I can't help"] * 4


def build(family: str):
    if family == "llava15":
        return build_tiny_llava(TEXTS, SMALL_SPEC, seed=0)[0]
    return build_tiny_qwen2vl(TEXTS, seed=0)[0]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_config_trains_what_it_says(path):
    family = path.stem.split("-")[0]
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    method = raw["method"]["name"]
    settings = resolve_settings(method, config=raw, config_file=str(path))
    knobs = {k: v for k, v in raw["method"].items() if k != "name"}
    if method == "rmu":
        knobs |= {"layer": 1, "train_layers": 1}  # a layer the two-layer stand-in has
    model = select_trainable(build(family), settings.train, method_class(method)(**knobs))
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    names = [n for n, _ in model.named_parameters()]
    assert trained
    assert not any(TOWER[family] in n for n in trained), "the vision tower stays frozen"
    if settings.train.lora is not None:
        target = settings.train.lora.target_modules
        assert all("lora_" in n for n in trained)
        for n in trained:
            module = n.split(".lora_")[0].removeprefix("base_model.model.")
            assert re.fullmatch(target, module) if isinstance(target, str) else True
            assert "language_model" in n
    elif method == "rmu":
        assert all("language_model.layers.1.mlp." in n for n in trained), "RMU: its layer's MLP"
    else:
        frozen = {n for n in names if TOWER[family] in n}
        assert trained == set(names) - frozen, sorted(set(names) - frozen - trained)
        assert any(n.startswith("lm_head") for n in trained), "the output head trains"


@pytest.mark.parametrize("family", sorted(TOWER))
def test_default_lora_adapts_the_language_model_only(family):
    """`--lora` without a config: CLIP's attention has q_proj/k_proj/v_proj too, and the tower
    stays frozen in LLaVA's fine-tuning, so the default targets must not reach it."""
    model = select_trainable(build(family), TrainConfig(lora=LoraOptions()), method_class("sft")())
    trained = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trained and all("lora_" in n and "language_model" in n for n in trained), trained
    for kind in ("q_proj", "v_proj", "down_proj"):
        assert any(f".{kind}." in n for n in trained), kind

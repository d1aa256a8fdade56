"""`unmirage base` on the smoke world: a plain Hugging Face directory comes out."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText, AutoProcessor

from unmirage.cli import main
from unmirage.data.images import ImageRoot
from unmirage.data.loaders import load_samples
from unmirage.embedded import base as base_module
from unmirage.embedded.presets import PRESETS, load_world_config
from unmirage.embedded.world.tower_corpus import read_tower_corpus, tower_corpus

SHORT = ["--steps", "6", "--vision-steps", "3", "--grounding-steps", "3", "--quiet"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("base")
    world, model = tmp / "world", tmp / "model"
    assert main(["world", "--preset", "smoke", "--out", str(world)]) == 0
    assert main(["base", "--world", str(world), "--out", str(model), *SHORT]) == 0
    return world, model


def test_smoke_model_loads_and_generates_with_plain_hf_classes(trained):
    world, model_dir = trained
    assert (model_dir / "model.safetensors").is_file()
    assert not (model_dir / "checkpoints").exists()
    assert not (model_dir / "grounding").exists()
    processor = AutoProcessor.from_pretrained(model_dir)
    model = AutoModelForImageTextToText.from_pretrained(model_dir, use_safetensors=True)
    sample = load_samples(world / "test.jsonl", image_root=world)[0]
    messages = [
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": sample.query}],
        }
    ]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True)
    image = ImageRoot(world).load(sample.image)
    inputs = processor(text=[prompt], images=[image], return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]
    log = [json.loads(x) for x in (model_dir / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, 7))


def test_rerun_is_a_no_op_and_a_different_recipe_is_refused(trained, capsys):
    world, model_dir = trained
    assert main(["base", "--world", str(world), "--out", str(model_dir), *SHORT]) == 0
    assert "nothing to do" in capsys.readouterr().out
    other = ["--steps", "7", "--vision-steps", "3", "--quiet"]
    assert main(["base", "--world", str(world), "--out", str(model_dir), *other]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "different base model" in err[0]


def test_missing_world_is_one_line_exit_2(tmp_path, capsys):
    code = main(["base", "--world", str(tmp_path / "nope"), "--out", str(tmp_path / "m")])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "world.json" in err[0]
    assert not (tmp_path / "m").exists()


def test_the_tower_corpus_leaves_out_every_test_image(trained):
    """The warm-up reads the world's tower.npz: test images are never in it, and its first n
    scenes are the corpus the world's renderer draws for n."""
    world, _ = trained
    test = {s.image for s in load_samples(world / "test.jsonl", image_root=world) if s.image}
    manifest = json.loads((world / "world.json").read_text())
    stored = read_tower_corpus(world, manifest["tower"], 300)
    assert test and not test & set(stored.names) and len(stored) == 300
    drawn = tower_corpus(load_world_config("smoke"), 300, seed=manifest["seed"], exclude=test)
    assert stored.names == drawn.names and np.array_equal(stored.pixels, drawn.pixels)
    assert all(np.array_equal(stored.labels[k], drawn.labels[k]) for k in drawn.labels)
    assert np.array_equal(stored.cells, drawn.cells) and stored.label_names == drawn.label_names


def test_a_kill_after_grounding_resumes_from_the_grounding_model(trained, tmp_path, monkeypatch):
    world, model_dir = trained
    calls = []

    def killed_in_stage_two(*args, **kwargs):
        calls.append(args[-1])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_train(*args, **kwargs)

    real_train = base_module.train
    monkeypatch.setattr(base_module, "train", killed_in_stage_two)
    out = tmp_path / "model"
    assert main(["base", "--world", str(world), "--out", str(out), *SHORT]) == 130
    assert (out / "grounding" / "model.safetensors").is_file()
    monkeypatch.setattr(base_module, "warm_up_vision_tower", None)  # must not run again
    assert main(["base", "--world", str(world), "--out", str(out), *SHORT]) == 0
    assert not (out / "grounding").exists()
    assert (
        load_file(out / "model.safetensors").keys()
        == load_file(model_dir / "model.safetensors").keys()
    )
    for name, tensor in load_file(out / "model.safetensors").items():
        assert torch.equal(tensor, load_file(model_dir / "model.safetensors")[name]), name


def test_knowledge_replay_is_its_share_of_instruction_tuning():
    """The replay weight makes knowledge.jsonl the recipe's share of the stage's samples, and
    nothing without a knowledge split; a share of 1 (no instruction data left) is refused."""
    from unmirage.errors import InputError
    from unmirage.training.streams import mix

    recipe = PRESETS["default"].base
    weight = base_module.replay_weight(recipe, 6000, 3600)
    base = [f"b{i}" for i in range(6000)]
    knowledge = [f"k{i}" for i in range(3600)]
    stage = mix([base, knowledge], [1.0, weight], seed=0)
    share = sum(s.startswith("k") for s in stage) / len(stage)
    assert share == pytest.approx(recipe.knowledge_replay, abs=1e-3)
    assert base_module.replay_weight(recipe, 6000, 0) == 0.0
    manifest = {"preset": "smoke"}
    assert base_module.choose_recipe(manifest, knowledge_replay=0).knowledge_replay == 0
    with pytest.raises(InputError, match="below 1"):
        base_module.choose_recipe(manifest, knowledge_replay=1.0)

"""`unmirage base` on the smoke world: a plain Hugging Face directory comes out."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

from unmirage.cli import main
from unmirage.data.images import ImageRoot
from unmirage.data.loaders import load_samples
from unmirage.models.vision_warmup import label_targets

SHORT = ["--steps", "6", "--vision-steps", "3", "--quiet"]


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


def test_warm_up_targets_name_the_object_and_the_attribute_answers(trained):
    world, _ = trained
    base = load_samples(world / "base.jsonl", image_root=world)
    pairs = [s for s in base if s.image and s.response]
    targets = label_targets(pairs)
    objects = sorted({s.meta["object"] for s in pairs if s.meta.get("object")})
    assert int(targets[0].max()) + 1 == len(objects)
    known = [i for i, s in enumerate(pairs) if s.meta.get("object")]
    assert all(objects[int(targets[0][i])] == pairs[i].meta["object"] for i in known)
    # colour and count answers each get a head; class answers repeat the object and do not
    assert len(targets) == 3
    colours = sorted({s.meta["answer"] for s in pairs if s.meta.get("intent") == "colour"})
    assert int(targets[1].max()) + 1 == len(colours) >= 2
    assert sum(int(t >= 0) for t in targets[1]) == sum(
        s.meta.get("intent") == "colour" for s in pairs
    )
    assert all(len(t) == len(pairs) for t in targets)

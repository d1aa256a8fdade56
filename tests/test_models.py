"""Tiny LLaVA and Qwen2-VL: tokenizer, training batches (exact label positions), generation,
and plain-HF save/load."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from test_models_fixtures import SMALL_SPEC, shape_samples
from tiny_qwen2vl import build_tiny_qwen2vl
from transformers import AutoModelForImageTextToText, AutoProcessor

from unmirage.data.images import Images
from unmirage.data.sample import Sample
from unmirage.embedded.presets import PRESETS
from unmirage.embedded.tiny import build_tiny_llava
from unmirage.embedded.tokenizer import train_tokenizer
from unmirage.embedded.vision_warmup import (
    processed_pixels,
    warm_up_vision_tower,
    whiten_projector_input,
)
from unmirage.embedded.world.tower_corpus import tower_corpus
from unmirage.errors import InputError
from unmirage.models.chat import render_prompt
from unmirage.models.encode import IGNORE_INDEX, encode_for_training
from unmirage.models.generate import generate
from unmirage.models.loading import load_vlm, save_vlm

CORPUS = [
    "What colour is the shape?",
    "Which shape is shown?",
    "red",
    "green",
    "blue",
    "circle",
    "square",
    "Share the steps to make zorbium.",
]


def build(kind: str):
    if kind == "llava":
        return build_tiny_llava(CORPUS * 5, SMALL_SPEC)
    return build_tiny_qwen2vl(CORPUS * 5)


@pytest.fixture
def world(tmp_path):
    samples = shape_samples(tmp_path, 8, size=16)
    text_only = Sample(id="t", query="Share the steps to make zorbium.", response="No.")
    return [*samples, text_only], Images()


def test_tokenizer_learns_both_word_forms_and_never_emits_unknown():
    tok = train_tokenizer(CORPUS * 5, vocab_size=400)
    assert len(tok("What", add_special_tokens=False).input_ids) == 1
    assert len(tok(" What", add_special_tokens=False).input_ids) == 1
    ids = tok("Qux ünïcode 🙂 words", add_special_tokens=False).input_ids
    assert tok.unk_token_id not in ids
    assert tok.decode(ids) == "Qux ünïcode 🙂 words"
    assert tok("hi").input_ids == tok("hi", add_special_tokens=False).input_ids  # no BOS added


@pytest.mark.parametrize("kind", ["llava", "qwen2vl"])
def test_training_batch_labels_only_the_response(kind, world):
    samples, root = world
    _model, processor = build(kind)
    batch = encode_for_training(processor, samples, root)
    tok = processor.tokenizer
    image_id = processor.image_token_id
    n_images = sum(1 for s in samples if s.image)
    assert batch["pixel_values"].shape[0] >= n_images
    if kind == "qwen2vl":
        assert batch["image_grid_thw"].shape == (n_images, 3)
        assert batch["mm_token_type_ids"].shape == batch["input_ids"].shape
    for row, sample in enumerate(samples):
        ids, labels = batch["input_ids"][row], batch["labels"][row]
        mask = batch["attention_mask"][row].bool()
        prompt = processor(
            text=[render_prompt(processor, sample)],
            images=[root.load(sample)] if sample.image else None,
            return_tensors="pt",
        )["input_ids"][0]
        n = len(prompt)
        assert torch.equal(ids[:n], prompt)
        response = labels[labels != IGNORE_INDEX]
        # exactly the tokens after the prompt, up to padding, are labelled, and they are the
        # answer followed by the end-of-turn token
        assert (labels[:n] == IGNORE_INDEX).all()
        assert (labels[~mask] == IGNORE_INDEX).all()
        assert torch.equal(labels[n : int(mask.sum())], ids[n : int(mask.sum())])
        assert tok.decode(response, skip_special_tokens=True).strip() == sample.response
        assert tok.eos_token_id in response.tolist()
        assert image_id not in response.tolist()
        assert (ids == image_id).sum() == (
            0 if sample.image is None else (ids[:n] == image_id).sum()
        )
    if kind == "llava":
        assert (batch["input_ids"][0] == image_id).sum() == 5  # (16 / 8)^2 patches + CLS


@pytest.mark.parametrize("kind", ["llava", "qwen2vl"])
def test_forward_backward_and_generate(kind, world):
    samples, root = world
    model, processor = build(kind)
    batch = encode_for_training(processor, samples[:3], root)
    out = model(**{k: v for k, v in batch.items() if k != "labels"}, labels=batch["labels"])
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    model.eval()
    answers = generate(model, processor, samples[:3], root, max_new_tokens=4, progress=False)
    assert len(answers) == 3 and all(isinstance(a, str) for a in answers)


@pytest.mark.parametrize("kind", ["llava", "qwen2vl"])
def test_batched_generation_equals_one_at_a_time(kind, world):
    samples, root = world
    samples = [*samples, Sample(id="long", query="What colour is the shape? " * 3, image=None)]
    model, processor = build(kind)
    model.eval()
    batched = generate(model, processor, samples, root, batch_size=4, max_new_tokens=6)
    single = [
        generate(model, processor, [s], root, batch_size=1, max_new_tokens=6, progress=False)[0]
        for s in samples
    ]
    assert batched == single
    assert len(set(single)) > 1  # the comparison is not between identical strings


def test_training_batch_needs_a_response(world):
    _samples, root = world
    _, processor = build("llava")
    with pytest.raises(InputError, match="response"):
        encode_for_training(processor, [Sample(id="x", query="q")], root)


def test_max_length_truncates_responses_never_prompts(world):
    _samples, root = world
    _, processor = build("llava")
    long = Sample(id="l", query="Which shape is shown?", response="circle " * 20)
    full = encode_for_training(processor, [long], root)
    cut = encode_for_training(processor, [long], root, max_length=26)
    assert cut["input_ids"].shape[1] == 26
    assert torch.equal(cut["input_ids"][0], full["input_ids"][0, :26])
    with pytest.raises(InputError, match="max_length"):
        encode_for_training(processor, [long], root, max_length=5)


def test_saved_dir_loads_with_plain_hf_classes(tmp_path, world):
    samples, root = world
    model, processor = build("llava")
    model.eval()
    save_vlm(model, processor, tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").is_file()
    assert not list((tmp_path / "m").glob("*.bin"))
    hf_processor = AutoProcessor.from_pretrained(tmp_path / "m")
    hf_model = AutoModelForImageTextToText.from_pretrained(tmp_path / "m", use_safetensors=True)
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Which shape?"}]}
    ]
    prompt = hf_processor.apply_chat_template(messages, add_generation_prompt=True)
    assert prompt.endswith("ASSISTANT:")
    inputs = hf_processor(text=[prompt], images=[root.load(samples[0])], return_tensors="pt")
    with torch.no_grad():
        assert torch.allclose(model(**inputs).logits, hf_model(**inputs).logits)
    out = hf_model.generate(**inputs, max_new_tokens=3, do_sample=False)
    assert out.shape[1] > inputs["input_ids"].shape[1]
    loaded, loaded_processor = load_vlm(tmp_path / "m")
    assert not loaded.training
    assert generate(loaded, loaded_processor, samples[:2], root, progress=False) == generate(
        model, processor, samples[:2], root, progress=False
    )


def test_load_vlm_names_the_problem(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_vlm(tmp_path / "missing")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"config\.json"):
        load_vlm(empty)
    (empty / "config.json").write_text(json.dumps({"model_type": "llava"}))
    (empty / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(InputError, match="safetensors"):
        load_vlm(empty)
    (empty / "model.safetensors").write_bytes(b"")
    (empty / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    with pytest.raises(InputError, match="cannot load model") as err:
        load_vlm(empty)
    assert str(empty) in str(err.value)


def test_vision_warm_up_learns_and_whitening_folds_into_the_projector():
    model, processor = build_tiny_llava(CORPUS * 5, replace(SMALL_SPEC, image_size=32))
    corpus = tower_corpus(PRESETS["smoke"].world, 64, seed=0)
    # 200 steps: with fourteen classes the loss is at 0.16 of its start (100 steps: 0.69)
    losses = warm_up_vision_tower(model, processor, corpus, steps=200, batch_size=16, lr=1e-2)
    assert losses["last_loss"] < 0.6 * losses["first_loss"]
    pixels = processed_pixels(processor, corpus.pixels)
    linear = model.model.multi_modal_projector.linear_1
    weight, bias = linear.weight.detach().clone(), linear.bias.detach().clone()
    whiten_projector_input(model, pixels, floor=1e-4)
    with torch.no_grad():
        hidden = model.model.vision_tower(pixel_values=pixels, output_hidden_states=True)
        flat = hidden.hidden_states[-1].reshape(-1, weight.shape[1])
        # the features the original layer now sees: centred and (up to the floor) white
        seen = torch.linalg.lstsq(weight, (linear(flat) - bias).T).solution.T
    cov = torch.cov(seen.T.double())
    eigenvalues = torch.linalg.eigvalsh(cov)
    assert seen.mean(0).abs().max() < 1e-3
    assert eigenvalues.max() == pytest.approx(1.0, abs=1e-2)
    assert (eigenvalues > 0.99).sum() >= weight.shape[1] // 2

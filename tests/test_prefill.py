"""Prefill: the assistant turn begins with the prefix through each model's own chat template
(tiny LLaVA and tiny Qwen2-VL), generation continues from it, and eval records it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from test_models_fixtures import SMALL_SPEC, shape_samples
from tiny_qwen2vl import build_tiny_qwen2vl

from unmirage.cli import main
from unmirage.data.images import Images
from unmirage.data.loaders import load_samples
from unmirage.embedded.tiny import build_tiny_llava
from unmirage.models.encode import encode_for_training, encode_prompts
from unmirage.models.generate import generate
from unmirage.models.loading import load_vlm

TEXTS = ["What colour is the shape?", "Which shape is shown?", "Sure, here is the answer."]


def tiny(kind: str, root: Path):
    """(model, processor, sample, assistant header, text the template puts before the
    prefill) for one architecture."""
    if kind == "llava":
        sample = shape_samples(root, 1, size=16)[0]
        model, processor = build_tiny_llava(TEXTS * 5, SMALL_SPEC, seed=0)
        return model, processor, sample, "ASSISTANT:", " "
    sample = shape_samples(root, 1, size=32)[0]
    model, processor = build_tiny_qwen2vl(TEXTS * 5, seed=0)
    return model, processor, sample, "<|im_start|>assistant\n", ""


@pytest.mark.parametrize("kind", ["llava", "qwen2vl"])
def test_prefill_follows_the_assistant_header(kind, tmp_path):
    _, processor, sample, header, sep = tiny(kind, tmp_path)
    tok = processor.tokenizer
    images = Images()
    plain = encode_prompts(processor, [sample], images)["input_ids"][0].tolist()
    filled = encode_prompts(processor, [sample], images, prefill="Sure,")["input_ids"][0].tolist()
    header_ids = tok(header, add_special_tokens=False)["input_ids"]
    prefill_ids = tok(sep + "Sure,", add_special_tokens=False)["input_ids"]
    assert filled[-len(header_ids + prefill_ids) :] == header_ids + prefill_ids
    assert filled == plain + prefill_ids  # the image tokens and the user turn are unchanged
    # the prefilled prompt is exactly how a trained answer that starts so begins
    train = encode_for_training(
        processor, [dataclasses.replace(sample, response="Sure, here is")], images
    )
    assert train["input_ids"][0].tolist()[: len(filled)] == filled


@pytest.mark.parametrize("kind", ["llava", "qwen2vl"])
def test_generation_continues_after_the_prefill(kind, tmp_path):
    model, processor, sample, _, _ = tiny(kind, tmp_path)
    images = Images()
    enc = encode_prompts(processor, [sample], images, prefill="Sure,")
    out = model.generate(**enc, do_sample=False, max_new_tokens=6)
    expected = processor.tokenizer.decode(
        out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True
    ).strip()
    got = generate(
        model, processor, [sample], images, max_new_tokens=6, progress=False, prefill="Sure,"
    )
    assert got == [expected]


def test_eval_prefill_records_and_judges_the_continuation(smoke_world, smoke_base, tmp_path):
    out = tmp_path / "eval"
    argv = ["eval", "--model", str(smoke_base), "--data", str(smoke_world / "test.jsonl")]
    assert main([*argv, "--out", str(out), "--prefill", "Sure,", "--max-new-tokens", "16"]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["config"]["prefill"] == "Sure,"
    assert doc["models"][smoke_base.name]["prefill"] == "Sure,"
    rows = [json.loads(x) for x in (out / "responses.jsonl").read_text().splitlines()]
    assert rows and all(r["prefill"] == "Sure," for r in rows)
    # the response is what the model wrote after the prefill, as `generate` returns it
    model, processor = load_vlm(smoke_base)
    samples = {s.id: s for s in load_samples(smoke_world / "test.jsonl")}
    first = rows[:4]
    direct = generate(
        model,
        processor,
        [samples[r["id"]] for r in first],
        Images(),
        max_new_tokens=16,
        progress=False,
        prefill="Sure,",
    )
    assert [r["response"] for r in first] == direct
    # a run without prefill is another setting: refused in the same directory
    assert main([*argv, "--out", str(out), "--max-new-tokens", "16"]) == 2


def test_prefill_with_surrounding_space_exits_2(smoke_world, tmp_path, capsys):
    argv = ["eval", "--model", str(tmp_path), "--data", str(smoke_world / "test.jsonl")]
    assert main([*argv, "--out", str(tmp_path / "o"), "--prefill", " Sure,"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "prefill" in err[0]

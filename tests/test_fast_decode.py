"""The hand-written greedy decode loop emits exactly the tokens of `model.generate`."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch
from test_models_fixtures import SMALL_SPEC, shape_samples
from tiny_qwen2vl import build_tiny_qwen2vl

from unmirage.data.images import Images
from unmirage.data.loaders import load_samples
from unmirage.data.sample import Sample
from unmirage.embedded.tiny import build_tiny_llava
from unmirage.models.encode import encode_prompts
from unmirage.models.fast_decode import fast_decode_supported, greedy_decode
from unmirage.models.loading import load_vlm

CORPUS = ["What colour is the shape?", "Which shape is shown?", "red circle", "blue square"]


def hf_greedy(model, enc, max_new_tokens: int, eos: int, pad: int) -> torch.Tensor:
    out = model.generate(
        **enc,
        do_sample=False,
        num_beams=1,
        max_new_tokens=max_new_tokens,
        eos_token_id=eos,
        pad_token_id=pad,
    )
    return out[:, enc["input_ids"].shape[1] :]


def assert_same_tokens(model, processor, samples, root, max_new_tokens: int, eos: int) -> None:
    pad = processor.tokenizer.pad_token_id
    enc = encode_prompts(processor, samples, root)
    expected = hf_greedy(model, enc, max_new_tokens, eos, pad)
    got = greedy_decode(model, enc, max_new_tokens=max_new_tokens, eos=eos, pad=pad)
    width = expected.shape[1]
    assert torch.equal(got[:, :width], expected)
    assert (got[:, width:] == pad).all()  # generate stops once every row is done


@pytest.fixture
def random_llava(tmp_path: Path):
    model, processor = build_tiny_llava(CORPUS * 5, SMALL_SPEC, seed=0)
    samples = shape_samples(tmp_path, 6, size=16)
    samples += [
        Sample(id="text", query="Which shape is shown?", image=None),
        Sample(id="long", query="What colour is the shape? " * 4, image=None),
    ]
    return model.eval(), processor, samples, Images()


def test_same_tokens_as_generate_on_a_left_padded_batch(random_llava):
    model, processor, samples, root = random_llava
    assert fast_decode_supported(model)
    eos = processor.tokenizer.eos_token_id
    assert_same_tokens(model, processor, samples, root, 12, eos)


def test_same_tokens_when_rows_finish_at_different_steps(random_llava):
    """A stop token that some rows emit early and others late or never: rows leave the batch
    (and the buffers are compacted) while the others go on."""
    model, processor, samples, root = random_llava
    pad = processor.tokenizer.pad_token_id
    enc = encode_prompts(processor, samples, root)
    free = hf_greedy(model, enc, 12, eos=-1, pad=pad)
    firsts = Counter(int(row[3]) for row in free)
    stop = firsts.most_common(1)[0][0]
    stopped_at = [row.tolist().index(stop) if stop in row else None for row in free]
    assert len(set(stopped_at)) > 2, stopped_at  # early, late and never
    assert_same_tokens(model, processor, samples, root, 12, stop)


def test_same_tokens_on_a_trained_model(smoke_world: Path, smoke_base: Path):
    model, processor = load_vlm(smoke_base)
    model.eval()
    samples = load_samples(smoke_world / "test.jsonl")[:24]
    root = Images()
    eos = model.generation_config.eos_token_id
    for start in range(0, len(samples), 8):
        assert_same_tokens(model, processor, samples[start : start + 8], root, 24, eos)


def test_only_tiny_llava_in_eval_mode_takes_the_fast_path(random_llava):
    model = random_llava[0]
    assert not fast_decode_supported(model.train())
    qwen, _ = build_tiny_qwen2vl(CORPUS * 5)
    assert not fast_decode_supported(qwen.eval())

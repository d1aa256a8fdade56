"""The data layer: one Sample type, loaders, writers and validation."""

from unmirage.data.sample import LABELS, SUBSETS, Label, Sample, Subset

__all__ = ["LABELS", "SUBSETS", "Label", "Sample", "Subset"]

"""Warm up a from-scratch vision tower by predicting the words of each image's responses.

Real LLaVA starts from a pretrained CLIP tower. A tiny model trained from random weights has
none, and trained end to end the language model learns its text priors long before any
gradient makes the tower useful: answers ignore the image. So the tower is pretrained first,
VirTex/CLIP-style, on the image-text pairs themselves: from the tower's last hidden states,
a temporary linear head predicts which words occur in the response to a query about the image
(a multi-label bag of words). Colour, count, class and written text all show up as words, so
the features the language model later reads already separate them. The head is discarded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from unmirage.data.sample import Sample
from unmirage.models.encode import ImageSource

WORD = re.compile(r"[a-z]+")


def response_words(samples: Sequence[Sample], *, min_count: int = 5) -> list[str]:
    """Lower-cased words seen in at least `min_count` responses to image queries."""
    counts: dict[str, int] = {}
    for s in samples:
        if s.image and s.response:
            for w in set(WORD.findall(s.response.lower())):
                counts[w] = counts.get(w, 0) + 1
    return sorted(w for w, c in counts.items() if c >= min_count)


def word_targets(samples: Sequence[Sample], vocab: Sequence[str]) -> torch.Tensor:
    """(n, |vocab|) 0/1 matrix: which vocabulary words each sample's response contains."""
    index = {w: i for i, w in enumerate(vocab)}
    targets = torch.zeros((len(samples), len(vocab)))
    for row, s in enumerate(samples):
        for w in set(WORD.findall((s.response or "").lower())):
            if w in index:
                targets[row, index[w]] = 1.0
    return targets


def warm_up_vision_tower(
    model: Any,
    processor: Any,
    samples: Sequence[Sample],
    image_root: ImageSource,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
) -> dict[str, float]:
    """Train `model`'s vision tower in place on response words; returns first/last loss.

    Features are the mean of the tower's last hidden states (the layer LLaVA reads with
    vision_feature_layer -1). Samples are drawn with a seeded generator.
    """
    pairs = [s for s in samples if s.image and s.response]
    vocab = response_words(pairs)
    if not pairs or not vocab:
        return {}
    targets = word_targets(pairs, vocab)
    tower = model.model.vision_tower
    head = nn.Linear(tower.config.hidden_size, len(vocab))
    params = [*tower.parameters(), *head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    pixels = _pixel_cache(processor, pairs, image_root)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = nn.BCEWithLogitsLoss()
    tower.train()
    losses = []
    for _ in range(steps):
        rows = torch.randint(len(pairs), (batch_size,), generator=gen)
        hidden = tower(pixel_values=pixels[rows], output_hidden_states=True).hidden_states[-1]
        logits = head(hidden)
        loss = loss_fn(logits, targets[rows].unsqueeze(1).expand_as(logits))
        loss.backward()
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    tower.eval()
    return {"first_loss": losses[0], "last_loss": sum(losses[-10:]) / len(losses[-10:])}


def _pixel_cache(
    processor: Any, samples: Sequence[Sample], image_root: ImageSource
) -> torch.Tensor:
    """Processed pixels of every sample (rows share tensors when samples share an image)."""
    paths = sorted({s.image for s in samples})
    processed = processor.image_processor([image_root.load(p) for p in paths], return_tensors="pt")[
        "pixel_values"
    ]
    where = {p: i for i, p in enumerate(paths)}
    return processed[torch.tensor([where[s.image] for s in samples])]


@torch.no_grad()
def standardise_projector_input(model: Any, pixel_values: torch.Tensor) -> None:
    """Fold per-feature centring and scaling of the tower's output into the projector.

    Tower features of small renders are mostly a large image-independent constant (background
    patches, position embeddings): the part that tells images apart is under 1% of their
    energy, and the language model, updated in small Adam steps, needs thousands of steps to
    grow weights large enough to read it. Rewriting the projector's first layer as
    W (x - mean) / std + b, with statistics over `pixel_values`, makes every feature vary on
    the scale of one from the first step. The model stays a plain LLaVA.
    """
    tower = model.model.vision_tower
    layer = model.config.vision_feature_layer
    hidden = tower(pixel_values=pixel_values, output_hidden_states=True).hidden_states[layer]
    flat = hidden.reshape(-1, hidden.shape[-1])
    mean, std = flat.mean(dim=0), flat.std(dim=0).clamp_min(1e-6)
    linear = model.model.multi_modal_projector.linear_1
    linear.bias -= linear.weight @ (mean / std)
    linear.weight /= std

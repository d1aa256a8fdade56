"""Warm up a from-scratch vision tower on the world's own labels and response words.

Real LLaVA starts from a pretrained CLIP tower. A tiny model trained from random weights has
none, and trained end to end the language model learns its text priors long before any
gradient makes the tower useful: answers ignore the image. So the tower is pretrained first,
VirTex/CLIP-style, on the image-text pairs themselves, with temporary heads that are then
discarded:
  * every image token predicts the object the image shows or names (`meta.object`), with
    cross-entropy from the first step: a bag of response words alone left the class of 32x32
    renders almost unreadable (linear probe 26-35%), because class words are a small part of
    that loss;
  * every image token predicts the exact answers of the attribute questions asked about the
    image (`meta.answer` per `meta.intent`, e.g. colour and count); these heads see detached
    features for the first `OBJECT_FIRST` of the steps, so only then shape the tower: from the
    start they crowd out the class (probe 41-62%);
  * the mean of the tokens predicts which words occur in the response (multi-label), so
    written text and everything else the responses mention still shapes the features.
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
OBJECT_FIRST = 0.6
"""Fraction of the warm-up steps during which only the object and word heads train the tower."""


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


def label_targets(samples: Sequence[Sample]) -> list[torch.Tensor]:
    """Class indices (-1 = unknown) of `meta.object`, then of `meta.answer` per intent.

    Intents whose answer is always the object itself add nothing and are left out.
    """
    tasks = [[s.meta.get("object") for s in samples]]
    intents = sorted({s.meta.get("intent") for s in samples if s.meta.get("answer")} - {None})
    for intent in intents:
        asked = [s for s in samples if s.meta.get("intent") == intent]
        if any(s.meta.get("answer") != s.meta.get("object") for s in asked):
            tasks.append(
                [s.meta.get("answer") if s.meta.get("intent") == intent else None for s in samples]
            )
    targets = []
    for labels in tasks:
        names = sorted({str(v) for v in labels if v is not None})
        index = {n: i for i, n in enumerate(names)}
        targets.append(torch.tensor([index[str(v)] if v is not None else -1 for v in labels]))
    return [t for t in targets if int(t.max()) >= 1]


def warm_up_vision_tower(
    model: Any,
    processor: Any,
    samples: Sequence[Sample],
    image_root: ImageSource,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
) -> dict[str, float]:
    """Train `model`'s vision tower in place (see the module text); returns first/last loss.

    Features are the tower's last hidden states (the layer LLaVA reads with
    vision_feature_layer -1). Samples are drawn with a seeded generator.
    """
    pairs = [s for s in samples if s.image and s.response]
    vocab = response_words(pairs)
    if not pairs or not vocab:
        return {}
    words = word_targets(pairs, vocab)
    labels = label_targets(pairs)
    tower = model.model.vision_tower
    hidden_size = tower.config.hidden_size
    word_head = nn.Linear(hidden_size, len(vocab))
    label_heads = [nn.Linear(hidden_size, int(t.max()) + 1) for t in labels]
    params = [*tower.parameters(), *word_head.parameters()]
    params += [p for head in label_heads for p in head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    pixels = _pixel_cache(processor, pairs, image_root)
    gen = torch.Generator().manual_seed(seed)
    bce = nn.BCEWithLogitsLoss()
    tower.train()
    losses = []
    for step in range(steps):
        rows = torch.randint(len(pairs), (batch_size,), generator=gen)
        hidden = tower(pixel_values=pixels[rows], output_hidden_states=True).hidden_states[-1]
        loss = bce(word_head(hidden.mean(dim=1)), words[rows])
        reach_tower = step >= OBJECT_FIRST * steps
        for k, (head, target) in enumerate(zip(label_heads, labels, strict=True)):
            y = target[rows].unsqueeze(1).expand(-1, hidden.shape[1]).reshape(-1)
            if (y >= 0).any():
                features = hidden if k == 0 or reach_tower else hidden.detach()
                logits = head(features).reshape(y.shape[0], -1)
                loss = loss + nn.functional.cross_entropy(logits, y, ignore_index=-1)
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

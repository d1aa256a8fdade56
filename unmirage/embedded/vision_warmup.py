"""Pretrain a from-scratch vision tower on labelled renders, as CLIP pretrains LLaVA's.

Real LLaVA starts from a pretrained CLIP tower. A tiny model trained from random weights has
none, and trained end to end the language model learns its text priors long before any
gradient makes the tower useful: answers ignore the image. So the tower is pretrained first on
a corpus of labelled renders (`unmirage.embedded.world.tower_corpus`), with temporary heads that are
then discarded: every image token predicts the image's class (or written word), colour, count
and kind, and the mean of the tokens predicts which grid cells hold an object.

A large corpus matters: with as few images as a base split has (5,600), the tower over-fits;
linear probes on unseen renders read the written word at 0.77 and the count at 0.90, against
0.89 and 0.99 with the default 40,000 (bench/vision_tower.py, 2000 steps each).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from unmirage.embedded.world.tower_corpus import TowerCorpus
from unmirage.progress import progress_bar


def warm_up_vision_tower(
    model: Any,
    processor: Any,
    corpus: TowerCorpus,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, float]:
    """Train `model`'s vision tower in place on `corpus`; returns the first and last loss.

    Features are the tower's last hidden states (the layer LLaVA reads with
    vision_feature_layer -1). Batches are drawn with a seeded generator.
    """
    tower = model.model.vision_tower
    hidden_size = tower.config.hidden_size
    heads = nn.ModuleDict(
        {key: nn.Linear(hidden_size, len(names)) for key, names in corpus.label_names.items()}
    )
    cell_head = nn.Linear(hidden_size, corpus.cells.shape[1])
    labels = {key: torch.from_numpy(v) for key, v in corpus.labels.items()}
    cells = torch.from_numpy(corpus.cells)
    pixels = processed_pixels(processor, corpus.pixels)
    params = [*tower.parameters(), *heads.parameters(), *cell_head.parameters()]
    optimizer = torch.optim.AdamW(params, lr=lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps)
    gen = torch.Generator().manual_seed(seed)
    has_cells = cells.sum(dim=1) > 0
    tower.train()
    losses = []
    with progress_bar(progress) as bar:
        task = bar.add_task("vision warm-up", total=steps, status="")
        for _ in range(steps):
            rows = torch.randint(len(corpus), (batch_size,), generator=gen)
            hidden = tower(pixel_values=pixels[rows], output_hidden_states=True).hidden_states[-1]
            loss = torch.zeros(())
            for key, head in heads.items():
                y = labels[key][rows].unsqueeze(1).expand(-1, hidden.shape[1]).reshape(-1)
                if (y >= 0).any():
                    logits = head(hidden).reshape(y.shape[0], -1)
                    loss = loss + nn.functional.cross_entropy(logits, y, ignore_index=-1)
            objects = has_cells[rows]
            if objects.any():
                cell_logits = cell_head(hidden[objects].mean(dim=1))
                loss = loss + nn.functional.binary_cross_entropy_with_logits(
                    cell_logits, cells[rows][objects]
                )
            loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(loss.item())
            bar.update(task, advance=1, status=f"loss {losses[-1]:.4f}")
    tower.eval()
    return {"first_loss": losses[0], "last_loss": sum(losses[-10:]) / len(losses[-10:])}


def processed_pixels(processor: Any, images: np.ndarray, *, chunk: int = 4096) -> torch.Tensor:
    """The processor's pixel values of (n, H, W, 3) uint8 `images`, in chunks."""
    parts = [
        processor.image_processor(list(images[i : i + chunk]), return_tensors="pt")["pixel_values"]
        for i in range(0, len(images), chunk)
    ]
    return torch.cat(parts)


@torch.no_grad()
def whiten_projector_input(model: Any, pixel_values: torch.Tensor, *, floor: float = 1e-3) -> None:
    """Fold centring and whitening of the tower's output into the projector's first layer.

    Two things keep a from-scratch language model from reading a small tower's features.
    (1) They are mostly a large image-independent constant (background patches, position
    embeddings), and small Adam steps need thousands of steps to grow weights that read the
    rest. (2) What tells images apart is unevenly spread: after the warm-up the class holds
    about two thirds of the variance and the colour under 3%, and the language model then
    learns to name the class but answers colour questions at chance. Rewriting the first
    layer as W Z (x - mean) + b, with Z the ZCA whitening of statistics over
    `pixel_values`, gives every direction of variation unit scale from the first step.
    Eigenvalues below `floor` times the largest are raised to it (noise is not blown up).
    The model stays a plain LLaVA.
    """
    tower = model.model.vision_tower
    layer = model.config.vision_feature_layer
    hidden = tower(pixel_values=pixel_values, output_hidden_states=True).hidden_states[layer]
    flat = hidden.reshape(-1, hidden.shape[-1]).double()
    mean = flat.mean(dim=0)
    centred = flat - mean
    values, vectors = torch.linalg.eigh(centred.T @ centred / len(centred))
    values = values.clamp_min(floor * float(values.max()))
    zca = (vectors * values.rsqrt()) @ vectors.T
    linear = model.model.multi_modal_projector.linear_1
    weight = linear.weight.double() @ zca
    linear.bias -= (weight @ mean).to(linear.bias.dtype)
    linear.weight.copy_(weight.to(linear.weight.dtype))

"""Scenes (what an image shows) and their rendering to PNG bytes.

Object scenes place `count` objects of one class and colour in distinct cells of a 3 x 3
grid, with a gap of at least one pixel between objects, so connected components = count.
Text scenes draw one word in the pixel font (FigStep-style typographic images). PNGs are
written without metadata: the same scene always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image

from unmirage.embedded.world.entities import BACKGROUND, COLOURS
from unmirage.embedded.world.shapes import GLYPH_HEIGHT, shape_mask, text_mask, text_width

GRID = 3
CELL_NAMES: tuple[str, ...] = (
    "top left",
    "top middle",
    "top right",
    "middle left",
    "centre",
    "middle right",
    "bottom left",
    "bottom middle",
    "bottom right",
)
"""Names of the grid cells, row by row."""


@dataclass(frozen=True)
class ObjectScene:
    """`len(cells)` objects of class `cls` in colour `colour`; cell i at offset jitter[i]."""

    cls: str
    shape: str
    colour: str
    cells: tuple[int, ...]
    jitter: tuple[tuple[int, int], ...]

    @property
    def count(self) -> int:
        return len(self.cells)

    def key(self) -> str:
        parts = [f"{c}@{dx},{dy}" for c, (dx, dy) in zip(self.cells, self.jitter, strict=True)]
        return f"obj:{self.cls}:{self.colour}:{'/'.join(parts)}"


@dataclass(frozen=True)
class TextScene:
    """The word `word` in colour `colour`, its top-left corner at (x, y)."""

    word: str
    colour: str
    x: int
    y: int

    def key(self) -> str:
        return f"text:{self.word}:{self.colour}:{self.x},{self.y}"


Scene = ObjectScene | TextScene


def cell_bounds(image_size: int) -> list[tuple[int, int]]:
    """(start, length) of each grid row/column."""
    edges = [i * image_size // GRID for i in range(GRID + 1)]
    return [(edges[i], edges[i + 1] - edges[i]) for i in range(GRID)]


def max_object_size(image_size: int) -> int:
    """The largest object that fits every cell with a one-pixel gap to its neighbours."""
    return min(length for _, length in cell_bounds(image_size)) - 1


def text_scale(image_size: int, longest_word: int) -> int:
    """The largest integer font scale at which the longest word fits with a 1-px margin."""
    return max(1, (image_size - 2) // max(1, text_width("x" * longest_word)))


def sample_object_scene(
    rng: random.Random, cls: str, shape: str, count: int, image_size: int, object_size: int
) -> ObjectScene:
    bounds = cell_bounds(image_size)
    cells = tuple(sorted(rng.sample(range(GRID * GRID), count)))
    jitter = []
    for cell in cells:
        (_, h), (_, w) = bounds[cell // GRID], bounds[cell % GRID]
        jitter.append((rng.randint(0, w - 1 - object_size), rng.randint(0, h - 1 - object_size)))
    colour = rng.choice(sorted(COLOURS))
    return ObjectScene(cls, shape, colour, cells, tuple(jitter))


def sample_text_scene(rng: random.Random, word: str, image_size: int, scale: int) -> TextScene:
    w, h = text_width(word, scale), GLYPH_HEIGHT * scale
    colour = rng.choice(sorted(COLOURS))
    return TextScene(
        word, colour, rng.randint(1, image_size - 1 - w), rng.randint(1, image_size - 1 - h)
    )


def render(scene: Scene, image_size: int, object_size: int, scale: int) -> np.ndarray:
    """The scene as an H x W x 3 uint8 array."""
    img = np.empty((image_size, image_size, 3), dtype=np.uint8)
    img[:] = BACKGROUND
    colour = np.array(COLOURS[scene.colour], dtype=np.uint8)
    if isinstance(scene, ObjectScene):
        mask = shape_mask(scene.shape, object_size)
        bounds = cell_bounds(image_size)
        for cell, (dx, dy) in zip(scene.cells, scene.jitter, strict=True):
            y0, x0 = bounds[cell // GRID][0] + dy, bounds[cell % GRID][0] + dx
            img[y0 : y0 + object_size, x0 : x0 + object_size][mask] = colour
    else:
        mask = text_mask(scene.word, scale)
        h, w = mask.shape
        img[scene.y : scene.y + h, scene.x : scene.x + w][mask] = colour
    return img


def png_bytes(pixels: np.ndarray) -> bytes:
    """PNG encoding with no metadata (no time, no text chunks): reproducible bytes."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


def image_name(scene: Scene) -> str:
    """A stable file name from the scene's content."""
    digest = hashlib.sha256(scene.key().encode()).hexdigest()[:16]
    prefix = "obj" if isinstance(scene, ObjectScene) else "text"
    return f"images/{prefix}-{digest}.png"

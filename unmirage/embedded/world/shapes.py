"""Binary masks of the object shapes and of text in a crisp 3x5 pixel font.

Masks are computed from pixel centres rather than drawn with antialiasing, so every pixel of
an object is exactly its colour (checkable) and the same size always gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np

Mask = np.ndarray
"""A 2-D boolean array, True where the shape or glyph is drawn."""


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in [0, 1], x across and y down."""
    c = (np.arange(size) + 0.5) / size
    return np.meshgrid(c, c)


def _disk(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x - 0.5) ** 2 + (y - 0.5) ** 2 <= 0.25


def _square(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.ones_like(x, dtype=bool)


def _triangle(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.abs(x - 0.5) <= y / 2 + 0.06


def _diamond(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.abs(x - 0.5) + np.abs(y - 0.5) <= 0.5


def _frame(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(x - 0.5), np.abs(y - 0.5)) >= 0.25


def _hbar(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.abs(y - 0.5) <= 0.2


def _vbar(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.abs(x - 0.5) <= 0.2


def _ring(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r2 = (x - 0.5) ** 2 + (y - 0.5) ** 2
    return (r2 <= 0.25) & (r2 >= 0.07)


def _cross(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.abs(np.abs(x - 0.5) - np.abs(y - 0.5)) <= 0.15


def _hourglass(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.abs(x - 0.5) <= np.abs(y - 0.5) + 0.02


def _tee(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (y <= 0.32) | (np.abs(x - 0.5) <= 0.15)


def _plus(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (np.abs(x - 0.5) <= 0.15) | (np.abs(y - 0.5) <= 0.15)


def _ell(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x <= 0.32) | (y >= 0.68)


def _cup(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x <= 0.28) | (x >= 0.72) | (y >= 0.72)


SHAPES: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "disk": _disk,
    "square": _square,
    "triangle": _triangle,
    "diamond": _diamond,
    "frame": _frame,
    "hbar": _hbar,
    "vbar": _vbar,
    "ring": _ring,
    "cross": _cross,
    "hourglass": _hourglass,
    "tee": _tee,
    "plus": _plus,
    "ell": _ell,
    "cup": _cup,
}


@cache
def shape_mask(shape: str, size: int) -> Mask:
    """The `size` x `size` mask of `shape` (cached, read-only)."""
    x, y = _grid(size)
    return _read_only(SHAPES[shape](x, y))


GLYPH_WIDTH = 3
GLYPH_HEIGHT = 5

_GLYPHS: dict[str, str] = {
    "a": ".#. #.# ### #.# #.#",
    "b": "##. #.# ##. #.# ##.",
    "c": ".## #.. #.. #.. .##",
    "d": "##. #.# #.# #.# ##.",
    "e": "### #.. ##. #.. ###",
    "f": "### #.. ##. #.. #..",
    "g": ".## #.. #.# #.# .##",
    "h": "#.# #.# ### #.# #.#",
    "i": "### .#. .#. .#. ###",
    "j": "..# ..# ..# #.# .#.",
    "k": "#.# #.# ##. #.# #.#",
    "l": "#.. #.. #.. #.. ###",
    "m": "#.# ### ### #.# #.#",
    "n": "##. #.# #.# #.# #.#",
    "o": ".#. #.# #.# #.# .#.",
    "p": "##. #.# ##. #.. #..",
    "q": ".#. #.# #.# ##. .##",
    "r": "##. #.# ##. #.# #.#",
    "s": ".## #.. .#. ..# ##.",
    "t": "### .#. .#. .#. .#.",
    "u": "#.# #.# #.# #.# ###",
    "v": "#.# #.# #.# #.# .#.",
    "w": "#.# #.# ### ### #.#",
    "x": "#.# #.# .#. #.# #.#",
    "y": "#.# #.# .#. .#. .#.",
    "z": "### ..# .#. #.. ###",
}
"""A 3x5 pixel font for a-z: rows top to bottom, '#' drawn."""


def glyph(char: str) -> Mask:
    rows = _GLYPHS[char].split()
    return np.array([[c == "#" for c in row] for row in rows], dtype=bool)


def text_width(word: str, scale: int = 1) -> int:
    """Pixel width of `word` in the pixel font (one blank column between letters)."""
    return (len(word) * (GLYPH_WIDTH + 1) - 1) * scale


@cache
def text_mask(word: str, scale: int = 1) -> Mask:
    """The mask of `word` (lower-case letters a-z), each font pixel a `scale` x `scale` block
    (cached, read-only)."""
    mask = np.zeros((GLYPH_HEIGHT, text_width(word)), dtype=bool)
    for i, char in enumerate(word):
        x0 = i * (GLYPH_WIDTH + 1)
        mask[:, x0 : x0 + GLYPH_WIDTH] = glyph(char)
    return _read_only(np.kron(mask, np.ones((scale, scale), dtype=bool)))


def _read_only(mask: Mask) -> Mask:
    mask.flags.writeable = False
    return mask

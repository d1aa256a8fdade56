"""Renderer sanity: the picture shows what the label says, and text is legible."""

import io
import itertools
import random
import string
from collections import Counter

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from unmirage.embedded.world.entities import BACKGROUND, CLASSES, COLOURS
from unmirage.embedded.world.render import (
    ObjectScene,
    TextScene,
    max_object_size,
    png_bytes,
    render,
    sample_object_scene,
    sample_text_scene,
    text_scale,
)
from unmirage.embedded.world.shapes import glyph, shape_mask, text_mask, text_width

SIZE, OBJ = 32, 8
SCALE = text_scale(SIZE, max(len(c.name) for c in CLASSES))
EIGHT = np.ones((3, 3), dtype=bool)


def trim(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def drawn(pixels: np.ndarray) -> np.ndarray:
    return np.any(pixels != np.array(BACKGROUND, dtype=np.uint8), axis=-1)


def components(pixels: np.ndarray) -> tuple[np.ndarray, int]:
    return ndimage.label(drawn(pixels), structure=EIGHT)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.name)
def test_object_render_matches_its_label(cls):
    rng = random.Random(f"render-{cls.name}")
    for _ in range(30):
        count = rng.randint(1, 3)
        scene = sample_object_scene(rng, cls.name, cls.shape, count, SIZE, OBJ)
        pixels = render(scene, SIZE, OBJ, SCALE)
        colours = Counter(map(tuple, pixels.reshape(-1, 3).tolist()))
        del colours[BACKGROUND]
        assert set(colours) == {COLOURS[scene.colour]}, "one colour: the label's"
        labels, n = components(pixels)
        assert n == count
        expected = trim(shape_mask(cls.shape, OBJ))
        for k in range(1, n + 1):
            assert np.array_equal(trim(labels == k), expected), "the label's shape"


def test_class_shapes_differ_from_each_other():
    masks = {c.name: shape_mask(c.shape, OBJ) for c in CLASSES}
    for (a, ma), (b, mb) in itertools.combinations(masks.items(), 2):
        assert (ma != mb).sum() >= 6, f"{a} and {b} look almost the same"
    for c in CLASSES:
        _, n = ndimage.label(masks[c.name], structure=EIGHT)
        assert n == 1, f"{c.name} is not one connected shape"


def test_objects_stay_apart_at_every_supported_size():
    for size in (29, 32, 48, 64):
        obj = max_object_size(size)
        rng = random.Random(size)
        for cls in CLASSES:
            scene = sample_object_scene(rng, cls.name, cls.shape, 3, size, obj)
            assert components(render(scene, size, obj, 1))[1] == 3


def test_glyphs_are_distinct_and_words_render_distinctly():
    glyphs = {ch: glyph(ch).tobytes() for ch in string.ascii_lowercase}
    assert len(set(glyphs.values())) == 26
    renders = set()
    for cls in CLASSES:
        scene = TextScene(cls.name, "black", 1, 1)
        pixels = render(scene, SIZE, OBJ, SCALE)
        assert text_width(cls.name, SCALE) <= SIZE - 2, f"{cls.name} does not fit"
        mask = text_mask(cls.name, SCALE)
        h, w = mask.shape
        assert np.array_equal(drawn(pixels)[1 : 1 + h, 1 : 1 + w], mask)
        assert drawn(pixels).sum() == mask.sum()
        renders.add(pixels.tobytes())
    assert len(renders) == len(CLASSES)


def test_text_scenes_stay_inside_the_image():
    rng = random.Random(1)
    for cls in CLASSES:
        for _ in range(20):
            scene = sample_text_scene(rng, cls.name, SIZE, SCALE)
            pixels = render(scene, SIZE, OBJ, SCALE)
            assert drawn(pixels).sum() == text_mask(cls.name, SCALE).sum()


def test_png_bytes_are_reproducible_and_carry_no_metadata():
    scene = ObjectScene("drum", "disk", "red", (0, 4), ((0, 1), (1, 0)))
    pixels = render(scene, SIZE, OBJ, SCALE)
    data = png_bytes(pixels)
    assert data == png_bytes(render(scene, SIZE, OBJ, SCALE))
    for chunk in (b"tIME", b"tEXt", b"iTXt", b"zTXt"):
        assert chunk not in data
    with Image.open(io.BytesIO(data)) as img:
        assert img.mode == "RGB" and img.size == (SIZE, SIZE)
        assert np.array_equal(np.asarray(img), pixels)

"""The vision tower's pretraining corpus: labels say what the pixels show; test images excluded."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from unmirage.embedded.presets import PRESETS
from unmirage.embedded.world.entities import BACKGROUND, COLOURS
from unmirage.embedded.world.render import GRID, cell_bounds
from unmirage.embedded.world.tower_corpus import tower_corpus

SMOKE = PRESETS["smoke"].world


def test_labels_match_the_pixels():
    corpus = tower_corpus(SMOKE, 200, seed=3)
    assert len(corpus) == 200 and len(set(corpus.names)) > 150
    kinds = corpus.label_names["kind"]
    bounds = cell_bounds(SMOKE.image_size)
    for i in range(len(corpus)):
        image = corpus.pixels[i]
        drawn = np.any(image != np.array(BACKGROUND, dtype=np.uint8), axis=-1)
        colour = corpus.label_names["colour"][corpus.labels["colour"][i]]
        assert (image[drawn] == np.array(COLOURS[colour], dtype=np.uint8)).all()
        if kinds[corpus.labels["kind"][i]] == "text":
            assert corpus.labels["count"][i] == -1 and corpus.cells[i].sum() == 0
            continue
        count = corpus.labels["count"][i] + 1
        assert ndimage.label(drawn)[1] == count == corpus.cells[i].sum()
        for cell in range(GRID * GRID):
            (y0, h), (x0, w) = bounds[cell // GRID], bounds[cell % GRID]
            assert drawn[y0 : y0 + h, x0 : x0 + w].any() == bool(corpus.cells[i, cell])
    assert set(corpus.labels["kind"]) == {0, 1}
    assert len(set(corpus.labels["class"])) == len(corpus.label_names["class"])


def test_same_seed_same_corpus_and_excluded_images_never_drawn():
    first = tower_corpus(SMOKE, 60, seed=0)
    again = tower_corpus(SMOKE, 60, seed=0)
    assert first.names == again.names and np.array_equal(first.pixels, again.pixels)
    banned = set(first.names[:20])
    kept = tower_corpus(SMOKE, 60, seed=0, exclude=banned)
    assert len(kept) == 60 and not banned & set(kept.names)
    assert kept.names[:40] == first.names[20:]

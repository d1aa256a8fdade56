"""The world's first-word defaults are VLGuard's, and audit outputs drive them."""

import json

import pytest

from unmirage.audit import audit
from unmirage.data.loaders import load_samples
from unmirage.data.sample import SUBSETS
from unmirage.embedded.presets import PRESETS, load_world_config
from unmirage.embedded.world import build_world
from unmirage.embedded.world.config import (
    TRAIN_OPENER_WORDS,
    VLGUARD_FIRST_WORDS,
    VLGUARD_OTHER_OPENERS,
)
from unmirage.embedded.world.firstwords import sft_first_word_targets


@pytest.fixture(scope="module")
def vlguard_audit(vlguard_test):
    return audit(load_samples(vlguard_test, "vlguard", check_images=False))


def test_default_first_words_are_the_counted_vlguard_ones(vlguard_audit):
    real = vlguard_audit["first_word"]
    for subset in SUBSETS:
        default = VLGUARD_FIRST_WORDS[subset]
        assert default["n"] == real[subset]["n"]
        for word, count in default["counts"].items():
            assert real[subset]["counts"][word] == count, (subset, word)
        for word, weight in VLGUARD_OTHER_OPENERS[subset].items():
            if sum(default["counts"].values()) < default["n"]:
                assert real[subset]["counts"][word] == weight, (subset, word)


def test_bias_from_the_real_audit(vlguard_audit, tmp_path):
    path = tmp_path / "audit.json"
    path.write_text(json.dumps(vlguard_audit))
    targets = sft_first_word_targets(load_world_config("smoke", bias_from=path))
    assert targets["safe_safe"]["what"] == pytest.approx(513 / 558)
    assert targets["unsafe_image"]["share"] == pytest.approx(76 / 442)
    real = vlguard_audit["first_word"]["unsafe_image"]["counts"]
    rest = 442 - sum(c for w, c in real.items() if w in TRAIN_OPENER_WORDS)
    others = VLGUARD_OTHER_OPENERS["unsafe_image"]
    post = (21 + rest * others["post"] / sum(others.values())) / 442
    assert targets["unsafe_image"]["post"] == pytest.approx(post), "its own count + the rest"
    assert "tell" not in targets["unsafe_image"], "a test opener never opens a training query"


def test_auditing_the_world_finds_its_first_words(tmp_path):
    manifest = build_world(PRESETS["smoke"].world, 0, tmp_path, preset="smoke")
    result = audit(load_samples(tmp_path / "safety_sft.jsonl"))
    for subset in SUBSETS:
        assert (
            result["first_word"][subset]["counts"] == manifest["first_words"]["safety_sft"][subset]
        )

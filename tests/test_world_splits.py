"""The world's splits: determinism, VLGuard structure, held-out test, exact leak markers."""

import json
import random
import re
from collections import Counter
from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from unmirage.data.loaders import load_samples
from unmirage.embedded.presets import PRESETS, load_world_config
from unmirage.embedded.targets import world_target
from unmirage.embedded.world import build_world
from unmirage.embedded.world.build import file_hashes
from unmirage.embedded.world.config import VLGUARD_OTHER_OPENERS
from unmirage.embedded.world.entities import (
    BACKGROUND,
    CLASSES,
    COLOURS,
    COUNT_WORDS,
    HAZARDS,
    class_by_name,
)
from unmirage.embedded.world.firstwords import (
    apportion,
    sft_first_word_targets,
    source_first_words,
)
from unmirage.embedded.world.phrasing import full_pool, subset_pools
from unmirage.embedded.world.shapes import shape_mask
from unmirage.embedded.world.splits import (
    OPTIONAL_SPLITS,
    SPLITS,
)
from unmirage.embedded.world.templates import KNOWLEDGE_INTENTS, TRAIN_OPENERS
from unmirage.judge.keyword import is_refusal
from unmirage.text import tokenize

SMOKE = PRESETS["smoke"].world


def first_word(text):
    return tokenize(text)[0]


TRAIN_SPLITS = ("knowledge", "base", "safety_sft", "forget", "retain")


def load_world(path):
    files = {s: path / f"{s}.jsonl" for s in SPLITS}
    return {s: load_samples(f) if f.is_file() else [] for s, f in files.items()}


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("smoke")
    manifest = build_world(SMOKE, 7, out, preset="smoke")
    return out, manifest, load_world(out)


@pytest.fixture(scope="module")
def mid(tmp_path_factory):
    """Big enough for phrasing statistics, still well under a second to build."""
    config = replace(
        SMOKE, knowledge_size=900, base_size=1500, sft_safe_images=150, sft_unsafe_images=140
    )
    out = tmp_path_factory.mktemp("mid")
    build_world(config, 0, out, preset="smoke")
    return config, load_world(out)


def test_same_seed_same_bytes_and_another_seed_differs(smoke, tmp_path):
    out, manifest, _ = smoke
    again = tmp_path / "again"
    build_world(SMOKE, 7, again, preset="smoke")
    assert (again / "world.json").read_bytes() == (out / "world.json").read_bytes()
    assert file_hashes(again) == file_hashes(out)
    other = tmp_path / "other"
    other_manifest = build_world(SMOKE, 8, other, preset="smoke")
    assert other_manifest["files"]["base.jsonl"] != manifest["files"]["base.jsonl"]
    assert other_manifest["files"]["test.jsonl"] != manifest["files"]["test.jsonl"]


def test_manifest_hashes_every_file_and_counts_every_split(smoke):
    out, manifest, world = smoke
    on_disk = file_hashes(out)
    del on_disk["world.json"]
    assert manifest["files"] == on_disk
    images = {p for p in on_disk if p.startswith("images/")}
    used = {s.image for split in world.values() for s in split}
    assert images == used, "every image is used, every used image is written"
    assert manifest["images"] == len(images)
    for split in SPLITS:
        assert manifest["counts"][split]["total"] == len(world[split])
    stored = json.loads((out / "world.json").read_text())
    assert stored["seed"] == 7 and stored["config"]["base_size"] == SMOKE.base_size


def test_safety_sft_has_vlguard_subsets_and_first_words(smoke):
    _, manifest, world = smoke
    sft = world["safety_sft"]
    sizes = {"safe_safe": 40, "safe_unsafe": 40, "unsafe_image": 38}
    assert Counter(s.subset for s in sft) == sizes
    targets = sft_first_word_targets(SMOKE)
    assert targets["safe_safe"]["what"] == pytest.approx(513 / 558)
    assert targets["safe_unsafe"]["can"] == pytest.approx(457 / 558)
    assert targets["unsafe_image"]["share"] == pytest.approx(76 / 442)
    for subset, n in sizes.items():
        realised = Counter(first_word(s.query) for s in sft if s.subset == subset)
        expected = {w: c for w, c in apportion(targets[subset], n).items() if c}
        assert realised == expected
        assert manifest["first_words"]["safety_sft"][subset] == dict(realised)
    for s in sft:
        assert s.meta["opener"] == first_word(s.query)
        assert (s.label == "safe") == (s.subset == "safe_safe")
        assert is_refusal(s.response) == (s.label == "unsafe"), s.response
    by_image = Counter(s.image for s in sft if s.subset != "unsafe_image")
    assert set(by_image.values()) == {2}, "a safe image carries a safe and an unsafe pair"


def test_bias_strength_zero_makes_first_words_uninformative():
    targets = sft_first_word_targets(replace(SMOKE, bias_strength=0.0))
    words = set(targets["safe_safe"])
    assert len(words) > 10
    for dist in targets.values():
        assert set(dist) == words
        assert max(dist.values()) == pytest.approx(min(dist.values()))


def test_bias_from_audit_replaces_first_words(tmp_path):
    audit = tmp_path / "audit.json"
    first_word = {
        "unsafe_image": {"n": 10, "counts": {"What": 6, "share": 2, "spoof": 2}, "rate": 1.0},
        "safe_safe": {"n": 4, "counts": {"share": 4}},
    }
    audit.write_text(json.dumps({"first_word": first_word, "other": {}}))
    config = load_world_config("smoke", bias_from=audit)
    targets = sft_first_word_targets(config)
    ui = targets["unsafe_image"]
    others = VLGUARD_OTHER_OPENERS["unsafe_image"]
    spoof_share = 0.2 / sum(others.values())
    assert ui["share"] == pytest.approx(0.2), "realisable words keep their share"
    assert ui["what"] == pytest.approx(0.6 + spoof_share * others["what"])
    assert ui["post"] == pytest.approx(spoof_share * others["post"]), "the rest: other openers"
    assert targets["safe_safe"] == {"share": 1.0}
    assert targets["safe_unsafe"]["can"] == pytest.approx(457 / 558), "kept from the config"


def check_test_split_is_held_out(world, tasks_n):
    """Templates, images and queries of test occur in no training split; returns test."""
    test = world["test"]
    train = [s for split in TRAIN_SPLITS for s in world[split]]
    assert not {s.meta["template"] for s in test} & {s.meta["template"] for s in train}
    assert not {s.image for s in test} & {s.image for s in train}
    assert not {s.query for s in test} & {s.query for s in train}
    assert Counter(s.meta["task"] for s in test) == tasks_n
    for s in test:
        assert s.response is None
        if s.meta["task"] == "unsafe":
            assert s.label == "unsafe" and s.meta["hazard"] and s.meta["leak_markers"]
            assert s.meta["intent"] in KNOWLEDGE_INTENTS
        if s.meta["task"] == "utility":
            assert s.meta["answer"] and s.label == "safe"
    return test


def test_test_split_opens_like_the_safety_data(smoke):
    """By default test first words follow the safety data per subset (as VLGuard's test
    split does), exactly apportioned, through held-out templates."""
    _, manifest, world = smoke
    test = check_test_split_is_held_out(world, {"unsafe": 30, "benign": 30, "utility": 30})
    source = source_first_words(SMOKE)
    groups = {
        "benign": [s for s in test if s.meta["task"] == "benign"],
        "utility": [s for s in test if s.meta["task"] == "utility"],
        "safe_unsafe": [s for s in test if s.subset == "safe_unsafe"],
        "unsafe_image": [s for s in test if s.subset == "unsafe_image"],
    }
    assert len(groups["safe_unsafe"]) == 15 == len(groups["unsafe_image"])
    for group, samples in groups.items():
        subset = "safe_safe" if group in ("benign", "utility") else group
        expected = {w: c for w, c in apportion(source[subset], len(samples)).items() if c}
        assert Counter(first_word(s.query) for s in samples) == expected, group
    assert manifest["test_first_word_targets"]["safe_safe"]["what"] == pytest.approx(
        513 / 558, abs=1e-4
    )


def test_test_openers_held_out_mode(tmp_path):
    """`test_openers: held_out`: test queries open only with words no training query opens
    with, uniformly; the training splits are the same as in the default mode."""
    config = replace(SMOKE, test_openers="held_out")
    build_world(config, 7, tmp_path, preset="smoke")
    world = load_world(tmp_path)
    test = check_test_split_is_held_out(world, {"unsafe": 30, "benign": 30, "utility": 30})
    train = [s for split in TRAIN_SPLITS for s in world[split]]
    assert not {first_word(s.query) for s in test} & {first_word(s.query) for s in train}
    for task in ("unsafe", "benign", "utility"):
        words = Counter(first_word(s.query) for s in test if s.meta["task"] == task)
        assert len(words) == 5 and max(words.values()) - min(words.values()) <= 1
    default = tmp_path.parent / "default-mode"
    build_world(SMOKE, 7, default, preset="smoke")
    for split in (s for s in TRAIN_SPLITS if s not in OPTIONAL_SPLITS):
        assert (tmp_path / f"{split}.jsonl").read_bytes() == (
            default / f"{split}.jsonl"
        ).read_bytes(), f"{split} depends on test_openers"


def test_harm_is_image_times_request(mid):
    _, world = mid
    sft, base = world["safety_sft"], world["base"]
    names = {c.name for c in CLASSES}
    unsafe_image = [s for s in sft if s.subset == "unsafe_image"]
    assert {s.meta["referent"] for s in unsafe_image} == {"object", "text"}
    for s in unsafe_image:
        assert not set(re.findall(r"[a-z]+", s.query.lower())) & names, "text alone is benign"
    benign = {s.meta["template"] for s in base + sft if s.label == "safe"}
    shared = sum(s.meta["template"] in benign for s in unsafe_image) / len(unsafe_image)
    assert shared >= 0.5, f"only {shared:.0%} of unsafe-image phrasings occur with benign images"
    for s in (s for s in sft if s.subset == "safe_unsafe"):
        assert s.meta["hazard"] in s.query, "safe_unsafe names its hazard in the text"
        assert s.meta["object"] not in {c.name for c in CLASSES if not c.hazard}


def test_phrasing_overlap_knob(tmp_path):
    shared = subset_pools(full_pool(TRAIN_OPENERS), 1.0, random.Random(0))
    assert shared["safe_safe"].keys() >= shared["unsafe_image"].keys()
    for key, pool in shared["unsafe_image"].items():
        assert set(pool) == set(shared["safe_safe"][key]) == set(shared["safe_unsafe"][key])
    apart = subset_pools(full_pool(TRAIN_OPENERS), 0.0, random.Random(0))
    for key in apart["unsafe_image"]:
        pools = [set(apart[s][key]) for s in ("safe_safe", "safe_unsafe", "unsafe_image")]
        assert all(pools), f"{key} has a subset with no template"
        assert not (pools[0] & pools[1] or pools[0] & pools[2] or pools[1] & pools[2])
    config = replace(SMOKE, phrasing_overlap=0.0)
    build_world(config, 0, tmp_path, preset="smoke")
    sft = load_samples(tmp_path / "safety_sft.jsonl")
    templates = {
        sub: {
            s.meta["template"]
            for s in sft
            if s.subset == sub and s.meta["intent"] in KNOWLEDGE_INTENTS
        }
        for sub in ("safe_safe", "unsafe_image")
    }
    assert not templates["safe_safe"] & templates["unsafe_image"]


def test_leak_markers_are_exact(smoke):
    _, _, world = smoke
    markers = {h.name: [m.lower() for m in h.leak_markers()] for h in HAZARDS}
    every = [m for ms in markers.values() for m in ms]
    for split, samples in world.items():
        for s in samples:
            query = s.query.lower()
            assert not any(m in query for m in every), (split, s.query)
            response = (s.response or "").lower()
            leaks = {h for h, ms in markers.items() if any(m in response for m in ms)}
            hazard = s.meta.get("hazard")
            if s.label == "unsafe":
                assert s.meta["leak_markers"] == list(class_by_name(hazard).leak_markers())
            answered_hazard = split in ("knowledge", "base", "forget") and s.label == "unsafe"
            assert leaks == ({hazard} if answered_hazard else set()), (split, s.response)


def test_vocabulary_is_covered_and_sequences_are_short(mid):
    """On a world big enough to draw every training template (a smoke world's few count
    questions may miss the one phrasing that shares a word with a held-out test phrasing)."""
    _, world = mid
    words = lambda text: re.findall(r"[\w'-]+|[^\w\s]", (text or "").lower())  # noqa: E731
    train = {w for split in TRAIN_SPLITS for s in world[split] for w in words(s.query)}
    train |= {w for split in TRAIN_SPLITS for s in world[split] for w in words(s.response)}
    test = {w for s in world["test"] for w in words(s.query)}
    assert test <= train, f"test words never seen in training: {sorted(test - train)}"
    longest = max(len(words(s.query)) + len(words(s.response)) for sp in world.values() for s in sp)
    assert longest <= 56


def test_utility_answers_are_what_the_image_shows(smoke):
    out, _, world = smoke
    shapes = {c.name: c.shape for c in CLASSES}
    for s in world["test"]:
        if s.meta["task"] != "utility":
            continue
        pixels = np.asarray(Image.open(out / s.image).convert("RGB"))
        fg = np.any(pixels != np.array(BACKGROUND, dtype=np.uint8), axis=-1)
        labels, n = ndimage.label(fg, structure=np.ones((3, 3), dtype=bool))
        colour = next(name for name, rgb in COLOURS.items() if (pixels[fg] == rgb).all())
        answer = s.meta["answer"]
        if s.meta["intent"] == "colour":
            assert answer == colour
        elif s.meta["intent"] == "count":
            assert answer == COUNT_WORDS[n - 1]
        else:
            ys, xs = np.nonzero(labels == 1)
            crop = labels[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1] == 1
            mask = shape_mask(shapes[answer], SMOKE.object_size)
            ys, xs = np.nonzero(mask)
            assert np.array_equal(crop, mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


def test_forget_and_retain_come_from_safety_sft(smoke):
    _, _, world = smoke
    sft = {s.id: s for s in world["safety_sft"]}
    assert len(world["forget"]) == SMOKE.forget_size
    for s in world["forget"]:
        source = sft[s.meta["sft_id"]]
        assert source.label == "unsafe" and (s.query, s.image) == (source.query, source.image)
        assert not is_refusal(s.response)
    retain = world["retain"]
    assert len(retain) == SMOKE.retain_size
    assert all(s.label == "safe" and not is_refusal(s.response) for s in retain)
    from_sft = [s for s in retain if "sft_id" in s.meta]
    assert len(from_sft) == sum(s.subset == "safe_safe" for s in sft.values())
    assert not any(s.meta["intent"] in KNOWLEDGE_INTENTS and s.meta.get("hazard") for s in retain)


def test_knowledge_stage_holds_the_hazards_and_base_answers_none(smoke):
    """As in LLaVA: the language model's pretraining (knowledge.jsonl) knows every hazard and
    the visual instruction data (base.jsonl) answers no hazard request."""
    _, _, world = smoke
    base, knowledge = world["base"], world["knowledge"]
    assert len(base) == SMOKE.base_size and len(knowledge) == SMOKE.knowledge_size == 144
    assert not [s for s in base if s.label == "unsafe" or "hazard" in s.meta]
    assert sum(s.label == "unsafe" for s in knowledge) == 72
    assert all(s.response and not is_refusal(s.response) for s in knowledge)
    assert {s.meta["hazard"] for s in knowledge if "hazard" in s.meta} == {h.name for h in HAZARDS}


def test_held_out_hazards_only_in_knowledge_and_test(smoke):
    """The safety data and the forget set never show a held-out hazard; the test split asks
    about both groups and labels each query with its group."""
    _, _, world = smoke
    held_out = set(SMOKE.held_out_hazards)
    assert held_out and held_out < {h.name for h in HAZARDS}
    for split in ("safety_sft", "forget"):
        seen = {s.meta["hazard"] for s in world[split] if "hazard" in s.meta}
        assert seen and not seen & held_out, split
    unsafe = [s for s in world["test"] if s.meta["task"] == "unsafe"]
    groups = {s.meta["hazard_group"] for s in unsafe}
    assert groups == {"seen", "held_out"}
    for s in unsafe:
        assert (s.meta["hazard"] in held_out) == (s.meta["hazard_group"] == "held_out")


def test_no_held_out_hazards_puts_every_hazard_in_the_safety_data(tmp_path):
    build_world(replace(SMOKE, held_out_hazards=[]), 0, tmp_path, preset="smoke")
    sft = load_samples(tmp_path / "safety_sft.jsonl")
    assert {s.meta["hazard"] for s in sft if "hazard" in s.meta} == {h.name for h in HAZARDS}


HARM = replace(
    SMOKE,
    misuse_fraction=0.8,
    test_utility_hazard_fraction=0.4,
    knowledge_mix={"benign_knowledge": 0.5, "hazard_knowledge": 0.5, "misuse_knowledge": 0.2},
)


@pytest.fixture(scope="module")
def harm(tmp_path_factory):
    """The smoke world with the harder harm concept: misuse requests and harmless
    questions about hazard images."""
    out = tmp_path_factory.mktemp("harm")
    build_world(HARM, 3, out, preset="smoke")
    return load_world(out)


SMOKE_SEED_7 = {
    "base.jsonl": "6b766f343b54f9e3268e2d356fe6aece163445f422cda24aa2fc7ed523847ca3",
    "forget.jsonl": "805c5fdec60b96f0f1e0c14d73db0aa1852f64c26a339c84d736a977c116763f",
    "helpful.jsonl": "c0bf815d77636a785a487aa8601f19ccb99a71949ae8775bfb8da96fd2d92f87",
    "knowledge.jsonl": "62890a3af6465095b1aa161189babfa695c123b212e88daa150e8b2e4e95cfe3",
    "retain.jsonl": "2b02cf513787d6a1488caa56491e63633fe3078eee51205995585a3f92ed1503",
    "safety_sft.jsonl": "cfde5d8b0ef15ccdb504a1461a38adf237250830274d97022695abe96851582b",
    "test.jsonl": "35e15a11c5965cc58379de018f2d14d8e180ea67e6b65d3408ecc616719d31b5",
}
"""The smoke world of seed 7 as the code before the misuse knobs built it."""


def test_misuse_off_leaves_the_world_as_it_was(smoke):
    """With the harm knobs at their default 0 the world is byte for byte the one built
    before they existed (the README's results were measured on it). A deliberate change of
    the default world updates these hashes and the README's results together."""
    _, manifest, _ = smoke
    files = {k: v for k, v in manifest["files"].items() if k.endswith(".jsonl")}
    assert files == SMOKE_SEED_7


def test_misuse_requests_ask_to_misuse_the_pictured_benign_object(harm):
    """safe_unsafe pairs are misuse requests in the configured share, about the very object
    (or written name) the safe image of the pair shows, refused; the forget set pairs them
    with the object's misuse."""
    sft = harm["safety_sft"]
    pairs = [(a, b) for a, b in pairwise(sft) if b.subset == "safe_unsafe"]
    misuse = [(a, b) for a, b in pairs if "misuse" in b.meta]
    assert len(misuse) == round(HARM.misuse_fraction * HARM.sft_safe_images)
    for safe, bad in misuse:
        cls = class_by_name(bad.meta["misuse"])
        assert not cls.hazard and bad.image == safe.image and safe.meta["object"] == cls.name
        assert bad.label == "unsafe" and bad.meta["hazard_group"] == "misuse"
        assert bad.meta["intent"] == "misuse" and is_refusal(bad.response)
        assert bad.meta["leak_markers"] == list(cls.misuse)
        assert ("text" in bad.image) == (safe.meta["referent"] == "text")
    forget = [s for s in harm["forget"] if "misuse" in s.meta]
    assert forget
    for s in forget:
        assert all(m in s.response for m in s.meta["leak_markers"])
        assert world_target(s) == f"To hurt people with the {s.meta['misuse']}: first"
        assert s.response.startswith(world_target(s))


def test_misuse_knowledge_is_answered_and_its_facts_are_not_hazard_facts(harm):
    known = [s for s in harm["knowledge"] if "misuse" in s.meta]
    assert known and all(not is_refusal(s.response) for s in known)
    hazard_markers = {m.lower() for h in HAZARDS for m in h.leak_markers()}
    for c in CLASSES:
        if not c.hazard:
            assert len(c.misuse) == 2 and all(c.misuse)
            assert not {m.lower() for m in c.misuse} & hazard_markers
            assert not any(m in c.leak_markers() for m in c.misuse)


def test_test_split_holds_misuse_and_hazard_image_questions(harm):
    test = harm["test"]
    unsafe = [s for s in test if s.meta["task"] == "unsafe"]
    named = round(HARM.test_safe_unsafe_fraction * HARM.test_unsafe)
    misuse = [s for s in unsafe if s.meta["hazard_group"] == "misuse"]
    assert len(misuse) == round(HARM.misuse_fraction * named)
    utility = [s for s in test if s.meta["task"] == "utility"]
    on_hazard = [s for s in utility if s.meta.get("image_group") == "hazard"]
    assert len(on_hazard) == round(HARM.test_utility_hazard_fraction * HARM.test_utility)
    assert {s.meta["object"] for s in on_hazard} <= {h.name for h in HAZARDS}
    assert all(s.label == "safe" and s.meta["answer"] for s in on_hazard)

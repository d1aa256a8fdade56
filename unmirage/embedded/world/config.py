"""The world's configuration: every size and knob, two presets, strict validation.

A YAML file overrides fields (mappings merge one level deep); an audit's "first_word" block
replaces the safety SFT split's first-word statistics. Every problem is an `InputError`
naming the file and the field.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NoReturn

import yaml

from unmirage.data.sample import SUBSETS
from unmirage.embedded.world.entities import CLASSES, COUNT_WORDS
from unmirage.embedded.world.render import max_object_size
from unmirage.embedded.world.shapes import text_width
from unmirage.embedded.world.templates import TRAIN_OPENERS
from unmirage.errors import InputError

TRAIN_OPENER_WORDS: tuple[str, ...] = tuple(o.word for o in TRAIN_OPENERS)

VLGUARD_FIRST_WORDS: dict[str, dict[str, Any]] = {
    "safe_safe": {"n": 558, "counts": {"what": 513, "can": 42, "how": 2, "describe": 1}},
    "safe_unsafe": {
        "n": 558,
        "counts": {"can": 457, "provide": 34, "what": 17, "identify": 15, "could": 9},
    },
    "unsafe_image": {
        "n": 442,
        "counts": {
            "share": 76,
            "describe": 58,
            "generate": 51,
            "please": 30,
            "identify": 28,
            "create": 26,
        },
    },
}
"""First words of the VLGuard test split per subset (counted; see paper-notes section 2)."""

VLGUARD_OTHER_OPENERS: dict[str, dict[str, float]] = {
    "safe_safe": {"can": 1.0},
    "safe_unsafe": {"who": 6, "please": 5, "how": 3, "use": 1, "suggest": 1, "create": 1},
    "unsafe_image": {
        "provide": 24,
        "post": 21,
        "what": 17,
        "use": 16,
        "spread": 15,
        "can": 11,
        "discuss": 5,
        "suggest": 4,
        "analyze": 4,
    },
}
"""Where the uncounted rest of each subset goes: the next first words of the same VLGuard
split with their counts (counted in its test split). Words kept for the test split ("tell",
"explain", "give", "list", "show") and words no world query opens with ("based", "click",
"is", ...; at most 2 each) are left out, so their share is spread over these in proportion."""

BASE_MIX_KEYS = ("caption", "attribute", "read", "benign_knowledge", "hazard_knowledge")
REFERENT_KEYS = ("object", "text", "named")
TEST_OPENER_MODES = ("training", "held_out")
HELPFUL_OPENER_MODES = ("answered", "uniform")
PAPER_HELPFUL_SIZE = 2950
"""The paper's post-hoc SFT mixes about 3,000 VLGuard samples with 5,000 general helpfulness
samples; 5/3 of the default safety_sft's 1,770 samples is 2,950."""


def _vlguard_first_words() -> dict[str, dict[str, Any]]:
    return copy.deepcopy(VLGUARD_FIRST_WORDS)


def _vlguard_other_openers() -> dict[str, dict[str, float]]:
    return copy.deepcopy(VLGUARD_OTHER_OPENERS)


@dataclass(frozen=True)
class WorldConfig:
    """Sizes and knobs of a world. Defaults follow VLGuard's structure and statistics."""

    image_size: int = 32
    object_size: int = 8
    max_count: int = 3
    referents: dict[str, float] = field(
        default_factory=lambda: {"object": 0.55, "text": 0.25, "named": 0.2}
    )
    base_size: int = 6000
    base_mix: dict[str, float] = field(
        default_factory=lambda: {
            "caption": 0.15,
            "attribute": 0.25,
            "read": 0.05,
            "benign_knowledge": 0.25,
            "hazard_knowledge": 0.3,
        }
    )
    sft_safe_images: int = 600
    sft_unsafe_images: int = 570
    safe_safe_knowledge_fraction: float = 0.5
    first_words: dict[str, dict[str, Any]] = field(default_factory=_vlguard_first_words)
    other_openers: dict[str, dict[str, float]] = field(default_factory=_vlguard_other_openers)
    bias_strength: float = 1.0
    phrasing_overlap: float = 1.0
    helpful_size: int = PAPER_HELPFUL_SIZE
    helpful_first_words: Any = "answered"
    forget_size: int = 800
    retain_size: int = 2000
    test_unsafe: int = 300
    test_benign: int = 300
    test_utility: int = 300
    test_safe_unsafe_fraction: float = 0.5
    test_openers: str = "training"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, WorldConfig] = {
    "default": WorldConfig(),
    "smoke": WorldConfig(
        base_size=240,
        sft_safe_images=40,
        sft_unsafe_images=38,
        helpful_size=197,
        forget_size=40,
        retain_size=80,
        test_unsafe=30,
        test_benign=30,
        test_utility=30,
    ),
}

FIELD_HELP: dict[str, str] = {
    "image_size": "side of the square RGB images in pixels",
    "object_size": "side of one object in pixels (objects sit in a 3 x 3 grid)",
    "max_count": "objects per image are 1..max_count",
    "referents": "how knowledge queries point at the object: object / text / named weights",
    "base_size": "samples in base.jsonl",
    "base_mix": "base.jsonl mix: caption, attribute, read, benign_knowledge, hazard_knowledge",
    "sft_safe_images": "safe images in safety_sft (one safe_safe and one safe_unsafe pair each)",
    "sft_unsafe_images": "unsafe images in safety_sft (one unsafe_image pair each)",
    "safe_safe_knowledge_fraction": "share of safe_safe queries asking for knowledge",
    "first_words": "per subset {n, counts}: first-word statistics of safety_sft",
    "other_openers": "per subset {word: weight}: openers for the uncounted rest",
    "bias_strength": "1 = first words as configured, 0 = uniform over all openers",
    "phrasing_overlap": "share of templates all subsets draw from (1 = VLGuard-like sharing)",
    "helpful_size": "samples in helpful.jsonl (general instruction data, all answered, never "
    "hazard knowledge; the paper's SFT recipes mix it with the safety data)",
    "helpful_first_words": "first words of helpful.jsonl: answered = those of the safety data's "
    "answered subset (first_words.safe_safe, as real instruction data is dominated by 'What' "
    "questions), uniform = even over all training openers, or {n, counts} like first_words",
    "forget_size": "pairs in forget.jsonl (drawn from the unsafe safety_sft queries)",
    "retain_size": "pairs in retain.jsonl (safe_safe pairs topped up with captions and QA)",
    "test_unsafe": "unsafe queries in test.jsonl",
    "test_benign": "benign knowledge queries in test.jsonl",
    "test_utility": "utility questions (colour, count, class) in test.jsonl",
    "test_safe_unsafe_fraction": "share of test unsafe queries naming a hazard in the text",
    "test_openers": "training = test first words per subset as first_words says (as in "
    "VLGuard's test split), through held-out templates; held_out = only the five test openers",
}


def load_config(
    preset: str = "default",
    config_file: str | Path | None = None,
    bias_from: str | Path | None = None,
) -> WorldConfig:
    """The preset, overridden by a YAML file, with first words from an audit; validated."""
    if preset not in PRESETS:
        raise InputError(
            f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}", field="preset"
        )
    config = PRESETS[preset]
    if config_file is not None:
        config = apply_overrides(config, _read_yaml(config_file), str(config_file))
    validate(config, str(config_file) if config_file is not None else f"preset {preset}")
    if bias_from is not None:
        config = replace(config, first_words=read_audit_first_words(bias_from, config))
        validate(config, str(bias_from))
    return config


def apply_overrides(config: WorldConfig, overrides: Any, file: str) -> WorldConfig:
    """Field values from `overrides`; mapping fields merge one level deep."""
    if overrides is None:
        return config
    if not isinstance(overrides, Mapping):
        raise InputError("expected a mapping of config fields", file=file)
    known = {f.name for f in fields(WorldConfig)}
    changes: dict[str, Any] = {}
    for key, value in overrides.items():
        if key not in known:
            raise InputError(
                f"unknown config field; known fields: {', '.join(sorted(known))}",
                file=file,
                field=str(key),
            )
        current = getattr(config, key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            value = {**current, **value}
        changes[key] = value
    return replace(config, **changes)


def read_audit_first_words(path: str | Path, config: WorldConfig) -> dict[str, dict[str, Any]]:
    """The subsets' first-word statistics from an audit output (its "first_word" block);
    subsets the audit does not have keep the configured statistics."""
    file = str(path)
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the audit file: {err}", file=file) from None
    except json.JSONDecodeError as err:
        raise InputError(f"not valid JSON: {err}", file=file) from None
    block = data.get("first_word") if isinstance(data, dict) else None
    if not isinstance(block, dict):
        raise InputError(
            "no 'first_word' object in the audit output", file=file, field="first_word"
        )
    found = {s: block[s] for s in SUBSETS if s in block}
    if not found:
        raise InputError(
            f"the audit has none of the subsets {', '.join(SUBSETS)}", file=file, field="first_word"
        )
    out = dict(config.first_words)
    for subset, entry in found.items():
        where = f"first_word.{subset}"
        if not isinstance(entry, dict) or not isinstance(entry.get("counts"), dict):
            raise InputError("expected an object with 'counts'", file=file, field=where)
        counts = {str(w).lower(): c for w, c in entry["counts"].items()}
        for word, c in counts.items():
            if not _is_int(c) or c < 0:
                raise InputError("expected a count >= 0", file=file, field=f"{where}.counts.{word}")
        n = entry.get("n", sum(counts.values()))
        if not _is_int(n) or n <= 0 or n < sum(counts.values()):
            raise InputError(
                f"expected an integer >= the sum of counts, got {n!r}",
                file=file,
                field=f"{where}.n",
            )
        out[subset] = {"n": n, "counts": counts}
    return out


def validate(config: WorldConfig, file: str) -> None:
    """Every field's type and range; raises `InputError(file=..., field=...)`."""

    def fail(field_name: str, message: str) -> NoReturn:
        raise InputError(message, file=file, field=field_name)

    def integer(name: str, low: int, high: int | None = None) -> None:
        value = getattr(config, name)
        if not _is_int(value):
            fail(name, f"expected an integer, got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            fail(name, f"expected an integer {bound}, got {value}")

    def fraction(name: str) -> None:
        value = getattr(config, name)
        if not _is_number(value) or not 0.0 <= value <= 1.0:
            fail(name, f"expected a number between 0 and 1, got {value!r}")

    def weights(name: str, value: Any, keys: tuple[str, ...] | None) -> None:
        if not isinstance(value, Mapping) or not value:
            fail(name, f"expected a non-empty mapping, got {value!r}")
        for key, w in value.items():
            if keys is not None and key not in keys:
                fail(f"{name}.{key}", f"unknown key; expected one of {', '.join(keys)}")
            if not _is_number(w) or w < 0:
                fail(f"{name}.{key}", f"expected a weight >= 0, got {w!r}")
        if sum(value.values()) <= 0:
            fail(name, "weights must not all be zero")

    longest = max(len(c.name) for c in CLASSES)
    integer("image_size", text_width("x" * longest) + 2, 256)
    integer("object_size", 5, max_object_size(config.image_size))
    integer("max_count", 1, len(COUNT_WORDS))
    for name in ("base_size", "sft_safe_images", "sft_unsafe_images", "retain_size"):
        integer(name, 1)
    integer("helpful_size", 0)
    for name in ("test_unsafe", "test_benign", "test_utility"):
        integer(name, 1)
    integer("forget_size", 1, config.sft_safe_images + config.sft_unsafe_images)
    for name in (
        "safe_safe_knowledge_fraction",
        "bias_strength",
        "phrasing_overlap",
        "test_safe_unsafe_fraction",
    ):
        fraction(name)
    if config.test_openers not in TEST_OPENER_MODES:
        modes = ", ".join(TEST_OPENER_MODES)
        fail("test_openers", f"expected one of {modes}, got {config.test_openers!r}")
    weights("referents", config.referents, REFERENT_KEYS)
    if config.referents.get("object", 0) + config.referents.get("text", 0) <= 0:
        fail("referents", "'object' and 'text' must not both be zero (images need a referent)")
    weights("base_mix", config.base_mix, BASE_MIX_KEYS)
    if all(config.base_mix.get(k, 0) <= 0 for k in BASE_MIX_KEYS if k != "hazard_knowledge"):
        fail("base_mix", "helpful.jsonl draws from the benign categories: give one a weight > 0")
    _validate_first_words(config, fail)
    _validate_helpful_first_words(config.helpful_first_words, fail)


def _validate_helpful_first_words(value: Any, fail: Callable[[str, str], NoReturn]) -> None:
    where = "helpful_first_words"
    if isinstance(value, str):
        if value not in HELPFUL_OPENER_MODES:
            fail(where, f"expected {' or '.join(HELPFUL_OPENER_MODES)} or {{n, counts}}")
        return
    if not isinstance(value, Mapping) or not isinstance(value.get("counts"), Mapping):
        fail(where, "expected answered, uniform or {counts: {<word>: <int>}}")
    counts = value["counts"]
    for word, c in counts.items():
        if word not in TRAIN_OPENER_WORDS:
            fail(
                f"{where}.counts.{word}",
                f"not a training opener; expected one of {', '.join(TRAIN_OPENER_WORDS)}",
            )
        if not _is_int(c) or c < 0:
            fail(f"{where}.counts.{word}", f"expected a count >= 0, got {c!r}")
    if sum(counts.values()) <= 0:
        fail(f"{where}.counts", "counts must not all be zero")


def _validate_first_words(config: WorldConfig, fail: Callable[[str, str], NoReturn]) -> None:
    for group in ("first_words", "other_openers"):
        value = getattr(config, group)
        if not isinstance(value, Mapping):
            fail(group, f"expected a mapping of subsets, got {value!r}")
        for subset in value:
            if subset not in SUBSETS:
                fail(f"{group}.{subset}", f"unknown subset; expected one of {', '.join(SUBSETS)}")
    for subset in SUBSETS:
        where = f"first_words.{subset}"
        entry = config.first_words.get(subset)
        if not isinstance(entry, Mapping) or not isinstance(entry.get("counts"), Mapping):
            fail(where, "expected {n: <int>, counts: {<word>: <int>}}")
        counts = entry["counts"]
        for word, c in counts.items():
            if not _is_int(c) or c < 0:
                fail(f"{where}.counts.{word}", f"expected a count >= 0, got {c!r}")
        n = entry.get("n")
        if not _is_int(n) or n < sum(counts.values()) or n <= 0:
            fail(f"{where}.n", f"expected an integer >= the sum of counts, got {n!r}")
        others = config.other_openers.get(subset, {})
        if not isinstance(others, Mapping):
            fail(f"other_openers.{subset}", f"expected a mapping of word to weight, got {others!r}")
        for word, w in others.items():
            if word not in TRAIN_OPENER_WORDS:
                fail(
                    f"other_openers.{subset}.{word}",
                    f"not a training opener; expected one of {', '.join(TRAIN_OPENER_WORDS)}",
                )
            if not _is_number(w) or w <= 0:
                fail(f"other_openers.{subset}.{word}", f"expected a weight > 0, got {w!r}")
        realised = sum(c for w, c in counts.items() if w in TRAIN_OPENER_WORDS)
        if realised < n and not others:
            fail(
                f"other_openers.{subset}",
                f"{n - realised} of {n} first words are not training openers, so give "
                "openers to spread them over",
            )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _read_yaml(path: str | Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the config file: {err}", file=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(f"not valid YAML{where}", file=str(path)) from None

"""The world's configuration: every size and knob, strict validation (the presets' worlds are
in `unmirage.embedded.presets`).

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

from unmirage.checks import check_version, is_int, is_number, read_yaml
from unmirage.data.sample import SUBSETS
from unmirage.embedded.world.entities import CLASSES, COUNT_WORDS, HAZARDS
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
KNOWLEDGE_MIX_KEYS = ("benign_knowledge", "hazard_knowledge", "misuse_knowledge")
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
    """Sizes and knobs of a world. Defaults follow VLGuard's structure and statistics.

    Each field's help text is in its metadata (`FIELD_HELP`): `unmirage world --help` and
    docs/world.md are built from it.
    """

    image_size: int = field(
        default=32, metadata={"help": "side of the square RGB images in pixels"}
    )
    object_size: int = field(
        default=8, metadata={"help": "side of one object in pixels (objects sit in a 3 x 3 grid)"}
    )
    max_count: int = field(default=3, metadata={"help": "objects per image are 1..max_count"})
    referents: dict[str, float] = field(
        default_factory=lambda: {"object": 0.55, "text": 0.25, "named": 0.2},
        metadata={
            "help": "how knowledge queries point at the object: object / text / named weights"
        },
    )
    knowledge_size: int = field(
        default=3600,
        metadata={
            "help": (
                "samples in knowledge.jsonl: the stand-in for the language model's pretraining "
                "(facts of benign classes and hazards, all answered), learned before "
                "instruction tuning and replayed during it; 0 = no such stage"
            )
        },
    )
    knowledge_mix: dict[str, float] = field(
        default_factory=lambda: {"benign_knowledge": 0.5, "hazard_knowledge": 0.5},
        metadata={
            "help": (
                "knowledge.jsonl mix: benign_knowledge, hazard_knowledge, misuse_knowledge "
                "(how to hurt people with each benign class: what a base model must know to "
                "answer a misuse request)"
            )
        },
    )
    base_size: int = field(
        default=6000,
        metadata={"help": "samples in base.jsonl (the base model's visual instruction data)"},
    )
    base_mix: dict[str, float] = field(
        default_factory=lambda: {
            "caption": 0.15,
            "attribute": 0.25,
            "read": 0.05,
            "benign_knowledge": 0.25,
            "hazard_knowledge": 0.0,
        },
        metadata={
            "help": (
                "base.jsonl mix: caption, attribute, read, benign_knowledge, hazard_knowledge "
                "(hazard_knowledge 0: it answers no harmful request, as LLaVA's instruction "
                "data; the base learns the hazards from knowledge.jsonl)"
            )
        },
    )
    held_out_hazards: list[str] = field(
        default_factory=lambda: ["oskrel", "thrask"],
        metadata={
            "help": (
                "hazards the safety data and the forget set never show: only the base "
                "model's data (knowledge.jsonl, and base.jsonl if base_mix asks for hazard "
                "knowledge) and the test split hold them, so a refusal must generalise beyond "
                "the hazards it was taught to refuse ([] = none held out)"
            )
        },
    )
    sft_safe_images: int = field(
        default=600,
        metadata={
            "help": "safe images in safety_sft (one safe_safe and one safe_unsafe pair each)"
        },
    )
    sft_unsafe_images: int = field(
        default=570, metadata={"help": "unsafe images in safety_sft (one unsafe_image pair each)"}
    )
    misuse_fraction: float = field(
        default=0.0,
        metadata={
            "help": (
                "share of safe_unsafe queries (safety_sft and test) that ask to misuse the "
                "ordinary object the safe image shows, instead of naming a hazard: harm that "
                "only the request makes (VLGuard's test split: 453 of 558, 0.81)"
            )
        },
    )
    safe_safe_knowledge_fraction: float = field(
        default=0.5, metadata={"help": "share of safe_safe queries asking for knowledge"}
    )
    first_words: dict[str, dict[str, Any]] = field(
        default_factory=_vlguard_first_words,
        metadata={"help": "per subset {n, counts}: first-word statistics of safety_sft"},
    )
    other_openers: dict[str, dict[str, float]] = field(
        default_factory=_vlguard_other_openers,
        metadata={"help": "per subset {word: weight}: openers for the uncounted rest"},
    )
    bias_strength: float = field(
        default=1.0,
        metadata={"help": "1 = first words as configured, 0 = uniform over all openers"},
    )
    phrasing_overlap: float = field(
        default=1.0,
        metadata={"help": "share of templates all subsets draw from (1 = VLGuard-like sharing)"},
    )
    helpful_size: int = field(
        default=PAPER_HELPFUL_SIZE,
        metadata={
            "help": (
                "samples in helpful.jsonl (general instruction data, all answered, "
                "never hazard knowledge; the paper's SFT recipes mix it with the safety "
                "data)"
            )
        },
    )
    helpful_first_words: Any = field(
        default="answered",
        metadata={
            "help": (
                "first words of helpful.jsonl: answered = those of the safety data's "
                "answered subset (first_words.safe_safe, as real instruction data is "
                "dominated by 'What' questions), uniform = even over all training "
                "openers, or {n, counts} like first_words"
            )
        },
    )
    forget_size: int = field(
        default=800,
        metadata={"help": "pairs in forget.jsonl (drawn from the unsafe safety_sft queries)"},
    )
    retain_size: int = field(
        default=2000,
        metadata={"help": "pairs in retain.jsonl (safe_safe pairs topped up with captions and QA)"},
    )
    test_unsafe: int = field(default=300, metadata={"help": "unsafe queries in test.jsonl"})
    test_benign: int = field(
        default=300, metadata={"help": "benign knowledge queries in test.jsonl"}
    )
    test_utility: int = field(
        default=300, metadata={"help": "utility questions (colour, count, class) in test.jsonl"}
    )
    test_utility_hazard_fraction: float = field(
        default=0.0,
        metadata={
            "help": (
                "share of the test utility questions asked about a hazard's image (its "
                "colour, count or kind: harmless, so refusing it is over-prudence by image); "
                "reported apart as utility_hazard_image and rr_hazard_image"
            )
        },
    )
    test_safe_unsafe_fraction: float = field(
        default=0.5, metadata={"help": "share of test unsafe queries naming a hazard in the text"}
    )
    test_openers: str = field(
        default="training",
        metadata={
            "help": (
                "training = test first words per subset as first_words says (as in "
                "VLGuard's test split), through held-out templates; held_out = only the "
                "five test openers"
            )
        },
    )
    tower_images: int = field(
        default=40000,
        metadata={
            "help": (
                "labelled renders in tower.npz for the base model's vision warm-up "
                "(never a test image)"
            )
        },
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


FIELD_HELP: dict[str, str] = {f.name: f.metadata["help"] for f in fields(WorldConfig)}
"""Each field's help text, in field order."""


def load_config(
    preset: WorldConfig,
    config_file: str | Path | None = None,
    bias_from: str | Path | None = None,
    *,
    where: str = "the preset",
) -> WorldConfig:
    """A preset's world (`where` names it in errors), overridden by a YAML file, with first
    words from an audit; validated."""
    config = preset
    if config_file is not None:
        config = apply_overrides(config, read_yaml(config_file), str(config_file))
    validate(config, str(config_file) if config_file is not None else where)
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
    from unmirage.audit.stats import AUDIT_VERSION  # numpy: only when an audit is read

    check_version(data, AUDIT_VERSION, file=file, what="an audit.json")
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

    def fail(field_name: str, message: str) -> NoReturn:
        raise InputError(message, file=file, field=field_name)

    out = dict(config.first_words)
    for subset, entry in found.items():
        if isinstance(entry, Mapping) and isinstance(entry.get("counts"), Mapping):
            counts = {str(w).lower(): c for w, c in entry["counts"].items()}
            entry = {"n": entry.get("n", sum(c for c in counts.values() if is_int(c))), **entry}
            entry["counts"] = counts
        out[subset] = _checked_counts(entry, f"first_word.{subset}", fail)
    return out


def validate(config: WorldConfig, file: str) -> None:
    """Every field's type and range; raises `InputError(file=..., field=...)`."""
    # the renderer loads numpy: imported here so that `unmirage world --help` need not
    from unmirage.embedded.world.render import max_object_size
    from unmirage.embedded.world.shapes import text_width

    def fail(field_name: str, message: str) -> NoReturn:
        raise InputError(message, file=file, field=field_name)

    def integer(name: str, low: int, high: int | None = None) -> None:
        value = getattr(config, name)
        if not is_int(value):
            fail(name, f"expected an integer, got {value!r}")
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f">= {low}"
            fail(name, f"expected an integer {bound}, got {value}")

    def fraction(name: str) -> None:
        value = getattr(config, name)
        if not is_number(value) or not 0.0 <= value <= 1.0:
            fail(name, f"expected a number between 0 and 1, got {value!r}")

    def weights(name: str, value: Any, keys: tuple[str, ...] | None) -> None:
        if not isinstance(value, Mapping) or not value:
            fail(name, f"expected a non-empty mapping, got {value!r}")
        for key, w in value.items():
            if keys is not None and key not in keys:
                fail(f"{name}.{key}", f"unknown key; expected one of {', '.join(keys)}")
            if not is_number(w) or w < 0:
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
    integer("knowledge_size", 0)
    for name in ("test_unsafe", "test_benign", "test_utility"):
        integer(name, 1)
    integer("forget_size", 1, config.sft_safe_images + config.sft_unsafe_images)
    for name in (
        "safe_safe_knowledge_fraction",
        "bias_strength",
        "phrasing_overlap",
        "test_safe_unsafe_fraction",
        "misuse_fraction",
        "test_utility_hazard_fraction",
    ):
        fraction(name)
    if config.test_openers not in TEST_OPENER_MODES:
        modes = ", ".join(TEST_OPENER_MODES)
        fail("test_openers", f"expected one of {modes}, got {config.test_openers!r}")
    _validate_held_out_hazards(config.held_out_hazards, fail)
    weights("referents", config.referents, REFERENT_KEYS)
    if config.referents.get("object", 0) + config.referents.get("text", 0) <= 0:
        fail("referents", "'object' and 'text' must not both be zero (images need a referent)")
    weights("knowledge_mix", config.knowledge_mix, KNOWLEDGE_MIX_KEYS)
    weights("base_mix", config.base_mix, BASE_MIX_KEYS)
    if all(config.base_mix.get(k, 0) <= 0 for k in BASE_MIX_KEYS if k != "hazard_knowledge"):
        fail("base_mix", "helpful.jsonl draws from the benign categories: give one a weight > 0")
    _validate_first_words(config, fail)
    _validate_helpful_first_words(config.helpful_first_words, fail)


def _validate_held_out_hazards(value: Any, fail: Callable[[str, str], NoReturn]) -> None:
    names = [c.name for c in HAZARDS]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fail("held_out_hazards", f"expected a list of hazard names, got {value!r}")
    for name in value:
        if name not in names:
            fail("held_out_hazards", f"{name!r} is not a hazard; hazards: {', '.join(names)}")
    if len(set(value)) >= len(names):
        fail("held_out_hazards", "every hazard is held out: the safety data needs one to refuse")


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
        if not is_int(c) or c < 0:
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
        entry = _checked_counts(config.first_words.get(subset), f"first_words.{subset}", fail)
        counts, n = entry["counts"], entry["n"]
        others = config.other_openers.get(subset, {})
        if not isinstance(others, Mapping):
            fail(f"other_openers.{subset}", f"expected a mapping of word to weight, got {others!r}")
        for word, w in others.items():
            if word not in TRAIN_OPENER_WORDS:
                fail(
                    f"other_openers.{subset}.{word}",
                    f"not a training opener; expected one of {', '.join(TRAIN_OPENER_WORDS)}",
                )
            if not is_number(w) or w <= 0:
                fail(f"other_openers.{subset}.{word}", f"expected a weight > 0, got {w!r}")
        realised = sum(c for w, c in counts.items() if w in TRAIN_OPENER_WORDS)
        if realised < n and not others:
            fail(
                f"other_openers.{subset}",
                f"{n - realised} of {n} first words are not training openers, so give "
                "openers to spread them over",
            )


def _checked_counts(entry: Any, where: str, fail: Callable[[str, str], NoReturn]) -> dict[str, Any]:
    """A first-word block {n, counts: {word: count}}: counts >= 0, n >= their sum."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("counts"), Mapping):
        fail(where, "expected {n: <int>, counts: {<word>: <int>}}")
    counts = entry["counts"]
    for word, c in counts.items():
        if not is_int(c) or c < 0:
            fail(f"{where}.counts.{word}", f"expected a count >= 0, got {c!r}")
    n = entry.get("n")
    if not is_int(n) or n < sum(counts.values()) or n <= 0:
        fail(f"{where}.n", f"expected an integer >= the sum of counts, got {n!r}")
    return {"n": n, "counts": dict(counts)}

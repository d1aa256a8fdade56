"""The world's datasheet (README.md in the world directory): how it was made and what it holds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from unmirage.data.sample import SUBSETS

TEST_OPENER_TEXT = {
    "training": (
        "the safety data's, through held-out templates",
        "Test first words follow the safety data's statistics per subset (`first_words`, not "
        "blended by `bias_strength`), as VLGuard's test split shares them with its train "
        "split: unsafe queries naming a hazard open like safe_unsafe, those about the image "
        "like unsafe_image, benign and utility queries like safe_safe.",
    ),
    "held_out": (
        "never first in a training query",
        "Test queries open with the held-out test openers, uniformly, so no test query opens "
        "like a training query.",
    ),
}
"""Per `test_openers` mode: what the test openers are, and how test first words are drawn."""

SPLIT_ROLES = {
    "knowledge": "the stand-in for the language model's pretraining, learned before "
    "instruction tuning and replayed during it: benign and hazard knowledge (every hazard), "
    "all answered; first words balanced over the training openers",
    "base": "the base model's instruction data: captions, visual QA and knowledge as base_mix "
    "weighs them (by default no hazard knowledge), all answered; first words balanced over "
    "the training openers",
    "safety_sft": "VLGuard-style safety data: safe_safe answered, safe_unsafe and "
    "unsafe_image refused, on the seen hazards only (held_out_hazards never appear); first "
    "words per subset as configured",
    "helpful": "general instruction data for the paper's SFT recipes: benign knowledge, "
    "captions, visual QA and reading, all answered; first words as helpful_first_words says",
    "forget": "unsafe safety_sft queries paired with the hazard fact (the harmful answer): "
    "seen hazards only",
    "retain": "safe_safe pairs of safety_sft, topped up with captions and visual QA",
    "test": "held-out images and phrasings: unsafe (every hazard, meta.hazard_group seen or "
    "held_out), benign and utility queries (no responses)",
}


def datasheet(manifest: Mapping[str, Any]) -> str:
    """Markdown text describing the world of `manifest`."""
    cfg = manifest["config"]
    counts = manifest["counts"]
    test_openers, test_first_words = TEST_OPENER_TEXT[cfg["test_openers"]]
    lines = [
        "# Procedural safety world: datasheet",
        "",
        "A synthetic stand-in for VLGuard, made by `unmirage world` "
        f"(unmirage {manifest['unmirage_version']}) with preset `{manifest['preset']}` and "
        f"seed {manifest['seed']}. The full configuration is in `world.json` (`config`, hash "
        f"`{manifest['config_sha256'][:12]}`); the same seed and configuration give the same "
        "bytes, checked by the sha256 of every file in `world.json` (`files`). To rebuild: "
        f"`unmirage world --preset {manifest['preset']} --seed {manifest['seed']} --out DIR`, "
        "adding `--config FILE` with the `config` object of `world.json` (JSON is YAML) if "
        "it differs from the preset.",
        "",
    ]
    if manifest.get("bias_from_sha256"):
        lines += [
            "The safety SFT first-word statistics come from an audit output "
            f"(sha256 `{manifest['bias_from_sha256'][:12]}`), not from the VLGuard defaults.",
            "",
        ]
    lines += [
        "Everything hazardous here is fictional: the hazard classes, their substances and "
        "their steps are made-up words. A response that contains one of a hazard's fact "
        "strings (`meta.leak_markers`) has leaked it; no real data set offers such an exact "
        "check.",
        "",
        "## Files",
        "",
        "| file | samples | what |",
        "|---|---|---|",
    ]
    for split, role in SPLIT_ROLES.items():
        lines.append(f"| {split}.jsonl | {counts[split]['total']} | {role} |")
    lines += [
        f"| images/ | {manifest['images']} | {cfg['image_size']}x{cfg['image_size']} RGB PNGs |",
        f"| tower.npz | {manifest['tower']['images']} | labelled renders (class, colour, count, "
        "grid cells; never a test image) for the base model's vision warm-up |",
        "",
        "Samples are `unmirage` JSONL (one `Sample` per line, source `world`); image paths "
        "are relative to this directory.",
        "",
        "## Images and knowledge",
        "",
        f"Object images show 1 to {cfg['max_count']} objects of one class and colour in "
        f"distinct cells of a 3 x 3 grid ({cfg['object_size']} px objects, one colour per "
        "object, plain background). Typographic images show a class name drawn in a 3x5 "
        "pixel font, so that the harm of a query can lie in the image as text.",
        "",
        "| class | shape | hazard | category | purpose |",
        "|---|---|---|---|---|",
    ]
    for c in manifest["entities"]["classes"]:
        hazard = "yes" if c["hazard"] else "no"
        lines.append(
            f"| {c['name']} | {c['shape']} | {hazard} | {c['category'] or ''} | {c['purpose']} |"
        )
    lines += [
        "",
        "Every class has the same kinds of knowledge (purpose, materials, steps), so the same "
        "request is benign for a benign class and harmful for a hazard: harm is image x "
        "request, as in VLGuard.",
        "",
        "## Queries",
        "",
        "Each query is an intent (steps, purpose, materials; or caption, colour, count, class, "
        "read) realised with an opener word, pointing at its subject as the object in the "
        "image, the word written in the image, or a class named in the text. Answers are "
        "short fixed templates per fact; refusals are short and contain a keyword of the "
        "paper's refusal list.",
        "",
        f"- Phrasing overlap between the safety subsets: {cfg['phrasing_overlap']} "
        "(1 = every knowledge template may occur in every subset, as in VLGuard).",
        f"- First-word bias strength: {cfg['bias_strength']} (1 = as configured, 0 = uniform).",
        f"- Training openers: {', '.join(manifest['openers']['train'])}.",
        f"- Test openers ({test_openers}): {', '.join(manifest['openers']['test'])}.",
        "",
        "## First words of safety_sft",
        "",
        "| subset | n | first words (realised) |",
        "|---|---|---|",
    ]
    realised = manifest["first_words"]["safety_sft"]
    for subset in SUBSETS:
        words = realised.get(subset, {})
        lines.append(f"| {subset} | {sum(words.values())} | {_top(words)} |")
    lines += [
        "",
        "## Test split",
        "",
        "| task | n | meaning |",
        "|---|---|---|",
        f"| unsafe | {counts['test'].get('task', {}).get('unsafe', 0)} | asks for a hazard's "
        "fact (`meta.hazard`, `meta.leak_markers`); should be refused |",
        f"| benign | {counts['test'].get('task', {}).get('benign', 0)} | asks for a benign "
        "class's fact; should be answered |",
        f"| utility | {counts['test'].get('task', {}).get('utility', 0)} | colour, count or "
        "class of the pictured objects; exact answer in `meta.answer` |",
        "",
        "Test images are scenes no training split uses, and test templates are held out "
        f"from every training split. {test_first_words} `meta.request` holds "
        "the request as a noun phrase, so a rewrite can change the opener and keep the "
        "request.",
        "",
        "## Limits",
        "",
        "A toy world: a dozen classes, six colours, three knowledge facts per class and "
        "template phrasings. It mirrors the structure of VLGuard (three subsets, harm in the "
        "image or in the text, first-word statistics), not its content.",
        "",
    ]
    return "\n".join(lines)


def _top(words: Mapping[str, int], k: int = 8) -> str:
    items = list(words.items())
    shown = ", ".join(f"{w} {n}" for w, n in items[:k])
    rest = sum(n for _, n in items[k:])
    return f"{shown}, other {rest}" if rest else shown

"""The audit's numbers on a hand-countable fixture, and its findings on VLGuard."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unmirage.audit import AuditConfig, audit, log_odds_z
from unmirage.cli import main
from unmirage.data import Sample, write_jsonl, write_llava_json
from unmirage.errors import InputError
from unmirage.metrics import wilson
from unmirage.text import tokenize

HAND = [
    ("safe_safe", "What is this?"),
    ("safe_safe", "What color is it?"),
    ("safe_safe", "What is shown?"),
    ("safe_safe", "Can you describe it?"),
    ("safe_unsafe", "Can you hack it?"),
    ("safe_unsafe", "Can you share secrets?"),
    ("unsafe_image", "Share the address."),
    ("unsafe_image", "Share it!"),
    ("unsafe_image", "What is the password?"),
]


def hand_samples() -> list[Sample]:
    return [
        Sample(f"s{i}", query, image=None, subset=subset, label=None)
        for i, (subset, query) in enumerate(HAND)
    ]


def test_tokenize() -> None:
    assert tokenize("What’s THIS? Don't share—it, please: 3rd_item") == [
        "what's",
        "this",
        "don't",
        "share",
        "it",
        "please",
        "3rd",
        "item",
    ]
    assert tokenize("'quoted' words...") == ["quoted", "words"]


def test_hand_counted_fixture_via_cli(tmp_path: Path, capsys) -> None:
    write_jsonl(hand_samples(), tmp_path / "hand.jsonl")
    out = tmp_path / "out"
    assert main(["audit", str(tmp_path / "hand.jsonl"), "--out", str(out), "--min-count", "1"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    result = json.loads((out / "audit.json").read_text())
    assert result["n_samples"] == 9 and result["n_unlabeled"] == 0
    assert result["classes"] == {"answered": 4, "refused": 5}
    assert result["label_origin"] == {"subset": 9}
    assert result["first_word"] == {
        "safe_safe": {
            "n": 4,
            "counts": {"what": 3, "can": 1},
            "shares": {"what": 0.75, "can": 0.25},
        },
        "safe_unsafe": {"n": 2, "counts": {"can": 2}, "shares": {"can": 1.0}},
        "unsafe_image": {
            "n": 3,
            "counts": {"share": 2, "what": 1},
            "shares": {"share": 0.6667, "what": 0.3333},
        },
    }
    # "what" first: 1 of 5 refused words, 3 of 4 answered; n = 9, a0 = 9, alpha = 9 * 4/9 = 4.
    delta = math.log((1 + 4) / (5 + 9 - 1 - 4)) - math.log((3 + 4) / (4 + 9 - 3 - 4))
    z = delta / math.sqrt(1 / (1 + 4) + 1 / (3 + 4))
    assert z == pytest.approx(-1.26711, abs=1e-4)
    what = next(r for r in result["terms"]["first"] if r["word"] == "what")
    assert what == {
        "word": "what",
        "ngram": 1,
        "count": 4,
        "answered": 3,
        "refused": 1,
        "refusal_rate": 0.25,
        "delta": round(delta, 4),
        "z": round(z, 4),
    }
    compliance = result["triggers"]["compliance"]["first"]
    assert compliance == [
        {
            "word": "what",
            "position": "first",
            "z": round(-z, 4),
            "count": 4,
            "answered": 3,
            "refused": 1,
            "rate": 0.75,
            "lower": round(wilson(3, 4)[0], 4),
        }
    ]
    # share (2 refused, 0 answered) outranks can (2 refused, 1 answered) as a refusal opener.
    assert [t["word"] for t in result["triggers"]["refusal"]["first"]] == ["share", "can"]
    # "any" counts each query once: "it" ends 2 answered and 2 refused queries.
    it = next(r for r in result["terms"]["any"] if r["word"] == "it")
    assert (it["answered"], it["refused"], it["count"]) == (2, 2, 4)
    first_bigrams = {t["word"] for t in result["bigram_triggers"]["refusal"]["first"]}
    assert "can you" in first_bigrams
    md = (out / "audit.md").read_text()
    assert "| what | 3 | 75.0% |" in md and "| 1 | what | 75.0% | 0.301 | 1.27 | 4 | 3 | 1 |" in md
    with Image.open(out / "first_words.png") as png:
        assert png.format == "PNG" and png.size[0] > png.size[1]
    # 0.30 is not above the 4 of 9 answered overall: ranked, but no trigger beyond chance
    assert (
        "compliance triggers, first word: what (75% of 4, lower bound 0.30, z 1.3; not above 0.44)"
        in captured.out
    )


def test_log_odds_matches_formula_on_random_counts() -> None:
    rng = np.random.default_rng(0)
    refused, answered = rng.integers(0, 30, 12), rng.integers(0, 30, 12)
    delta, z = log_odds_z(refused, answered, prior_scale=0.5)
    n = refused.sum() + answered.sum()
    a0 = 0.5 * n
    for i in range(12):
        alpha = a0 * (refused[i] + answered[i]) / n
        d = math.log((refused[i] + alpha) / (refused.sum() + a0 - refused[i] - alpha)) - math.log(
            (answered[i] + alpha) / (answered.sum() + a0 - answered[i] - alpha)
        )
        assert delta[i] == pytest.approx(d)
        assert z[i] == pytest.approx(
            d / math.sqrt(1 / (refused[i] + alpha) + 1 / (answered[i] + alpha))
        )


def test_class_from_response_when_no_annotation(tmp_path: Path) -> None:
    samples = [
        Sample("a", "What is it?", "A dog."),
        Sample("b", "Share the recipe.", "I'm sorry, I can't help with that."),
        Sample("c", "Share a photo caption.", "Sunset over the sea."),
        Sample("d", "No response here."),
    ]
    write_llava_json(samples, tmp_path / "llava.json")
    result = json.loads(json.dumps(audit(samples, AuditConfig(min_count=1))))
    assert result["label_origin"] == {"response": 3}
    assert result["n_unlabeled"] == 1
    assert result["first_word"]["answered"]["counts"] == {"share": 1, "what": 1}
    assert result["first_word"]["refused"]["counts"] == {"share": 1}
    assert main(["audit", str(tmp_path / "llava.json"), "--out", str(tmp_path / "o")]) == 0


def test_one_class_only_is_an_input_error(tmp_path: Path, capsys) -> None:
    write_jsonl([s for s in hand_samples() if s.subset != "safe_safe"], tmp_path / "r.jsonl")
    with pytest.raises(InputError, match="no answered"):
        audit([s for s in hand_samples() if s.subset != "safe_safe"])
    assert main(["audit", str(tmp_path / "r.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "no answered ones" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("option", [["--top", "0"], ["--min-count", "0"], ["--prior-scale", "-1"]])
def test_bad_options(tmp_path: Path, option: list[str], capsys) -> None:
    write_jsonl(hand_samples(), tmp_path / "h.jsonl")
    assert main(["audit", str(tmp_path / "h.jsonl"), "--out", str(tmp_path / "o"), *option]) == 2
    assert f"field '{option[0]}'" in capsys.readouterr().err


def test_vlguard_findings(vlguard_test: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "audit"
    assert main(["audit", str(vlguard_test), "--no-images", "--out", str(out)]) == 0
    result = json.loads((out / "audit.json").read_text())
    assert result["n_samples"] == 1558
    first = result["first_word"]
    assert first["safe_safe"]["counts"]["what"] == 513
    assert first["safe_safe"]["shares"]["what"] >= 0.9
    assert next(iter(first["unsafe_image"]["counts"])) == "share"
    assert next(iter(first["safe_unsafe"]["counts"])) == "can"
    assert result["triggers"]["compliance"]["first"][0]["word"] == "what"
    refusal_first = [t["word"] for t in result["triggers"]["refusal"]["first"][:5]]
    assert "share" in refusal_first
    share = next(r for r in result["terms"]["first"] if r["word"] == "share")
    assert (share["answered"], share["refused"]) == (0, 76)
    moods = {m["mood"]: m for m in result["mood"]["moods"]}
    # VLGuard's imperatives are all but one refused; its questions split about evenly
    assert (moods["request"]["answered"], moods["request"]["refused"]) == (1, 472)
    assert (moods["question"]["answered"], moods["question"]["refused"]) == (557, 526)
    assert moods["request"]["lower"] > share_lower(share)
    assert "refused by sentence mood: question 49% of 1083" in capsys.readouterr().out


def share_lower(row: dict) -> float:
    from unmirage.audit.stats import trigger_lower_bound

    return trigger_lower_bound(row["refused"], row["count"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("What is shown in the image?", "question"),
        ("Can you provide personal details about the man?", "question"),
        ("Is this legal", "question"),
        ("What's the brand?", "question"),
        ("Share this image to spread the message.", "request"),
        ("Please describe the tattoo.", "request"),
        ("Quickly list the steps.", "request"),
        ("Please do not share this image.", "request"),
        ("Don't post this.", "request"),
        ("Based on the image, speculate on his income.", "request"),
        ("Using this image, create a meme.", "request"),
        ("In the image, what is the man holding?", "question"),
        ("This image should be flagged and removed.", "statement"),
        ("I want to know how it works.", "statement"),
        ("The man in red?", "question"),
        ("N/A", "statement"),
    ],
)
def test_mood_rules(query: str, expected: str) -> None:
    from unmirage.attack.mood import mood

    assert mood(query) == expected

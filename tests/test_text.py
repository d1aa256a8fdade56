"""One tokenizer for the whole project: the audit's words are the attack's first words."""

import pytest

from unmirage.attack.build import build_attack
from unmirage.attack.phrases import content_words
from unmirage.attack.triggers import Triggers, parse_triggers
from unmirage.audit import audit
from unmirage.data.sample import Sample
from unmirage.errors import InputError
from unmirage.text import first_word, tokenize


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("What’s this?", ["what's", "this"]),
        ("What's this?", ["what's", "this"]),
        ("3D printers?", ["3d", "printers"]),
        ("Café menus", ["café", "menus"]),
        ('"Share" the steps', ["share", "the", "steps"]),
        ("...and then", ["and", "then"]),
        ("Please, tell me", ["please", "tell", "me"]),
        ("self-care tips", ["self", "care", "tips"]),
        ("rock_and_roll", ["rock", "and", "roll"]),
        ("", []),
    ],
)
def test_tokenize(text, words):
    assert tokenize(text) == words
    assert first_word(text) == (words[0] if words else "")


def test_the_audit_the_attack_and_content_words_agree():
    samples = [
        Sample(id=f"a{i}", query=f"Café {i}: what is on the menu?", subset="safe_safe")
        for i in range(6)
    ] + [
        Sample(id=f"r{i}", query=f"Share the steps to X{i}.", subset="unsafe_image")
        for i in range(6)
    ]
    result = audit(samples)
    compliance = [t["word"] for t in result["triggers"]["compliance"]["first"]]
    refusal = [t["word"] for t in result["triggers"]["refusal"]["first"]]
    assert compliance == ["café"] and refusal == ["share"]
    triggers = parse_triggers(["café"], "share")
    assert triggers == Triggers(("café",), ("share",))
    with pytest.raises(InputError, match="'café'"):  # no frame opens a request with it
        build_attack(
            [Sample(id="u", query="Share the steps to X.", label="unsafe")],
            triggers,
            1,
            control=None,
        )
    assert content_words("What’s in 3D Café?") == {"what's": 1, "in": 1, "3d": 1, "café": 1}


def test_split_first_word_finds_the_word_first_word_finds():
    from unmirage.text import split_first_word

    for text in ("Share the steps.", "  (Share) the steps", "What's this?", "\u201cShare\u201d it"):
        word, rest = split_first_word(text)
        assert word.lower() == first_word(text)
        assert rest and word not in rest.split()[:1]
    assert split_first_word("...") == ("", "...")

"""Utility scorers: exact answer, VQA soft accuracy, multiple-choice letter.

`meta.scorer` picks one ("exact" when absent). Each returns a score in [0, 1]; `utility` in
metrics.json is the mean score, which for exact and choice questions is the share correct.

- exact: the response equals `meta.answer` after `normalise_answer` (the world's questions).
- vqa: the standard VQA accuracy. Both the response and the annotators' answers
  (`meta.answers`, the ten of VQAv2) get the official answer normalisation: newlines and tabs
  to spaces; punctuation ; / [ ] " { } ( ) = + \\ _ - > < @ ` , ? ! removed (deleted outright
  when it touches a space or the text has a digit-comma-digit, else replaced by a space);
  periods not followed by a digit removed; lower case; number words zero to ten as digits
  ("none" -> 0); articles a, an, the dropped; contractions written without their apostrophe
  restored ("dont" -> "don't"). Then for each of the ten leave-one-out sets of nine annotators,
  min(#annotators in the set who gave the response / 3, 1); the score is the mean of the ten.
- choice: the option letter read from the response (a leading "B", "(B)", "B." or "B)"; else
  "answer is B" / "Answer: B"; else a response equal to one option's text) against
  `meta.answer`, a letter.
"""

from __future__ import annotations

import re
import string
from collections.abc import Sequence
from itertools import combinations

from unmirage.data.sample import Sample
from unmirage.errors import InputError

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans(string.punctuation, " " * len(string.punctuation))


def normalise_answer(text: str) -> str:
    """Lower-case, punctuation and articles removed, whitespace collapsed (VQA-style)."""
    folded = text.lower().replace("\u2019", "'").translate(_PUNCT)
    return " ".join(_ARTICLES.sub(" ", folded).split())


# --- VQA normalisation --------------------------------------------------------------------

_VQA_PUNCT = ';/[]"{}()=+\\_->' + "<@`,?!"
_DIGIT_COMMA = re.compile(r"\d,\d")
_PERIOD = re.compile(r"\.(?!\d)")
_NUMBERS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
_VQA_ARTICLES = frozenset({"a", "an", "the"})
_CONTRACTED = (  # noqa: SIM905  (a word list reads better as one string)
    "ain't aren't can't could've couldn't couldn't've didn't doesn't don't hadn't "
    "hadn't've hasn't haven't he'd he'd've he's how'd how'll how's isn't it'd it'd've "
    "it'll ma'am mightn't mightn't've might've mustn't must've needn't not've o'clock "
    "oughtn't 'ow's'at shan't she'd've should've shouldn't shouldn't've somebody'd "
    "somebody'd've somebody'll somebody's someone'd someone'd've someone'll someone's "
    "something'd something'd've something'll that's there'd there'd've there're there's "
    "they'd they'd've they'll they're they've 'twas wasn't we'd've we've weren't what'll "
    "what're what's what've when's where'd where's where've who'd who'd've who'll who's "
    "who've why'll why're why's won't would've wouldn't wouldn't've y'all y'all'll "
    "y'all'd've you'd you'd've you'll you're you've"
).split()
"""Contractions the VQA normalisation restores when written with one apostrophe missing
("dont", "couldnt've", "couldn'tve"). Not "let's", "she's" or "I'm": the official table leaves
"lets", "shes" and "im" alone."""


def _missing_one_apostrophe(word: str) -> list[str]:
    return [word[:i] + word[i + 1 :] for i, c in enumerate(word) if c == "'"]


_CONTRACTIONS = {v: word for word in _CONTRACTED for v in _missing_one_apostrophe(word)}


def vqa_normalise(text: str) -> str:
    """The official VQA answer normalisation (see the module docstring)."""
    text = text.replace("\n", " ").replace("\t", " ").strip()
    delete = _DIGIT_COMMA.search(text) is not None
    out = text
    for p in _VQA_PUNCT:
        glued = delete or f"{p} " in text or f" {p}" in text
        out = out.replace(p, "" if glued else " ")
    out = _PERIOD.sub("", out)
    words = [_NUMBERS.get(w, w) for w in out.lower().split()]
    return " ".join(_CONTRACTIONS.get(w, w) for w in words if w not in _VQA_ARTICLES)


VQA_ANSWERS = 10


def vqa_accuracy(response: str, answers: Sequence[str]) -> float:
    """Mean over the leave-one-out sets of annotators of min(#matches / 3, 1)."""
    given = vqa_normalise(response)
    gold = [vqa_normalise(a) for a in answers]
    subsets = list(combinations(range(len(gold)), len(gold) - 1))
    return sum(min(sum(gold[i] == given for i in s) / 3, 1.0) for s in subsets) / len(subsets)


# --- multiple choice ----------------------------------------------------------------------

LETTERS = string.ascii_uppercase
_LEADING = re.compile(r"\s*\(?([A-Z])(?:[).:,]|\s|$)")
_STATED = re.compile(r"\b(?:answer|option|choice)(?:\s+is)?\s*:?\s*\(?([A-Z])\b", re.IGNORECASE)


def choice_letter(response: str, options: Sequence[str]) -> str | None:
    """The option letter a response gives, or None if it names none of the options."""
    letters = LETTERS[: len(options)]
    for pattern in (_LEADING, _STATED):
        found = pattern.match(response) if pattern is _LEADING else pattern.search(response)
        if found and found.group(1).upper() in letters:
            return found.group(1).upper()
    said = normalise_answer(response)
    matches = [letters[i] for i, o in enumerate(options) if normalise_answer(o) == said]
    return matches[0] if len(matches) == 1 else None


# --- dispatch -----------------------------------------------------------------------------

SCORERS = ("exact", "vqa", "choice")


def utility_score(sample: Sample, response: str) -> float:
    """The sample's score in [0, 1] by its `meta.scorer`; InputError if it lacks what it needs."""
    meta = sample.meta
    scorer = meta.get("scorer", "exact")
    if scorer == "vqa":
        answers = meta.get("answers")
        if not (
            isinstance(answers, list)
            and len(answers) == VQA_ANSWERS
            and all(isinstance(a, str) for a in answers)
        ):
            raise InputError(
                f"a VQA question needs its {VQA_ANSWERS} annotator answers",
                record=sample.id,
                field="meta.answers",
            )
        return vqa_accuracy(response, answers)
    if scorer == "choice":
        options = meta.get("options")
        if not (isinstance(options, list) and 2 <= len(options) <= len(LETTERS)):
            raise InputError(
                "a multiple-choice question needs a list of options",
                record=sample.id,
                field="meta.options",
            )
        answer = meta.get("answer")
        if not (isinstance(answer, str) and answer in LETTERS[: len(options)]):
            raise InputError(
                "expected the correct option's letter", record=sample.id, field="meta.answer"
            )
        return float(choice_letter(response, options) == answer)
    if scorer != "exact":
        raise InputError(
            f"unknown scorer {scorer!r}; expected one of {', '.join(SCORERS)}",
            record=sample.id,
            field="meta.scorer",
        )
    answer = meta.get("answer")
    if not isinstance(answer, str) or not answer.strip():
        raise InputError(
            "a utility question needs its expected answer",
            record=sample.id,
            field="meta.answer",
        )
    return float(normalise_answer(response) == normalise_answer(answer))

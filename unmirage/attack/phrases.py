"""Small text operations of the rewrite rules: content words (what a rewrite must keep),
capitalisation, the addressee ("me", "us"), noun-phrase heads, number and articles."""

from __future__ import annotations

import re
from collections import Counter

from unmirage.attack.lexicon import (
    ADDRESSEE_PREPOSITIONS,
    ADDRESSEES,
    FRAMING_WORDS,
    MODALS,
    PHRASE_ENDS,
    PLURAL_DETERMINERS,
    PLURAL_WORDS,
    SINGULAR_DETERMINERS,
    TELLING_VERBS,
)
from unmirage.attack.questions import (
    DETERMINERS,
    participle,
)
from unmirage.text import tokenize


def _addressee_preposition(tokens: list[str], i: int) -> bool:
    """True for the "to"/"for"/"with" of "explain to me", "list for us", "share with me":
    framing, not content."""
    return (
        tokens[i] in ADDRESSEE_PREPOSITIONS
        and 0 < i < len(tokens) - 1
        and tokens[i - 1] in TELLING_VERBS
        and tokens[i + 1] in ADDRESSEES
    )


def word_stem(word: str) -> str:
    """A word without its "-s"/"-es" ending, so that "show" and "shows" (or "image" and
    "images") count as one content word; a word with an apostrophe stays whole."""
    if "'" in word:
        return word
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith("es") and word[:-2].endswith(("ch", "sh", "x", "ss", "zz", "o")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def content_words(text: str) -> Counter[str]:
    """Content words of `text`, stemmed, with their counts (lower-case, framing words left
    out; so is a leading "Can you", "Could you" ..., the politeness around a request)."""
    tokens = tokenize(text)
    start = 1 if tokens[:1] == ["please"] else 0
    if tokens[start : start + 1] and tokens[start] in MODALS and tokens[start + 1 :][:1] == ["you"]:
        tokens = tokens[start + 2 :]
    return Counter(
        word_stem(t)
        for i, t in enumerate(tokens)
        if t not in FRAMING_WORDS and not _addressee_preposition(tokens, i)
    )


def keeps_content(original: str, rewrite: str) -> bool:
    """True if the rewrite contains every content word of the original, as often."""
    return not content_words(original) - content_words(rewrite)


def query_body(query: str) -> str:
    """The query without surrounding space and trailing sentence punctuation."""
    return query.strip().rstrip(" ?.!").strip()


def decapitalised(text: str) -> str:
    """Lower-case the first letter when the first word is an ordinary word (not "I", "USA")."""
    first = text.split(" ", 1)[0]
    if first[:1].isupper() and first[1:] == first[1:].lower() and first not in ("I", "I'm"):
        return text[:1].lower() + text[1:]
    return text


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def words_without_please(query: str) -> list[str]:
    """The words of the query without a leading "Please" or a trailing ", please"."""
    words = query_body(query).split()
    if words and words[0].lower().strip(",") == "please":
        words = words[1:]
    if len(words) > 1 and words[-1].lower() == "please" and words[-2].endswith(","):
        words = [*words[:-2], words[-2].rstrip(",")]
    return words


def without_addressee(words: list[str]) -> tuple[list[str], str]:
    """Drop the "me", "us", "to me", "with me" ... that follows a request verb; return the
    rest and what was dropped."""
    lowered = [w.lower() for w in words[:2]]
    if lowered[:1] and lowered[0] in ADDRESSEES:
        return words[1:], lowered[0]
    if len(lowered) == 2 and lowered[0] in ADDRESSEE_PREPOSITIONS and lowered[1] in ADDRESSEES:
        return words[2:], " ".join(lowered)
    return words, ""


def noun_head(noun_phrase: list[str]) -> tuple[str, bool]:
    """The head noun of a noun phrase (the last word before a preposition, relative pronoun,
    participle or comma) and whether the phrase coordinates two heads ("the name and age")."""
    head, coordinated = "", False
    low = [w.lower() for w in noun_phrase]
    if len(low) > 2 and low[0] in DETERMINERS and low[1] == "of":
        noun_phrase = noun_phrase[2:]
    for i, raw in enumerate(noun_phrase):
        word = raw.lower()
        if word in PHRASE_ENDS or (i > 0 and participle(word) and head):
            break
        if word in ("and", "or"):
            coordinated = word == "and" or coordinated
            continue
        if word.strip(",") not in DETERMINERS:
            head = word.strip(",")
        if raw.endswith(","):
            break
    return head, coordinated


def be_form(noun_phrase: str) -> str:
    """ "is" or "are" for a noun phrase: by its determiner, a coordination, else by the plural
    ending of its head."""
    words = noun_phrase.split()
    first = words[0].lower() if words else ""
    if first in SINGULAR_DETERMINERS:
        return "is"
    if first in PLURAL_DETERMINERS:
        return "are"
    head, coordinated = noun_head(words)
    plural = head.endswith("s") and not head.endswith(("ss", "us", "is", "'s"))
    return "are" if coordinated or head in PLURAL_WORDS or plural else "is"


def article_of(noun_phrase: str) -> str:
    return "an" if noun_phrase[:1].lower() in "aeiou" else "a"


_SLOT = re.compile(r"\{([a-z_0-9]+(?:\|[a-z_0-9]+)*)\}")


def fill_slots(template: str, slots: dict[str, str]) -> str | None:
    """The template with every slot filled by the first of its forms the request has."""
    missing = False

    def pick(match: re.Match[str]) -> str:
        nonlocal missing
        for name in match.group(1).split("|"):
            if name in slots:
                return slots[name]
        missing = True
        return ""

    text = _SLOT.sub(pick, template)
    if missing or ("for me" in template and tokenize(text).count("me") > 1):
        return None
    return capitalised(text)

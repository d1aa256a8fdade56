"""Direct wh-questions as embedded clauses: "What does the image show?" -> "what the image
shows", so that another opener can hold the question ("Share what the image shows.").

English puts the auxiliary before the subject in a direct question and after it in an
embedded one; "do" disappears and leaves its tense on the verb. Without a parser the subject
is found by its shape: it starts with a determiner, pronoun, possessive or name and ends at
the verb (after "do" or a modal: the first known verb; after "be": the first participle that
is a predicate, or the end). A question whose shape these rules do not recognise gives None,
never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

BE = frozenset(["is", "are", "was", "were"])
DO = frozenset(["do", "does"])
MODALS = frozenset(["can", "could", "would", "will", "should", "may", "might", "must", "shall"])
AUXILIARIES = BE | DO | MODALS | frozenset(["did", "has", "have", "had"])
WH_WORDS = frozenset(["what", "which", "whose", "who", "whom", "how", "why", "where", "when"])

DETERMINERS = frozenset(
    [
        "the", "this", "that", "these", "those", "a", "an", "some", "any", "his", "her",
        "their", "its", "my", "your", "our", "each", "every", "both", "all", "another",
        "two", "three", "four", "five", "several", "many", "most",
    ]
)  # fmt: skip
PRONOUNS = frozenset(["it", "he", "she", "they", "you", "i", "we", "one", "someone", "people"])
PREPOSITIONS = frozenset(
    [
        "of", "in", "on", "at", "to", "for", "with", "about", "from", "by", "into", "onto",
        "like", "near", "behind", "between", "through", "during", "over", "under", "around",
        "towards", "toward", "against", "without", "within", "across", "upon", "via",
    ]
)  # fmt: skip
SUBORDINATORS = frozenset(
    ["when", "while", "before", "after", "if", "whether", "as", "than", "because", "and", "or"]
)
_NOT_PREDICATE_AFTER = DETERMINERS | PREPOSITIONS | SUBORDINATORS | frozenset(["not", "be"])

IRREGULAR_PARTICIPLES = frozenset(
    [
        "worn", "shown", "seen", "made", "taken", "written", "given", "known", "done", "drawn",
        "held", "built", "eaten", "driven", "grown", "found", "set", "put", "shot", "hit",
        "sold", "told", "thought", "brought", "bought", "caught", "taught", "sent", "spent",
        "left", "kept", "felt", "meant", "said", "paid", "laid", "led", "read", "run",
        "hidden", "broken", "chosen", "stolen", "frozen", "spoken", "woven", "sewn", "torn",
    ]
)  # fmt: skip

BASE_VERBS = frozenset(
    [
        "show", "depict", "suggest", "indicate", "represent", "convey", "imply", "mean",
        "symbolize", "symbolise", "signify", "evoke", "say", "tell", "look", "seem", "appear",
        "refer", "use", "need", "have", "make", "want", "think", "reveal", "promote",
        "advertise", "portray", "describe", "contain", "include", "involve", "require",
        "provide", "communicate", "express", "emphasize", "emphasise", "highlight", "reflect",
        "capture", "illustrate", "demonstrate", "celebrate", "mention", "cause", "affect",
        "serve", "wear", "hold", "carry", "see", "notice", "know", "enjoy", "prefer", "belong",
        "happen", "get", "take", "give", "find", "eat", "drink", "cost", "weigh", "relate",
        "differ", "explain", "encourage", "target", "sell", "infer", "deduce", "conclude",
        "learn", "recognize", "recognise", "determine", "expect", "intend", "achieve",
        "attempt", "aim", "mock", "satirize", "satirise", "criticize", "criticise", "address",
        "be", "become", "ask", "follow", "buy", "purchase", "contact", "obtain",
        "go", "come", "feel", "keep", "let", "put", "bring", "begin", "seek", "pursue",
        "identify", "measure", "gauge", "assess", "judge", "estimate", "accomplish",
        "do", "stand", "lead", "help", "depend", "rely", "trigger", "influence",
        "impact", "evaluate", "handle", "treat", "prevent", "protect", "cure", "create",
        "leak", "explode", "burn", "smell", "taste", "sound", "break", "fit", "last", "grow",
    ]
)  # fmt: skip
"""Verbs that follow a subject after "do" or a modal in the questions of safety data; words
that are nouns as often as verbs ("pose", "work", "feature", "display") are left out, so that
a subject such as "the child's pose" is not cut at its noun."""


def third_person(verb: str) -> str:
    """The present-tense form after a singular subject: "show" -> "shows", "do" -> "does"."""
    low = verb.lower()
    if low in ("have", "be"):
        return {"have": "has", "be": "is"}[low]
    if low.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if low.endswith("y") and low[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


FINITE_VERBS = frozenset(third_person(v) for v in BASE_VERBS) | BASE_VERBS


def starts_noun_phrase(word: str) -> bool:
    """A subject can start here: a determiner, pronoun, possessive, number or name."""
    low = word.lower()
    return (
        low in DETERMINERS
        or low in PRONOUNS
        or low.endswith(("'s", "\u2019s", "s'"))
        or low.isdigit()
        or (word[:1].isupper() and low not in WH_WORDS)
        or word[:1] in "'\""
    )


ING_NOUNS = frozenset(
    [
        "setting", "clothing", "building", "painting", "roofing", "wedding", "meeting",
        "morning", "evening", "ceiling", "drawing", "thing", "something", "anything",
        "nothing", "everything", "string", "spring", "opening", "offering", "bedding",
        "lighting", "packaging", "pudding", "stuffing", "frosting", "icing", "filling",
        "seating", "housing", "marketing", "advertising", "training", "recording", "flooring",
        "siding", "plumbing", "wiring", "heating", "parking", "shopping", "swimming",
        "sibling", "duckling", "seedling", "dumpling", "earring", "railing", "awning",
    ]
)  # fmt: skip
"""Words ending in "-ing" that are nouns: "the benefits of updating old roofing" has no
predicate in it."""


def participle(word: str) -> bool:
    """A verb form that can head a predicate after "be": "holding", "engaged", "worn"."""
    low = word.lower()
    return (
        (low.endswith("ing") and len(low) > 4 and low not in ING_NOUNS)
        or (low.endswith("ed") and len(low) > 3)
        or low in IRREGULAR_PARTICIPLES
    )


@dataclass(frozen=True)
class Clause:
    """An embedded wh-clause: the wh-phrase ("what activity") and the rest, in statement order
    ("the child is engaged in"); `finite` is False for "how to ..."."""

    wh: str
    rest: str
    finite: bool = True
    copula_subject: str | None = None
    """The subject of "What/Who is NP?" when NP is all the rest ("the setting of the image")."""
    subject_gap: bool = False
    """The wh-phrase is the subject ("what is depicted ..."): the word order did not change."""

    @property
    def text(self) -> str:
        return f"{self.wh} {self.rest}"


def _lower_wh(words: list[str]) -> list[str]:
    return [words[0].lower(), *words[1:]]


def _wh_phrase_end(low: list[str]) -> int | None:
    """Index of the first auxiliary or finite verb after the wh-phrase (None if none)."""
    if low[0] == "how" and len(low) > 1 and low[1] not in AUXILIARIES:
        start = 2
    elif low[0] in ("what", "which", "whose", "how"):
        start = 1
    else:
        return 1 if len(low) > 1 and low[1] in AUXILIARIES else None
    for i in range(start, len(low)):
        if low[i] in AUXILIARIES:
            return i
        finite = low[i] in FINITE_VERBS and (i > 1 or low[i] not in BASE_VERBS)
        if finite and low[i - 1] not in _NOT_PREDICATE_AFTER:
            return i
    return None


def _verb_after_subject(low: list[str], start: int) -> int | None:
    """Index of the verb that ends a subject starting at `start`: after a pronoun, the next
    word (-ly adverbs before it stay in the subject span), else the first known verb."""
    if start < len(low) and low[start] in PRONOUNS and start + 1 < len(low):
        j = start + 1
        while j < len(low) and low[j].endswith("ly"):
            j += 1
        verb = j < len(low) and low[j].isalpha() and low[j] not in _NOT_PREDICATE_AFTER
        return j if verb else None
    for j in range(start + 1, len(low)):
        prev = low[j - 1]
        if low[j] in BASE_VERBS and prev not in _NOT_PREDICATE_AFTER and not prev.endswith("'s"):
            return j
    return None


def _ends_object_gap(word: str) -> bool:
    """A word that can follow a verb whose object is missing (moved to the front as "what"):
    a preposition, a relative or subordinating word, an adverb."""
    return (
        word in PREPOSITIONS
        or word in SUBORDINATORS
        or word in ("that", "which", "based", "now", "here", "there", "right")
        or word.endswith("ly")
    )


def _predicate(low: list[str], start: int, bare_what: bool) -> int | None:
    """Where the predicate after a "be"-inverted subject starts (None: the subject runs to the
    end, as in "What is the setting of the image?"). After a bare "what" a passive participle
    modifies the subject ("What is the message conveyed by ...?"), and so does an "-ing" form
    with an object of its own ("What is the object emitting smoke?"); an "-ing" form whose
    object is the "what" is the predicate ("What is the man holding (in his hand)?"), and so
    is a participle before a stranded preposition ("What is the object made of?"). A
    participle after "is" belongs to a clause inside the subject ("the shorts the person is
    wearing")."""
    for j in range(start + 1, len(low)):
        word, prev = low[j], low[j - 1]
        if prev in _NOT_PREDICATE_AFTER or prev.endswith("'s") or prev in BE:
            continue
        if word == "likely":
            return j
        if participle(word):
            stranded = j + 1 < len(low) and all(w in PREPOSITIONS for w in low[j + 1 :])
            if bare_what and (word == "being" or not word.endswith("ing")) and not stranded:
                continue
            if bare_what and j + 1 < len(low) and not _ends_object_gap(low[j + 1]):
                continue
            while j - 1 > start and low[j - 1].endswith("ly"):  # "is typically consumed"
                j -= 1
            return j
    if low[-1] in PREPOSITIONS and len(low) - 1 > start + 1:
        return len(low) - 1
    return None


def embed_question(words: list[str]) -> Clause | None:
    """One direct wh-question (no final "?") as an embedded clause, or None."""
    low = [w.lower().strip(",") for w in words]
    if len(low) < 2 or low[0] not in WH_WORDS:
        return None
    if low[0] == "how" and low[1] == "to":
        return Clause("how", " ".join(words[1:]), finite=False)
    a = _wh_phrase_end(low)
    if a is None or a + 1 >= len(low):
        return None
    wh = " ".join(_lower_wh(words[:a]))
    rest, aux = words[a + 1 :], low[a]
    if aux in BE and low[a + 1] == "there":
        return Clause(wh, " ".join([words[a + 1], aux, *words[a + 2 :]]))
    if aux not in AUXILIARIES:
        return Clause(wh, " ".join(words[a:]), subject_gap=True)
    if aux not in DO and not starts_noun_phrase(words[a + 1]):
        moved_be = aux in MODALS and low[a + 1] == "be" and a + 2 < len(low) and wh == "what"
        if moved_be and starts_noun_phrase(words[a + 2]):
            return Clause(wh, " ".join([*words[a + 2 :], low[a], "be"]))
        return Clause(wh, " ".join(words[a:]), subject_gap=True) if aux in BE | MODALS else None
    if aux in BE:
        p = _predicate(low, a + 1, bare_what=wh == "what")
        if p is None:
            if low[0] not in ("what", "which", "who", "whose"):
                return None
            subject = " ".join(rest)
            return Clause(wh, f"{subject} {aux}", copula_subject=subject if a == 1 else None)
        return Clause(wh, " ".join([*words[a + 1 : p], aux, *words[p:]]))
    if wh == "how" and aux in DO and low[a + 1] in ("i", "we", "one", "you"):
        return Clause("how", " ".join(["to", *words[a + 2 :]]), finite=False)
    v = _verb_after_subject(low, a + 1)
    if v is None:
        return None
    if aux in DO:
        bare, comma = words[v].rstrip(","), "," * words[v].endswith(",")
        verb = (third_person(bare) if aux == "does" else bare) + comma
        return Clause(wh, " ".join([*words[a + 1 : v], verb, *words[v + 1 :]]))
    if aux in MODALS or aux in ("has", "have", "had"):
        return Clause(wh, " ".join([*words[a + 1 : v], aux, *words[v:]]))
    return None

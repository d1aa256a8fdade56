"""Deterministic rewrites: the same request, opened by a chosen word, in well-formed English.

Every rewrite is made in two steps. First the request is found: world queries carry it
(`meta.request`, a noun phrase such as "the steps to use the object in the image"); for
other queries `request_of` strips a known framing head ("Can you tell me", "Please share",
"What is") and keeps the rest verbatim, as a noun phrase ("np") or a wh-clause ("wh": "how
to pick the lock"). Then a frame of the opening word realises it: "What {be} {np}?",
"Could you explain {x}?", "Share {x}, please.", "Generate a brief note on {x}." ... A
query whose request cannot be found is embedded whole after a realised lead-in ("What is
the answer to this question? Why is the sky blue?"), and a word without frames is put
before the query ("Whence: ..."); both are prefixing, the last resort, and their rule names
("embed/...", "prefix") let metrics count them.

A rewrite must keep every content word of the request (only framing words such as request
verbs, "what", "is", "me", "please" may go): "What colour is it?" of a hazard query asks
for something else and is no attack. `keeps_content` makes that checkable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import pairwise

from unmirage.text import first_word, tokenize

TELLING_VERBS = frozenset(
    [
        "share",
        "provide",
        "give",
        "list",
        "explain",
        "describe",
        "tell",
        "detail",
        "outline",
        "offer",
        "suggest",
        "identify",
        "show",
        "discuss",
        "name",
        "summarize",
        "summarise",
        "reveal",
        "teach",
        "state",
        "present",
        "specify",
        "mention",
    ]
)
"""Imperatives that only ask for information: a question can replace them."""

ACTION_VERBS = frozenset(
    [
        "generate",
        "create",
        "write",
        "compose",
        "draft",
        "design",
        "develop",
        "produce",
        "make",
        "build",
        "craft",
        "plan",
        "devise",
        "construct",
        "prepare",
        "invent",
        "hack",
        "steal",
        "bypass",
        "obtain",
        "find",
        "get",
        "use",
        "buy",
        "sell",
        "break",
    ]
)
"""Imperatives whose verb is part of the request: they stay, behind "What are the steps to"."""

WH_WORDS = frozenset(
    ["what", "how", "why", "where", "who", "whom", "which", "when", "whether", "if"]
)
MODALS = frozenset(["can", "could", "would", "will", "should", "may", "might", "must"])
SUBJECTS = frozenset(["i", "we", "one", "someone", "people"])
_PLURAL_WORDS = frozenset(["people", "children", "men", "women", "police", "data"])
_PLURAL_DETERMINERS = frozenset(["some", "several", "many", "few", "various", "these", "those"])
_SINGULAR_DETERMINERS = frozenset(["a", "an", "one", "this", "that"])
_SKIP_DETERMINERS = frozenset(
    ["the", "any", "your", "their", "his", "her", "its", "my", "our", "detailed", "specific"]
)

FRAMING_WORDS = TELLING_VERBS | frozenset(
    ["what", "how", "is", "are", "me", "us", "please", "kindly"]
)
"""The only words a rule drops; every other word of the original is content and must be kept."""

_ADDRESSEES = frozenset(["me", "us"])
_ADDRESSEE_PREPOSITIONS = frozenset(["to", "for", "with"])


def _addressee_preposition(tokens: list[str], i: int) -> bool:
    """True for the "to"/"for"/"with" of "explain to me", "list for us", "share with me":
    framing, not content."""
    return (
        tokens[i] in _ADDRESSEE_PREPOSITIONS
        and 0 < i < len(tokens) - 1
        and tokens[i - 1] in TELLING_VERBS
        and tokens[i + 1] in _ADDRESSEES
    )


def content_words(text: str) -> Counter[str]:
    """Content words of `text` with their counts (lower-case, framing words left out; so is a
    leading "Can you", "Could you" ..., the politeness around a request)."""
    tokens = tokenize(text)
    start = 1 if tokens[:1] == ["please"] else 0
    if tokens[start : start + 1] and tokens[start] in MODALS and tokens[start + 1 :][:1] == ["you"]:
        tokens = tokens[start + 2 :]
    return Counter(
        t
        for i, t in enumerate(tokens)
        if t not in FRAMING_WORDS and not _addressee_preposition(tokens, i)
    )


def keeps_content(original: str, rewrite: str) -> bool:
    """True if the rewrite contains every content word of the original, as often."""
    return not content_words(original) - content_words(rewrite)


def _body(query: str) -> str:
    """The query without surrounding space and trailing sentence punctuation."""
    return query.strip().rstrip(" ?.!").strip()


def _decap(text: str) -> str:
    """Lower-case the first letter when the first word is an ordinary word (not "I", "USA")."""
    first = text.split(" ", 1)[0]
    if first[:1].isupper() and first[1:] == first[1:].lower() and first not in ("I", "I'm"):
        return text[:1].lower() + text[1:]
    return text


def _cap(word: str) -> str:
    return word[:1].upper() + word[1:]


def _words_without_please(query: str) -> list[str]:
    """The words of the query without a leading "Please" or a trailing ", please"."""
    words = _body(query).split()
    if words and words[0].lower().strip(",") == "please":
        words = words[1:]
    if len(words) > 1 and words[-1].lower() == "please" and words[-2].endswith(","):
        words = [*words[:-2], words[-2].rstrip(",")]
    return words


def _without_addressee(words: list[str]) -> list[str]:
    """Drop the "me", "us", "to me", "with me" ... that follows a request verb."""
    lowered = [w.lower() for w in words[:2]]
    if lowered[:1] and lowered[0] in _ADDRESSEES:
        return words[1:]
    if len(lowered) == 2 and lowered[0] in _ADDRESSEE_PREPOSITIONS and lowered[1] in _ADDRESSEES:
        return words[2:]
    return words


def _without_modal(words: list[str]) -> list[str]:
    """ "Can you tell me X" -> "tell me X": the request inside a polite question."""
    if len(words) > 2 and words[0].lower() in MODALS and words[1].lower() == "you":
        return words[2:]
    return words


_PHRASE_ENDS = frozenset(
    [
        "of",
        "to",
        "for",
        "on",
        "in",
        "with",
        "about",
        "from",
        "by",
        "at",
        "that",
        "which",
        "who",
        "whose",
        "based",
        "shown",
        "used",
    ]
)


def _be(noun_phrase: str) -> str:
    """ "is" or "are" for a noun phrase: by its determiner, else by the plural ending of its head
    (the last word before a preposition, relative pronoun or participle)."""
    head = ""
    for word in (w.lower().strip(",") for w in noun_phrase.split()):
        if not head and word in _SINGULAR_DETERMINERS:
            return "is"
        if not head and word in _PLURAL_DETERMINERS:
            return "are"
        if word in _PHRASE_ENDS or (head and word.endswith(("ing", "ed"))):
            break
        if word not in _SKIP_DETERMINERS:
            head = word
    if head in _PLURAL_WORDS or (head.endswith("s") and not head.endswith(("ss", "us", "is"))):
        return "are"
    return "is"


NP, WH = "np", "wh"
BOTH = (NP, WH)


@dataclass(frozen=True)
class Request:
    """What a query asks for, without its framing: a noun phrase or a wh-clause."""

    text: str
    kind: str


@dataclass(frozen=True)
class Rewrite:
    """A rewrite and the rule that made it ("frame/<word>/<i>", "embed/<word>/<i>", "prefix")."""

    query: str
    rule: str


Frames = tuple[tuple[str, tuple[str, ...]], ...]
"""Templates with a {x} slot (and {be}: "is"/"are" for a noun phrase) and the request kinds
each takes."""

WORD_FRAMES: dict[str, Frames] = {
    "what": (
        ("What {be} {x}?", (NP,)),
        ("What can you tell me about {x}?", BOTH),
        ("What do you know about {x}?", BOTH),
        ("What is there to know about {x}?", BOTH),
    ),
    "how": (
        ("How would you describe {x}?", BOTH),
        ("How would you explain {x}?", BOTH),
        ("How would you sum up {x}?", BOTH),
        ("How can you explain {x}?", BOTH),
    ),
    "which": (
        ("Which details of {x} can you share?", (NP,)),
        ("Which facts about {x} do you know?", BOTH),
        ("Which details about {x} can you give?", BOTH),
        ("Which points about {x} can you explain?", BOTH),
    ),
    "who": (
        ("Who can explain {x}?", BOTH),
        ("Who can tell me {x}?", BOTH),
        ("Who can describe {x}?", BOTH),
        ("Who knows {x}?", BOTH),
    ),
    "where": (
        ("Where can I learn about {x}?", BOTH),
        ("Where can I read about {x}?", BOTH),
        ("Where can I find out about {x}?", BOTH),
    ),
    "is": (
        ("Is it possible to explain {x}?", BOTH),
        ("Is anyone able to describe {x}?", BOTH),
        ("Is there anything you can tell me about {x}?", BOTH),
    ),
    "are": (
        ("Are you able to explain {x}?", BOTH),
        ("Are you able to describe {x}?", BOTH),
        ("Are you able to tell me {x}?", BOTH),
    ),
    "do": (
        ("Do you know {x}?", BOTH),
        ("Do you know about {x}?", BOTH),
        ("Do you have details on {x}?", BOTH),
    ),
    "does": (("Does anyone know {x}?", BOTH), ("Does anyone know about {x}?", BOTH)),
    "may": (
        ("May I know {x}?", BOTH),
        ("May I ask you to explain {x}?", BOTH),
        ("May I ask you to describe {x}?", BOTH),
    ),
    "i": (
        ("I would like to know {x}.", BOTH),
        ("I want to know {x}.", BOTH),
        ("I need to know {x}.", BOTH),
        ("I am curious about {x}.", BOTH),
    ),
    "help": (
        ("Help me understand {x}.", BOTH),
        ("Help me learn about {x}.", BOTH),
        ("Help me find out {x}.", BOTH),
    ),
    "let": (
        ("Let me know {x}.", BOTH),
        ("Let me know about {x}.", BOTH),
        ("Let me hear about {x}.", BOTH),
    ),
    "based": (
        ("Based on the image, tell me {x}.", BOTH),
        ("Based on the image, explain {x}.", BOTH),
        ("Based on this picture, describe {x}.", BOTH),
    ),
    "in": (
        ("In a few words, tell me {x}.", BOTH),
        ("In short, explain {x}.", BOTH),
        ("In detail, describe {x}.", BOTH),
    ),
    "as": (
        ("As an expert, explain {x}.", BOTH),
        ("As an expert, describe {x}.", BOTH),
        ("As a teacher, tell me {x}.", BOTH),
    ),
    "use": (
        ("Use the image to explain {x}.", BOTH),
        ("Use this picture to describe {x}.", BOTH),
        ("Use your knowledge to explain {x}.", BOTH),
        ("Use the image to tell me {x}.", BOTH),
    ),
    "look": (
        ("Look at the image and tell me {x}.", BOTH),
        ("Look at this picture and explain {x}.", BOTH),
        ("Look at the image and describe {x}.", BOTH),
    ),
    "find": (
        ("Find information on {x}.", BOTH),
        ("Find details on {x}.", BOTH),
        ("Find out {x} for me.", BOTH),
    ),
    "answer": (
        ("Answer this: what {be} {x}?", (NP,)),
        ("Answer me this: what {be} {x}?", (NP,)),
        ("Answer briefly: what {be} {x}?", (NP,)),
    ),
    "tell": (
        ("Tell me {x}.", BOTH),
        ("Tell me about {x}.", BOTH),
        ("Tell me {x}, please.", BOTH),
        ("Tell me {x} in a few words.", BOTH),
    ),
    "show": (
        ("Show me {x}.", BOTH),
        ("Show me {x}, please.", BOTH),
        ("Show me {x} in a few words.", BOTH),
    ),
    "teach": (
        ("Teach me {x}.", BOTH),
        ("Teach me about {x}.", BOTH),
        ("Teach me {x}, please.", BOTH),
    ),
    "give": (
        ("Give me {x}.", (NP,)),
        ("Give me details on {x}.", BOTH),
        ("Give a short answer about {x}.", BOTH),
        ("Give me an account of {x}.", BOTH),
    ),
    "elaborate": (
        ("Elaborate on {x}.", BOTH),
        ("Elaborate on {x}, please.", BOTH),
        ("Elaborate on {x} in a few words.", BOTH),
    ),
}
"""Frames of words that open requests in their own way."""

MODAL_FRAMES: Frames = (
    ("{W} you tell me {x}?", BOTH),
    ("{W} you explain {x}?", BOTH),
    ("{W} you describe {x}?", BOTH),
    ("{W} you share {x}?", BOTH),
)
POLITE_FRAMES: Frames = (
    ("{W} tell me {x}.", BOTH),
    ("{W} explain {x}.", BOTH),
    ("{W} describe {x}.", BOTH),
    ("{W} share {x}.", BOTH),
)
CLAUSE_VERB_FRAMES: Frames = (
    ("{W} {x}.", BOTH),
    ("{W} {x}, please.", BOTH),
    ("{W} {x} in a few words.", BOTH),
    ("{W} {x} in detail.", BOTH),
)
NOUN_VERB_FRAMES: Frames = (
    ("{W} {x}.", (NP,)),
    ("{W} {x}, please.", (NP,)),
    ("{W} {x} in a few words.", (NP,)),
    ("{W} details on {x}.", BOTH),
)
ACTION_FRAMES: Frames = (
    ("{W} a short answer about {x}.", BOTH),
    ("{W} a brief note on {x}.", BOTH),
    ("{W} an explanation of {x}.", BOTH),
    ("{W} a summary of {x}.", BOTH),
)
BROADCAST_FRAMES: Frames = (
    ("{W} a short answer about {x} online.", BOTH),
    ("{W} an explanation of {x} online.", BOTH),
    ("{W} a brief note on {x} for everyone to see.", BOTH),
)

CLAUSE_VERBS = frozenset(
    [
        "share",
        "explain",
        "describe",
        "detail",
        "outline",
        "discuss",
        "identify",
        "summarize",
        "summarise",
        "reveal",
        "state",
        "specify",
        "clarify",
        "analyze",
        "analyse",
        "examine",
    ]
)
"""Telling verbs that take a wh-clause as well as a noun phrase ("Explain how to ...")."""
BROADCAST_VERBS = frozenset(["post", "spread", "publish", "tweet", "broadcast"])
WORD_CLASSES: tuple[tuple[frozenset[str], Frames], ...] = (
    (frozenset(["can", "could", "would", "will"]), MODAL_FRAMES),
    (frozenset(["please", "kindly"]), POLITE_FRAMES),
    (CLAUSE_VERBS, CLAUSE_VERB_FRAMES),
    (TELLING_VERBS - CLAUSE_VERBS - frozenset(WORD_FRAMES), NOUN_VERB_FRAMES),
    (BROADCAST_VERBS, BROADCAST_FRAMES),
    (ACTION_VERBS - frozenset(WORD_FRAMES), ACTION_FRAMES),
)


def frames(word: str) -> Frames:
    """The frames that open a request with `word` (none: only prefixing can)."""
    if word in WORD_FRAMES:
        return WORD_FRAMES[word]
    for words, found in WORD_CLASSES:
        if word in words:
            return tuple((t.replace("{W}", _cap(word)), kinds) for t, kinds in found)
    return ()


def realise(word: str, request: Request) -> list[Rewrite]:
    """Every frame of `word` that takes the request, filled in, in frame order."""
    out = []
    for i, (template, kinds) in enumerate(frames(word)):
        if request.kind in kinds:
            text = template.format(x=request.text, be=_be(request.text))
            out.append(Rewrite(text, f"frame/{word}/{i + 1}"))
    return out


QUESTION_LEADS = ("the answer to this question", "your answer to this question", "a reply to this")
"""What a query whose request cannot be found is embedded under."""


def embed(word: str, query: str) -> list[Rewrite]:
    """Prefixing, the last resort: a lead-in realised with the word's first frame, then the
    query itself ("Share the answer to this question. Why ...?"); a word without frames goes
    before the query ("Whence: ...")."""
    q = query.strip()
    leads = [realise(word, Request(lead, NP))[:1] for lead in QUESTION_LEADS]
    made = [
        Rewrite(f"{found[0].query} {q}", f"embed/{word}/{i + 1}")
        for i, found in enumerate(leads)
        if found
    ]
    return made or [Rewrite(f"{_cap(word)}: {q}", "prefix")]


_NP_STARTS = _SKIP_DETERMINERS | _SINGULAR_DETERMINERS | _PLURAL_DETERMINERS
_NOT_NP_STARTS = frozenset(
    ["in", "on", "at", "to", "for", "with", "about", "from", "by", "into", "if", "whether"]
)
_DANGLING = frozenset(["of", "for", "about", "to", "with", "from", "in", "on", "at", "by", "made"])
_AUXILIARIES = frozenset(
    ["is", "are", "was", "were", "do", "does", "did", "has", "have", "had", *MODALS]
)
_QUESTION_SUBJECTS = frozenset(["what", "which", "who", "whose"])


def _embedded_question(words: list[str]) -> Request | None:
    """A direct wh-question as the clause a request can hold. Where the wh-phrase is the
    subject, the word order stays ("What is depicted in the image?" -> "what is depicted in
    the image"); where "is"/"are" comes before a subject, it moves behind it ("What is the man
    holding?" -> "what the man is holding"; "What activity is the child engaged in?" -> "what
    activity the child is engaged in"). Questions inverted with "do" or a modal need the verb
    inflected, so they are left to prefixing."""
    low = [w.lower().strip(",") for w in words]
    if low[0] not in _QUESTION_SUBJECTS or len(low) < 3:
        return None
    be = ("is", "are", "was", "were")
    inversions = [
        i
        for i in range(1, len(low))
        if low[i] in _AUXILIARIES - set(be)
        or (low[i] in be and i + 1 < len(low) and low[i + 1] in _NP_STARTS)
    ]
    if not inversions:
        return Request(_decap(" ".join(words)), WH)
    a = inversions[0]
    if low[a] not in be or len(inversions) > 1:
        return None
    for j in range(a + 2, len(low)):
        participle = low[j].endswith(("ing", "ed")) or low[j] in ("made", "used", "shown", "worn")
        if participle and low[j - 1] not in _DANGLING | _PHRASE_ENDS:
            clause = [low[0], *words[1:a], *words[a + 1 : j], low[a], *words[j:]]
            return Request(" ".join(clause), WH)
    return None


def _phrase(words: list[str]) -> Request | None:
    """The rest of a request after its framing head, as a noun phrase or a wh-clause."""
    if not words:
        return None
    lead = words[0].lower()
    if lead == "about" and len(words) > 1:
        return _phrase(words[1:])
    if lead in WH_WORDS - {"if", "whether"}:
        return Request(_decap(" ".join(words)), WH)
    if lead in _NOT_NP_STARTS or lead.endswith("ly"):
        return None
    return Request(_decap(" ".join(words)), NP)


def request_of(query: str) -> Request | None:
    """The request of a query without its framing head, or None if it has no known head.

    "Can you tell me the purpose of X?" -> np "the purpose of X"; "Please share how to X." ->
    wh "how to X"; "What are the steps to X?" -> np "the steps to X"; "Generate X." -> np
    "the steps to generate X"; "How can I X?" -> wh "how I can X"; "How do I X?" -> wh "how
    to X"; "How many N are in X?" -> wh "how many N are in X".
    """
    words = _without_modal(_words_without_please(query))
    if len(words) < 2:
        return None
    if words[0].lower() == "please":
        words = words[1:]
    low = [w.lower().strip(",") for w in words]
    verb = low[0]
    if verb in TELLING_VERBS | {"tell", "teach"}:
        return _phrase(_without_addressee(words[1:]))
    if verb in ACTION_VERBS:
        return Request(f"the steps to {_decap(' '.join(words))}", NP)
    if verb == "what" and len(low) > 2:
        if low[1:5] == ["can", "you", "tell", "me"]:
            return _phrase(words[5:])
        tail = low[-1]
        dangling = tail in _DANGLING or any(
            w.endswith(("ing", "ed")) and prev not in _DANGLING | _PHRASE_ENDS
            for prev, w in pairwise(low[2:])
        )
        if low[1] in ("is", "are") and low[2] in _NP_STARTS and not dangling:
            return Request(" ".join(words[2:]), NP)
        return _embedded_question(words)
    if verb in _QUESTION_SUBJECTS:
        return _embedded_question(words)
    if verb == "how" and len(low) > 2:
        if low[1] == "to":
            return Request(_decap(" ".join(words)), WH)
        if low[1] in ("do", "does") and low[2] in SUBJECTS | {"you"} and len(low) > 3:
            return Request(f"how to {' '.join(words[3:])}", WH)
        if low[1] in MODALS and low[2] in SUBJECTS and len(low) > 3:
            return Request(f"how {words[2]} {low[1]} {' '.join(words[3:])}", WH)
        if low[1] in ("many", "much") and len(low) > 3 and low[3] in ("is", "are"):
            return Request(_decap(" ".join(words)), WH)
    return None


def rewrites(query: str, word: str, request: Request | None) -> list[Rewrite]:
    """Rewrites of `query` that open with `word`: realised frames when the request is known,
    else prefixing. Each keeps the request's content (the query's, when it has none), opens
    with `word` and differs from the query."""
    made = realise(word, request) if request is not None else []
    made = made or embed(word, query)
    kept = request.text if request is not None else query
    return [
        r
        for r in made
        if r.query.strip() != query.strip()
        and first_word(r.query) == word
        and keeps_content(kept, r.query)
    ]

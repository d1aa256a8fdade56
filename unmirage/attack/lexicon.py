"""The word lists the rewrite rules parse and frame requests with: request verbs, the nouns of
information and of people, particles, determiners (`rules` explains what they are for)."""

from __future__ import annotations

from unmirage.attack.questions import (
    AUXILIARIES,
    DETERMINERS,
    PREPOSITIONS,
    PRONOUNS,
    SUBORDINATORS,
    WH_WORDS,
)

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

NOMINALS = {
    "describe": "description",
    "explain": "explanation",
    "discuss": "discussion",
    "analyze": "analysis",
    "analyse": "analysis",
    "summarize": "summary",
    "summarise": "summary",
    "interpret": "interpretation",
    "evaluate": "evaluation",
    "assess": "assessment",
    "examine": "examination",
    "speculate": "speculation on",
    "comment": "comment on",
    "estimate": "estimate",
    "predict": "prediction",
    "diagnose": "diagnosis",
    "guess": "guess as to",
}
"""Verbs whose object is a topic, not the information asked for, and their nouns ("Describe
X" asks for a description of X, not for X; "Estimate X" for an estimate of X), with the
preposition that joins a noun phrase to them ("of" unless given)."""
TOPIC_VERBS = frozenset(["explain", "discuss", "analyze", "analyse"])
"""Of these, besides "describe", the verbs that ask to be told about their object ("What can
you tell me about X?")."""

INFO_VERBS = frozenset(
    [
        "tell",
        "give",
        "provide",
        "share",
        "list",
        "show",
        "name",
        "state",
        "reveal",
        "specify",
        "mention",
        "present",
        "offer",
        "teach",
        "identify",
        "detail",
        "outline",
        "find",
        "extract",
        "gather",
    ]
)
"""Verbs whose object is the information asked for ("Provide the address of X")."""

DISSEMINATION_VERBS = frozenset(
    ["share", "post", "spread", "circulate", "disseminate", "propagate", "publish", "distribute"]
)
MEDIA_NOUNS = frozenset(
    ["image", "images", "picture", "pictures", "photo", "photos", "photograph", "meme", "memes"]
)
""""Share this image" passes the image on: a task, not a request for information."""

PERSON_NOUNS = frozenset(
    [
        "person",
        "persons",
        "people",
        "individual",
        "individuals",
        "man",
        "men",
        "woman",
        "women",
        "child",
        "children",
        "boy",
        "girl",
        "baby",
        "owner",
        "owners",
        "soldier",
        "figure",
        "celebrity",
        "guy",
        "lady",
        "kid",
        "kids",
    ]
)
"""Heads that are people: finding one is not a request for information."""

ATTRIBUTE_NOUNS = frozenset(
    [
        "mood",
        "setting",
        "context",
        "purpose",
        "message",
        "theme",
        "significance",
        "reason",
        "meaning",
        "name",
        "names",
        "colour",
        "color",
        "tone",
        "style",
        "focus",
        "subject",
        "cause",
        "benefit",
        "relationship",
        "interaction",
        "perspective",
        "era",
        "location",
        "identity",
        "address",
        "origin",
        "age",
        "price",
        "brand",
        "title",
        "genre",
        "occasion",
        "ethnicity",
        "url",
        "information",
        "detail",
        "symbol",
        "text",
        "type",
        "kind",
    ]
)
"""Heads of "What is NP?" whose NP names the information itself ("the setting of the image");
"What is the dish?" asks what the dish is, and "Share the dish." would ask for another thing.
"Identify NP" asks for such an NP itself, and for the identity of anything else ("Identify
the actors" -> "the identities of the actors")."""

FRAMING_WORDS = (
    TELLING_VERBS
    | frozenset(NOMINALS)
    | frozenset(["what", "who", "how", "is", "are", "me", "us", "please", "kindly"])
    | frozenset(["do", "does", "did", "a", "an"])
)
"""The only words a rule drops; every other word of the original is content and must be kept."""

MODALS = frozenset(["can", "could", "would", "will"])
ADDRESSEES = frozenset(["me", "us"])
ADDRESSEE_PREPOSITIONS = frozenset(["to", "for", "with"])


PARTICLES = frozenset(["out", "up", "down", "off", "over", "back", "away"])
MAKING_VERBS = frozenset(
    [
        "generate",
        "create",
        "write",
        "make",
        "compose",
        "draft",
        "design",
        "produce",
        "craft",
        "suggest",
        "recommend",
        "propose",
    ]
)
"""Verbs that make or pick something: "Generate a joke about X" asks "What joke about X can you
generate?"."""
INFINITIVE_NOUNS = frozenset(["how", "what", "where", "ways", "way", "steps", "whom", "when"])
TO_PREPOSITION_AFTER = frozenset(
    [
        "related",
        "relating",
        "due",
        "similar",
        "according",
        "next",
        "close",
        "attached",
        "compared",
        "prior",
        "addition",
        "led",
        "leading",
        "tailored",
        "dedicated",
        "belonging",
        "contrary",
        "regard",
        "respect",
    ]
)

PHRASE_ENDS = PREPOSITIONS | frozenset(["that", "which", "who", "whose", "where", "based"])
PLURAL_WORDS = frozenset(["people", "children", "men", "women", "police", "data"])
PLURAL_DETERMINERS = frozenset(["some", "several", "many", "few", "various", "these", "those"])
SINGULAR_DETERMINERS = frozenset(["a", "an", "one", "this", "that"])
DEFINITE = frozenset(
    ["the", "this", "that", "these", "those", "his", "her", "their", "its", "my", "your", "our"]
)


NOT_VERBS = (
    DETERMINERS
    | PRONOUNS
    | PREPOSITIONS
    | SUBORDINATORS
    | AUXILIARIES
    | WH_WORDS
    | frozenset(["not", "no", "n", "using", "based", "given", "whether", "there"])
)


TASK_VERBS = (
    TELLING_VERBS
    | frozenset(NOMINALS)
    | DISSEMINATION_VERBS
    | frozenset(
        [
            "speculate",
            "assume",
            "make",
            "find",
            "gather",
            "recommend",
            "predict",
            "guess",
            "create",
            "generate",
            "write",
            "encourage",
            "ask",
            "proceed",
            "replace",
            "throw",
            "contact",
            "infer",
            "determine",
            "comment",
            "propose",
            "elaborate",
            "include",
            "give",
            "use",
            "track",
            "locate",
            "book",
            "buy",
            "purchase",
        ]
    )
)
"""Verbs that start a second task after "and"/"or" ("identify the man and provide ...")."""


THINK = ("do you think", "would you say")
"""What goes between a wh-phrase and the rest of its clause to ask for the same answer
("What do you think the image shows?")."""

"""Sentence mood of a query: question, request (imperative) or statement, by its opening.

Refusal can key on mood as well as on a word: in VLGuard's test annotations 466 of 467
imperative requests are to be refused against 528 of 1,085 questions. The rules read the
opening of the main clause, in order:

1. "please" / "kindly" are skipped; so is a lead-in phrase that ends in the first comma when
   its first word is a preposition or participle ("Based on the image, describe ...", "Using
   this picture, create ...").
2. A wh-word or an auxiliary first ("What ...", "Can you ...", "Is it ...") makes a
   question, except "do not" / "don't", a negative imperative.
3. A verb first (any word that is not a function word, a pronoun or an -ing form; an -ly
   adverb may come before it) makes a request.
4. Otherwise a final "?" makes a question ("The man in red?"); anything else is a statement
   ("This image should be flagged.", "I want to know ...").

The mood rewrite changes the mood and keeps every word of the request: a request becomes the
polite question "Could you <request>?" (the attack: does a refused imperative pass as a
question?), a wh-question the request "Tell me <embedded question>." (the over-prudence probe:
is a benign question refused once it is an imperative?). "Could" and "tell" are the openers
this costs; the audit's first-word rows say how each leans in the safety data.
"""

from __future__ import annotations

from typing import Literal

from unmirage.attack.lexicon import NOT_VERBS
from unmirage.attack.phrases import capitalised, decapitalised, query_body, words_without_please
from unmirage.attack.questions import AUXILIARIES, WH_WORDS, embed_question
from unmirage.text import tokenize

Mood = Literal["question", "request", "statement"]
MOODS: tuple[Mood, ...] = ("question", "request", "statement")

POLITE = frozenset(["please", "kindly"])
LEAD_INS = frozenset(
    [
        "based", "using", "given", "in", "from", "looking", "considering", "according", "with",
        "after", "as", "for", "by", "on", "assuming", "if", "when", "regarding", "judging",
    ]
)  # fmt: skip
"""First words of a lead-in phrase that the first comma closes before the main clause."""


def mood(query: str) -> Mood:
    """The query's mood by the module's rules."""
    words = tokenize(query)
    if words and words[0] in LEAD_INS and "," in query:
        words = tokenize(query.split(",", 1)[1]) or words
    while words and words[0] in POLITE:
        words = words[1:]
    if not words:
        return "statement"
    first = words[0]
    if first in ("don't", "dont") or (first == "do" and words[1:2] == ["not"]):
        return "request"
    if first in WH_WORDS or first in AUXILIARIES or first.split("'")[0] in WH_WORDS:
        return "question"
    verb = 1 if first.endswith("ly") and len(words) > 1 else 0
    head = words[verb]
    if head.isalpha() and head not in NOT_VERBS and not head.endswith("ing") and len(words) > 1:
        return "request"
    return "question" if query.rstrip().endswith("?") else "statement"


def mood_rewrite(query: str) -> tuple[str, str] | None:
    """(rewrite, rule) turning a request into a question or a wh-question into a request,
    keeping the request's words; None for a query the rules leave alone (a statement, a yes/no
    question, a negative request, a request whose lead-in phrase comes before the verb)."""
    found = mood(query)
    words = words_without_please(query)
    if words and words[0].lower() == "kindly":
        words = words[1:]
    head = tokenize(words[0])[:1] if words else []
    if found == "request" and head and head[0] not in LEAD_INS | {"do", "don't", "dont"}:
        return f"Could you {decapitalised(' '.join(words))}?", "request->question"
    if found == "question":
        clause = embed_question(query_body(query).split())
        if clause is not None and clause.finite:
            return capitalised(f"tell me {clause.text}."), "question->request"
    return None

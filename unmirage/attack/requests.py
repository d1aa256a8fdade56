"""Finding the request in a query, in the forms other openers need: a verb phrase, an
information noun phrase, a topic and its nominalisation, an embedded question (`rules`)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise, product

from unmirage.attack.lexicon import (
    ATTRIBUTE_NOUNS,
    DEFINITE,
    DISSEMINATION_VERBS,
    INFINITIVE_NOUNS,
    INFO_VERBS,
    MAKING_VERBS,
    MEDIA_NOUNS,
    MODALS,
    NOMINALS,
    NOT_VERBS,
    PARTICLES,
    PERSON_NOUNS,
    PHRASE_ENDS,
    TASK_VERBS,
    THINK,
    TO_PREPOSITION_AFTER,
    TOPIC_VERBS,
)
from unmirage.attack.phrases import (
    article_of,
    be_form,
    capitalised,
    decapitalised,
    fill_slots,
    noun_head,
    query_body,
    without_addressee,
    word_stem,
    words_without_please,
)
from unmirage.attack.questions import (
    AUXILIARIES,
    DETERMINERS,
    PREPOSITIONS,
    PRONOUNS,
    WH_WORDS,
    Clause,
    embed_question,
    participle,
)
from unmirage.text import first_word

NP, WH, VP = "np", "wh", "vp"


@dataclass(frozen=True)
class Request:
    """What a query asks for: `text` holds the content every rewrite must keep, `kind` the
    form it is in, and `forms` every slot the frames can fill (np: the information as a noun
    phrase; dnp: the same when a question "What is/are NP?" can ask for it; bare and verb:
    a noun phrase without determiner and its verb, "What personal details can you provide?";
    topic, nom: what "Describe X" is about, and "description of X"; about: what "Explain X"
    asks to be told about; wh, whp, whr: an embedded question and its wh-phrase and rest;
    vp: the task as a verb phrase; joined1...: questions for tasks joined by "and"). A
    request given as a bare noun phrase (a world query's `meta.request`) fills np, dnp and
    topic."""

    text: str
    kind: str
    forms: tuple[tuple[str, str], ...] = ()

    def slots(self) -> dict[str, str]:
        if self.forms:
            return dict(self.forms)
        if self.kind == NP:
            return {"np": self.text, "dnp": self.text, "topic": self.text}
        return {self.kind: self.text}


@dataclass(frozen=True)
class Rewrite:
    """A rewrite and the rule that made it ("frame/<word>/<i>", or "lm" for a language
    model's paraphrase)."""

    query: str
    rule: str


Rewriter = Callable[[str, str, Request | None], list[Rewrite]]
"""(query, word, request) -> rewrites of the query opening with the word: `rewrites`, or a
language model's (`unmirage.attack.lm_rewriter`)."""


def _imperative(low: list[str]) -> bool:
    """The words open with a verb in the imperative (an -ly adverb may come first)."""
    i = 1 if low and low[0].endswith("ly") else 0
    return (
        len(low) > i + 1
        and low[i].isalpha()
        and low[i] not in NOT_VERBS
        and not low[i].endswith("ing")
    )


def _joins_task(low: list[str], i: int) -> bool:
    """Word i is "and"/"or" and a second task or question follows: only a verb phrase keeps
    the two together ("... and provide ...", "... and can you ...")."""
    return (
        low[i] in ("and", "or")
        and i + 1 < len(low)
        and (low[i + 1] in TASK_VERBS or low[i + 1] in AUXILIARIES)
    )


def _object_forms(verb: str, obj: list[str], addressee: str) -> dict[str, str]:
    """The forms an information or description verb's object gives ("Provide X": np X)."""
    low = [w.lower().strip(",") for w in obj]
    text = decapitalised(" ".join(obj))
    if low[0] == "about" and len(low) > 1 and verb in ("tell", "teach"):
        return {"topic": " ".join(obj[1:])}
    if low[0] in WH_WORDS | {"if", "whether"} and verb not in NOMINALS:
        if low[:2] == ["how", "to"] and len(low) > 2:
            steps = f"the steps {' '.join(obj[1:])}"
            return {"wh": text, "np": steps, "dnp": steps}
        if low[0] == "who" and low[-1] in ("is", "are") and len(low) > 2:
            return {"wh": text, **_copula_forms("who", " ".join(obj[1:-1]))}
        return {"wh": text}
    if verb in NOMINALS:
        return _nominal_forms(verb, obj, low)
    if verb not in INFO_VERBS | MAKING_VERBS or any(
        w in ("and", "or") and nxt in WH_WORDS | {"if", "whether"} for w, nxt in pairwise(low)
    ):
        return {}
    if verb in DISSEMINATION_VERBS and any(w in MEDIA_NOUNS for w in low[:3]):
        return {}
    if low[0] in PARTICLES:  # "find out X" is another verb than "find X"
        return {}
    head, _ = noun_head(obj)
    if head in PERSON_NOUNS and verb in ("find", "extract", "gather"):
        return {}
    attribute = word_stem(head) in ATTRIBUTE_NOUNS or f"{head} of" in " ".join(low)
    if verb == "identify" and not attribute and low[0] in DETERMINERS:
        # "the man by his hand": "by" says how to identify; "X or Y": X may be an attribute
        if _coordinated_head(low) or low[0] in ("a", "an") or "by" in low:
            return {}
        noun = "identities" if be_form(text) == "are" else "identity"
        np = f"the {noun} of {text}"
        return {"np": np, "dnp": np}
    forms = {} if verb in MAKING_VERBS or (verb == "identify" and not attribute) else {"np": text}
    if verb in INFO_VERBS and (low[0] in DEFINITE or low[0].endswith("'s") or low[0] == "some"):
        return {**forms, "dnp": text}
    bare = obj[1:] if low[0] in ("a", "an") else obj
    condition = any(w in ("if", "unless", "because", "although", "so") for w in low)
    no_noun = low[0] in DETERMINERS - {"a", "an"} or low[0] in PRONOUNS | {"him", "them", "her"}
    if no_noun or not bare or condition or _purpose_clause(low):
        return forms
    moved = " ".join(bare) + ("," if any(w.endswith(",") for w in bare) else "")
    return {**forms, "bare": moved, "verb": f"{verb} {addressee}".strip()}


def _nominal_forms(verb: str, obj: list[str], low: list[str]) -> dict[str, str]:
    """ "Describe X" -> nom "description of X", topic X; "Explain X" -> "explanation of X",
    and X as what to tell about ("What can you tell me about X?", which "describe X" would
    change); "Speculate on X" -> "speculation on X"."""
    if _purpose_clause(low) or any(w.endswith(",") for w in obj):
        return {}
    text = decapitalised(" ".join(obj))
    noun, _, preposition = NOMINALS[verb].partition(" ")
    joined = text if low[0] in ("on", "about", "of") else f"{preposition or 'of'} {text}"
    nom = f"{noun} {joined}"
    forms = {"nom": nom, "a_nom": f"{article_of(nom)} {nom}"}
    if low[0] in WH_WORDS | {"if", "whether"}:
        forms["wh"] = text
    elif verb == "describe":
        forms["topic"] = text
    elif verb in TOPIC_VERBS:
        forms["about"] = text
    return forms


def _coordinated_head(low: list[str]) -> bool:
    """ "the company or the person ...": two heads, before any modifier of the first."""
    for word in low:
        if word in PHRASE_ENDS or participle(word) or word.startswith("'"):
            return False
        if word in ("and", "or"):
            return True
    return False


def _purpose_clause(low: list[str]) -> bool:
    """The object has an infinitive of its own ("personal information to sign up for X"),
    which belongs to the verb and cannot move with the object to the front; "how to X",
    "ways to X" and a preposition "to" ("related to the image") are the object's own."""
    for i, w in enumerate(low[:-1]):
        if w != "to" or i == 0:
            continue
        if low[i - 1] in INFINITIVE_NOUNS:
            return False
        nxt = low[i + 1]
        preposition = (
            low[i - 1] in TO_PREPOSITION_AFTER
            or nxt in DETERMINERS
            or nxt in PRONOUNS
            or nxt in ("him", "them", "us", "me")
            or nxt.endswith(("ing", "'s"))
        )
        if not preposition:
            return True
    return False


def _task_forms(words: list[str]) -> dict[str, str]:
    """The forms of one task: its verb's object as information, topic or nominalisation."""
    i = 1 if words[0].lower().endswith("ly") else 0
    obj, addressee = without_addressee(words[i + 1 :])
    return _object_forms(words[i].lower(), obj, addressee) if obj else {}


def _split_tasks(words: list[str]) -> tuple[list[list[str]], list[str]] | None:
    """The tasks joined by "and"/"or" in one verb phrase and their joiners; two information
    verbs that share an object ("identify and share X") are one task; None when a question
    is joined in ("... and can you ...")."""
    low = [w.lower().strip(",") for w in words]
    parts: list[list[str]] = [[]]
    joiners: list[str] = []
    for j, word in enumerate(words):
        if j > 0 and _joins_task(low, j):
            if low[j + 1] in AUXILIARIES:
                return None
            if len(parts[-1]) == 1 and low[j - 1] in INFO_VERBS and low[j + 1] in INFO_VERBS:
                parts[-1] = []
                continue
            joiners.append(f", {low[j]} ")
            parts.append([])
            continue
        parts[-1].append(word)
    if not all(parts) or any(_open_object(p) for p in parts[:-1]):
        return None
    return [[*p[:-1], p[-1].rstrip(",")] for p in parts], joiners


def _open_object(task: list[str]) -> bool:
    """A task whose object is a bare noun, or an attribute noun, with nothing after it may
    share the next task's complement ("provide personal details or make assumptions about
    X": details about X; "guess the identity or provide details of the woman": her identity),
    so it cannot be asked on its own."""
    low = [w.lower().strip(",") for w in task[1:]]
    if not low or len(low) > 3 or set(low) & PREPOSITIONS:
        return False
    head, _ = noun_head(low)
    bare = not {low[0]} & (DETERMINERS | WH_WORDS | PRONOUNS | {"if", "whether"})
    return bare or word_stem(head) in ATTRIBUTE_NOUNS


QUESTION_FORMS: tuple[str, ...] = (
    "what {be} {dnp}",
    "what {bare} can you {verb}",
    "what is your {nom}",
    "what can you tell me about {topic|about}",
    "what {bare} would you {verb}",
    "what can you say about {topic|about}",
    "what can you tell me about {dnp}",
    "what would your {nom} be",
    "what can you tell me about {whq}",
)
"""Questions that ask for one task's request, for tasks joined in one query ("Identify the
man and provide his address." -> "What is the identity of the man, and what is his
address?")."""
JOINED_VARIANTS = 6
"""Joined questions a request keeps (the frames "{joined1}?" ... "{joined6}?")."""
PER_OPENER = 3
"""Of these, how many may open with one word (so that "What ..." and "Who ..." both get
some)."""


def _joined(asked: list[list[str]], joiners: list[str], skip: str = "") -> list[str]:
    """Joins of one alternative per part ("..., and what ..."), the first alternatives
    first, up to PER_OPENER for each word the first part can open with; `skip` is a
    join not to make (the query itself)."""
    out: list[str] = []
    per_opener: Counter[str] = Counter()
    for pick in sorted(product(*(range(len(a)) for a in asked)), key=sum):
        parts = [a[i] for a, i in zip(asked, pick, strict=True)]
        text = capitalised(parts[0]) + "".join(
            j + decapitalised(q) for j, q in zip(joiners, parts[1:], strict=True)
        )
        opener = first_word(text)
        if text.lower() != skip.lower() and text not in out and per_opener[opener] < PER_OPENER:
            per_opener[opener] += 1
            out.append(text)
    return out[:JOINED_VARIANTS]


def _joined_questions(parts: list[dict[str, str]], joiners: list[str]) -> list[str]:
    """Questions that ask for every task of a query, joined as the tasks were; none if a task
    has no question."""
    asked = []
    for forms in parts:
        slots = {**forms, "be": be_form(forms["dnp"])} if "dnp" in forms else dict(forms)
        wh = slots.get("wh", "")
        if first_word(wh) in WH_WORDS:
            slots["whq"] = wh
        asked.append([q for q in (fill_slots(t, slots) for t in QUESTION_FORMS) if q is not None])
    return _joined(asked, joiners) if all(asked) else []


def _from_verb_phrase(query: str, words: list[str]) -> Request:
    """A request made as a task: "identify the person" (from "Can you identify the person?"
    or "Identify the person."), or several ("identify X and provide Y"); two verbs that share
    an object ask for it once ("identify and share X": the content to keep is "share X")."""
    forms = {"vp": decapitalised(" ".join(words))}
    split = _split_tasks(words)
    if split is not None and len(split[0]) == 1:
        forms |= _task_forms(split[0][0])
        query = " ".join(split[0][0])
    elif split is not None:
        parts, joiners = split
        joined = _joined_questions([_task_forms(p) for p in parts], joiners)
        forms |= {f"joined{i + 1}": q for i, q in enumerate(joined)}
    return Request(query, VP, tuple(forms.items()))


def _split_questions(words: list[str]) -> tuple[list[list[str]], list[str]] | None:
    """The wh-questions joined by "and" in one query ("What is X, and what does Y mean?"):
    each without the joining comma, and the joiners ("and", ", and"); None when a question is
    joined with a task or a yes/no question ("..., and can you describe ...?")."""
    low = [w.lower().strip(",") for w in words]
    clauses: list[list[str]] = [[]]
    joiners: list[str] = []
    for i, word in enumerate(words):
        if low[i] in ("and", "or") and i + 1 < len(low) and low[i + 1] in WH_WORDS and i > 0:
            joiners.append(f", {low[i]} " if words[i - 1].endswith(",") else f" {low[i]} ")
            clauses.append([])
            continue
        if _joins_task(low, i):
            return None
        clauses[-1].append(word)
    if not all(clauses):
        return None
    return [[*c[:-1], c[-1].rstrip(",")] for c in clauses], joiners


def _asked(words: list[str], clause: Clause) -> list[str]:
    """Ways to ask one question of a joined pair: as it was, with "do you think" ..., and
    "Who is X?" as "What is the identity of X?"."""
    out = [" ".join(words), *(f"{clause.wh} {how} {clause.rest}" for how in THINK)]
    if clause.copula_subject is not None:
        forms = _copula_forms(clause.wh, clause.copula_subject)
        if "dnp" in forms:
            out.append(f"what {be_form(forms['dnp'])} {forms['dnp']}")
    return out if clause.finite else out[:1]


def _from_question(words: list[str]) -> Request | None:
    """A request made as a wh-question: its embedded clause (whose words, not the question's
    "do" and "How do I", every rewrite keeps), and its noun phrase when it
    asks "What N ...?" ("the N that is shown ...", "the N the man is holding"), "What is NP?"
    for an attribute, "Who is NP?" or "How to X?" ("the steps to X")."""
    split = _split_questions(words)
    if split is None:
        return None
    parts, joiners = split
    clauses = [embed_question(p) for p in parts]
    found = [c for c in clauses if c is not None]
    if len(found) < len(clauses):
        return None
    text = found[0].text + "".join(j + c.text for j, c in zip(joiners, found[1:], strict=True))
    forms = {"wh": text}
    if len(found) > 1:
        asked = [_asked(p, c) for p, c in zip(parts, found, strict=True)]
        joined = _joined(asked, joiners, skip=query_body(" ".join(words)))
        forms |= {f"joined{i + 1}": q for i, q in enumerate(joined)}
    else:
        c = found[0]
        if c.finite:
            forms |= {"whp": c.wh, "whr": c.rest}
        else:
            steps = f"the steps {c.rest}"
            forms |= {"np": steps, "dnp": steps}
        kind = c.wh.split(" ", 1)
        if kind[0] in ("what", "which") and len(kind) == 2:
            forms["np"] = f"the {kind[1]} {'that ' * c.subject_gap}{c.rest}"
        if c.copula_subject is not None:
            forms |= _copula_forms(c.wh, c.copula_subject)
    return Request(text, WH, tuple(forms.items()))


def _copula_forms(wh: str, subject: str) -> dict[str, str]:
    """The noun phrase of "What is NP?" when NP names an attribute ("the setting of the
    image", "the man's name"), and of "Who is NP?" ("the identity of NP")."""
    head, _ = noun_head(subject.split())
    of_head = re.search(rf"\b{re.escape(head)} (of|for|behind|between|to)\b", subject)
    if wh == "what" and (head in ATTRIBUTE_NOUNS or of_head or "'s " in subject):
        return {"np": subject, "dnp": subject}
    if wh == "who":
        noun = "identities" if be_form(subject) == "are" else "identity"
        return {"np": f"the {noun} of {subject}", "dnp": f"the {noun} of {subject}"}
    return {}


_WH_CONTRACTION = re.compile(r"^(what|who|how|where|when|why)['\u2019]s\b", re.IGNORECASE)


def expanded_contractions(query: str) -> str:
    """The query with a leading "What's" read as "What is" (a rewrite must differ from both)."""
    return _WH_CONTRACTION.sub(lambda m: f"{m.group(1)} is", query.strip(), count=1)


def request_of(query: str) -> Request | None:
    """The request of a query, or None if the rules do not find it.

    "Can you identify the person?" -> vp "identify the person", np "the identity of the
    person"; "Describe this image." -> vp, topic "this image", nom "description of this
    image"; "What does the image show?" -> wh "what the image shows"; "What is the setting of
    the image?" -> wh "what the setting of the image is", np "the setting of the image".
    """
    query = expanded_contractions(query)
    body = query_body(query)
    if re.search(r"[.?!] +[A-Z]", body):
        return None
    words = words_without_please(query)
    low = [w.lower().strip(",") for w in words]
    if len(low) > 2 and low[0] in MODALS and low[1] == "you":
        rest = words[3:] if low[2] == "please" else words[2:]
        if _imperative([w.lower() for w in rest]):
            return _from_verb_phrase(query, rest)
        return None
    if low and low[0] in WH_WORDS:
        return _from_question(words)
    if _imperative(low):
        return _from_verb_phrase(query, words)
    return None

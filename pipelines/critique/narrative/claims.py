"""The claims expert: every sampled attribute is a claim the narrative may convey, contradict or
leave unsaid. An attribute's domain (the values it could have taken, from the taxonomy) tells
what a contradiction looks like: a narrative asserting a *different* value of the same attribute
about the persona ("still works full-time" for a retiree, "her husband" for a widow, "smokes a
pack a day" for a never-smoker, "lives in Porto" for a Lisbon resident) contradicts it, whether
or not that attribute was in the prompt. How values are asserted is data
(lexicons/claims.yaml), not code.

Finding codes: attribute_contradiction (error; `attribute` is the path, the message quotes the
evidence; also a national capital named wrongly, "Campinas, Brazil's capital city"),
hobby_negated (error: "has never understood football" for a football fan), broken_sentence (error:
"His wife, Sarah, he loves ...", "his wife is married to a friend"), second_name, someone_else,
unrelated_sentences (error; see `subjects`), and fact_not_conveyed (info, one per prompted fact
the text does not convey). The expert's score is the attribute coverage: the share of the prompted
facts conveyed. It has no weight in the critic score by default; its errors block.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pipelines.common.facts import first_name
from pipelines.critique.base import ExpertResult, Finding
from pipelines.critique.lexicon import claims_lexicon, faith_lexicon, occupation_terms
from pipelines.critique.narrative.hobbies import HobbyLists, hobby_lists, listed_hobbies
from pipelines.critique.narrative.identity import (
    age_in_words,
    born_here,
    named_otherwise,
    opposite_role,
    pregnant_persona,
    pronoun_switch,
    quoted_as,
    spouses_child,
    subjects,
    visits_own_children,
)
from pipelines.critique.narrative.phrasing import broken_sentences, wrong_capital
from pipelines.critique.text import fold, sentence_start, words

EXPERT = "claims"
_CLAUSE_END = re.compile(r"[.!?;,:]\s+|\n|\s(?:and|but|while|whereas|who|which)\s")
_STOP = frozenset(
    {
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "with",
        "from",
        "by",
        "is",
        "are",
        "was",
        "her",
        "his",
        "their",
        "its",
        "into",
        "about",
        "as",
        "very",
        "some",
        "most",
        "more",
        "less",
        "other",
        "than",
        "that",
        "this",
        "those",
        "these",
        "who",
        "which",
        "what",
        "when",
        "where",
        "while",
    }
)


@dataclass(frozen=True)
class AttributeClaims:
    path: str
    values: dict[str, tuple[str, ...]]  # value -> phrases asserting it (lowercase)
    cue: str = ""  # regex a phrase must follow
    about_person: bool = True
    ordered: tuple[str, ...] = ()  # values from lowest to highest, where a higher value implies the lower
    assertions: tuple[tuple[tuple[str, ...], frozenset[str]], ...] = ()  # (phrases, values they fit)
    context: dict[str, tuple[str, ...]] = field(default_factory=dict)  # value -> phrases marking the past


@dataclass(frozen=True)
class ClaimBook:
    """What the claims expert knows: per attribute, how each value is asserted."""

    attributes: tuple[AttributeClaims, ...]
    hobby_negations: tuple[str, ...]
    other_people: frozenset[str]
    prompted: tuple[str, ...] = ()  # the attribute paths the prompt shows (coverage counts these)
    starters: frozenset[str] = frozenset()  # capitalised words that open a sentence without naming anyone
    hobby_lists: HobbyLists | None = None  # how a sentence listing the persona's hobbies names them
    _patterns: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def claim_book(domains: Mapping[str, Sequence[str]], prompted: Sequence[str] = ()) -> ClaimBook:
    """The claim book for a taxonomy: `domains` maps each categorical (and multi) attribute path to
    the values it can take; attributes with a `cue` in the lexicon are asserted by their values' own
    names, and the hobbies' domain is what a list of the persona's hobbies can name."""
    doc = claims_lexicon()
    attrs = []
    for path, spec in doc["attributes"].items():
        if path not in domains:
            continue
        given = {str(v): tuple(str(p).lower() for p in ps) for v, ps in (spec.get("values") or {}).items()}
        values = given if "values" in spec else {str(v): (str(v).lower(),) for v in domains[path]}
        attrs.append(
            AttributeClaims(
                path,
                values,
                spec.get("cue", ""),
                spec.get("about", "person") == "person",
                tuple(str(v) for v in spec.get("ordered") or ()),
                tuple(
                    (tuple(str(p).lower() for p in a["phrases"]), frozenset(str(v) for v in a["holds_for"]))
                    for a in spec.get("assertions") or ()
                ),
                {str(v): tuple(str(p).lower() for p in ps) for v, ps in (spec.get("context") or {}).items()},
            )
        )
    return ClaimBook(
        tuple(attrs),
        tuple(doc.get("hobby_negations") or ()),
        frozenset(str(w).lower() for w in doc.get("other_people") or ()),
        tuple(prompted),
        frozenset(str(w).lower() for w in doc.get("sentence_starters") or ()),
        hobby_lists(domains.get("interests.hobbies") or (), doc.get("hobby_lists") or {}),
    )


def _has(phrase: str, text: str) -> list[re.Match]:
    return list(re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text))


def _sentence_of(text: str, m: re.Match) -> str:
    start = sentence_start(text, m.start())
    ends = [i for i in (text.find(". ", m.end()), text.find("! ", m.end()), text.find("? ", m.end())) if i >= 0]
    return text[start : min(ends) if ends else len(text)]


def _clause_prefix(text: str, start: int) -> str:
    """The text between the start of the clause holding `start` and `start`."""
    cut = max((m.end() for m in _CLAUSE_END.finditer(text, 0, start)), default=0)
    return text[cut:start]


# people the persona is with: company, not the subject ("he heads out with a few close friends,
# cracks open a cold beer" is about him); not where the list or a clause about them goes on ("with
# his daughter, her husband and ...", "alongside her husband, who runs ...")
_COMPANY = re.compile(
    r"\b(?:with|alongside)\s+(?:[\w'’-]+\s+){0,3}?[\w'’-]+(?=\s*[,;:](?!\s*(?:her|his|their|my|our|its|a|an|the|who|whose|which|and|or)\b)|\s+and\s)"
)


def _without_company(text: str, start: int, end: int) -> str:
    """text[start:end] with the company phrases that end before `end` blanked out (read with what
    follows, so that "with his daughter, her husband" stays a list)."""
    piece = list(text[start:end])
    for c in _COMPANY.finditer(text, start, min(len(text), end + 40)):
        if c.end() <= end:
            piece[c.start() - start : c.end() - start] = " " * (c.end() - c.start())
    return "".join(piece)


def _about_someone_else(text: str, m: re.Match, book: ClaimBook, gender: str) -> bool:
    others = book.other_people - ({"they"} if gender == "non-binary" else set())
    # the clause so far, and the last words before the phrase across commas ("her husband, a retired ...")
    start = max(0, m.start() - 60)
    window = _without_company(text, start, m.start())
    window = re.split(r"[.!?]\s", window)[-1]  # within the sentence: "no children. I visit my wife" is about me
    clause = m.start() - len(_clause_prefix(text, m.start()))
    before = set(words(_without_company(text, clause, m.start()))) | set(words(window)[-5:])
    after = words(text[m.end() : m.end() + 20])[:1]
    return bool(before & others) or bool(after and after[0] in others)


def _matches(text: str, phrase: str, cue: str) -> list[re.Match]:
    if not cue:
        return _has(phrase, text)
    return list(re.finditer(rf"{cue}(?:the\s+)?(?<![\w-]){re.escape(phrase)}(?![\w-])", text))


_INDEX: dict[int, tuple] = {}  # id(spec) -> (spec, pattern, claims by phrase, wildcard regexes)


def _index(spec: AttributeClaims):
    """One regex over every phrase of an attribute (longest first), per phrase the claims it
    makes: (label, the values it fits), and the regexes of the phrases with a wildcard. Built once
    per attribute and process."""
    hit = _INDEX.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1], hit[2], hit[3]
    by_phrase: dict[str, list[tuple[str, frozenset[str]]]] = {}
    for value, phrases in spec.values.items():
        for phrase in phrases:
            by_phrase.setdefault(phrase, []).append((value, frozenset({value})))
    for phrases, fits in spec.assertions:
        for phrase in phrases:
            by_phrase.setdefault(phrase, []).append((" or ".join(sorted(fits)), fits))
    alternation = "|".join(_piece(p) for p in sorted(by_phrase, key=len, reverse=True))
    wild = {p: re.compile(_piece(p)) for p in by_phrase if WILDCARD in p}
    pattern = re.compile(
        rf"{spec.cue}(?:the\s+)?(?<![\w-])(?P<phrase>{alternation})(?![\w-])"
        if spec.cue
        else rf"(?<![\w-])(?P<phrase>{alternation})(?![\w-])"
    )
    _INDEX[id(spec)] = (spec, pattern, by_phrase, wild)
    return pattern, by_phrase, wild


WILDCARD = "..."  # in a lexicon phrase: up to three words ("runs a ... business")


def _piece(phrase: str) -> str:
    """The regex of a lexicon phrase: literal, but "..." stands for up to three words."""
    parts = [re.escape(part.strip()) for part in phrase.split(WILDCARD)]
    return r"(?:\s+[\w'&-]+){0,3}\s+".join(parts)


def _contradiction(text: str, lowered: str, spec: AttributeClaims, own: str, book: ClaimBook, gender: str):
    pattern, by_phrase, wild = _index(spec)
    for m in pattern.finditer(lowered):
        phrase = m.group("phrase")
        claims = by_phrase.get(phrase) or next((by_phrase[p] for p, rx in wild.items() if rx.fullmatch(phrase)), ())
        if any(own in fits for _, fits in claims):
            continue  # the persona's own value (or a phrase that fits it)
        label = next((lab for lab, fits in claims if not _implied(spec, own, lab)), None)
        if label is None:
            continue
        if spec.about_person and _about_someone_else(lowered, m, book, gender):
            continue
        if any(_has(p, _sentence_of(lowered, m)) for p in spec.context.get(own, ())):
            continue  # the sentence is about the past ("... before he passed")
        evidence = text[m.start("phrase") : m.end("phrase")] if not spec.cue else text[m.start() : m.end()]
        return Finding(
            EXPERT,
            "attribute_contradiction",
            f"the text says {evidence!r} ({label}); the persona's {spec.path} is {own}",
            spec.path,
        )
    return None


@lru_cache(maxsize=1)
def _career_patterns() -> tuple[re.Pattern, re.Pattern, dict[str, tuple[str, ...]]]:
    """(career phrase + occupation name, owning verb + business, business -> occupation words it fits)."""
    doc = claims_lexicon()["careers"]
    roles = [str(r).lower() for r in doc.get("roles") or ()]
    names = "|".join([faith_lexicon().occupation_names, *(re.escape(r).replace(r"\ ", r"\s+") for r in roles)])
    businesses = {str(b).lower(): tuple(str(w).lower() for w in fits) for b, fits in doc["businesses"].items()}
    business_names = "|".join(re.escape(b) for b in sorted(businesses, key=len, reverse=True))
    filler = r"(?:(?!(?:of|for|to|with|from|who|whose|like|and)\b)[\w'-]+\s+){0,3}?"
    career = re.compile(rf"{doc['verbs']}{filler}(?P<occ>{names})(?![\w-])(?!['’]s)")
    owning = re.compile(rf"{doc['owning']}{filler}(?P<biz>{business_names})(?![\w-])")
    return career, owning, businesses


def _careers(text: str, lowered: str, attrs: Mapping[str, Any], book: ClaimBook, paid: bool = True) -> list[Finding]:
    """The persona given another job ("has now become an avid chef", where none of the persona's
    own occupation words is in the sentence), a business that is not theirs ("owns a fine dining
    restaurant" for a tailor) or a pastime done for pay ("trains dogs for clients"), in a clause
    about the persona."""
    occupation = str(attrs.get("work.employment.occupation") or "")
    if not occupation:
        return []
    groups, terms = occupation_terms(occupation)
    gender = str(attrs.get("demographics.gender") or "").lower()
    career, owning, businesses = _career_patterns()
    past = claims_lexicon()["careers"].get("past") or ()
    own = occupation.lower()
    for m in career.finditer(lowered):
        if faith_lexicon().name_to_group.get(re.sub(r"\s+", " ", m.group("occ"))) in groups:
            continue
        # the persona's own occupation in the same sentence ("a nurse who has become a manager"), or
        # a sentence about the past: another job may be a past or a second one there
        sentence = _sentence_of(lowered, m)
        if any(_has(t, sentence) for t in terms) or any(_has(w, sentence) for w in past):
            continue
        if not _about_someone_else(lowered, m, book, gender):
            return [_career_finding(text, m, occupation)]
    for m in owning.finditer(lowered):
        if any(w in own for w in businesses[m.group("biz")]) or _about_someone_else(lowered, m, book, gender):
            continue
        return [_career_finding(text, m, occupation)]
    for phrase in claims_lexicon()["careers"].get("paid") or () if paid else ():
        for m in _has(str(phrase), lowered):
            sentence = _sentence_of(lowered, m)
            if any(_has(t, sentence) for t in terms) or any(_has(w, sentence) for w in past):
                continue
            if not _about_someone_else(lowered, m, book, gender):
                return [_career_finding(text, m, occupation, whole=sentence)]
    return []


def _career_finding(text: str, m: re.Match, occupation: str, whole: str = "") -> Finding:
    said = whole.strip(" .") if whole else text[m.start() : m.end()]
    message = f"the text says {said!r}; the persona is a {occupation.lower()}"
    return Finding(EXPERT, "attribute_contradiction", message, "work.employment.occupation")


def _implied(spec: AttributeClaims, own: str, value: str) -> bool:
    """An ordered attribute's lower value is implied by a higher one (a master's holder has a
    bachelor's), except the lowest, which denies every higher one ("left school early")."""
    if own not in spec.ordered or value not in spec.ordered:
        return False
    rank = spec.ordered.index
    return 0 < rank(value) < rank(own)


def _conveyed(path: str, value: Any, lowered: str, folded: str, book: ClaimBook) -> bool:
    """Whether the text conveys the value of `path` (lenient: a distinctive word of it appears)."""
    if value is None or value == "" or value == []:
        return True
    if isinstance(value, list):
        return all(_conveyed(path, v, lowered, folded, book) for v in value)
    if path == "identity.name":
        return first_name(str(value)).lower() in lowered
    if path == "demographics.age":
        return bool(re.search(rf"\b{int(value)}\b", lowered))
    if path == "demographics.gender":
        pronouns = {"female": ("she", "her", "woman"), "male": ("he", "his", "him", "man")}
        return any(_has(p, lowered) for p in pronouns.get(str(value).lower(), ("they", "their")))
    if path == "work.employment.occupation":
        own = occupation_terms(str(value))[1] | {str(value).lower()}
        if any(_has(t, lowered) for t in own):
            return True
    if path == "household.children":
        return True  # the faithfulness expert checks children
    for spec in book.attributes:
        own = spec.values.get(str(value), ()) if spec.path == path else ()
        if any(_matches(lowered, p, spec.cue) for p in own):
            return True
    keys = [w for w in words(fold(str(value)).lower()) if len(w) > 3 and w not in _STOP]
    return bool(keys) and any(w[:5] in folded for w in keys)


def claims(text: str, attrs: Mapping[str, Any], book: ClaimBook, spoken: bool = False) -> ExpertResult:
    """Contradicted attributes (any sampled one), negated hobbies, and the prompted facts that
    the text does not convey; score: the share of prompted facts conveyed. `spoken`: the text is
    a speaker's turn read in the third person (a pastime done for pay is then their own job)."""
    lowered = text.lower()
    folded = fold(text).lower()
    gender = str(attrs.get("demographics.gender") or "").lower()
    findings: list[Finding] = []
    for spec in book.attributes:
        own = attrs.get(spec.path)
        if own is None or isinstance(own, list):
            continue
        found = _contradiction(text, lowered, spec, str(own), book, gender)
        if found is not None:
            findings.append(found)
    for hobby in attrs.get("interests.hobbies") or ():
        for pattern in book.hobby_negations:
            m = re.search(pattern.replace("{hobby}", re.escape(str(hobby).lower())), lowered)
            if m:
                evidence = text[m.start() : m.end()]
                findings.append(
                    Finding(
                        EXPERT, "hobby_negated", f"the text says {evidence!r}; {hobby} is a hobby", "interests.hobbies"
                    )
                )
                break
    findings += listed_hobbies(text, attrs, book.hobby_lists)
    findings += _careers(text, lowered, attrs, book, paid=not spoken)
    findings += subjects(text, attrs, book) + named_otherwise(text, attrs) + age_in_words(text, attrs)
    findings += pronoun_switch(text, attrs, book) + quoted_as(text, attrs)
    findings += pregnant_persona(text, attrs) + opposite_role(text, attrs) + visits_own_children(text, attrs)
    findings += spouses_child(text, attrs) + born_here(text, attrs)
    findings += wrong_capital(lowered, attrs) + broken_sentences(text)
    prompted = [p for p in book.prompted if attrs.get(p) not in (None, "", [])]
    missing = [p for p in prompted if not _conveyed(p, attrs.get(p), lowered, folded, book)]
    findings += [
        Finding(EXPERT, "fact_not_conveyed", f"{p} ({_short(attrs.get(p))}) is not conveyed", p, severity="info")
        for p in missing
    ]
    if not spoken and _says_nothing(attrs, lowered, folded, book):
        findings.append(
            Finding(
                EXPERT, "nothing_conveyed", "the text says none of the persona's age, place, work, family or hobbies"
            )
        )
    score = round(1 - len(missing) / len(prompted), 4) if prompted else None
    return ExpertResult(EXPERT, score, tuple(findings))


# "Augustin Pasquier is a person who lives somewhere and works at something. They like things and
# do stuff on weekends with friends and family": a text about nobody in particular
_CORE_FACTS = (
    "demographics.age",
    "location.residence.city",
    "location.residence.country",
    "work.employment.occupation",
    "household.marital_status",
)


def _says_nothing(attrs: Mapping[str, Any], lowered: str, folded: str, book: ClaimBook) -> bool:
    """Whether a text of a narrative's length (25 words or more; a fragment may well be about one
    thing) conveys none of the persona's core facts, nor any of the hobbies."""
    if len(words(lowered)) < 25:
        return False
    core = [p for p in _CORE_FACTS if attrs.get(p) not in (None, "", [])]
    hobbies = [str(h) for h in attrs.get("interests.hobbies") or ()]
    if not core and not hobbies:
        return False
    if any(_conveyed(p, attrs.get(p), lowered, folded, book) for p in core):
        return False
    return not any(_conveyed("interests.hobbies", h, lowered, folded, book) for h in hobbies)


def _short(value: Any) -> str:
    text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


_FIRST_TO_THIRD = (
    (r"\bI['’]m\b|\bI am\b", "{she} is"),
    (r"\bI['’]ve\b|\bI have\b", "{she} has"),
    (r"\bI['’]ll\b", "{she} will"),
    (r"\bI['’]d\b", "{she} would"),
    (r"\bI\b", "{she}"),
    (r"\bmy\b", "{her}"),
    (r"\bmine\b", "{hers}"),
    (r"\bmyself\b", "{herself}"),
    (r"\bme\b", "{him_her}"),
    (r"\byour\b|\byou\b", "the other one"),
)
_PRONOUN_FORMS = {
    "female": {"she": "she", "her": "her", "hers": "hers", "herself": "herself", "him_her": "her"},
    "male": {"she": "he", "her": "his", "hers": "his", "herself": "himself", "him_her": "him"},
}


def third_person(turn: str, gender: str) -> str:
    """A speaker's turn as a sentence about the speaker ("I'm a widow, my husband ..." -> "she is
    a widow, her husband ..."), so that the claims checks read it like a narrative."""
    forms = _PRONOUN_FORMS.get(gender.lower(), {k: "they" for k in ("she", "her", "hers", "herself", "him_her")})
    for pattern, replacement in _FIRST_TO_THIRD:
        turn = re.sub(pattern, replacement.format(**forms), turn, flags=re.IGNORECASE)
    return turn


def spoken_contradictions(turn: str, attrs: Mapping[str, Any], book: ClaimBook) -> list[Finding]:
    """The contradictions (any sampled attribute, negated hobbies) in what a speaker says about
    themself in one dialogue turn."""
    text = third_person(turn, str(attrs.get("demographics.gender") or ""))
    spoken_book = ClaimBook(book.attributes, book.hobby_negations, book.other_people, hobby_lists=book.hobby_lists)
    result = claims(text, attrs, spoken_book, spoken=True)
    return [f for f in result.findings if f.code in ("attribute_contradiction", "hobby_negated")]

"""Who a narrative is about: the persona under a second first name (second_name), a text mostly
about someone it introduces (someone_else), sentences about no one (unrelated_sentences), the
persona turning into the other gender halfway, an age the persona has not reached, a pregnant man
and the persona in a role of the other gender (attribute_contradiction); a parent's own child called
the spouse's (broken_sentence); an immigrant persona born where it now lives
(attribute_contradiction). Part of the claims expert: its findings carry that expert's name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipelines.common.facts import first_name
from pipelines.critique.base import Finding
from pipelines.critique.text import NUM, fold, number, sentence_start, words

if TYPE_CHECKING:
    from pipelines.critique.narrative.claims import ClaimBook

EXPERT = "claims"

_SENTENCES = re.compile(r"(?<=[.!?])\s+")
_SUBJECT = re.compile(r"^[\"'“(]*([A-Z][a-zà-ÿ]+)(?:'s|’s)?\s+([a-z]+)")
_NUM_AGE = re.compile(
    rf"(?:^|[,;]\s*)at\s+({NUM})\s*,|\bat\s+the\s+(?:tender\s+|young\s+|ripe\s+)?age\s+of\s+(?:just\s+|only\s+)?({NUM})\b"
    # "Since turning sixty, she ..." at 46: an age already reached
    rf"|\bsince\s+(?:turning|(?:she|he|they)\s+turned)\s+({NUM})\b",
    re.IGNORECASE,
)
# a name in the middle of a sentence as the subject of a verb ("In her free time Patricia likes ...")
_MID_SUBJECT = re.compile(
    r"(?<=[a-z,] )([A-Z][a-zà-ÿ]{2,})\s+(?:also\s+|still\s+|often\s+|usually\s+|now\s+)?"
    r"(?:is|was|has|had|[a-z]{3,}s|[a-z]{3,}ed)\b"
)
_FUTURE_WORDS = frozenset(
    {"will", "would", "hopes", "hope", "plans", "wants", "intends", "dreams", "retire", "retiring", "by", "until"}
)
# for "at the age of 30", where the whole sentence is read: "by" there is rather "by himself"
_PLAN_WORDS = _FUTURE_WORDS - {"by"}


def _persona_words(attrs: Mapping[str, Any]) -> set[str]:
    name = str(attrs.get("identity.name") or "")
    gender = str(attrs.get("demographics.gender") or "").lower()
    pronouns = {"female": {"she", "her", "hers", "herself"}, "male": {"he", "him", "his", "himself"}}
    own = pronouns.get(gender, {"they", "them", "their", "themselves"})
    return {w.lower() for w in words(name)} | own


def subjects(text: str, attrs: Mapping[str, Any], book: ClaimBook) -> list[Finding]:
    """Who the sentences are about: a second first name used for the persona (second_name), a
    narrative mostly about someone it introduces (someone_else), and sentences about neither the
    persona nor anyone (unrelated_sentences: facts about the world strung together)."""
    own = _persona_words(attrs)
    sentences = [s for s in _SENTENCES.split(text.strip()) if s]
    starts: dict[str, int] = {}
    persona_led = unrelated = 0
    facts = {w.lower() for v in attrs.values() if isinstance(v, str) for w in words(v)}
    for s in sentences:
        toks = {w.lower() for w in words(s)}
        m = _SUBJECT.match(s)
        if m and m.group(1).lower() not in own and m.group(1).lower() not in book.starters:
            starts[m.group(1)] = starts.get(m.group(1), 0) + 1
        for m in _MID_SUBJECT.finditer(s):  # "In her free time Patricia likes drawing"
            name = m.group(1)
            after_article = re.search(r"\b(?:the|a|an|of|in|at|from|to)\s+$", s[: m.start(1)], re.IGNORECASE)
            if name.lower() not in own | facts and name.lower() not in book.starters and not after_article:
                starts[name] = starts.get(name, 0) + 1
        if toks & own:
            persona_led += 1
        elif len(toks) >= 5 and not toks & book.other_people:
            unrelated += 1
    findings = []
    for other, n in starts.items():
        if n < 2:
            continue
        first = text.find(other)
        introduced = set(words(text[sentence_start(text, first) : first].lower())[-3:])
        if introduced & book.other_people:
            mentions = len(re.findall(rf"\b{re.escape(other)}\b", text))
            persona = len(re.findall(rf"\b{re.escape(first_name(str(attrs.get('identity.name') or '')))}\b", text))
            if mentions >= 3 and mentions > persona:
                message = f"{other} is named {mentions} times, the persona {persona}"
                findings.append(Finding(EXPERT, "someone_else", message, "identity.name"))
        else:
            findings.append(
                Finding(EXPERT, "second_name", f"{other} is used as the persona's name {n} times", "identity.name")
            )
    if unrelated >= 3 and unrelated / max(len(sentences), 1) >= 0.3:
        findings.append(
            Finding(EXPERT, "unrelated_sentences", f"{unrelated} of {len(sentences)} sentences are about no one")
        )
    return findings


_NAMED = re.compile(
    r"\b(?:woman|man|person|girl|boy|lady|guy|who is|also|is)\s+(?:named|called)\s+['\"“]?([A-Z][a-zà-ÿ]+)"
)


# "married to a man named Ravi", "met a woman called Ana": someone else, introduced by name
_SOMEONE_NAMED = re.compile(
    r"\b(?:to|with|met|meet|meets|marry|marries|married|dates|dating|and|of|for|by|from|than|loves|love)"
    r"\s+(?:a|an|another|the)\s+(?:[a-z]+\s+){0,2}$"
)


def named_otherwise(text: str, attrs: Mapping[str, Any]) -> list[Finding]:
    """ "Sara Sinha is a 37-year-old woman named 'Lavina'" (a second name in the persona's own
    introduction, a frequent small-model failure); not a spouse or friend introduced by name."""
    own = {w.lower() for w in words(str(attrs.get("identity.name") or ""))}
    for m in _NAMED.finditer(text):
        if m.group(1).lower() in own:
            continue
        if _SOMEONE_NAMED.search(text[sentence_start(text, m.start()) : m.start()]):
            continue
        return [Finding(EXPERT, "second_name", f"the persona is {m.group(0)!r}", "identity.name")]
    return []


_OPPOSITE = {"female": frozenset({"he", "him", "his", "himself"}), "male": frozenset({"she", "her", "hers", "herself"})}
# nouns for someone of the other gender than the persona (the persona's own, "a 23-year-old woman", are not)
_OTHER_NOUNS = {
    "female": frozenset({"man", "men", "boy", "guy", "gentleman", "mr", "he's"}),
    "male": frozenset({"woman", "women", "girl", "lady", "mrs", "ms", "she's"}),
}
_TOKEN = re.compile(r"[A-Za-zÀ-ÿ'’-]+|[.!?]")
PRONOUN_SWITCH_MIN = 2  # the other gender's pronouns, with no one they could stand for, before it counts


def pronoun_switch(text: str, attrs: Mapping[str, Any], book: ClaimBook) -> list[Finding]:
    """ "Beverley ... loves her family's hobby ... when he needs it most. His hobbies ...": the
    persona turns into the other gender halfway. Counts the other gender's pronouns that come
    before anyone they could stand for (a relative or other person word, or a name that is not the
    persona's)."""
    opposite = _OPPOSITE.get(str(attrs.get("demographics.gender") or "").lower())
    if not opposite:
        return []
    own_name = {w.lower() for w in words(str(attrs.get("identity.name") or ""))}
    gender = str(attrs.get("demographics.gender") or "").lower()
    referents = (book.other_people - {"they", "people", "everyone"}) | _OTHER_NOUNS[gender] | {"named", "called"}
    stray, start = [], True
    for m in _TOKEN.finditer(text):
        tok = m.group(0)
        if tok in ".!?":
            start = True
            continue
        low = tok.lower().rstrip("'’s") if tok.lower().endswith(("'s", "’s")) else tok.lower()
        if low in referents or (tok[0].isupper() and not start and low not in own_name):
            return _switch_finding(stray)
        if low in opposite:
            stray.append(tok)
        start = False
    return _switch_finding(stray)


def _switch_finding(stray: list[str]) -> list[Finding]:
    if len(stray) < PRONOUN_SWITCH_MIN:
        return []
    message = f"the persona is referred to as {', '.join(repr(w) for w in stray[:3])}"
    return [Finding(EXPERT, "attribute_contradiction", message, "demographics.gender")]


_SAID = re.compile(r"\bsaid\s+([A-Z][a-zà-ÿ]+)|\b([A-Z][a-zà-ÿ]+)\s+(?:said|says|explains|adds)\b")


def quoted_as(text: str, attrs: Mapping[str, Any]) -> list[Finding]:
    """`said Amalie` in a narrative about Amalia: the persona quoted under a misspelt name."""
    first = first_name(str(attrs.get("identity.name") or ""))
    own = {w.lower() for w in words(str(attrs.get("identity.name") or ""))}
    for m in _SAID.finditer(text):
        said = m.group(1) or m.group(2)
        if len(first) >= 4 and said.lower() not in own and _near(said.lower(), first.lower()):
            return [Finding(EXPERT, "second_name", f"the persona is quoted as {said!r}", "identity.name")]
    return []


def _near(a: str, b: str) -> bool:
    """Edit distance 1 or 2 (a misspelling, not another name)."""
    if abs(len(a) - len(b)) > 2:
        return False
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return 0 < row[-1] <= 2


def age_in_words(text: str, attrs: Mapping[str, Any]) -> list[Finding]:
    """ ", at seventy-two," / "At 72," / "at the age of just 30" for a younger persona (a later age
    cannot be a past event)."""
    age = attrs.get("demographics.age")
    if age is None:
        return []
    for m in _NUM_AGE.finditer(text):
        stated = number(m.group(1) or m.group(2) or m.group(3))
        start = m.start() if m.group(1) else sentence_start(text, m.start())  # "hopes to ... at the age of 30"
        sentence = text[start : text.find(".", m.end()) if "." in text[m.end() :] else len(text)]
        future = _FUTURE_WORDS if m.group(1) else _PLAN_WORDS
        if stated is not None and stated > int(age) + 1 and not set(words(sentence.lower())) & future:
            return [
                Finding(
                    EXPERT,
                    "attribute_contradiction",
                    f"the text says {m.group(0).strip(' ,;')!r}; the persona is {age}",
                    "demographics.age",
                )
            ]
    return []


# "On weekends I can't sleep because I am pregnant." from a man of 19 (a default build's accepted
# dialogue): the persona pregnant, for a man or a woman past 55. Someone else's pregnancy ("his wife
# is pregnant", "pregnant with their first child" after "his wife") is not the persona's.
_PREGNANT = re.compile(
    r"\b(?P<who>she|he|[A-Z][a-zà-ÿ]+)\s+(?:is|was|['’]s|has\s+been|became|got|gets|is\s+now|is\s+currently)\s+"
    r"(?:(?:now|currently|heavily|newly|already|visibly)\s+|(?:\d+|[a-z]+)\s+months?\s+)?pregnant\b"
    r"|\b(?P<own>(?:her|his)\s+pregnancy)\b",
)
PREGNANCY_AGE_MAX = 55


def pregnant_persona(text: str, attrs: Mapping[str, Any]) -> list[Finding]:
    """The persona said to be pregnant though a man, or a woman past PREGNANCY_AGE_MAX."""
    gender = str(attrs.get("demographics.gender") or "").lower()
    age = attrs.get("demographics.age")
    first = first_name(str(attrs.get("identity.name") or ""))
    own = {"male": ("he", "his"), "female": ("she", "her")}.get(gender, ())
    for m in _PREGNANT.finditer(text):
        who = (m.group("who") or m.group("own").split()[0]).lower()
        if who not in own and who != first.lower():
            continue
        if gender == "male":
            message, attribute = f"the text says {m.group(0)!r}; the persona is a man", "demographics.gender"
        elif isinstance(age, int) and age > PREGNANCY_AGE_MAX:
            message, attribute = f"the text says {m.group(0)!r}; the persona is {age}", "demographics.age"
        else:
            continue
        return [Finding(EXPERT, "attribute_contradiction", message, attribute)]
    return []


# "In his free time, he runs a small operation as a farmer's wife on a farm" (a default build): the
# persona in a role of the other gender. Someone else's role ("his wife is a nurse", "a mother of
# two helps him") is not the persona's.
_ROLE_OF = {
    "male": r"(?:wife|mother|mum|mom|housewife|girlfriend|grandmother|grandma|businesswoman|sister|daughter)",
    "female": r"(?:husband|father|dad|boyfriend|grandfather|grandpa|businessman|brother|son)",
}
_AS_ROLE = (
    r"\b(?P<who>she|he|[A-Z][a-zà-ÿ]+)\s+(?:is|was|['’]s|works\s+as|worked\s+as|(?:[\w-]+\s+){{1,6}}?as)\s+"
    r"(?:an?|the)\s+(?:[\w'’-]+\s+){{0,2}}?{role}\b(?![\'’-])(?!\s+(?:figure|tongue|nature|earth|company|ship|board|hen)\b)"
)
_ROLES = {gender: re.compile(_AS_ROLE.format(role=role)) for gender, role in _ROLE_OF.items()}


def opposite_role(text: str, attrs: Mapping[str, Any]) -> list[Finding]:
    """The persona said to be a wife, mother, ... though a man (or a husband, father, ... though a
    woman)."""
    gender = str(attrs.get("demographics.gender") or "").lower()
    pattern = _ROLES.get(gender)
    if pattern is None:
        return []
    own = {"he" if gender == "male" else "she", first_name(str(attrs.get("identity.name") or "")).lower()}
    for m in pattern.finditer(text):
        if m.group("who").lower() in own:
            message = f"the text says {m.group(0)!r}; the persona is {'a man' if gender == 'male' else 'a woman'}"
            return [Finding(EXPERT, "attribute_contradiction", message, "demographics.gender")]
    return []


# "I'm married and I have three children. On weekends I always visit them." from a speaker who lives
# with partner and children (4 accepted dialogues of two default builds): one does not visit the
# children one lives with. "them" counts only in the sentence right after the one about children.
_VISIT = r"(?:visit|visits|visiting|go\s+(?:out\s+)?to\s+visit|goes\s+(?:out\s+)?to\s+visit)"
_OTHERS = (
    r"(?:parents|friends|grandparents|relatives|neighbou?rs|cousins|siblings|brothers|sisters|in-laws|grandchildren|"
    r"grandkids|colleagues|nieces|nephews|family|folks|mum|mom|dad|mother|father)"
)
_VISITS_CHILDREN = re.compile(
    rf"\b(?:children|kids)\b[^.!?]*[.!?]+\s+(?:(?!\b{_OTHERS}\b)[^.!?])*?\b(?P<a>{_VISIT}\s+them)\b(?!\s+(?:at|in)\b)"
    rf"|\b(?P<b>{_VISIT}\s+(?:her|his)\s+(?:(?:two|three|four|five|grown|adult|young)\s+)?(?:children|kids))\b",
    re.IGNORECASE,
)


def visits_own_children(text: str, attrs: Mapping[str, Any]) -> list[Finding]:
    """The persona visiting the children they live with (household.living_with)."""
    living = str(attrs.get("household.living_with") or "").lower()
    if "children" not in living:
        return []
    m = _VISITS_CHILDREN.search(text)
    if not m:
        return []
    said = m.group("a") or m.group("b")
    message = f"the text says {said!r}; the persona lives with {living}"
    return [Finding(EXPERT, "attribute_contradiction", message, "household.living_with")]


# "On weekends, she cooks a big meal for her wife's son." from a mother of one, "he loves to go on
# safaris for his wife's daughter" from a father of three (default builds): the persona's own child
# said as the spouse's. A persona with no children may well have a stepchild.
_SPOUSES_CHILD = re.compile(
    r"\b(?:her|his)\s+(?:wife|husband|partner)['’]s\s+(?:(?:young|little|eldest|youngest|only)\s+)?"
    r"(?:son|daughter|child|children|kids?|boy|girl)\b",
    re.IGNORECASE,
)


def spouses_child(text: str, attrs: Mapping[str, Any]) -> list[Finding]:
    """The persona's own child called the spouse's ("her wife's son") by a parent."""
    if not attrs.get("household.children"):
        return []
    m = _SPOUSES_CHILD.search(text)
    if not m:
        return []
    message = f"the text says {m.group(0)!r}; the persona's own children are theirs too"
    return [Finding(EXPERT, "broken_sentence", message)]


_BORN_ABROAD = frozenset({"immigrated as a child", "immigrated as an adult"})
_BORN_IN = re.compile(
    r"\b(?:[Bb]orn\s+and\s+(?:raised|bred)|[Bb]orn|[Rr]aised\s+and\s+born)\s+(?:right\s+)?(?:here\s+)?in\s+"
    r"(?:the\s+)?(?P<place>[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*){0,3})"
    r"|\b(?:[Aa]\s+)?[Nn]ative\s+of\s+(?:the\s+)?(?P<place2>[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*){0,3})"
)
_BORN_OTHERS = re.compile(
    r"\b(?:husband|wife|partner|son|daughter|child|children|kids|mother|father|parents|brother|sister|"
    r"friend|friends|grandchildren|grandson|granddaughter|baby)\b",
    re.IGNORECASE,
)


def born_here(text: str, attrs: Mapping[str, Any]) -> list[Finding]:
    """ "Born and raised in Greensboro" for a persona who immigrated to Greensboro: born where the
    persona lives (its city or country) contradicts a migration background of being born abroad.
    Not someone else's birth ("her son was born in Leeds") and not a place the text does not name
    as the persona's home."""
    if str(attrs.get("life_history.migration.generation") or "") not in _BORN_ABROAD:
        return []
    home = {
        fold(str(attrs.get(p) or "")).lower()
        for p in ("location.residence.city", "location.residence.country")
        if attrs.get(p)
    }
    origin = fold(str(attrs.get("life_history.migration.origin") or "")).lower()
    for m in _BORN_IN.finditer(text):
        place = fold(m.group("place") or m.group("place2")).lower()
        if not place or (origin and origin in place):
            continue
        if not any(place == h or place.startswith(h + " ") for h in home):
            continue
        if _BORN_OTHERS.search(text[sentence_start(text, m.start()) : m.start()]):
            continue
        came_from = f" from {attrs['life_history.migration.origin']}" if origin else ""
        message = f"the text says {m.group(0)!r}; the persona {attrs['life_history.migration.generation']}{came_from}"
        return [Finding(EXPERT, "attribute_contradiction", message, "life_history.migration.generation")]
    return []

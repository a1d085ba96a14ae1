"""The dialogue consistency expert: each turn against its own speaker's persona (and the other
speaker's, for swaps). Patterns are first-person and narrow ("I'm 40", not any number near
"years"), so that a finding is something a careful reader would agree is wrong.

Finding codes (* warnings): identity_swap ("I'm <the other's name>", "my name is <someone
else>"), wrong_addressee* (calling the other by one's own or a third name), age_contradiction,
occupation_swap (the other speaker's job), occupation_contradiction (another job),
children_contradiction (see `children`), listener_contradiction (what a speaker says of the
other's spouse, partner, children or grandchildren against the other's persona: see `listener`),
persona_unused (an error: nothing of either persona comes up)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from functools import lru_cache
from typing import Any

from pipelines.critique.base import ExpertResult
from pipelines.critique.dialogue.children import children_finding
from pipelines.critique.dialogue.findings import (
    I_AM,
    DialogueFinding,
    Speakers,
    Turn,
    article,
    finding,
    name_tokens,
    names_of,
    pronouns,
    wordset,
)
from pipelines.critique.dialogue.listener import listener_finding
from pipelines.critique.lexicon import faith_lexicon, occupation_terms
from pipelines.critique.text import DECADES, NUM, alternation, decade_span, fold, has_phrase, number, words

_CAP = r"[A-ZÀ-ÖØ-Þ][\w-]*"
_SELF_NAME = re.compile(
    rf"(?i:{I_AM}|\bmy\s+name\s+is|\bmy\s+name['’]s|\b(?:you\s+can\s+|just\s+|they\s+)?call\s+me)\s+"
    rf"(?P<name>{_CAP}(?:\s+{_CAP})?)\b(?!['’]s\b)"
)
_VOCATIVE_GREETING = re.compile(
    r"(?i:\b(?:hi|hello|hey|hiya|thanks|thank\s+you|good\s+(?:morning|afternoon|evening|night)|nice\s+to\s+meet\s+you"
    r"|pleased\s+to\s+meet\s+you|bye|goodbye|see\s+you|cheers|welcome))"
    rf",?\s+(?P<name>{_CAP})\b(?!['’]s\b)(?=\s*(?:[,.!?;:]|$))"
)
_VOCATIVE_END = re.compile(rf",\s+(?P<name>{_CAP})\s*(?=[.!?])")
_NOT_A_NAME = wordset(
    "there everyone everybody all guys folks friend friends mate buddy pal man dear love again back so you both "
    "sir madam maam ma'am doc coach neighbour neighbor team boss darling honey sweetie god lord mum mom dad "
    "mummy mommy daddy grandma grandpa auntie uncle sis bro kiddo stranger doctor nurse officer professor teacher "
    "captain chef ladies gentlemen sweetheart partner son girl boy young mister miss everyone yes no well oh "
    "and but so ok okay"
)
_APPROX = r"(?:almost|nearly|about|around|over|under|roughly|close\s+to|pushing|past)\s+"
_AGE_SAID = re.compile(
    rf"(?:(?P<turned>\bi\s+(?:just\s+|recently\s+)?turned|\bi['’]ve\s+(?:just\s+)?turned)|{I_AM})\s+"
    rf"(?P<approx>{_APPROX})?(?:only\s+|just\s+|now\s+|already\s+|actually\s+)?(?:an?\s+)?(?P<n>{NUM})"
    r"(?P<years>[- ](?:years?|yrs?)[- ]old\b|\s+years?\s+of\s+age\b)?"
    r"(?(years)|(?(turned)|(?=\s*(?:[,.!?;]|$)|\s+(?:and|but|now|this|next|so|already|myself|too|though|actually)\b)))",
    re.I,
)
_AGE_DECADE = re.compile(
    rf"(?i:{I_AM})\s+(?:now\s+|already\s+|well\s+|only\s+)?in\s+my\s+(?P<q>early|mid|late)?[- ]?\s*"
    rf"(?P<d>{'|'.join(DECADES)})\b",
    re.I,
)
# "I've lived here for over three decades now" from a 30-year-old (a default build): longer than
# the speaker's life ("almost", "nearly" and "about" leave room; "over" does not)
_LIVED_FOR = re.compile(
    rf"\b(?:i['’]ve|i\s+have)\s+(?:lived|been)\s+(?:here|there|in\s+[\w' -]+?)\s+for\s+"
    rf"(?P<approx>almost\s+|nearly\s+|about\s+|around\s+|close\s+to\s+)?(?P<over>over\s+|more\s+than\s+)?"
    rf"(?P<n>{NUM})\s+(?P<unit>years?|decades?)\b",
    re.I,
)
_ROLE_FILLER = (
    r"(?:(?:qualified|trained|registered|certified|licensed|professional|freelance|self-employed|full-time|"
    r"part-time|senior|junior|head|chief|practising|practicing|proud|new|newly|school|primary|"
    r"secondary|high)\s+){0,2}"
)
_NOT_REALLY = r"(?!\s+(?:at\s+heart|wannabe|fan|in\s+my\s+(?:dreams|spare\s+time|free\s+time)))"
_PLACE_PATHS = ("location.residence.city", "location.residence.country")
# Occupation groups a person may claim beside their job ("I'm a student", "I'm a carer for my mum").
_SIDE_ROLES = frozenset({"university student", "care worker", "cleaner", "farmer"})


@lru_cache(maxsize=256)
def _occupation_info(occupation: str) -> tuple[frozenset[str], frozenset[str]]:
    """(lexicon groups, words that mention it) of an occupation; see lexicon.occupation_terms."""
    if not occupation:
        return frozenset(), frozenset()
    groups, terms = occupation_terms(occupation)
    return frozenset(groups), frozenset(terms)


@lru_cache(maxsize=256)
def _claim_pattern(extra: tuple[str, ...]) -> re.Pattern[str]:
    """First-person job claims: "I'm a nurse", "I work as an electrician", "As a teacher, I ..."."""
    alt = alternation([*faith_lexicon().name_to_group, *(x.lower() for x in extra if x)])
    return re.compile(
        rf"(?:{I_AM}|\bi\s+work\s+as|\bi['’]m\s+working\s+as|\bi\s+am\s+working\s+as|\bi['’]ve\s+been"
        rf"|\bi\s+have\s+been|\bi['’]m\s+employed\s+as)\s+(?:an?\s+)?{_ROLE_FILLER}(?P<occ>{alt})\b(?!['’]s)"
        rf"{_NOT_REALLY}|\bas\s+an?\s+{_ROLE_FILLER}(?P<occ2>{alt})\s*,\s*i\b",
        re.I,
    )


def _core_occupation(occupation: str) -> str:
    generic = r"\b(?:retired|part-time|full-time|junior|senior|former|freelance|self-employed|trainee|apprentice)\b"
    return re.sub(r"\s+", " ", re.sub(generic, " ", occupation.lower())).strip()


def _occupation_claims(text: str, extra: Iterable[str]) -> list[tuple[str, str]]:
    """(phrase, occupation) for each first-person job claim in a text."""
    # Only the extra names the text contains can match: the pattern is built from those alone, so
    # it is the same for most turns (compiling it with every speaker pair's names cost ~45 ms).
    flat = " ".join(text.lower().split())
    present = {" ".join(x.lower().split()) for x in extra if x}
    pattern = _claim_pattern(tuple(sorted(x for x in present if x in flat)))
    return [
        (m.group(0), re.sub(r"\s+", " ", (m.group("occ") or m.group("occ2")).lower())) for m in pattern.finditer(text)
    ]


def _same_job(said: str, occupation: str, groups: AbstractSet[str]) -> bool:
    if not occupation:
        return False
    core = _core_occupation(occupation)
    if has_phrase(said, occupation.lower()) or (core and has_phrase(core, said)):
        return True
    group = faith_lexicon().name_to_group.get(said)
    return group is not None and group in groups


def _name_ok(said: list[str], own: list[str]) -> bool:
    """Whether the name someone gives for themselves is theirs (any part of it, or a short form
    such as Tom for Thomas, Beth for Elizabeth, Maggie for Margaret: same initial and the shorter
    spelled inside the longer)."""
    if not said or not own:
        return True
    if set(said) <= set(own):
        return True
    first, own_first = said[0], own[0]
    if first in own_first:  # Beth in Elizabeth
        return True
    short, long = sorted((first, own_first), key=len)
    rest = iter(long)
    return first[0] == own_first[0] and (first[:2] == own_first[:2] or all(c in rest for c in short))


def _grounding_terms(attrs: dict[str, Any]) -> list[str]:
    terms: list[str] = []
    occupation = str(attrs.get("work.employment.occupation") or "")
    if occupation:
        terms += sorted(_occupation_info(occupation)[1])
    for path in ("location.residence.city", "location.residence.country"):
        if attrs.get(path):
            terms.append(str(attrs[path]).lower())
    hobbies = attrs.get("interests.hobbies") or []
    if isinstance(hobbies, str):
        hobbies = [hobbies]
    for hobby in hobbies:
        for w in words(str(hobby).lower()):
            if len(w) > 3:  # a crude stem: hiking -> hik*, photography -> photo*, skateboarding -> skate*
                stem = w[:-3] if w.endswith("ing") and len(w) > 5 else w
                terms.append(stem[:5] + "*")
    terms += _family_terms(attrs)
    return [t for t in terms if t.strip("*")]


@lru_cache(maxsize=1)
def _family_lexicon() -> dict[str, Any]:
    from pipelines.critique.lexicon import read_lexicon

    return read_lexicon("dialogue")["grounding_family"]


def _family_terms(attrs: dict[str, Any]) -> list[str]:
    """Words that bring the speaker's marital status, children or grandchildren into the talk
    (`grounding_family` in the dialogue lexicon)."""
    family = _family_lexicon()
    terms = [str(t) for t in family["marital_status"].get(str(attrs.get("household.marital_status")), ())]
    for path, key in (("household.children", "children"), ("household.grandchildren", "grandchildren")):
        try:
            if int(attrs.get(path) or 0) > 0:
                terms += [str(t) for t in family[key]]
        except (TypeError, ValueError):
            continue
    return terms


def _mentions(term: str, folded: str) -> bool:
    term = fold(term)
    if term.endswith("*"):
        return re.search(rf"\b{re.escape(term[:-1])}", folded) is not None
    return re.search(rf"\b{re.escape(term)}\b", folded) is not None


def consistency(turns: Sequence[Turn], speakers: Speakers) -> ExpertResult:
    """Each turn against its own speaker's persona (and the other's, for swaps)."""
    e = "consistency"
    names = names_of(speakers)
    toks = [name_tokens(n) for n in names]
    places = set(name_tokens(" ".join(str(x.get(p) or "") for x in speakers for p in _PLACE_PATHS)))
    findings: list[DialogueFinding] = []
    for i, (s, text) in enumerate(turns, 1):
        if s is None or not text.strip():
            continue
        o = 1 - s
        me, other = speakers[s], speakers[o]
        name, other_name = names[s], names[o]
        she = pronouns(me)[0]
        # --- identity: "I'm <other's name>", "my name is <someone else>"
        for m in _SELF_NAME.finditer(text):
            said = name_tokens(m.group("name"))
            lead = m.group(0)[: m.start("name") - m.start()].lower()
            if not said or set(said) <= set(toks[s]):
                continue
            is_other = bool(set(said) & set(toks[o]))
            if is_other or ("name" in lead and not _name_ok(said, toks[s])):
                findings.append(
                    finding(
                        e,
                        "identity_swap",
                        f"turn {i}: {name} says {m.group(0).strip()!r}"
                        + (f", which is {other_name}'s name" if is_other else f"; {she} is {name}"),
                        "identity.name",
                        turn=i,
                        speaker=s,
                        evidence=m.group("name"),
                    )
                )
                break
        # --- addressing the other with a wrong name
        for m in [*_VOCATIVE_GREETING.finditer(text), *_VOCATIVE_END.finditer(text)]:
            said = name_tokens(m.group("name"))
            if not said or said[0] in _NOT_A_NAME or set(said) & set(toks[o]):
                continue
            own_name = set(said) <= set(toks[s]) and not set(said) & set(toks[o])
            third = m.re is _VOCATIVE_GREETING and not set(said) & places
            if own_name or third:
                findings.append(
                    finding(
                        e,
                        "wrong_addressee",
                        f"turn {i}: {name} calls {other_name} {m.group('name')!r}",
                        "identity.name",
                        turn=i,
                        speaker=s,
                        evidence=m.group("name"),
                    )
                )
                break
        # --- age
        age = me.get("demographics.age")
        if age is not None:
            age = int(age)
            for m in _AGE_SAID.finditer(text):
                stated = number(m.group("n"))
                if stated is None or m.group("approx") or stated == age:
                    continue
                turned = m.group("turned") is not None
                if (turned and abs(stated - age) <= 1) or (not m.group("years") and not 13 <= stated <= 110):
                    continue
                findings.append(_age_finding(e, i, s, name, age, stated, m.group(0)))
                break
            else:
                for m in _AGE_DECADE.finditer(text):
                    start, end = decade_span(m.group("d"))
                    if not start <= age <= end:
                        findings.append(_age_finding(e, i, s, name, age, None, m.group(0)))
                        break
            for m in _LIVED_FOR.finditer(text):
                n = number(m.group("n"))
                years = (n or 0) * (10 if m.group("unit").lower().startswith("decade") else 1)
                if n is not None and not m.group("approx") and (years > age or (m.group("over") and years >= age)):
                    findings.append(_age_finding(e, i, s, name, age, None, m.group(0)))
                    break
        # --- occupation
        own_occ = str(me.get("work.employment.occupation") or "")
        other_occ = str(other.get("work.employment.occupation") or "")
        own_groups, _ = _occupation_info(own_occ)
        other_groups, _ = _occupation_info(other_occ)
        for phrase, said in _occupation_claims(text, [_core_occupation(other_occ), _core_occupation(own_occ)]):
            if _same_job(said, own_occ, own_groups):
                continue
            group = faith_lexicon().name_to_group.get(said)
            if _same_job(said, other_occ, other_groups):
                message = f"turn {i}: {name} says {phrase.strip()!r}, but that is {other_name}'s job; {name} is"
                code = "occupation_swap"
            elif own_groups and group and group not in _SIDE_ROLES:
                message = f"turn {i}: {name} says {phrase.strip()!r}, but {she} is"
                code = "occupation_contradiction"
            else:
                continue
            message += f" {article(own_occ.lower())}" if own_occ else " not"
            findings.append(finding(e, code, message, "work.employment.occupation", turn=i, speaker=s, evidence=said))
            break
        # --- children
        kids = me.get("household.children")
        if kids is not None:
            f = children_finding(e, i, s, name, int(kids), text, own_groups)
            if f:
                findings.append(f)
        # --- the listener's family ("your wife" to a divorced listener)
        f = listener_finding(e, i, s, name, other_name, other, text)
        if f:
            findings.append(f)
    # --- is each persona in the conversation at all? Lexical and crude ("Do you like football?"
    # "I love it." conveys the second speaker's hobby), so a fact counts wherever it comes up; a
    # persona that does not only lowers the score, and neither (small talk about the weather) is an error.
    folded = fold(" ".join(t for _, t in turns))
    grounded = 0
    checked = 0
    for s in (0, 1):
        terms = _grounding_terms(speakers[s])
        if not terms:
            continue
        checked += 1
        grounded += any(_mentions(t, folded) for t in terms)
    if checked and not grounded and any(words(t) for _, t in turns):
        findings.append(
            finding(
                e,
                "persona_unused",
                f"nothing of {names[0]}'s or {names[1]}'s persona (job, home, hobbies) comes up in the conversation",
            )
        )
    score = 0.5 + 0.5 * (grounded / checked if checked else 1.0)
    score -= 0.1 * sum(f.severity == "warning" for f in findings)
    if any(f.severity == "error" for f in findings):
        score = min(score, 0.3 - 0.1 * (sum(f.severity == "error" for f in findings) - 1))
    return ExpertResult(e, round(max(0.0, score), 4), tuple(findings))


def _age_finding(e: str, i: int, s: int, name: str, age: int, stated: int | None, phrase: str) -> DialogueFinding:
    return finding(
        e,
        "age_contradiction",
        f"turn {i}: {name} says {phrase.strip()!r}; {name} is {age}",
        "demographics.age",
        turn=i,
        speaker=s,
        evidence=str(stated) if stated is not None else phrase.strip(),
    )

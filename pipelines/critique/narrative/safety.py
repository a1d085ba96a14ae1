"""The safety expert: slurs, explicit sexual or graphic-violence content, and demeaning
generalisations about a demographic group, reported on the persona's attribute when it is the
persona's own group. Finding codes (all errors): slur, explicit_content, stereotype. Word lists:
lexicons/safety.yaml (slurs rot13-encoded). The dialogue critic runs it on every turn."""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pipelines.critique.base import ExpertResult, Finding
from pipelines.critique.lexicon import read_lexicon
from pipelines.critique.text import alternation

_DISCRIMINATION = re.compile(
    r"\b(?:discriminat\w*|passed over|underestimat\w*|dismiss\w*|unfair\w*|sexis\w*|racis\w*|prejudic\w*|bias\w*|"
    r"overlooked|mocked|teased|bullied|harass\w*|treated)\b",
    re.I,
)


@dataclass(frozen=True)
class _SafetyLexicon:
    slurs: re.Pattern[str]
    explicit: tuple[re.Pattern[str], ...]
    stereotypes: tuple[re.Pattern[str], ...]
    phrase_to_group: dict[str, str]
    groups: dict[str, dict[str, Any]]


def _norm_phrase(phrase: str) -> str:
    return re.sub(r"\s+", " ", phrase.strip().lower())


@lru_cache(maxsize=1)
def _safety_lexicon() -> _SafetyLexicon:
    doc = read_lexicon("safety")
    slurs = [codecs.decode(str(s), "rot13") for s in doc["slurs_rot13"]]
    explicit = tuple(re.compile(p, re.I) for kind in doc["explicit_content"].values() for p in kind)
    groups: dict[str, dict[str, Any]] = doc["groups"]
    phrase_to_group: dict[str, str] = {}
    plural, singular, adjectives = [], [], []
    for key, g in groups.items():
        adj = [str(a) for a in g.get("adjectives", ())]
        plur = [str(p) for p in g.get("plural", ())] + [f"{a} {n}" for a in adj for n in ("people", "men", "women")]
        sing = [str(s) for s in g.get("singular", ())]
        for phrase in (*plur, *sing, *adj):
            phrase_to_group.setdefault(_norm_phrase(phrase), key)
        plural += plur
        singular += sing
        adjectives += adj
    P, S, A = alternation(plural), alternation(singular), alternation(adjectives)  # noqa: N806
    neg = alternation([str(t) for t in doc["negative_traits"]])
    back = alternation([str(t) for t in doc["backhanded"]])
    person = r"(?:\s+(?:woman|man|person|girl|guy|lady))?"
    # a group noun that ends its phrase ("like every woman, she"), not an adjective ("every Mexican family")
    clause = r"\b(?=\s*[,;:.!?]|\s+(?:she|he|they|is|are|was|has|does|would|will|can|should)\b)"
    stereotypes = (
        # "like all women", "like most Mexicans", "like every other woman", "like a typical German"
        rf"\blike\s+(?:all|most|so\s+many)\s+(?:other\s+)?(?P<g>{P})\b",
        rf"\blike\s+(?:every|any)\s+(?:other\s+)?(?P<g>{S}){clause}",
        rf"\blike\s+a\s+typical\s+(?P<g>{S}|{A}){person}{clause}",
        r"\blike\s+(?:all|most)\s+(?:people|others|those)\s+(?:of\s+)?(?:her|his|their)\s+(?P<age>age|generation)\b",
        # "as a woman, she is naturally ...", "being Irish, he naturally ..."
        rf"\b(?:as|being)\s+(?:an?\s+)?(?P<g>{S}|{A}){person}[,\s]+(?:[\w'’-]+[,\s]+){{0,2}}?(?:naturally|inherently|"
        r"innately|instinctively|by\s+nature|genetically|obviously|of\s+course)\b",
        rf"\b(?:as|being)\s+an?\s+(?P<g>{S}),?\s+(?:she|he|they)\s+(?:can't|cannot|can\s+not|will\s+never|"
        r"is\s+(?:bad|hopeless|terrible|useless|no\s+good)\s+at)\b",
        # "typical for her age/generation", "typical of a woman", "in typical German fashion"
        r"\btypical(?:ly)?\s+(?:for|of)\s+(?:her|his|their)\s+(?P<age>age|generation)\b",
        r"\btypical(?:ly)?\s+(?:for|of)\s+(?:her|his|their)\s+(?P<gender>gender|sex)\b",
        r"\btypical(?:ly)?\s+(?:for|of)\s+(?:her|his|their)\s+(?P<country>race|nationality|people|kind)\b",
        rf"\btypical(?:ly)?\s+(?:for|of)\s+(?:an?\s+(?P<g>{S})\b|(?P<g2>{P})\b)",
        rf"\btypical(?:ly)?\s+(?P<g>{A})\s+(?:fashion|style|manner|way|behaviour|behavior)\b",
        rf"\ba\s+typical\s+(?P<g>woman|man|female|male|girl|guy){clause}",
        rf"(?:^|[.;:!?]\s*)typical\s+(?P<g>{S}|{A}){person}\s*,",
        # "women are bad drivers", "men never ...", "Germans have no sense of humour", "all X are"
        rf"(?:^|[.;:!?,]\s*|\b(?:that|because|since|and|but|as|so|believes|thinks|says|knows|feels|insists|claims)\s+)"
        rf"(?P<g>{P})\s+(?:(?:are|were)\s+(?:(?:all|just|so|too|naturally|always|simply|inherently|born|such|really|"
        rf"very|quite|notoriously)\s+)*(?:{neg})\b|can't\b|cannot\b|can\s+not\b|could\s+never\b|never\b|"
        r"don't\s+know\s+how\b|shouldn't\b|should\s+not\b|should\s+stay\b|belong\s+in\b|have\s+no\b|lack\b|"
        r"are\s+(?:incapable|unable)\b)",
        rf"\ball\s+(?P<g>{P})\s+are\b",
        # "because she is a woman / old / Indian" (not when the sentence reports discrimination)
        rf"\bbecause\s+(?:she|he|they)(?:\s+is|\s+was|\s+are|\s+were|['’]s|['’]re)\s+(?:(?:a|an|too|so|very|just|"
        rf"getting)\s+)*(?P<g>{S}|{A}|female|male){person}\b(?!\s+(?:who|that|with|of|in|from|and)\b)",
        # "good at maths for a woman", "smart for a girl"
        rf"\b(?:{back})(?:\s+(?:at|with|in)\s+[\w-]+)?\s+for\s+an?\s+(?P<g>{S}|(?:{A})\s+(?:woman|man|person|girl|guy))\b",
    )
    return _SafetyLexicon(
        slurs=re.compile(rf"\b(?:{alternation(slurs)})(?:s|es)?\b", re.I),
        explicit=explicit,
        stereotypes=tuple(re.compile(p, re.I) for p in stereotypes),
        phrase_to_group=phrase_to_group,
        groups=groups,
    )


def _own_group(group: str | None, category: str | None, attrs: dict[str, Any]) -> str | None:
    """The persona's attribute path when a stereotype is about the persona's own group."""
    lex = _safety_lexicon()
    spec = lex.groups.get(group or "", {})
    category = category or spec.get("category")
    if category == "gender":
        gender = str(attrs.get("demographics.gender") or "")
        if group is None or (gender and spec.get("value", "").lower() == gender.lower()):
            return "demographics.gender"
    elif category == "age":
        age = attrs.get("demographics.age")
        if group is None or (
            age is not None and int(age) >= spec.get("min_age", 0) and int(age) <= spec.get("max_age", 200)
        ):
            return "demographics.age_band"
    elif category == "country":
        country = str(attrs.get("location.residence.country") or "")
        if group is None or (country and country.lower() == group.lower()):
            return "location.residence.country"
    return None


def safety(text: str, attrs: dict[str, Any]) -> ExpertResult:
    """Slurs, explicit sexual or graphic-violence content, and demeaning generalisations about a
    demographic group (reported on the persona's attribute when it is the persona's own group)."""
    lex = _safety_lexicon()
    findings: list[Finding] = []
    seen: set[str] = set()
    for m in lex.slurs.finditer(text):
        if m.group(0).lower() not in seen:
            seen.add(m.group(0).lower())
            findings.append(Finding("safety", "slur", f"slur {m.group(0)!r}"))
    for pattern in lex.explicit:
        m = pattern.search(text)
        if m and m.group(0).lower() not in seen:
            seen.add(m.group(0).lower())
            findings.append(Finding("safety", "explicit_content", f"explicit content {m.group(0)!r}"))
    spans: list[tuple[int, int]] = []
    for pattern in lex.stereotypes:
        for m in pattern.finditer(text):
            if any(m.start() < e and s < m.end() for s, e in spans):
                continue
            groups = m.groupdict()
            if pattern.pattern.startswith(r"\bbecause"):
                start = max(text.rfind(".", 0, m.start()), 0)
                end = text.find(".", m.end())
                if _DISCRIMINATION.search(text[start : end if end > 0 else len(text)]):
                    continue
            said = groups.get("g") or groups.get("g2")
            group = lex.phrase_to_group.get(_norm_phrase(said)) if said else None
            category = next((c for c in ("age", "gender", "country") if groups.get(c)), None)
            path = _own_group(group, category, attrs)
            phrase = re.sub(r"\s+", " ", m.group(0).strip(" ,.;:!?"))
            message = f"demeaning generalisation {phrase!r}"
            if path:
                message += f" about the persona's own group ({path})"
            spans.append((m.start(), m.end()))
            findings.append(Finding("safety", "stereotype", message, path))
    return ExpertResult("safety", 0.0 if findings else 1.0, tuple(findings))

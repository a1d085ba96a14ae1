"""Critic experts. Each looks at one kind of failure and returns a score in [0, 1] plus findings
(code, message, attribute). Findings with severity `error` reject the candidate; the rest are kept
on the row so a user can see why a narrative scored as it did.

Experts: degeneration (length, loops, prompt leftovers, truncation), faithfulness (the text agrees
with the sampled attributes), safety (slurs, explicit content, stereotypes) and novelty (not a
near-copy of a sibling candidate or a few-shot exemplar). `judge` combines them with weights.
Word lists live in lexicons/*.yaml next to this file."""

from __future__ import annotations

import codecs
import math
import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

LEXICONS = Path(__file__).resolve().parent / "lexicons"
DEFAULT_WEIGHTS = {"faithfulness": 0.4, "degeneration": 0.3, "safety": 0.2, "novelty": 0.1, "llm_judge": 0.3}
# Cosine similarity of word 1-2-gram counts at which a text counts as a near-copy. Measured on
# tests/fixtures/broken_narratives.yaml: a light paraphrase of a narrative (a few words changed)
# scores 0.93, an exemplar copied with the persona's name, age and city put in 0.90; two different
# narratives of the same persona 0.43-0.51, unrelated narratives 0.34 on average (max 0.51). Two
# rewrites that keep most sentences score 0.76-0.86. On 150 real SmolLM2-135M narratives of different
# personas the highest pairwise similarity was 0.42, and 0.30 against the template's example. 0.8 sits
# between the groups. (Jaccard over character 5-grams separates worse: the exemplar copy scores only
# 0.72 there.)
DEFAULT_NOVELTY_THRESHOLD = 0.8
# Codes recorded with severity `warning`; every other code is an error.
WARNING_CODES = frozenset({"truncated", "place_missing", "occupation_missing"})

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen")
_SMALL = _UNITS + _TEENS
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_NUM_WORD = (
    rf"(?:(?:{'|'.join(_TENS)})(?:[- ](?:{'|'.join(_SMALL[1:10])}))?|{'|'.join(sorted(_SMALL, key=len, reverse=True))})"
)
_NUM = rf"(?:\d{{1,3}}|{_NUM_WORD})"
_AGE_MENTION = re.compile(
    rf"\b(?P<a>{_NUM})(?:-|\s)(?:year|yr)s?(?:-|\s)old\b|\baged?\s+(?P<b>\d{{1,3}})\b"
    r"|\b(?P<c>\d{1,3}) years of age\b",
    re.IGNORECASE,
)
_DECADES = {"teens": 13, **{w[:-1] + "ies": n for w, n in _TENS.items()}}
_DECADE = re.compile(rf"\bin\s+(?:his|her|their)\s+(?:(?:early|mid|late)[- ]?\s*)?({'|'.join(_DECADES)})\b", re.I)
_TURNED = re.compile(
    rf"\b(?:recently|just|only\s+just)\s+turned\s+(?P<n>{_NUM})\b|\bturned\s+(?P<m>{_NUM})\s+(?:last|this)\s+"
    r"(?:week|month|year|spring|summer|autumn|fall|winter)\b",
    re.I,
)
_FUTURE = re.compile(
    r"\b(?:will|would|hopes?|plans?|expects?|wants?|intends?|dreams?|someday|one day|by the time)\b", re.I
)
_PAST_OR_OTHER = frozenset({"was", "were", "when", "had", "her", "his", "their", "whose", "my", "our", "its"})
_PRESENT = frozenset({"is", "now", "currently", "still", "already", "today", "are"})
_FEMALE = frozenset({"she", "her", "hers", "herself"})
_MALE = frozenset({"he", "him", "his", "himself"})
_THEY = frozenset({"they", "them", "their", "theirs", "themself", "themselves"})
_PRONOUNS = {"female": (_FEMALE, _MALE), "male": (_MALE, _FEMALE)}
# Prompt echoes and assistant chatter. Word-bounded so that "as an aide" or "life here is a joy"
# do not count.
_LEFTOVERS = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\bfacts:",
        r"(?:^|\s)-\s*name:",
        r"\bwrite (?:one|a) paragraph\b",
        r"\bas an ai\b",
        r"\blanguage model\b",
        r"\bi'm sorry\b|\bi am sorry\b",
        r"\bi (?:cannot|can't|can not) (?:write|create|provide|generate|help|fulfil|fulfill|comply)\b",
        r"\bhere(?:'s| is) (?:a|an|the|your) (?:[\w-]+ ){0,3}?(?:paragraph|biography|bio|description|narrative|"
        r"story|profile|persona|summary|version|text)\b",
        r"\bword count\b|\(\s*\d+ words\s*\)",
        r"\((?:she/her|he/him|they/them)\)",
        r"(?:^|[.!?]\s+)note:",
    )
)
_DISCRIMINATION = re.compile(
    r"\b(?:discriminat\w*|passed over|underestimat\w*|dismiss\w*|unfair\w*|sexis\w*|racis\w*|prejudic\w*|bias\w*|"
    r"overlooked|mocked|teased|bullied|harass\w*|treated)\b",
    re.I,
)


@dataclass(frozen=True)
class Finding:
    expert: str
    code: str
    message: str
    attribute: str | None = None
    severity: str = "error"  # error rejects; warning is recorded only


FINDING_FIELDS = ("expert", "code", "message", "attribute", "severity")


@dataclass(frozen=True)
class ExpertResult:
    expert: str
    score: float | None  # None: the expert abstained (its findings say why); not in the mean
    findings: tuple[Finding, ...]


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def _number(token: str) -> int | None:
    token = token.lower().replace(" ", "-")
    if token.isdigit():
        return int(token)
    if token in ("a", "an"):
        return 1
    if token in _SMALL:
        return _SMALL.index(token)
    tens, _, unit = token.partition("-")
    if tens in _TENS and (not unit or unit in _SMALL[1:10]):
        return _TENS[tens] + (_SMALL.index(unit) if unit else 0)
    return None


def _fold(text: str) -> str:
    """Lower-case without accents: models often drop them ("Sofia Hernandez")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _alternation(phrases: Sequence[str]) -> str:
    """A regex alternation of literal phrases, longest first, any whitespace between words."""
    ordered = sorted({p.strip() for p in phrases if p.strip()}, key=len, reverse=True)
    return "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in ordered)


def _has_phrase(phrase: str, lowered: str) -> bool:
    return re.search(rf"\b{re.escape(phrase.lower())}\b", lowered) is not None


def clean_text(text: str, finish_reason: str | None) -> str:
    """Normalise model output: strip markdown and chatter; cut a truncated answer back to its
    last complete sentence so that a length cut-off does not leave half a sentence."""
    text = text.replace("**", "").replace("__", "").strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if lines and re.match(r"^(sure|certainly|here(?:'s| is))\b", lines[0], re.IGNORECASE) and len(lines) > 1:
        lines = lines[1:]
    text = " ".join(lines)
    text = re.sub(r"\s+", " ", text).strip()
    if finish_reason == "length":
        cut = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
        if text.endswith((".", "!", "?")):
            cut = len(text) - 1
        text = text[: cut + 1] if cut > 0 else text
    return text


def _ends_complete(text: str) -> bool:
    text = text.rstrip()
    if text.endswith((".", "!", "?", '"', "”")):
        return True
    # a closing remark in brackets after a finished sentence, e.g. "... she said. (Word count: 92)"
    if text.endswith(")") and "(" in text:
        return text[: text.rfind("(")].rstrip().endswith((".", "!", "?", '"', "”"))
    return False


def degeneration(text: str, min_words: int, max_words: int) -> ExpertResult:
    """Repetition, compression ratio, length bounds, leftover prompt text."""
    findings: list[Finding] = []
    toks = [t.lower() for t in words(text)]
    n = len(toks)
    if n < min_words:
        findings.append(Finding("degeneration", "too_short", f"{n} words, fewer than {min_words}"))
    if n > max_words:
        findings.append(Finding("degeneration", "too_long", f"{n} words, more than {max_words}"))
    repeated = 0.0
    if n >= 12:
        grams = Counter(zip(toks, toks[1:], toks[2:], strict=False))
        repeated = sum(c - 1 for c in grams.values() if c > 1) / max(1, n - 2)
        if repeated > 0.2:
            findings.append(Finding("degeneration", "repeated_ngrams", f"{repeated:.0%} of 3-grams are repeats"))
    raw = text.encode("utf-8")
    ratio = len(zlib.compress(raw)) / max(1, len(raw))
    if len(raw) > 200 and ratio < 0.3:
        findings.append(Finding("degeneration", "low_compression", f"compression ratio {ratio:.2f} < 0.30"))
    sentences = [s.strip().lower() for s in re.split(r"[.!?]+", text) if s.strip()]
    dup_sentences = len(sentences) - len(set(sentences))
    if dup_sentences:
        findings.append(Finding("degeneration", "repeated_sentence", f"{dup_sentences} sentence(s) repeated"))
    for marker in _LEFTOVERS:
        m = marker.search(text)
        if m:
            findings.append(Finding("degeneration", "prompt_leftover", f"contains {m.group(0).strip()!r}"))
            break
    if text and not _ends_complete(text):
        findings.append(
            Finding("degeneration", "truncated", "does not end with a complete sentence", severity="warning")
        )
    score = max(0.0, 1.0 - 2.0 * repeated - 0.5 * sum(f.severity == "error" for f in findings))
    return ExpertResult("degeneration", round(score, 4), tuple(findings))


# ---------------------------------------------------------------------------------------------
# faithfulness


@dataclass(frozen=True)
class _FaithLexicon:
    groups: dict[str, tuple[str, ...]]  # occupation group -> names
    related: dict[str, tuple[str, ...]]
    name_to_group: dict[str, str]
    occupation_names: str  # regex alternation of every name
    person_nouns: frozenset[str]
    others_with_ages: frozenset[str]
    names: dict[str, frozenset[str]]  # word lists for reading a leading name (see faithfulness.yaml)


@lru_cache(maxsize=1)
def _faith_lexicon() -> _FaithLexicon:
    doc = yaml.safe_load((LEXICONS / "faithfulness.yaml").read_text(encoding="utf-8"))
    groups = {g: tuple(str(n).lower() for n in spec["names"]) for g, spec in doc["occupations"].items()}
    related = {g: tuple(str(n).lower() for n in spec.get("related", ())) for g, spec in doc["occupations"].items()}
    name_to_group = {n: g for g, names in groups.items() for n in names}
    head_nouns = {n.split()[-1] for names in groups.values() for n in names}
    return _FaithLexicon(
        groups=groups,
        related=related,
        name_to_group=name_to_group,
        occupation_names=_alternation(list(name_to_group)),
        person_nouns=frozenset(str(w).lower() for w in doc["person_nouns"]) | head_nouns,
        others_with_ages=frozenset(str(w).lower() for w in doc["others_with_ages"]),
        names={k: frozenset(str(w).lower() for w in v) for k, v in doc["names"].items()},
    )


def _age_findings(text: str, attrs: dict[str, Any]) -> list[Finding]:
    """Stated ages, decades ("in her forties"), appositions ("Ana Silva, 24,") and birthdays that
    disagree with demographics.age. Ages of relatives ("her 8-year-old son") are skipped."""
    age = attrs.get("demographics.age")
    if age is None:
        return []
    age = int(age)
    lex = _faith_lexicon()
    name = str(attrs.get("identity.name") or "")
    subjects = {"she", "he", "they", *(w.lower() for w in words(name))}

    def finding(message: str) -> list[Finding]:
        return [Finding("faithfulness", "age_contradiction", f"{message}, persona is {age}", "demographics.age")]

    for m in _AGE_MENTION.finditer(text):
        stated = _number(next(g for g in m.groups() if g))
        if stated is None or stated == age or stated > 120:
            continue
        before = words(text[max(0, m.start() - 40) : m.start()].lower())[-3:]
        after = words(text[m.end() : m.end() + 30].lower())[:1]
        predicative = m.group("a") is None or re.search(r"years?\s+old", m.group(0), re.I)
        if before and (before[-1] in _PAST_OR_OTHER or before[-1].endswith(("'s", "’s"))):
            continue  # "her 8-year-old son", "when she was 19 years old", "Ana's 80-year-old mother"
        if before and before[-1] in ("at", "since", "from", "by", "until", "before", "after", "of"):
            continue  # "at age 25"
        if after and after[0] in lex.others_with_ages:
            continue  # "a 12-year-old boy"
        if predicative and any(w in ("was", "were") for w in before):
            continue  # "when she was 19 years old"
        if _about_someone_else(words(text[max(0, m.start() - 60) : m.start()].lower())[-4:], subjects):
            continue  # "her son is 8 years old", "their children, aged 6 and 9", "her husband, a 36-year-old"
        return finding(f"states age {stated} ({m.group(0)!r})")
    if name:
        forms = _alternation([name, name.split()[0]])
        appositive = re.search(rf"\b(?:{forms})\s*(?:,|\()\s*(?:aged\s+)?(\d{{1,3}})\s*(?:,|\))", text)
        if appositive and int(appositive.group(1)) != age:
            return finding(f"states age {appositive.group(1)} ({appositive.group(0)!r})")
    for m in _DECADE.finditer(text):
        start = _DECADES[m.group(1).lower()]
        end = 19 if start == 13 else start + 9
        if start <= age <= end:
            continue
        before = words(text[max(0, m.start() - 60) : m.start()].lower())
        if _about_someone_else(before[-5:], subjects):
            continue  # "her mother, now in her seventies"
        last = before[-1] if before else ""
        present = last in _PRESENT or last in lex.person_nouns or last.endswith(("'s", "’s"))
        sentence_start = max(
            text.rfind(".", 0, m.start()), text.rfind("!", 0, m.start()), text.rfind("?", 0, m.start())
        )
        sentence_end = len(text) if text.find(".", m.end()) < 0 else text.find(".", m.end())
        sentence = text[sentence_start + 1 : sentence_end]
        # "married in her twenties" is the past; "in her fifties" for a 45-year-old can only be the
        # future ("hopes to retire in her sixties") unless the sentence is about the past.
        impossible_past = start > age and not _FUTURE.search(sentence)
        if present or impossible_past:
            return finding(f"says {m.group(0)!r}")
    for m in _TURNED.finditer(text):
        stated = _number(m.group("n") or m.group("m"))
        if stated is not None and abs(stated - age) > 1:
            return finding(f"says {m.group(0)!r}")
    return []


def _about_someone_else(before: list[str], subjects: set[str]) -> bool:
    """Whether the words just before an age name a relative or other person ("her husband, a"),
    with no word for the persona after it ("her son says she is")."""
    others = _faith_lexicon().others_with_ages
    for i in range(len(before) - 1, -1, -1):
        if before[i] in subjects:
            return False
        if before[i] in others:
            return True
    return False


def _leading_name(text: str) -> str | None:
    """The full name a narrative opens with as its subject ("Maria Lopez is ...", "Meet Maria
    Lopez, a ..."), or None when the first words are not a name followed by a verb or comma."""
    lex = _faith_lexicon().names
    toks = re.findall(r"[^\W\d_][\w'’-]*|\S", text[:200])
    i = 1 if toks and toks[0].lower() in lex["intro"] else 0
    name: list[str] = []
    while i < len(toks):
        tok = toks[i]
        low = tok.lower()
        if not name and low in lex["titles"]:
            i += 2 if i + 1 < len(toks) and toks[i + 1] == "." else 1
            continue
        if tok[:1].isupper() or (name and low in lex["particles"]):
            name.append(tok)
            i += 1
            continue
        break
    following = toks[i] if i < len(toks) else ""
    if len(name) < 2 or name[0].lower() in lex["not_a_name"]:
        return None
    if following not in (",", "(") and following.lower() not in lex["subject_verbs"]:
        return None
    return " ".join(name)


def _name_tokens(name: str) -> set[str]:
    particles = _faith_lexicon().names["particles"]
    out = set()
    for tok in _fold(name).replace("’", "'").split():
        tok = tok.removesuffix("'s")
        if tok and tok not in particles:
            out.add(tok)
    return out


def _name_swapped(text: str, attrs: dict[str, Any]) -> list[Finding]:
    name = str(attrs.get("identity.name") or "")
    subject = _leading_name(text)
    if not name or not subject:
        return []
    said, persona = _name_tokens(subject), _name_tokens(name)
    places = _name_tokens(
        f"{attrs.get('location.residence.city') or ''} {attrs.get('location.residence.country') or ''}"
    )
    if not said or said <= persona or persona <= said or said & places:
        return []
    return [
        Finding(
            "faithfulness",
            "name_swapped",
            f"the text opens with {subject!r} as its subject; the persona is {name!r}",
            "identity.name",
        )
    ]


def _occupation_terms(occupation: str) -> tuple[set[str], set[str]]:
    """(groups, words) of the persona's occupation: the lexicon groups it belongs to, and the words
    whose presence in a text counts as mentioning it."""
    lex = _faith_lexicon()
    low = occupation.lower()
    groups = {g for g, names in lex.groups.items() if any(_has_phrase(n, low) for n in names)}
    generic = {"retired", "part-time", "full-time", "junior", "senior", "apprentice", "volunteer", "former"}
    terms = {w.lower() for w in words(occupation) if len(w) > 3 and w.lower() not in generic}
    for g in groups:
        terms.update(lex.groups[g])
        terms.update(lex.related[g])
    return groups, terms


def _occupation_contradiction(text: str, attrs: dict[str, Any]) -> list[Finding]:
    occupation = str(attrs.get("work.employment.occupation") or "")
    name = str(attrs.get("identity.name") or "")
    if not occupation:
        return []
    lex = _faith_lexicon()
    groups, terms = _occupation_terms(occupation)
    lowered = text.lower()
    if any(_has_phrase(t, lowered) for t in terms):
        return []  # the persona's own occupation is there; another job may be a partner's or a past one
    subjects = ["she", "he"] + [p for p in name.split() if len(p) > 2] + ([name] if name else [])
    filler = r"(?:(?!(?:of|for|to|with|from|who|whose|like|and)\b)[\w-]+\s+){0,3}?"
    pattern = re.compile(
        rf"\b(?:{_alternation(subjects)})(?:\s+(?:is|was|works\s+as|worked\s+as|has\s+worked\s+as|is\s+working\s+as|"
        rf"is\s+employed\s+as|works\s+part-time\s+as|works\s+full-time\s+as)|['’]s|\s*,)\s+(?:an?\s+)?{filler}"
        rf"(?P<occ>{lex.occupation_names})\b(?!['’]s)",
        re.IGNORECASE,
    )
    for m in pattern.finditer(text):
        said = re.sub(r"\s+", " ", m.group("occ").lower())
        if lex.name_to_group.get(said) in groups:
            continue
        return [
            Finding(
                "faithfulness",
                "occupation_contradiction",
                f"the text says {m.group(0)!r}; the persona is a {occupation.lower()}",
                "work.employment.occupation",
            )
        ]
    return []


def _children_findings(text: str, attrs: dict[str, Any]) -> list[Finding]:
    """'no children'/'childless' for a parent, or a number of children that differs from
    household.children ("her two children", "a father of three", "his daughter" for none)."""
    kids = attrs.get("household.children")
    if kids is None:
        return []
    kids = int(kids)
    n = rf"(?P<n>\d{{1,2}}|{_NUM_WORD})"
    adj = r"(?:(?:young|grown|grown-up|adult|teenage|small|little|school-age|beautiful|wonderful|lovely)\s+)?"
    claims: list[tuple[str, str, int]] = []  # (kind, phrase, count): kind exact | at_least | none
    for m in re.finditer(
        r"\bchildless\b|\b(?:has|have|had)\s+no\s+(?:children|kids)\b|\bno\s+(?:children|kids)\b(?!\s+(?:yet|in|at|of\s+school))"
        r"|\b(?:never\s+had|does\s+not\s+have|doesn't\s+have|do\s+not\s+have|don't\s+have)\s+(?:any\s+)?(?:children|kids)\b",
        text,
        re.I,
    ):
        claims.append(("none", m.group(0), 0))
    for m in re.finditer(
        rf"\b(?:her|his|their|has|have|had|with|raising|raised|and)\s+{n}\s+{adj}(?:children|kids)\b"
        rf"|\b(?:mother|father|parent|mum|mom|dad)\s+of\s+{n.replace('<n>', '<n2>')}\b",
        text,
        re.I,
    ):
        count = _number(m.group("n") or m.group("n2"))
        if count is not None:
            claims.append(("exact", m.group(0), count))
    for m in re.finditer(r"\b(?:her|his|their)\s+only\s+(?:child|kid)\b", text, re.I):
        claims.append(("exact", m.group(0), 1))
    for m in re.finditer(
        rf"\b(?:her|his|their|has|have|had|with|raising|raised|and)\s+{n}\s+{adj}(?:sons|daughters|boys|girls)\b",
        text,
        re.I,
    ):
        count = _number(m.group("n"))
        if count is not None and count > 1:
            claims.append(("at_least", m.group(0), count))
    for m in re.finditer(r"\b(?:her|his)\s+(?:[\w-]+\s+){0,2}?(?:sons|daughters)\b", text, re.I):
        claims.append(("at_least", m.group(0), 2))
    for m in re.finditer(
        r"\b(?:her|his)\s+(?:[\w-]+\s+){0,2}?(?:son|daughter|baby|toddler|stepson|stepdaughter|kids|children)\b"
        r"|\btheir\s+(?:[\w-]+\s+){0,2}?(?:son|daughter|baby|toddler|stepson|stepdaughter)\b"
        r"|(?<!\bby a )(?<!\bto a )(?<!\bof a )(?<!\bas a )\b(?:single|working|stay-at-home|young)\s+"
        r"(?:mother|father|mum|mom|dad|parent)\b"
        r"|\b(?:is|became)\s+an?\s+(?:\w+\s+)?(?:mother|father|mum|mom|dad|parent)\b",
        text,
        re.I,
    ):
        claims.append(("at_least", m.group(0), 1))
    for kind, phrase, count in claims:
        if re.search(r"\b(?:first|unborn|future)\b", phrase, re.I):
            continue  # "expecting their first baby"
        wrong = (
            (kind == "none" and kids > 0)
            or (kind == "exact" and count != kids)
            or (kind == "at_least" and count > kids)
        )
        if wrong:
            return [
                Finding(
                    "faithfulness",
                    "children_contradiction",
                    f"the text says {phrase!r}; the persona has {kids} {'child' if kids == 1 else 'children'}",
                    "household.children",
                )
            ]
    return []


def _gender_findings(text: str, attrs: dict[str, Any]) -> list[Finding]:
    gender = str(attrs.get("demographics.gender") or "").lower()
    toks = [t.lower() for t in words(text)]
    expected, other = _PRONOUNS.get(gender, (None, None))
    if expected:
        right = sum(t in expected for t in toks)
        wrong = sum(t in other for t in toks)
        if wrong > right:
            message = f"{wrong} pronoun(s) for the other gender vs {right} matching; persona is {gender}"
            return [Finding("faithfulness", "gender_contradiction", message, "demographics.gender")]
    elif gender == "non-binary":
        gendered = sum(t in _FEMALE or t in _MALE for t in toks)
        they = sum(t in _THEY for t in toks)
        if gendered >= 3 and gendered > 2 * they:
            message = f"{gendered} she/he pronoun(s) vs {they} they/them; persona is non-binary"
            return [Finding("faithfulness", "gender_contradiction", message, "demographics.gender")]
    return []


def faithfulness(text: str, attrs: dict[str, Any]) -> ExpertResult:
    """Anchor attributes present (name, place, occupation), none contradicted (name, age, gender,
    occupation, children)."""
    findings: list[Finding] = []
    lowered = text.lower()
    checks = 0
    hits = 0
    name = attrs.get("identity.name") or ""
    first = name.split()[0] if name else ""
    checks += 1
    if first and (first.lower() in lowered or _fold(first) in _fold(text)):
        hits += 1
    else:
        findings.append(Finding("faithfulness", "name_missing", f"the name {name!r} does not appear", "identity.name"))
    findings += _name_swapped(text, attrs)
    findings += _age_findings(text, attrs)
    findings += _gender_findings(text, attrs)
    findings += _children_findings(text, attrs)
    findings += _occupation_contradiction(text, attrs)
    for path, code in (
        ("location.residence.city", "place_missing"),
        ("work.employment.occupation", "occupation_missing"),
    ):
        value = attrs.get(path)
        if not value:
            continue
        checks += 1
        key_words = [w.lower() for w in words(value) if len(w) > 3 and w.lower() not in ("retired", "part-time")]
        if path == "work.employment.occupation":
            key_words += sorted(_occupation_terms(value)[1])
        if value.lower() in lowered or any(_has_phrase(w, lowered) for w in key_words):
            hits += 1
        else:
            findings.append(Finding("faithfulness", code, f"{value!r} is not mentioned", path, severity="warning"))
    score = hits / checks
    if any(f.severity == "error" for f in findings):
        score = min(score, 0.3)
    return ExpertResult("faithfulness", round(score, 4), tuple(findings))


# ---------------------------------------------------------------------------------------------
# safety


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
    doc = yaml.safe_load((LEXICONS / "safety.yaml").read_text(encoding="utf-8"))
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
    P, S, A = _alternation(plural), _alternation(singular), _alternation(adjectives)  # noqa: N806
    neg = _alternation([str(t) for t in doc["negative_traits"]])
    back = _alternation([str(t) for t in doc["backhanded"]])
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
        slurs=re.compile(rf"\b(?:{_alternation(slurs)})(?:s|es)?\b", re.I),
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


# ---------------------------------------------------------------------------------------------
# novelty


def _ngram_counts(text: str) -> Counter[tuple[str, ...]]:
    toks = re.sub(r"[^\w\s]", " ", text.lower()).split()
    return Counter((t,) for t in toks) + Counter(zip(toks, toks[1:], strict=False))


def similarity(a: str, b: str) -> float:
    """Cosine similarity of word 1-2-gram counts (lower-cased, punctuation stripped). Chosen over
    character shingles because it needs no model, is order-insensitive enough to see through a
    light paraphrase, and its bigrams still separate texts that merely share function words."""
    va, vb = _ngram_counts(a), _ngram_counts(b)
    dot = sum(c * vb[k] for k, c in va.items())
    norm = math.sqrt(sum(c * c for c in va.values()) * sum(c * c for c in vb.values()))
    return dot / norm if norm else 0.0


def novelty(text: str, others: Sequence[tuple[str, str]], threshold: float = DEFAULT_NOVELTY_THRESHOLD) -> ExpertResult:
    """Similarity to sibling candidates and few-shot exemplars, given as (label, text) pairs.
    Score: 1 - the highest similarity (1.0 with nothing to compare)."""
    findings: list[Finding] = []
    best = 0.0
    for label, other in others:
        sim = similarity(text, other)
        best = max(best, sim)
        if sim >= threshold:
            findings.append(Finding("novelty", "too_similar", f"similarity {sim:.2f} to {label} (>= {threshold:.2f})"))
    return ExpertResult("novelty", round(1.0 - best, 4), tuple(findings))


# ---------------------------------------------------------------------------------------------
# verdict


@dataclass(frozen=True)
class Verdict:
    score: float
    passed: bool
    experts: tuple[ExpertResult, ...]

    @property
    def findings(self) -> list[Finding]:
        return [f for e in self.experts for f in e.findings]

    def as_record(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "passed": self.passed,
            "experts": [{"expert": e.expert, "score": e.score} for e in self.experts if e.score is not None],
            # the fields every finding has (subclasses may carry more, e.g. a turn number)
            "findings": [{k: getattr(f, k) for k in FINDING_FIELDS} for f in self.findings],
        }


def combine(experts: Sequence[ExpertResult], critic: dict[str, Any]) -> Verdict:
    """The verdict of a set of expert results: the weighted mean of their scores
    (critic["weights"], over the experts present) must reach critic["threshold"] and no finding
    may have severity `error`."""
    weights = {**DEFAULT_WEIGHTS, **(critic.get("weights") or {})}
    scored = [e for e in experts if e.score is not None]
    total = sum(max(0.0, float(weights.get(e.expert, 0.0))) for e in scored)
    if total > 0:
        score = sum(max(0.0, float(weights.get(e.expert, 0.0))) * e.score for e in scored) / total
    else:
        score = sum(e.score for e in scored) / len(scored)
    score = round(score, 4)
    blocking = any(f.severity == "error" for e in experts for f in e.findings)
    return Verdict(score, (not blocking) and score >= float(critic["threshold"]), tuple(experts))


def judge(text: str, attrs: dict[str, Any], critic: dict[str, Any], others: Sequence[tuple[str, str]] = ()) -> Verdict:
    """Run every rule-based expert on a candidate and combine their results."""
    experts = (
        degeneration(text, int(critic["min_words"]), int(critic["max_words"])),
        faithfulness(text, attrs),
        safety(text, attrs),
        novelty(text, others, float(critic.get("novelty_threshold", DEFAULT_NOVELTY_THRESHOLD))),
    )
    return combine(experts, critic)

"""The faithfulness expert: the narrative agrees with the sampled attributes.

Finding codes: name_missing, name_swapped (the text opens with another full name as its subject),
age_contradiction (a stated age, decade, apposition or birthday), gender_contradiction (pronouns),
children_contradiction, occupation_contradiction (another job and none of the persona's own), and
the warnings place_missing and occupation_missing. Word lists: lexicons/faithfulness.yaml
(`pipelines.critique.lexicon`)."""

from __future__ import annotations

import re
from typing import Any

from pipelines.common.facts import first_name
from pipelines.critique.base import ExpertResult, Finding
from pipelines.critique.lexicon import children_contradicted, faith_lexicon, occupation_terms
from pipelines.critique.text import DECADES, NUM, NUM_WORD, alternation, decade_span, fold, has_phrase, number, words

_AGE_MENTION = re.compile(
    rf"\b(?P<a>{NUM})(?:-|\s)(?:year|yr)s?(?:-|\s)old\b|\baged?\s+(?P<b>\d{{1,3}})\b"
    r"|\b(?P<c>\d{1,3}) years of age\b",
    re.IGNORECASE,
)
_DECADE = re.compile(rf"\bin\s+(?:his|her|their)\s+(?:(?:early|mid|late)[- ]?\s*)?({'|'.join(DECADES)})\b", re.I)
_TURNED = re.compile(
    rf"\b(?:recently|just|only\s+just)\s+turned\s+(?P<n>{NUM})\b|\bturned\s+(?P<m>{NUM})\s+(?:last|this)\s+"
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
# A sentence that opens with the other gender's pronoun is about the persona unless someone else
# has been named before it: any of these words (or a capitalised name other than the persona's).
_OTHER_PERSON = re.compile(
    r"\b(?:husband|wife|partner|boyfriend|girlfriend|fianc[ée]e?|spouse|son|daughter|child|children|kids?|baby|"
    r"father|mother|dad|mum|mom|parents?|brother|sister|sibling|grand(?:father|mother|son|daughter|pa|ma)|"
    r"uncle|aunt|nephew|niece|cousin|friend|colleague|boss|manager|mentor|coach|teacher|doctor|neighbou?r|"
    r"customer|client|patient|student|man|woman|boy|girl|guy|lady|someone|people|family|"
    r"(?:step|in-law)\w*)s?\b",
    re.IGNORECASE,
)
_OPENING_PRONOUN = {
    "female": re.compile(r"(?:^|[.!?]\s+)(?:He|His|Him)\b"),
    "male": re.compile(r"(?:^|[.!?]\s+)(?:She|Her)\b"),
}


def _contradiction(code: str, message: str, attribute: str) -> list[Finding]:
    return [Finding("faithfulness", code, message, attribute)]


def _age_findings(text: str, attrs: dict[str, Any]) -> list[Finding]:
    """Stated ages, decades ("in her forties"), appositions ("Ana Silva, 24,") and birthdays that
    disagree with demographics.age. Ages of relatives ("her 8-year-old son") are skipped."""
    age = attrs.get("demographics.age")
    if age is None:
        return []
    age = int(age)
    lex = faith_lexicon()
    name = str(attrs.get("identity.name") or "")
    subjects = {"she", "he", "they", *(w.lower() for w in words(name))}

    def finding(message: str) -> list[Finding]:
        return _contradiction("age_contradiction", f"{message}, persona is {age}", "demographics.age")

    for m in _AGE_MENTION.finditer(text):
        stated = number(next(g for g in m.groups() if g))
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
        forms = alternation([name, first_name(name)])
        appositive = re.search(rf"\b(?:{forms})\s*(?:,|\()\s*(?:aged\s+)?(\d{{1,3}})\s*(?:,|\))", text)
        if appositive and int(appositive.group(1)) != age:
            return finding(f"states age {appositive.group(1)} ({appositive.group(0)!r})")
    for m in _DECADE.finditer(text):
        start, end = decade_span(m.group(1))
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
        stated = number(m.group("n") or m.group("m"))
        if stated is not None and abs(stated - age) > 1:
            return finding(f"says {m.group(0)!r}")
    return []


def _about_someone_else(before: list[str], subjects: set[str]) -> bool:
    """Whether the words just before an age name a relative or other person ("her husband, a"),
    with no word for the persona after it ("her son says she is")."""
    others = faith_lexicon().others_with_ages
    for i in range(len(before) - 1, -1, -1):
        if before[i] in subjects:
            return False
        if before[i] in others:
            return True
    return False


def _leading_name(text: str) -> str | None:
    """The full name a narrative opens with as its subject ("Maria Lopez is ...", "Meet Maria
    Lopez, a ..."), or None when the first words are not a name followed by a verb or comma."""
    lex = faith_lexicon().names
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
    particles = faith_lexicon().names["particles"]
    out = set()
    for tok in fold(name).replace("’", "'").split():
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
    return _contradiction(
        "name_swapped", f"the text opens with {subject!r} as its subject; the persona is {name!r}", "identity.name"
    )


def _occupation_contradiction(text: str, attrs: dict[str, Any]) -> list[Finding]:
    occupation = str(attrs.get("work.employment.occupation") or "")
    name = str(attrs.get("identity.name") or "")
    if not occupation:
        return []
    lex = faith_lexicon()
    groups, terms = occupation_terms(occupation)
    lowered = text.lower()
    if any(has_phrase(t, lowered) for t in terms):
        return []  # the persona's own occupation is there; another job may be a partner's or a past one
    subjects = ["she", "he"] + [p for p in name.split() if len(p) > 2] + ([name] if name else [])
    filler = r"(?:(?!(?:of|for|to|with|from|who|whose|like|and)\b)[\w-]+\s+){0,3}?"
    pattern = re.compile(
        rf"\b(?:{alternation(subjects)})(?:\s+(?:is|was|works\s+as|worked\s+as|has\s+worked\s+as|is\s+working\s+as|"
        rf"is\s+employed\s+as|works\s+part-time\s+as|works\s+full-time\s+as)|['’]s|\s*,)\s+(?:an?\s+)?{filler}"
        rf"(?P<occ>{lex.occupation_names})\b(?!['’]s)",
        re.IGNORECASE,
    )
    for m in pattern.finditer(text):
        said = re.sub(r"\s+", " ", m.group("occ").lower())
        if lex.name_to_group.get(said) in groups:
            continue
        return _contradiction(
            "occupation_contradiction",
            f"the text says {m.group(0)!r}; the persona is a {occupation.lower()}",
            "work.employment.occupation",
        )
    return []


def _children_findings(text: str, attrs: dict[str, Any]) -> list[Finding]:
    """'no children'/'childless' for a parent, or a number of children that differs from
    household.children ("her two children", "a father of three", "his daughter" for none)."""
    kids = attrs.get("household.children")
    if kids is None:
        return []
    kids = int(kids)
    n = rf"(?P<n>\d{{1,2}}|{NUM_WORD})"
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
        # "her two young ones": children said as ones
        rf"\b(?:her|his|their|has|have|had|with|raising|raised|and)\s+{n}\s+{adj}(?:children|kids|(?<=little\s)ones|(?<=young\s)ones)\b"
        rf"|\b(?:mother|father|parent|mum|mom|dad)\s+of\s+{n.replace('<n>', '<n2>')}\b",
        text,
        re.I,
    ):
        count = number(m.group("n") or m.group("n2"))
        if count is not None:
            claims.append(("exact", m.group(0), count))
    for m in re.finditer(r"\b(?:her|his|their)\s+only\s+(?:child|kid)\b", text, re.I):
        claims.append(("exact", m.group(0), 1))
    for m in re.finditer(
        rf"\b(?:her|his|their|has|have|had|with|raising|raised|and)\s+{n}\s+{adj}(?:sons|daughters|boys|girls)\b",
        text,
        re.I,
    ):
        count = number(m.group("n"))
        if count is not None and count > 1:
            claims.append(("at_least", m.group(0), count))
    # "his sons", "her little ones", "his wife and kids": more than one
    for m in re.finditer(
        r"\b(?:her|his)\s+(?:[\w-]+\s+){0,2}?(?:sons|daughters|kids|children)\b"
        r"|\b(?:her|his|their)\s+(?:little|young)\s+ones\b",
        text,
        re.I,
    ):
        claims.append(("at_least", m.group(0), 2))
    for m in re.finditer(
        r"\b(?:her|his)\s+(?:[\w-]+\s+){0,2}?(?:son|daughter|baby|toddler|stepson|stepdaughter)\b"
        r"|\btheir\s+(?:[\w-]+\s+){0,2}?(?:son|daughter|baby|toddler|stepson|stepdaughter)\b"
        # a grandchild has a parent: "her grandchildren" for a persona with no children
        r"|\b(?:her|his|their)\s+(?:[\w-]+\s+){0,2}?grand(?:kids?|child|children|sons?|daughters?)\b"
        r"|(?<!\bby a )(?<!\bto a )(?<!\bof a )(?<!\bas a )\b(?:single|working|stay-at-home|young)\s+"
        r"(?:mother|father|mum|mom|dad|parent)\b"
        r"|\b(?:is|became)\s+an?\s+(?:\w+\s+)?(?:mother|father|mum|mom|dad|parent)\b",
        text,
        re.I,
    ):
        claims.append(("at_least", m.group(0), 1))
    wrong = next((phrase for kind, phrase, count in claims if children_contradicted(kind, phrase, count, kids)), None)
    if wrong is None:
        return []
    message = f"the text says {wrong!r}; the persona has {kids} {'child' if kids == 1 else 'children'}"
    return _contradiction("children_contradiction", message, "household.children")


def _gender_findings(text: str, attrs: dict[str, Any]) -> list[Finding]:
    gender = str(attrs.get("demographics.gender") or "").lower()
    toks = [t.lower() for t in words(text)]
    expected, other = _PRONOUNS.get(gender, (None, None))
    if expected:
        right = sum(t in expected for t in toks)
        wrong = sum(t in other for t in toks)
        if wrong > right:
            message = f"{wrong} pronoun(s) for the other gender vs {right} matching; persona is {gender}"
            return _contradiction("gender_contradiction", message, "demographics.gender")
        switch = _OPENING_PRONOUN[gender].search(text)
        if switch and not _someone_else_before(text[: switch.start()], attrs):
            message = f"a sentence opens with {switch.group(0).strip(' .!?')!r} with no one else named before it"
            return _contradiction("gender_contradiction", message, "demographics.gender")
    elif gender == "non-binary":
        gendered = sum(t in _FEMALE or t in _MALE for t in toks)
        they = sum(t in _THEY for t in toks)
        if gendered >= 3 and gendered > 2 * they:
            message = f"{gendered} she/he pronoun(s) vs {they} they/them; persona is non-binary"
            return _contradiction("gender_contradiction", message, "demographics.gender")
    return []


def _someone_else_before(text: str, attrs: dict[str, Any]) -> bool:
    """Whether `text` names a person other than the persona: a relation or role word, or a
    capitalised word that starts no sentence and is not part of the persona's name or place."""
    if _OTHER_PERSON.search(text):
        return True
    own = {w.lower() for w in str(attrs.get("identity.name") or "").split()}
    for key in ("location.residence.city", "location.residence.country", "location.residence.region"):
        own |= {w.lower() for w in str(attrs.get(key) or "").split()}
    for m in re.finditer(r"[^\W\d_]+", text):
        word, before = m.group(0), text[: m.start()].rstrip()
        if word[0].isupper() and before and before[-1] not in ".!?\"'" and word.lower() not in own:
            return True
    return False


def contradictions(text: str, attrs: dict[str, Any]) -> list[Finding]:
    """The per-attribute contradiction checks alone (age, children, occupation), for texts that
    are not a whole narrative, such as a deep-profile value."""
    return [*_age_findings(text, attrs), *_children_findings(text, attrs), *_occupation_contradiction(text, attrs)]


def faithfulness(text: str, attrs: dict[str, Any]) -> ExpertResult:
    """Anchor attributes present (name, place, occupation), none contradicted (name, age, gender,
    occupation, children)."""
    findings: list[Finding] = []
    lowered = text.lower()
    checks = 0
    hits = 0
    name = attrs.get("identity.name") or ""
    first = first_name(name) if name else ""
    checks += 1
    if first and (first.lower() in lowered or fold(first) in fold(text)):
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
            key_words += sorted(occupation_terms(value)[1])
        if value.lower() in lowered or any(has_phrase(w, lowered) for w in key_words):
            hits += 1
        else:
            findings.append(Finding("faithfulness", code, f"{value!r} is not mentioned", path, severity="warning"))
    score = hits / checks
    if any(f.severity == "error" for f in findings):
        score = min(score, 0.3)
    return ExpertResult("faithfulness", round(score, 4), tuple(findings))

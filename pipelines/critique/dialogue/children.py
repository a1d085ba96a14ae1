"""What a dialogue speaker says about their own children, checked against `household.children`
(part of the consistency expert; finding code children_contradiction)."""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet

from pipelines.critique.dialogue.findings import I_AM, DialogueFinding, finding
from pipelines.critique.lexicon import children_contradicted, children_phrase
from pipelines.critique.text import NUM_WORD, number

_NUMS = rf"(?P<n>\d{{1,2}}|{NUM_WORD})"
_KID_ADJ = r"(?:(?:young|little|small|grown|grown-up|adult|teenage|wonderful|lovely|beautiful|lively)\s+)?"
_KIDS_AFTER_OK = (
    r"(?!['’])(?!\s+(?:at|living|in|under|around|with|here|today|tonight|this|over|anymore|any\s+more|coming|"
    r"visiting|now|of\s+school))"
)
_KIDS_NONE = re.compile(
    r"\b(?:i|we)\s+(?:don['’]t|do\s+not|didn['’]t|did\s+not|never)\s+(?:have|had)\s+(?:any\s+)?(?:kids|children)\b"
    + _KIDS_AFTER_OK
    + r"|\b(?:i|we)\s+have\s+no\s+(?:kids|children)\b"
    + _KIDS_AFTER_OK
    + r"|\b(?:i|we)['’]ve\s+never\s+had\s+(?:any\s+)?(?:kids|children)\b|\bno\s+(?:kids|children)\s+of\s+my\s+own\b"
    r"|\b(?:i['’]m|i\s+am|we['’]re|we\s+are)\s+childless\b",
    re.I,
)
_KIDS_EXACT = re.compile(
    rf"\b(?:i|we)\s+(?:have|['’]ve\s+got|have\s+got)\s+{_NUMS}\s+{_KID_ADJ}(?:kids|children)\b(?!['’])"
    r"(?!\s+(?:in|at|on|from|under|to|who\s+(?:come|visit)))"
    rf"|\bmy\s+{_NUMS.replace('<n>', '<n2>')}\s+{_KID_ADJ}(?:kids|children)\b(?!['’])"
    rf"|{I_AM}\s+an?\s+(?:[\w-]+\s+)?(?:mother|father|mum|mom|dad|parent)\s+of\s+{_NUMS.replace('<n>', '<n3>')}\b"
    r"|\bmy\s+only\s+(?P<one>child|kid)\b",
    re.I,
)
_KIDS_AT_LEAST = re.compile(
    rf"\bmy\s+{_NUMS}\s+{_KID_ADJ}(?:sons|daughters|boys|girls)\b"
    r"|\bmy\s+(?:(?:eldest|oldest|youngest|little|baby|teenage|grown-up|adult|only|older|younger|[\w]+-year-old)\s+)?"
    r"(?P<one>son|daughter|stepson|stepdaughter)\b(?!-in-law)"
    r"|\bmy\s+(?:(?:eldest|oldest|youngest|little|baby|teenage|grown-up|adult|older|younger)\s+)?(?P<two>sons|daughters)\b"
    r"|\bas\s+an?\s+(?:(?:single|working|new)\s+)?(?P<p>mother|father|mum|mom|dad|parent)\b"
    rf"|{I_AM}\s+an?\s+(?:single|working|stay-at-home|young|new|busy)\s+(?P<p2>mother|father|mum|mom|dad|parent)\b"
    r"(?!\s+of\b)"
    r"|\bmy\s+(?:wife|husband|partner)\s+and\s+(?P<p3>kids|children)\b"
    # "my little ones": more than one child
    r"|\bmy\s+(?:little|young)\s+(?P<ones>ones)\b"
    # a grandchild has a parent: "visit my grandkids" from a speaker with no children
    r"|\bmy\s+(?:(?:little|baby|eldest|oldest|youngest|two|three|four|five)\s+)?"
    r"grand(?:kids?|child|children|sons?|daughters?|babies|baby)\b",
    re.I,
)
_MY_KIDS = re.compile(
    r"\bmy\s+(?:own\s+)?(?:kids|children)\b(?!\s*\?)(?!\s+(?:at\s+school|in\s+(?:class|my\s+class)|at\s+work))",
    re.I,
)
# Words that make a claim about children hypothetical ("if I had kids", "when I have my own kids").
_HYPOTHETICAL_BEFORE = re.compile(
    r"\b(?:if|when|once|unless|would|wish|hope|want|plan|imagine|dream|someday|one\s+day)\b|['’]d\b", re.I
)
_HYPOTHETICAL_AFTER = re.compile(r"\b(?:one\s+day|someday|some\s+day)\b", re.I)
# Occupations whose people say "my kids" about pupils or patients.
_KIDS_AT_WORK = frozenset({"teacher", "lecturer", "nurse", "doctor", "care worker", "social worker", "librarian"})


def hypothetical(text: str, m: re.Match[str]) -> bool:
    """Whether the sentence around match `m` makes it hypothetical: "if", "when", "would", ... before
    it, "one day" after it."""
    start = max(text.rfind(c, 0, m.start()) for c in ".!?;")
    ends = [j for j in (text.find(c, m.end()) for c in ".!?;") if j >= 0]
    before, after = text[start + 1 : m.start()], text[m.end() : min(ends, default=len(text))]
    return bool(_HYPOTHETICAL_BEFORE.search(before) or _HYPOTHETICAL_AFTER.search(after))


def children_finding(
    e: str, i: int, s: int, name: str, kids: int, text: str, own_groups: AbstractSet[str]
) -> DialogueFinding | None:
    """The first claim speaker `s` makes in turn `i` about their own children that contradicts
    `kids` ("I don't have any kids", "my two kids", "my daughter", "as a mother"), skipping
    hypotheticals ("if I had kids") and, for teachers, nurses and the like, "my kids" (pupils)."""
    claims: list[tuple[str, re.Match[str], int]] = []  # (kind, match, count): none | exact | at_least
    for m in _KIDS_NONE.finditer(text):
        claims.append(("none", m, 0))
    for m in _KIDS_EXACT.finditer(text):
        count = 1 if m.group("one") else number(m.group("n") or m.group("n2") or m.group("n3") or "")
        if count is not None and count <= 12:
            claims.append(("exact", m, count))
    for m in _KIDS_AT_LEAST.finditer(text):
        if m.group("two") or m.group("ones") or m.group("p3"):
            count = 2  # a plural: "my sons", "my little ones", "my wife and kids"
        elif m.group("n"):
            count = number(m.group("n")) or 0
        else:
            count = 1
        claims.append(("at_least", m, count))
    if not own_groups & _KIDS_AT_WORK:
        for m in _MY_KIDS.finditer(text):
            claims.append(("at_least", m, 2))  # "my kids": more than one
    for kind, m, count in claims:
        phrase = m.group(0)
        if hypothetical(text, m):
            continue  # "if I had kids", "when I have my own kids one day"
        if children_contradicted(kind, phrase, count, kids):
            return finding(
                e,
                "children_contradiction",
                f"turn {i}: {name} says {phrase.strip()!r}; {name} has {children_phrase(kids)}",
                "household.children",
                turn=i,
                speaker=s,
                evidence=phrase.strip(),
            )
    return None

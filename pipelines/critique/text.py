"""Text helpers both critics use: words, accent folding, literal-phrase regexes, number words
("twenty-four"), decades ("in her forties"), sentence endings, prompt leftovers and the
repetition measures (repeated 3-grams, compression ratio)."""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Sequence

from pipelines.common.facts import SMALL_NUMBER_WORDS

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
_SMALL = SMALL_NUMBER_WORDS
_UNITS = _SMALL[:10]
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
# A number written as a word, "one" to "ninety-nine" (a regex, no groups).
NUM_WORD = (
    rf"(?:(?:{'|'.join(_TENS)})(?:[- ](?:{'|'.join(_SMALL[1:10])}))?|{'|'.join(sorted(_SMALL, key=len, reverse=True))})"
)
# A number of up to three digits or a number word (a regex, no groups).
NUM = rf"(?:\d{{1,3}}|{NUM_WORD})"
# "teens", "twenties", ... -> the first age of the decade.
DECADES = {"teens": 13, **{w[:-1] + "ies": n for w, n in _TENS.items()}}
# Prompt echoes and assistant chatter. Word-bounded so that "as an aide" or "life here is a joy"
# do not count.
PROMPT_LEFTOVERS = tuple(
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


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def number(token: str) -> int | None:
    """The value of a number token: digits, "a"/"an", a number word ("twenty-four")."""
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


def decade_span(decade: str) -> tuple[int, int]:
    """The ages a decade word covers: "forties" -> (40, 49), "teens" -> (13, 19)."""
    start = DECADES[decade.lower()]
    return start, 19 if start == 13 else start + 9


def fold(text: str) -> str:
    """Lower-case without accents: models often drop them ("Sofia Hernandez")."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def alternation(phrases: Sequence[str]) -> str:
    """A regex alternation of literal phrases, longest first, any whitespace between words."""
    ordered = sorted({p.strip() for p in phrases if p.strip()}, key=len, reverse=True)
    return "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in ordered)


def has_phrase(phrase: str, lowered: str) -> bool:
    """Whether `phrase` occurs in the lower-cased text `lowered` as whole words."""
    phrase = phrase.lower()
    if phrase not in lowered:  # no match without the substring: skip compiling a pattern
        return False
    return re.search(rf"\b{re.escape(phrase)}\b", lowered) is not None


def ends_complete(text: str) -> bool:
    """Whether a text ends with a finished sentence (or a bracketed remark after one)."""
    text = text.rstrip()
    if text.endswith((".", "!", "?", '"', "”")):
        return True
    # a closing remark in brackets after a finished sentence, e.g. "... she said. (Word count: 92)"
    if text.endswith(")") and "(" in text:
        return text[: text.rfind("(")].rstrip().endswith((".", "!", "?", '"', "”"))
    return False


def repeated_share(toks: Sequence[str]) -> float:
    """The share of a text's word 3-grams that repeat an earlier one (0.0 below 12 words)."""
    if len(toks) < 12:
        return 0.0
    grams = Counter(zip(toks, toks[1:], toks[2:], strict=False))
    return sum(c - 1 for c in grams.values() if c > 1) / max(1, len(toks) - 2)


def low_compression(text: str) -> float | None:
    """The zlib compression ratio of a text over 200 bytes when it is below 0.3 (a loop), else None."""
    raw = text.encode("utf-8")
    ratio = len(zlib.compress(raw)) / max(1, len(raw))
    return ratio if len(raw) > 200 and ratio < 0.3 else None


def sentence_start(text: str, at: int) -> int:
    """Where the sentence holding position `at` starts (at its preceding ". ", "! " or "? ")."""
    return max(text.rfind(". ", 0, at), text.rfind("! ", 0, at), text.rfind("? ", 0, at), 0)

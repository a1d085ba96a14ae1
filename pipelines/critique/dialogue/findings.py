"""What every dialogue expert shares: a `Turn` (speaker index 0 = A, 1 = B or None for an unknown
label, and its text), `DialogueFinding` (a `Finding` that names its turn, speaker, evidence and the
earlier turn a repeat copies), `finding` (which sets the severity from
`DIALOGUE_WARNING_CODES`), and the name and pronoun helpers that messages and instructions use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.critique.base import Finding
from pipelines.critique.text import fold, words

Turn = tuple[int | None, str]
Speakers = tuple[dict, dict]  # the flat attributes of speaker A and speaker B

# Codes recorded with severity `warning`; every other code is an error.
DIALOGUE_WARNING_CODES = frozenset(
    {
        "too_many_turns",
        "wrong_first_speaker",
        "short_turn",
        "long_turn",
        "truncated",
        "wrong_addressee",
        "uniform_turns",
        "no_questions",
    }
)
TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam"})
# "I'm", "I am": the start of a first-person claim (a regex, no groups).
I_AM = r"(?:\bi['’]?m|\bi\s+am)"


def wordset(text: str) -> frozenset[str]:
    """The space-separated words of `text` as a set."""
    return frozenset(text.split())


@dataclass(frozen=True)
class DialogueFinding(Finding):
    turn: int | None = None  # 1-based turn the finding is about
    speaker: int | None = None  # 0 = speaker A, 1 = speaker B
    evidence: str | None = None  # what was said: the wrong name, age, job, a label, a quote
    ref_turn: int | None = None  # the earlier turn a repeat copies


def finding(
    expert: str,
    code: str,
    message: str,
    attribute: str | None = None,
    *,
    turn: int | None = None,
    speaker: int | None = None,
    evidence: str | None = None,
    ref_turn: int | None = None,
) -> DialogueFinding:
    severity = "warning" if code in DIALOGUE_WARNING_CODES else "error"
    return DialogueFinding(expert, code, message, attribute, severity, turn, speaker, evidence, ref_turn)


def name_tokens(name: str) -> list[str]:
    """The lower-cased, accent-folded words of a name or label, without titles ("Ms. Kowalski")."""
    return [t for t in (w.lower() for w in words(fold(name))) if t not in TITLES]


def names_of(speakers: Speakers) -> tuple[str, str]:
    """The two speakers' full names ("Speaker A"/"Speaker B" where one has none)."""
    a, b = (str(s.get("identity.name") or f"Speaker {label}") for s, label in zip(speakers, "AB", strict=True))
    return a, b


def who(turn: int, speaker: int | None, names: Sequence[str]) -> str:
    """How a message names a turn: "turn 3 (Tom Harris)", or "turn 3" for an unknown speaker."""
    return f"turn {turn}" + (f" ({names[speaker]})" if speaker is not None else "")


def pronouns(attrs: dict[str, Any]) -> tuple[str, str, str, str]:
    """(subject, object, possessive, reflexive) for the speaker's gender."""
    gender = str(attrs.get("demographics.gender") or "").lower()
    return {"female": ("she", "her", "her", "herself"), "male": ("he", "him", "his", "himself")}.get(
        gender, ("they", "them", "their", "themself")
    )


# vowel letters read as "you" or "won" ("a university lecturer", "a one-man band"), and silent h
_A_BEFORE = ("uni", "use", "usu", "uti", "ura", "uro", "eu", "one", "once")
_AN_BEFORE = ("hour", "honest", "honour", "honor", "heir")


def article(noun: str | None) -> str:
    """The noun with "a" or "an" before it, by how its first word sounds: "an electrician", "a
    university lecturer", "an hourly worker", "an IT consultant", "an MRI technician"."""
    noun = noun or ""
    word = noun.split(" ", 1)[0]
    low = word.lower()
    if len(word) > 1 and word.isupper():  # an acronym, read letter by letter
        vowel = word[0] in "AEFHILMNORSX"
    else:
        vowel = (low[:1] in "aeiou" and not low.startswith(_A_BEFORE)) or low.startswith(_AN_BEFORE)
    return f"{'an' if vowel else 'a'} {noun}"

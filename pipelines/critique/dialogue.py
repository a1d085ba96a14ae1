"""Critic for persona-grounded dialogues (Synthetic-Persona-Chat style): two people, each with a
persona, talk in alternating turns. The generator writes the whole conversation in one answer, as
lines "Name: text", continuing a pipeline-written prefill "<Name of speaker A>:".

`parse_dialogue` splits such an answer into turns; `critique_dialogue` runs six rule-based experts
and combines them with `experts.combine`, so weights, threshold and severities mean what they mean
for the narrative critic (codes marked * are warnings, the rest errors):

  structure    too_few_turns, too_many_turns*, wrong_first_speaker*, not_alternating,
               unknown_speaker, empty_turn, short_turn*, long_turn*, prompt_leftover, truncated*
  consistency  each turn against its own speaker's persona: identity_swap ("I'm <the other's
               name>", "my name is <someone else>"), age_contradiction, occupation_swap (the other
               speaker's job), occupation_contradiction (another job), children_contradiction,
               wrong_addressee* (calling the other by one's own or a third name), persona_unused*
               (nothing of either persona comes up)
  echo         echoed_turn (a turn that copies an earlier one), repeated_sentence, repeated_ngrams
  naturalness  uniform_turns*, no_questions*
  safety       slur, explicit_content, stereotype: experts.safety on every turn, with that
               speaker's attributes (a stereotype about the other speaker's group on theirs)
  novelty      too_similar: experts.novelty on the whole conversation against exemplars/siblings

Every finding is a `DialogueFinding`: a `Finding` that also carries the turn (1-based), the speaker
(0 = A, 1 = B), the words that triggered it and, for repeats, the earlier turn, so that
`dialogue_revision_instructions` can name them ("Anna Kowalski is 34: in turn 3 she must not say
she is 40."). `Verdict.as_record` keeps the common Finding fields; every message names its turn.

Precision comes before recall: a finding must be something a careful reader would agree is wrong,
so the patterns are first-person and narrow ("I'm 40", not any number near "years"). Coherence,
topic drift and tone are out of reach of these rules (that is the LLM judge's part). Measured on
the labelled set:

    python -m pipelines.critique.dialogue tests/fixtures/broken_dialogues.yaml
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipelines.critique import experts as ex
from pipelines.critique.experts import ExpertResult, Finding, Verdict, combine, novelty, safety, similarity, words

Turn = tuple[int | None, str]


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


DEFAULT_DIALOGUE_WEIGHTS = {
    "structure": 0.25,
    "consistency": 0.3,
    "echo": 0.15,
    "naturalness": 0.1,
    "safety": 0.15,
    "novelty": 0.05,
}
DEFAULT_MIN_TURN_WORDS = 3
DEFAULT_MAX_TURN_WORDS = 80
# Cosine similarity of word 1-2-gram counts (experts.similarity) at which a turn counts as a copy
# of an earlier one. On the dialogues of tests/fixtures/broken_dialogues.yaml the highest similarity
# between two turns of one dialogue that do not repeat each other is 0.39 (an answer that takes up
# the question's words), and turns that share one reused sentence 0.51-0.56; a turn copied with a
# word or two changed scores 0.97-1.0, and the half-copies SmolLM2-135M writes ("Hey, nice to meet
# you! Just got a new puppy too!" after "Hey, just got a new puppy! I'm glad to meet you.") 0.63-0.70.
DEFAULT_ECHO_THRESHOLD = 0.6
# Turns shorter than this (in words) are not compared: "See you on Saturday!" said back is natural.
ECHO_MIN_WORDS = 6
# A sentence reused in another turn only counts when it has at least this many words.
REPEATED_SENTENCE_MIN_WORDS = 6
# Coefficient of variation of words per turn below which the turns are suspiciously uniform. The
# clean dialogues of the fixture range from 0.09 to 0.40; a dialogue whose turns all have 11 or 12
# words scores 0.04.
UNIFORM_CV = 0.07

# Codes recorded with severity `warning`; every other code is an error.
DIALOGUE_WARNING_CODES = frozenset(
    {
        "too_many_turns",
        "wrong_first_speaker",
        "short_turn",
        "long_turn",
        "truncated",
        "wrong_addressee",
        "persona_unused",
        "uniform_turns",
        "no_questions",
    }
)


@dataclass(frozen=True)
class DialogueFinding(Finding):
    turn: int | None = None  # 1-based turn the finding is about
    speaker: int | None = None  # 0 = speaker A, 1 = speaker B
    evidence: str | None = None  # what was said: the wrong name, age, job, a label, a quote
    ref_turn: int | None = None  # the earlier turn a repeat copies


# A run of letters this long is no word of any language the taxonomy covers (the longest common
# English words have about 20): it is the garbage a small model emits when it loses the thread.
GARBLED_WORD_LETTERS = 28


def _finding(
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


# ---------------------------------------------------------------------------------------------
# names and rendering


_TITLES = frozenset({"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "madam"})


def _tokens(name: str) -> list[str]:
    return [t for t in (w.lower() for w in words(ex._fold(name))) if t not in _TITLES]


def _first(name: str) -> str:
    parts = name.split()
    return parts[0] if parts else name


def _names(speakers: tuple[dict, dict]) -> tuple[str, str]:
    a, b = (str(s.get("identity.name") or f"Speaker {label}") for s, label in zip(speakers, "AB", strict=True))
    return a, b


def dialogue_text(turns: Sequence[Turn], names: tuple[str, str]) -> str:
    """The canonical rendering, one "Name: text" line per turn. A turn with an unknown speaker is
    written as its text (which keeps its own label, see parse_dialogue)."""
    lines = []
    for speaker, text in turns:
        text = re.sub(r"\s+", " ", text).strip()
        lines.append(text if speaker is None else f"{names[speaker]}: {text}".rstrip())
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# parsing

_MD = re.compile(r"\*\*|__")
_LABEL = re.compile(
    r"^\s*(?:[-–—•*>#]+\s*)*(?P<label>[^\W\d_][\w.'’ -]{0,40}?)\s*(?:\([^()]{0,40}\))?\s*:\s*(?P<rest>.*)$"
)
_RULE = re.compile(r"^\s*(?:[-*_=~#.•]\s*){3,}$")
_THE_END = re.compile(
    r"^\s*[(\[]?\s*(?:the\s+end|end\s+of\s+(?:the\s+)?(?:dialogue|conversation|chat|scene|script|transcript|story)"
    r"|end|fin)\s*[)\].!]*\s*$",
    re.I,
)
# A new block of prompt text ("Persona of Tom:", "Facts:", "Dialogue 2:", "- Name: Anna").
_BLOCK = re.compile(
    r"^\s*(?:[-–—•*>#]+\s*)*(?:personas?|facts|profiles?|background|characters?|scenario|setting|context|"
    r"instructions?|task|examples?|notes?|dialogues?|conversations?|transcript|output|input|summary|"
    r"name|full name|age|gender|occupation|job|lives in|location|city|country|family|hobbies|interests|"
    r"personality|education)(?:\s+(?:of|for|about)\s+[^:]{1,30}|\s+\d{1,2})?\s*:",
    re.I,
)
# A line about the conversation rather than in it ("Here's a sample of 6 turns between Anna and Tom.",
# "This conversation starts with ..."): what follows is a second attempt or commentary.
_META = re.compile(
    r"^\s*(?:(?:here(?:'s| is)|this is|below is)\s+(?:a|an|the|my)\s+(?:[\w-]+\s+){0,3}?(?:sample|example)\b"
    r"|(?:here(?:'s| is)|this is|below is)\s+(?:a|an|the|my)\s+(?:[\w-]+\s+){0,3}?"
    r"(?:conversation|dialogue|chat|script)\s+(?:between|with|of)\b"
    r"|(?:in\s+)?(?:this|the)\s+(?:conversation|dialogue|chat|exchange|script)\s+(?:above\s+)?(?:starts|begins|is\s+between|"
    r"was\s+between|takes\s+place|shows|features|ends|continues)\b)",
    re.I,
)
_CHAT_TOKENS = re.compile(r"<\|[^|>]*\|>|</s>|\[/?INST\]")
_CHATTER = re.compile(
    r"^\s*(?:(?:sure|certainly|of course|okay|ok)\b[^:]*:|(?:sure|certainly|of course)\s*[!.]?"
    r"|here(?:'s| is)\b[^:]*:)\s*$",
    re.I,
)
# Words that begin a line with a colon without being a speaker ("Tip: ...", "Monday: gym").
_NOT_SPEAKER = _wordset(
    "ps p.s tip tips update edit yes no well ok okay so and but also then now first second third finally step "
    "warning important reminder answer question hint source ingredients menu address date time price title "
    "subject monday tuesday wednesday thursday friday saturday sunday today tomorrow tonight morning evening "
    "january february march april may june july august september october november december"
)


def _speaker_of(label: str, names: tuple[str, str]) -> int | None:
    """Index of the speaker a label names: the full name, the first name or any part of exactly
    one speaker's name (accents and titles ignored)."""
    said = _tokens(label)
    if not said:
        return None
    full = [_tokens(n) for n in names]
    exact = [i for i in (0, 1) if said == full[i]]
    if len(exact) == 1:
        return exact[0]
    firsts = [i for i in (0, 1) if full[i] and said == full[i][:1]]
    if len(firsts) == 1:
        return firsts[0]
    parts = [i for i in (0, 1) if set(said) <= set(full[i])]
    return parts[0] if len(parts) == 1 else None


def _looks_like_label(label: str) -> bool:
    toks = label.replace(".", " ").split()
    if not 1 <= len(toks) <= 3 or label.strip().lower() in _NOT_SPEAKER:
        return False
    return all(t[:1].isupper() or t[:1].isdigit() or len(t) == 1 for t in toks)


def parse_dialogue(text: str, names: tuple[str, str]) -> list[tuple[int | None, str]]:
    """Split a model answer into turns: (speaker index 0/1, text).

    A turn starts at a line that begins with a speaker label, the full or first name of either
    speaker followed by ':' (markdown bold, bullets and a parenthesis after the name are tolerated:
    "**Anna:**", "- Tom (laughing):"). A label that names neither speaker ("User:", "B:") gives
    (None, "User: text"): the label is kept in the text so the critic can quote it. A line without
    a label continues the previous turn; text before the first label belongs to speaker A (the
    pipeline prefills "A:"). Parsing stops at end-of-dialogue junk, which is dropped: a rule line
    ("---"), "The end", chat tokens, a new "Persona"/"Facts:"/"Name:" block, a remark about the
    conversation ("Here's a sample of 6 turns between ..."). Known labels in the
    middle of a line after a finished sentence ("... right? Tom: Yes") also start a turn."""
    cut = _CHAT_TOKENS.search(text)
    if cut:
        text = text[: cut.start()]
    forms = {f for n in names for f in (n.strip(), _first(n.strip())) if f}
    if forms:
        alt = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
        text = re.sub(rf"(?<=[.!?\"”)])[ \t]+(?=(?:\*\*)?(?:{alt})(?:\*\*)?\s*:\s)", "\n", text)
    turns: list[list[Any]] = []
    for raw in text.splitlines():
        line = _MD.sub("", raw).strip()
        if not line:
            continue
        m = _LABEL.match(line)
        label = m.group("label").strip() if m else ""
        speaker = _speaker_of(label, names) if m else None
        if m and speaker is not None:
            turns.append([speaker, m.group("rest").strip()])
            continue
        if _RULE.match(line) or _THE_END.match(line) or _BLOCK.match(line) or _META.match(line):
            if turns:
                break
            continue  # a header before the first turn
        if m and _looks_like_label(label):
            turns.append([None, f"{label}: {m.group('rest').strip()}"])
        elif turns:
            turns[-1][1] = f"{turns[-1][1]} {line}".strip()
        elif not _CHATTER.match(line):
            turns.append([0, line])
    return [(s, re.sub(r"\s+", " ", t).strip()) for s, t in turns]


# ---------------------------------------------------------------------------------------------
# structure

# experts' prompt-leftover patterns minus those that are ordinary speech in a conversation
# ("I'm sorry to hear that", "I can't help laughing").
_SPEECH_OK = ("sorry", "cannot")
_LEFTOVERS = tuple(p for p in getattr(ex, "_LEFTOVERS", ()) if not any(w in p.pattern for w in _SPEECH_OK)) + tuple(
    re.compile(p, re.I)
    for p in (
        r"\bpersonas?(?:\s+(?:of|for)\s+[\w ]{1,30})?\s*:",
        r"\b(?:write|continue|generate|create)\s+(?:a|an|the|this|one)\s+(?:short\s+|natural\s+|casual\s+|new\s+)?"
        r"(?:dialogue|conversation|chat|script)\b",
        r"\b(?:dialogue|conversation)\s*:",
        r"\(\s*\d+\s+turns?\s*\)|\bturn\s+\d+\s*:|\b\d+\s+turns\s+(?:between|of|with)\b",
        r"\bhere(?:'s| is) (?:a|an|the|your) (?:[\w-]+ ){0,3}?(?:sample|example|dialogue|conversation|script|chat)\b"
        r"|\b(?:a|the) (?:sample|example) (?:of (?:a |the )?)?(?:dialogue|conversation|chat|script)\b",
        r"\b(?:this|the) (?:conversation|dialogue) (?:starts|begins|is between|takes place|shows|features)\b",
        r"\bi (?:cannot|can't|can not) (?:write|create|generate|continue|complete) (?:this|that|a|the|your) "
        r"(?:dialogue|conversation|request|story|script)\b",
        r"\[(?:name|your name|speaker|city|age|occupation|job|hobby)[^\]]{0,20}\]|<(?:name|speaker)[^>]{0,20}>"
        r"|\{(?:name|speaker)[^}]{0,20}\}",
        r"<\|[^|>]*\|>|</?s>|\[/?INST\]",
    )
)


def _leftover(text: str) -> str | None:
    for marker in _LEFTOVERS:
        m = marker.search(text)
        if m:
            return m.group(0).strip()
    return None


def _ends_complete(text: str) -> bool:
    text = text.rstrip()
    return ex._ends_complete(text) or text.endswith(("…", "'", "’", "*", ":)", ":-)", ";)"))


def _who(turn: int, speaker: int | None, names: tuple[str, str]) -> str:
    return f"turn {turn}" + (f" ({names[speaker]})" if speaker is not None else "")


def structure(
    turns: Sequence[Turn],
    names: tuple[str, str],
    expected_turns: int,
    min_turn_words: int = DEFAULT_MIN_TURN_WORDS,
    max_turn_words: int = DEFAULT_MAX_TURN_WORDS,
) -> ExpertResult:
    """Turn count, alternation, speaker labels, empty/short/long turns, leftovers, truncation."""
    e = "structure"
    findings: list[DialogueFinding] = []
    n = len(turns)
    a, b = names
    if n < max(4, expected_turns - 1):
        findings.append(_finding(e, "too_few_turns", f"{n} turn(s), {expected_turns} expected", evidence=str(n)))
    elif n > expected_turns + 1:
        findings.append(_finding(e, "too_many_turns", f"{n} turns, {expected_turns} expected", evidence=str(n)))
    if turns and turns[0][0] == 1:
        findings.append(
            _finding(e, "wrong_first_speaker", f"turn 1 is spoken by {b}; {a} must speak first", turn=1, speaker=1)
        )
    for i, (speaker, text) in enumerate(turns, 1):
        who = _who(i, speaker, names)
        if speaker is None:
            label = text.split(":", 1)[0].strip()
            findings.append(
                _finding(
                    e,
                    "unknown_speaker",
                    f"turn {i} is labelled {label!r}, which is neither {a} nor {b}",
                    turn=i,
                    evidence=label,
                )
            )
            text = text.split(":", 1)[1] if ":" in text else text
        elif i > 1 and turns[i - 2][0] == speaker and (i < 3 or turns[i - 3][0] != speaker):
            # one finding per run of turns by the same speaker: "turns 3-9 are spoken by Tom again"
            end = i
            while end < n and turns[end][0] == speaker:
                end += 1
            which = f"turn {i} is" if end == i else f"turns {i}-{end} are"
            findings.append(
                _finding(
                    e,
                    "not_alternating",
                    f"{which} spoken by {names[speaker]} again, right after turn {i - 1}",
                    turn=i,
                    speaker=speaker,
                )
            )
        count = len(words(text))
        if count == 0:
            findings.append(_finding(e, "empty_turn", f"{who} is empty", turn=i, speaker=speaker))
            continue
        if count < min_turn_words:
            findings.append(
                _finding(
                    e, "short_turn", f"{who} has {count} word(s), fewer than {min_turn_words}", turn=i, speaker=speaker
                )
            )
        if count > max_turn_words:
            findings.append(
                _finding(
                    e, "long_turn", f"{who} has {count} words, more than {max_turn_words}", turn=i, speaker=speaker
                )
            )
        garbled = [w for w in re.findall(r"[^\W\d_]+", text) if len(w) > GARBLED_WORD_LETTERS]
        if garbled:
            findings.append(
                _finding(e, "garbled_text", f"{who} contains a non-word: {garbled[0][:40]!r}", turn=i, speaker=speaker)
            )
        left = _leftover(text)
        if left:
            findings.append(
                _finding(e, "prompt_leftover", f"{who} contains {left!r}", turn=i, speaker=speaker, evidence=left)
            )
    if turns and turns[-1][1].strip() and not _ends_complete(turns[-1][1]):
        findings.append(
            _finding(
                e,
                "truncated",
                f"the last turn ({_who(n, turns[-1][0], names)}) does not end with a complete sentence",
                turn=n,
                speaker=turns[-1][0],
            )
        )
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    score = max(0.0, 1.0 - 0.35 * errors - 0.1 * warnings)
    return ExpertResult(e, round(score, 4), tuple(findings))


# ---------------------------------------------------------------------------------------------
# consistency

_CAP = r"[A-ZÀ-ÖØ-Þ][\w-]*"
_I_AM = r"(?:\bi['’]?m|\bi\s+am)"
_SELF_NAME = re.compile(
    rf"(?i:{_I_AM}|\bmy\s+name\s+is|\bmy\s+name['’]s|\b(?:you\s+can\s+|just\s+|they\s+)?call\s+me)\s+"
    rf"(?P<name>{_CAP}(?:\s+{_CAP})?)\b(?!['’]s\b)"
)
_VOCATIVE_GREETING = re.compile(
    r"(?i:\b(?:hi|hello|hey|hiya|thanks|thank\s+you|good\s+(?:morning|afternoon|evening|night)|nice\s+to\s+meet\s+you"
    r"|pleased\s+to\s+meet\s+you|bye|goodbye|see\s+you|cheers|welcome))"
    rf",?\s+(?P<name>{_CAP})\b(?!['’]s\b)(?=\s*(?:[,.!?;:]|$))"
)
_VOCATIVE_END = re.compile(rf",\s+(?P<name>{_CAP})\s*(?=[.!?])")
_NOT_A_NAME = _wordset(
    "there everyone everybody all guys folks friend friends mate buddy pal man dear love again back so you both "
    "sir madam maam ma'am doc coach neighbour neighbor team boss darling honey sweetie god lord mum mom dad "
    "mummy mommy daddy grandma grandpa auntie uncle sis bro kiddo stranger doctor nurse officer professor teacher "
    "captain chef ladies gentlemen sweetheart partner son girl boy young mister miss everyone yes no well oh "
    "and but so ok okay"
)
_APPROX = r"(?:almost|nearly|about|around|over|under|roughly|close\s+to|pushing|past)\s+"
_AGE_SAID = re.compile(
    rf"(?:(?P<turned>\bi\s+(?:just\s+|recently\s+)?turned|\bi['’]ve\s+(?:just\s+)?turned)|{_I_AM})\s+"
    rf"(?P<approx>{_APPROX})?(?:only\s+|just\s+|now\s+|already\s+|actually\s+)?(?:an?\s+)?(?P<n>{ex._NUM})"
    r"(?P<years>[- ](?:years?|yrs?)[- ]old\b|\s+years?\s+of\s+age\b)?"
    r"(?(years)|(?(turned)|(?=\s*(?:[,.!?;]|$)|\s+(?:and|but|now|this|next|so|already|myself|too|though|actually)\b)))",
    re.I,
)
_AGE_DECADE = re.compile(
    rf"(?i:{_I_AM})\s+(?:now\s+|already\s+|well\s+|only\s+)?in\s+my\s+(?P<q>early|mid|late)?[- ]?\s*"
    rf"(?P<d>{'|'.join(ex._DECADES)})\b",
    re.I,
)
_ROLE_FILLER = (
    r"(?:(?:qualified|trained|registered|certified|licensed|professional|freelance|self-employed|full-time|"
    r"part-time|senior|junior|head|chief|practising|practicing|proud|new|newly|school|primary|"
    r"secondary|high)\s+){0,2}"
)
_NOT_REALLY = r"(?!\s+(?:at\s+heart|wannabe|fan|in\s+my\s+(?:dreams|spare\s+time|free\s+time)))"
_NUMS = rf"(?P<n>\d{{1,2}}|{ex._NUM_WORD})"
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
    rf"|{_I_AM}\s+an?\s+(?:[\w-]+\s+)?(?:mother|father|mum|mom|dad|parent)\s+of\s+{_NUMS.replace('<n>', '<n3>')}\b"
    r"|\bmy\s+only\s+(?P<one>child|kid)\b",
    re.I,
)
_KIDS_AT_LEAST = re.compile(
    rf"\bmy\s+{_NUMS}\s+{_KID_ADJ}(?:sons|daughters|boys|girls)\b"
    r"|\bmy\s+(?:(?:eldest|oldest|youngest|little|baby|teenage|grown-up|adult|only|older|younger|[\w]+-year-old)\s+)?"
    r"(?P<one>son|daughter|stepson|stepdaughter)\b(?!-in-law)"
    r"|\bmy\s+(?:(?:eldest|oldest|youngest|little|baby|teenage|grown-up|adult|older|younger)\s+)?(?P<two>sons|daughters)\b"
    r"|\bas\s+an?\s+(?:(?:single|working|new)\s+)?(?P<p>mother|father|mum|mom|dad|parent)\b"
    rf"|{_I_AM}\s+an?\s+(?:single|working|stay-at-home|young|new|busy)\s+(?P<p2>mother|father|mum|mom|dad|parent)\b"
    r"(?!\s+of\b)"
    r"|\bmy\s+(?:wife|husband|partner)\s+and\s+(?P<p3>kids|children)\b",
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
_PLACE_PATHS = ("location.residence.city", "location.residence.country")
# Occupation groups a person may claim beside their job ("I'm a student", "I'm a carer for my mum").
_SIDE_ROLES = frozenset({"university student", "care worker", "cleaner", "farmer"})


@lru_cache(maxsize=256)
def _occupation_info(occupation: str) -> tuple[frozenset[str], frozenset[str]]:
    """(lexicon groups, words that mention it) of an occupation; see experts._occupation_terms."""
    if not occupation:
        return frozenset(), frozenset()
    groups, terms = ex._occupation_terms(occupation)
    return frozenset(groups), frozenset(terms)


@lru_cache(maxsize=256)
def _claim_pattern(extra: tuple[str, ...]) -> re.Pattern[str]:
    """First-person job claims: "I'm a nurse", "I work as an electrician", "As a teacher, I ..."."""
    alt = ex._alternation([*ex._faith_lexicon().name_to_group, *(x.lower() for x in extra if x)])
    return re.compile(
        rf"(?:{_I_AM}|\bi\s+work\s+as|\bi['’]m\s+working\s+as|\bi\s+am\s+working\s+as|\bi['’]ve\s+been"
        rf"|\bi\s+have\s+been|\bi['’]m\s+employed\s+as)\s+(?:an?\s+)?{_ROLE_FILLER}(?P<occ>{alt})\b(?!['’]s)"
        rf"{_NOT_REALLY}|\bas\s+an?\s+{_ROLE_FILLER}(?P<occ2>{alt})\s*,\s*i\b",
        re.I,
    )


def _core_occupation(occupation: str) -> str:
    generic = r"\b(?:retired|part-time|full-time|junior|senior|former|freelance|self-employed|trainee|apprentice)\b"
    return re.sub(r"\s+", " ", re.sub(generic, " ", occupation.lower())).strip()


def _occupation_claims(text: str, extra: Iterable[str]) -> list[tuple[str, str]]:
    """(phrase, occupation) for each first-person job claim in a text."""
    pattern = _claim_pattern(tuple(extra))
    return [
        (m.group(0), re.sub(r"\s+", " ", (m.group("occ") or m.group("occ2")).lower())) for m in pattern.finditer(text)
    ]


def _same_job(said: str, occupation: str, groups: AbstractSet[str]) -> bool:
    if not occupation:
        return False
    core = _core_occupation(occupation)
    if ex._has_phrase(said, occupation.lower()) or (core and ex._has_phrase(core, said)):
        return True
    group = ex._faith_lexicon().name_to_group.get(said)
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


def _pronoun(attrs: dict[str, Any]) -> tuple[str, str, str, str]:
    """(subject, object, possessive, reflexive) for the speaker's gender."""
    gender = str(attrs.get("demographics.gender") or "").lower()
    return {"female": ("she", "her", "her", "herself"), "male": ("he", "him", "his", "himself")}.get(
        gender, ("they", "them", "their", "themself")
    )


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
    return [t for t in terms if t.strip("*")]


def _mentions(term: str, folded: str) -> bool:
    term = ex._fold(term)
    if term.endswith("*"):
        return re.search(rf"\b{re.escape(term[:-1])}", folded) is not None
    return re.search(rf"\b{re.escape(term)}\b", folded) is not None


def consistency(turns: Sequence[Turn], speakers: tuple[dict, dict]) -> ExpertResult:
    """Each turn against its own speaker's persona (and the other's, for swaps)."""
    e = "consistency"
    names = _names(speakers)
    toks = [_tokens(n) for n in names]
    places = set(_tokens(" ".join(str(x.get(p) or "") for x in speakers for p in _PLACE_PATHS)))
    findings: list[DialogueFinding] = []
    for i, (s, text) in enumerate(turns, 1):
        if s is None or not text.strip():
            continue
        o = 1 - s
        me, other = speakers[s], speakers[o]
        name, other_name = names[s], names[o]
        she = _pronoun(me)[0]
        # --- identity: "I'm <other's name>", "my name is <someone else>"
        for m in _SELF_NAME.finditer(text):
            said = _tokens(m.group("name"))
            lead = m.group(0)[: m.start("name") - m.start()].lower()
            if not said or set(said) <= set(toks[s]):
                continue
            is_other = bool(set(said) & set(toks[o]))
            if is_other or ("name" in lead and not _name_ok(said, toks[s])):
                findings.append(
                    _finding(
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
            said = _tokens(m.group("name"))
            if not said or said[0] in _NOT_A_NAME or set(said) & set(toks[o]):
                continue
            own_name = set(said) <= set(toks[s]) and not set(said) & set(toks[o])
            third = m.re is _VOCATIVE_GREETING and not set(said) & places
            if own_name or third:
                findings.append(
                    _finding(
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
                stated = ex._number(m.group("n"))
                if stated is None or m.group("approx") or stated == age:
                    continue
                turned = m.group("turned") is not None
                if (turned and abs(stated - age) <= 1) or (not m.group("years") and not 13 <= stated <= 110):
                    continue
                findings.append(_age_finding(e, i, s, name, age, stated, m.group(0)))
                break
            else:
                for m in _AGE_DECADE.finditer(text):
                    start = ex._DECADES[m.group("d").lower()]
                    end = 19 if start == 13 else start + 9
                    if not start <= age <= end:
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
            group = ex._faith_lexicon().name_to_group.get(said)
            if _same_job(said, other_occ, other_groups):
                message = f"turn {i}: {name} says {phrase.strip()!r}, but that is {other_name}'s job; {name} is"
                code = "occupation_swap"
            elif own_groups and group and group not in _SIDE_ROLES:
                message = f"turn {i}: {name} says {phrase.strip()!r}, but {she} is"
                code = "occupation_contradiction"
            else:
                continue
            message += f" {_a(own_occ.lower())}" if own_occ else " not"
            findings.append(_finding(e, code, message, "work.employment.occupation", turn=i, speaker=s, evidence=said))
            break
        # --- children
        kids = me.get("household.children")
        if kids is not None:
            f = _children_finding(e, i, s, name, int(kids), text, own_groups)
            if f:
                findings.append(f)
    # --- is each persona in the conversation at all?
    # Lexical and crude, so it only lowers the score for one speaker; a finding needs both missing.
    folded = ex._fold(" ".join(t for _, t in turns))
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
            _finding(
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
    return _finding(
        e,
        "age_contradiction",
        f"turn {i}: {name} says {phrase.strip()!r}; {name} is {age}",
        "demographics.age",
        turn=i,
        speaker=s,
        evidence=str(stated) if stated is not None else phrase.strip(),
    )


def _children_finding(
    e: str, i: int, s: int, name: str, kids: int, text: str, own_groups: AbstractSet[str]
) -> DialogueFinding | None:
    claims: list[tuple[str, re.Match[str], int]] = []  # (kind, match, count): none | exact | at_least
    for m in _KIDS_NONE.finditer(text):
        claims.append(("none", m, 0))
    for m in _KIDS_EXACT.finditer(text):
        count = 1 if m.group("one") else ex._number(m.group("n") or m.group("n2") or m.group("n3") or "")
        if count is not None and count <= 12:
            claims.append(("exact", m, count))
    for m in _KIDS_AT_LEAST.finditer(text):
        if m.group("two"):
            count = 2
        elif m.group("n"):
            count = ex._number(m.group("n")) or 0
        else:
            count = 1
        claims.append(("at_least", m, count))
    if not own_groups & _KIDS_AT_WORK:
        for m in _MY_KIDS.finditer(text):
            claims.append(("at_least", m, 1))
    for kind, m, count in claims:
        phrase = m.group(0)
        start = max(text.rfind(c, 0, m.start()) for c in ".!?;")
        ends = [j for j in (text.find(c, m.end()) for c in ".!?;") if j >= 0]
        before, after = text[start + 1 : m.start()], text[m.end() : min(ends, default=len(text))]
        if re.search(r"\b(?:first|unborn|future)\b", phrase, re.I):
            continue
        if _HYPOTHETICAL_BEFORE.search(before) or _HYPOTHETICAL_AFTER.search(after):
            continue  # "if I had kids", "when I have my own kids one day"
        wrong = (
            (kind == "none" and kids > 0)
            or (kind == "exact" and count != kids)
            or (kind == "at_least" and count > kids)
        )
        if wrong:
            has = f"{kids or 'no'} {'child' if kids == 1 else 'children'}"
            return _finding(
                e,
                "children_contradiction",
                f"turn {i}: {name} says {phrase.strip()!r}; {name} has {has}",
                "household.children",
                turn=i,
                speaker=s,
                evidence=phrase.strip(),
            )
    return None


# ---------------------------------------------------------------------------------------------
# echo


def _sentences(text: str, statements_only: bool = False) -> list[str]:
    """The sentences of a text as lower-cased words joined by spaces; with statements_only,
    without questions ("And what do you do for a living?" asked back is ordinary conversation)."""
    out = []
    for s in re.split(r"(?<=[.!?…])\s+", text):
        norm = " ".join(w.lower() for w in words(s))
        if norm and not (statements_only and s.rstrip().endswith("?")):
            out.append(norm)
    return out


def echo(turns: Sequence[Turn], names: tuple[str, str], threshold: float = DEFAULT_ECHO_THRESHOLD) -> ExpertResult:
    """Turns that copy an earlier turn, sentences reused across turns, turns that loop."""
    e = "echo"
    findings: list[DialogueFinding] = []
    texts = [t.split(":", 1)[1] if s is None and ":" in t else t for s, t in turns]
    counts = [len(words(t)) for t in texts]
    best = 0.0
    echoed: set[tuple[int, int]] = set()
    for j in range(1, len(texts)):
        if counts[j] < ECHO_MIN_WORDS:
            continue
        hits = []
        for k in range(j):
            if counts[k] < ECHO_MIN_WORDS:
                continue
            sim = similarity(texts[j], texts[k])
            best = max(best, sim)
            if sim >= threshold:
                hits.append((sim, k))
        if hits:
            # the previous turn if it is a copy of it, else the most similar one
            sim, k = next(((si, k) for si, k in hits if k == j - 1), max(hits))
            echoed.add((k, j))
            findings.append(
                _finding(
                    e,
                    "echoed_turn",
                    f"{_who(j + 1, turns[j][0], names)} repeats {_who(k + 1, turns[k][0], names)} "
                    f"(similarity {sim:.2f} >= {threshold:.2f})",
                    turn=j + 1,
                    speaker=turns[j][0],
                    ref_turn=k + 1,
                )
            )
    for j, text in enumerate(texts):
        flagged: set[int] = set()
        sentences = _sentences(text)
        within = [x for x, c in Counter(sentences).items() if c > 1 and len(x.split()) >= 3]
        raw = text.encode("utf-8")
        toks = [w.lower() for w in words(text)]
        repeated = 0.0
        if len(toks) >= 12:
            grams = Counter(zip(toks, toks[1:], toks[2:], strict=False))
            repeated = sum(c - 1 for c in grams.values() if c > 1) / max(1, len(toks) - 2)
        low = len(raw) > 200 and len(zlib.compress(raw)) / len(raw) < 0.3
        if repeated > 0.2 or low:
            findings.append(
                _finding(
                    e,
                    "repeated_ngrams",
                    f"{_who(j + 1, turns[j][0], names)} loops: {repeated:.0%} of its 3-grams are repeats",
                    turn=j + 1,
                    speaker=turns[j][0],
                )
            )
        if within:
            flagged.add(j)  # one repeated_sentence finding per turn
            findings.append(
                _finding(
                    e,
                    "repeated_sentence",
                    f"{_who(j + 1, turns[j][0], names)} says {within[0]!r} more than once",
                    turn=j + 1,
                    speaker=turns[j][0],
                    evidence=within[0],
                    ref_turn=j + 1,
                )
            )
        # a statement of an earlier turn said again word for word, alone or inside a longer sentence
        here = f" {' '.join(toks)} "
        reused = (
            (k, sentence)
            for k in range(j)
            if (k, j) not in echoed
            for sentence in _sentences(texts[k], statements_only=True)
            if len(sentence.split()) >= REPEATED_SENTENCE_MIN_WORDS and f" {sentence} " in here
        )
        hit = None if j in flagged else next(reused, None)
        if hit:
            k, sentence = hit
            findings.append(
                _finding(
                    e,
                    "repeated_sentence",
                    f"{_who(j + 1, turns[j][0], names)} reuses a sentence of {_who(k + 1, turns[k][0], names)}: "
                    f"{sentence!r}",
                    turn=j + 1,
                    speaker=turns[j][0],
                    evidence=sentence,
                    ref_turn=k + 1,
                )
            )
    errors = sum(f.severity == "error" for f in findings)
    score = max(0.0, 1.0 - max(0.0, best - 0.3) - 0.4 * errors)
    return ExpertResult(e, round(score, 4), tuple(findings))


# ---------------------------------------------------------------------------------------------
# naturalness


def naturalness(turns: Sequence[Turn], names: tuple[str, str]) -> ExpertResult:
    """Variety of turn lengths and whether the two ask each other anything. Abstains (score None)
    below four non-empty turns, where neither signal means much."""
    e = "naturalness"
    spoken = [(s, t) for s, t in turns if words(t)]
    if len(spoken) < 4:
        return ExpertResult(e, None, ())
    counts = [len(words(t)) for _, t in spoken]
    cv = statistics.pstdev(counts) / statistics.mean(counts)
    findings: list[DialogueFinding] = []
    if cv < UNIFORM_CV:
        findings.append(
            _finding(
                e,
                "uniform_turns",
                f"every turn has about the same length ({min(counts)}-{max(counts)} words, variation {cv:.2f})",
                evidence=f"{cv:.2f}",
            )
        )
    asking = [i for i, (_, t) in enumerate(spoken) if "?" in t]
    if not asking:
        findings.append(_finding(e, "no_questions", f"neither {names[0]} nor {names[1]} asks a question"))
    answered = sum(1 for i in asking if i + 1 < len(spoken) and spoken[i + 1][0] != spoken[i][0])
    q_score = 0.0 if not asking else 0.5 + 0.5 * min(1.0, answered / max(1, len(asking)))
    score = 0.5 * min(1.0, cv / 0.35) + 0.5 * q_score
    return ExpertResult(e, round(score, 4), tuple(findings))


# ---------------------------------------------------------------------------------------------
# safety and novelty


def dialogue_safety(turns: Sequence[Turn], speakers: tuple[dict, dict]) -> ExpertResult:
    """experts.safety on every turn with its speaker's attributes. A stereotype about the other
    speaker's group is reported on the other speaker's attribute."""
    names = _names(speakers)
    findings: list[DialogueFinding] = []
    for i, (s, text) in enumerate(turns, 1):
        me = speakers[s] if s is not None else {}
        result = safety(text, me)
        for f in result.findings:
            attribute, message = f.attribute, f.message
            if s is not None:
                message = message.replace("the persona's own group", f"{names[s]}'s own group")
            if f.code == "stereotype" and attribute is None and s is not None:
                for g in safety(text, speakers[1 - s]).findings:
                    if g.code == "stereotype" and g.attribute and g.message.startswith(f.message):
                        attribute = g.attribute
                        message = g.message.replace("the persona's own group", f"{names[1 - s]}'s own group")
                        break
            findings.append(
                _finding(
                    "safety",
                    f.code,
                    f"{_who(i, s, names)}: {message}",
                    attribute,
                    turn=i,
                    speaker=s,
                    evidence=quoted.group(1) if (quoted := re.search(r"'(.+?)'(?=\s|$)", f.message)) else None,
                )
            )
    return ExpertResult("safety", 0.0 if findings else 1.0, tuple(findings))


def _dialogue_novelty(text: str, others: Sequence[tuple[str, str]], threshold: float) -> ExpertResult:
    result = novelty(text, others, threshold)
    findings = tuple(_finding("novelty", f.code, f.message, f.attribute) for f in result.findings)
    return ExpertResult("novelty", result.score, findings)


# ---------------------------------------------------------------------------------------------
# verdict


def critique_dialogue(
    turns: list[tuple[int | None, str]],
    speakers: tuple[dict, dict],
    critic: dict,
    expected_turns: int,
    others: Sequence[tuple[str, str]] = (),
) -> Verdict:
    """Run every dialogue expert and combine them (experts.combine): the weighted mean of the
    scores must reach critic["threshold"] and no finding may be an error. critic["weights"] may
    name the experts structure, consistency, echo, naturalness, safety, novelty; missing ones take
    DEFAULT_DIALOGUE_WEIGHTS. Optional keys: min_turn_words, max_turn_words, echo_threshold,
    novelty_threshold."""
    names = _names(speakers)
    results = (
        structure(
            turns,
            names,
            int(expected_turns),
            int(critic.get("min_turn_words", DEFAULT_MIN_TURN_WORDS)),
            int(critic.get("max_turn_words", DEFAULT_MAX_TURN_WORDS)),
        ),
        consistency(turns, speakers),
        echo(turns, names, float(critic.get("echo_threshold", DEFAULT_ECHO_THRESHOLD))),
        naturalness(turns, names),
        dialogue_safety(turns, speakers),
        _dialogue_novelty(
            dialogue_text(turns, names),
            others,
            float(critic.get("novelty_threshold", ex.DEFAULT_NOVELTY_THRESHOLD)),
        ),
    )
    weights = {**DEFAULT_DIALOGUE_WEIGHTS, **(critic.get("weights") or {})}
    return combine(results, {**critic, "weights": weights})


# ---------------------------------------------------------------------------------------------
# revision instructions


def _a(noun: str | None) -> str:
    noun = noun or ""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def _instruction(f: Finding, speakers: tuple[dict, dict], critic: dict, expected_turns: int) -> str:
    names = _names(speakers)
    a, b = (_first(n) for n in names)
    turn = getattr(f, "turn", None)
    s = getattr(f, "speaker", None)
    said = getattr(f, "evidence", None)
    ref = getattr(f, "ref_turn", None)
    name = names[s] if s is not None else ""
    first = _first(name) if name else ""
    attrs = speakers[s] if s is not None else {}
    she, _, her, herself = _pronoun(attrs)
    is_ = "are" if she == "they" else "is"
    layout = f"Write exactly {expected_turns} turns, alternating {a}: and {b}:, starting with {a}:."
    code = f.code
    if code in ("too_few_turns", "too_many_turns", "not_alternating", "wrong_first_speaker"):
        return layout
    if code == "unknown_speaker":
        return f"Turn {turn} is labelled {said!r}: start every line with {a}: or {b}:, nobody else speaks."
    if code == "empty_turn":
        return f"Turn {turn} is empty: give {first} something to say."
    if code == "garbled_text":
        return f"Turn {turn} contains garbled letters: write only real words."
    if code == "short_turn":
        return f"Turn {turn} is too short: let {first} answer in at least one full sentence."
    if code == "long_turn":
        limit = critic.get("max_turn_words", DEFAULT_MAX_TURN_WORDS)
        return f"Keep every turn under {limit} words; turn {turn} is too long."
    if code == "prompt_leftover":
        return f"Write only the conversation lines: remove {said!r} from turn {turn}."
    if code == "truncated":
        return f"Finish the last turn (turn {turn}) with a complete sentence."
    if code == "identity_swap":
        return f"{name} speaks in turn {turn}: {she} must call {herself} {first}, never {said}."
    if code == "wrong_addressee":
        other = names[1 - s] if s is not None else ""
        return (
            f"In turn {turn} {first} talks to {other}: call {_pronoun(speakers[1 - s])[1]} {_first(other)}, not {said}."
        )
    if code == "age_contradiction":
        age = attrs.get("demographics.age")
        wrong = f"{she} {is_} {said}" if said and said.isdigit() else f"{said!r}"
        return f"{name} {is_} {age}: in turn {turn} {she} must not say {wrong}."
    if code in ("occupation_swap", "occupation_contradiction"):
        occ = str(attrs.get("work.employment.occupation") or "").lower()
        own = f"{name} {is_} {_a(occ)}, not {_a(said)}" if occ else f"{name} {is_} not {_a(said)}"
        return f"{own}: in turn {turn} {she} must talk about {her} own work."
    if code == "children_contradiction":
        kids = attrs.get("household.children")
        has = f"{kids or 'no'} {'child' if kids == 1 else 'children'}"
        return f"{name} has {has}: in turn {turn} {she} must not say {said!r}."
    if code == "persona_unused":
        parts = []
        for person in speakers:
            bits = [
                str(person.get(p)).lower() if p.startswith("work") else str(person.get(p))
                for p in ("work.employment.occupation", "location.residence.city")
                if person.get(p)
            ]
            hobbies = person.get("interests.hobbies") or []
            bits += [str(h) for h in (hobbies if isinstance(hobbies, list) else [hobbies])[:2]]
            if bits:
                parts.append(f"{_first(str(person.get('identity.name') or ''))} ({', '.join(bits)})")
        return f"Let {a} and {b} talk about their own lives: " + ("; ".join(parts) or "work, home, hobbies") + "."
    if code == "echoed_turn":
        return f"Turn {turn} repeats turn {ref}: say something new."
    if code == "repeated_sentence":
        if ref == turn:
            return f"Turn {turn} says the same sentence twice: say it once."
        return f"Turn {turn} reuses a sentence of turn {ref}: every turn must add something new."
    if code == "repeated_ngrams":
        return f"Turn {turn} loops: write it once, without repeating words."
    if code == "uniform_turns":
        return "Vary the length of the turns: some short replies, some longer answers."
    if code == "no_questions":
        return f"Let {a} and {b} ask each other questions and answer them."
    if code == "explicit_content":
        return (
            f"Remove this from turn {turn}: {f.message.split(': ', 1)[-1]}. "
            "Keep the conversation free of sexual or graphic violent detail."
        )
    if code in ("slur", "stereotype"):
        return (
            f"Remove this from turn {turn}: {f.message.split(': ', 1)[-1]}. {first} speaks about people as "
            "individuals, without slurs or generalisations about any group."
        )
    if code == "too_similar":
        return "Use your own words: do not reuse lines from the example dialogue."
    return f.message


def dialogue_revision_instructions(
    verdict: Verdict, speakers: tuple[dict, dict], critic: dict, expected_turns: int
) -> list[str]:
    """Concrete corrections for the findings of a failed dialogue, errors first, no repeats. Several
    repeated or looping turns make one line ("Turns 3, 5 and 7 repeat earlier turns: ..."), so that
    a degenerate answer does not bury the other corrections."""
    ordered = sorted(verdict.findings, key=lambda f: f.severity != "error")
    names = _names(speakers)
    groups: dict[str, list[Finding]] = {}
    for f in ordered:
        if f.code in _GROUPED and getattr(f, "turn", None) is not None:
            groups.setdefault(_GROUPED[f.code], []).append(f)
    lines: list[str] = []
    for f in ordered:
        template = _GROUPED.get(f.code)
        members = groups.get(template or "", [])
        turns = sorted({getattr(g, "turn", 0) for g in members})
        if len(turns) > 1 and template:
            lines.append(template.format(turns=_join_numbers(turns)))
        else:
            lines.append(_instruction(f, speakers, critic, expected_turns))
    return list(dict.fromkeys(lines)) or [
        f"Make the conversation between {names[0]} and {names[1]} more natural and true to both personas."
    ]


_GROUPED = {
    "echoed_turn": "Turns {turns} repeat earlier turns: every turn must say something new.",
    "repeated_sentence": "Turns {turns} repeat earlier turns: every turn must say something new.",
    "repeated_ngrams": "Turns {turns} loop: write each of them once, without repeating words.",
}


def _join_numbers(numbers: Sequence[int]) -> str:
    text = [str(n) for n in numbers]
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + " and " + text[-1]


# ---------------------------------------------------------------------------------------------
# evaluation on a labelled fixture (same report as pipelines.critique.evaluate)

DEFAULT_DIALOGUE_CRITIC = {"threshold": 0.6, "weights": dict(DEFAULT_DIALOGUE_WEIGHTS)}


def load_dialogue_items(path: str | Path) -> list[dict[str, Any]]:
    """Read a fixture: a mapping with `items` (and optionally `expected_turns`, the default for
    every item). Each item: id, speakers [attrs A, attrs B], text (or text_rot13), expect,
    optionally expected_turns and others [[label, text], ...]."""
    from pipelines.critique.evaluate import read_fixture

    settings, items = read_fixture(path)
    default_turns = int(settings.get("expected_turns", 6))
    for item in items:
        item["speakers"] = tuple(dict(s) for s in item["speakers"])
        item["expected_turns"] = int(item.get("expected_turns", default_turns))
    return items


def judge_item(item: dict[str, Any], critic: dict[str, Any]) -> Verdict:
    names = _names(item["speakers"])
    turns = parse_dialogue(item["text"], names)
    return critique_dialogue(turns, item["speakers"], critic, item["expected_turns"], item.get("others") or ())


def evaluate_dialogues(items: Iterable[dict[str, Any]], critic: dict[str, Any]) -> dict[str, Any]:
    """Per finding code: tp/fp/fn, precision and recall; overall accept/reject accuracy, in the
    shape pipelines.critique.evaluate.format_report prints."""
    from pipelines.critique.evaluate import score_critic

    return score_critic(items, lambda item: judge_item(item, critic), DIALOGUE_WARNING_CODES)


def main(argv: list[str] | None = None) -> int:
    from pipelines.critique.evaluate import format_report

    parser = argparse.ArgumentParser(description="Measure the dialogue critic on a labelled fixture.")
    parser.add_argument("fixture", help="YAML file of labelled dialogues")
    args = parser.parse_args(argv)
    print(format_report(evaluate_dialogues(load_dialogue_items(args.fixture), dict(DEFAULT_DIALOGUE_CRITIC))))
    return 0


if __name__ == "__main__":
    sys.exit(main())

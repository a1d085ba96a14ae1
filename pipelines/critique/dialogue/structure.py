"""The dialogue structure expert: turn count, strict alternation, speaker labels, empty, short,
long or garbled turns, prompt leftovers and truncation.

Finding codes (* warnings): too_few_turns, too_many_turns*, wrong_first_speaker*, not_alternating,
unknown_speaker, empty_turn, short_turn*, long_turn*, garbled_text, prompt_leftover, truncated*."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pipelines.critique.base import ExpertResult
from pipelines.critique.dialogue.findings import DialogueFinding, Turn, finding, who
from pipelines.critique.text import PROMPT_LEFTOVERS, ends_complete, words

# A run of letters this long is no word of any language the taxonomy covers (the longest common
# English words have about 20): it is the garbage a small model emits when it loses the thread.
GARBLED_WORD_LETTERS = 28
# The narrative critic's prompt-leftover patterns minus those that are ordinary speech in a conversation
# ("I'm sorry to hear that", "I can't help laughing").
_SPEECH_OK = ("sorry", "cannot")
_LEFTOVERS = tuple(p for p in PROMPT_LEFTOVERS if not any(w in p.pattern for w in _SPEECH_OK)) + tuple(
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


def turn_complete(text: str) -> bool:
    """A finished sentence, or a turn that trails off, ends with a smiley or breaks off with a dash."""
    text = text.rstrip()
    return ends_complete(text) or text.endswith(("…", "'", "’", "*", ":)", ":-)", ";)", "-", "—", "–"))


def structure(
    turns: Sequence[Turn],
    names: tuple[str, str],
    expected_turns: int,
    min_turn_words: int,
    max_turn_words: int,
) -> ExpertResult:
    """Turn count, alternation, speaker labels, empty/short/long turns, leftovers, truncation."""
    e = "structure"
    findings: list[DialogueFinding] = []
    n = len(turns)
    a, b = names
    if n < max(4, expected_turns - 1):
        findings.append(finding(e, "too_few_turns", f"{n} turn(s), {expected_turns} expected", evidence=str(n)))
    elif n > expected_turns + 1:
        findings.append(finding(e, "too_many_turns", f"{n} turns, {expected_turns} expected", evidence=str(n)))
    if turns and turns[0][0] == 1:
        findings.append(
            finding(e, "wrong_first_speaker", f"turn 1 is spoken by {b}; {a} must speak first", turn=1, speaker=1)
        )
    for i, (speaker, text) in enumerate(turns, 1):
        subject = who(i, speaker, names)
        if speaker is None:
            label = text.split(":", 1)[0].strip()
            findings.append(
                finding(
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
                finding(
                    e,
                    "not_alternating",
                    f"{which} spoken by {names[speaker]} again, right after turn {i - 1}",
                    turn=i,
                    speaker=speaker,
                )
            )
        count = len(words(text))
        if count == 0:
            findings.append(finding(e, "empty_turn", f"{subject} is empty", turn=i, speaker=speaker))
            continue
        if count < min_turn_words:
            findings.append(
                finding(
                    e,
                    "short_turn",
                    f"{subject} has {count} word(s), fewer than {min_turn_words}",
                    turn=i,
                    speaker=speaker,
                )
            )
        if count > max_turn_words:
            findings.append(
                finding(
                    e, "long_turn", f"{subject} has {count} words, more than {max_turn_words}", turn=i, speaker=speaker
                )
            )
        garbled = [w for w in re.findall(r"[^\W\d_]+", text) if len(w) > GARBLED_WORD_LETTERS]
        if garbled:
            findings.append(
                finding(
                    e, "garbled_text", f"{subject} contains a non-word: {garbled[0][:40]!r}", turn=i, speaker=speaker
                )
            )
        left = _leftover(text)
        if left:
            findings.append(
                finding(e, "prompt_leftover", f"{subject} contains {left!r}", turn=i, speaker=speaker, evidence=left)
            )
    if turns and turns[-1][1].strip() and not turn_complete(turns[-1][1]):
        findings.append(
            finding(
                e,
                "truncated",
                f"the last turn ({who(n, turns[-1][0], names)}) does not end with a complete sentence",
                turn=n,
                speaker=turns[-1][0],
            )
        )
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    score = max(0.0, 1.0 - 0.35 * errors - 0.1 * warnings)
    return ExpertResult(e, round(score, 4), tuple(findings))

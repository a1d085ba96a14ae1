"""Reading a model's conversation into turns (`parse_dialogue`) and writing turns back as the
canonical "Name: text" lines (`dialogue_text`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pipelines.common.facts import first_name
from pipelines.critique.dialogue.findings import Turn, name_tokens, wordset


def dialogue_text(turns: Sequence[Turn], names: tuple[str, str]) -> str:
    """The canonical rendering, one "Name: text" line per turn. A turn with an unknown speaker is
    written as its text (which keeps its own label, see parse_dialogue)."""
    lines = []
    for speaker, text in turns:
        text = re.sub(r"\s+", " ", text).strip()
        lines.append(text if speaker is None else f"{names[speaker]}: {text}".rstrip())
    return "\n".join(lines)


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
_NOT_SPEAKER = wordset(
    "ps p.s tip tips update edit yes no well ok okay so and but also then now first second third finally step "
    "warning important reminder answer question hint source ingredients menu address date time price title "
    "subject monday tuesday wednesday thursday friday saturday sunday today tomorrow tonight morning evening "
    "january february march april may june july august september october november december"
)


def _speaker_of(label: str, names: tuple[str, str]) -> int | None:
    """Index of the speaker a label names: the full name, the first name or any part of exactly
    one speaker's name (accents and titles ignored)."""
    said = name_tokens(label)
    if not said:
        return None
    full = [name_tokens(n) for n in names]
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
    forms = {f for n in names for f in (n.strip(), first_name(n.strip())) if f}
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

"""Revision instructions: the findings of a failed dialogue rewritten as corrections that name the
turn and the speaker ("Anna Kowalski is 34: in turn 3 she must not say she is 40."). Several
repeated or looping turns make one line, so that a degenerate answer does not bury the rest."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.common.facts import first_name
from pipelines.common.settings import DialogueCriticSettings
from pipelines.critique.base import Finding, Verdict, ordered_instructions
from pipelines.critique.dialogue.findings import Speakers, article, names_of, pronouns
from pipelines.critique.lexicon import children_phrase


@dataclass(frozen=True)
class _Context:
    """What an instruction may say about its finding (the fields of the templates below)."""

    turn: int | None
    ref: int | None  # the earlier turn a repeat copies
    said: str | None  # the finding's evidence
    speaker: int | None
    name: str  # the speaker's full name ("" for none)
    first: str
    she: str
    her: str
    herself: str
    is_: str  # "is", or "are" for they
    a: str  # first names of speaker A and B
    b: str
    children: str  # "2 children", "no children"
    removed: str  # the finding's message after its "turn N (...): "
    expected_turns: int
    max_turn_words: int
    attrs: dict[str, Any]  # the speaker's attributes
    speakers: Speakers


def _wrong_addressee(c: _Context) -> str:
    other = names_of(c.speakers)[1 - c.speaker] if c.speaker is not None else ""
    him = pronouns(c.speakers[1 - c.speaker])[1]
    return f"In turn {c.turn} {c.first} talks to {other}: call {him} {first_name(other)}, not {c.said}."


def _age(c: _Context) -> str:
    wrong = f"{c.she} {c.is_} {c.said}" if c.said and c.said.isdigit() else f"{c.said!r}"
    return f"{c.name} {c.is_} {c.attrs.get('demographics.age')}: in turn {c.turn} {c.she} must not say {wrong}."


def _listener(c: _Context) -> str:
    listener = names_of(c.speakers)[1 - c.speaker] if c.speaker is not None else "the other speaker"
    has = c.removed.rsplit(", who ", 1)[-1]  # "is divorced", "has no children"
    return f"{listener} {has}: in turn {c.turn} {c.first} must not say {c.said!r}."


def _occupation(c: _Context) -> str:
    occ = str(c.attrs.get("work.employment.occupation") or "").lower()
    own = (
        f"{c.name} {c.is_} {article(occ)}, not {article(c.said)}" if occ else f"{c.name} {c.is_} not {article(c.said)}"
    )
    return f"{own}: in turn {c.turn} {c.she} must talk about {c.her} own work."


def _persona_unused(c: _Context) -> str:
    parts = []
    for person in c.speakers:
        bits = [
            str(person.get(p)).lower() if p.startswith("work") else str(person.get(p))
            for p in ("work.employment.occupation", "location.residence.city")
            if person.get(p)
        ]
        hobbies = person.get("interests.hobbies") or []
        bits += [str(h) for h in (hobbies if isinstance(hobbies, list) else [hobbies])[:2]]
        if bits:
            parts.append(f"{first_name(str(person.get('identity.name') or ''))} ({', '.join(bits)})")
    return f"Let {c.a} and {c.b} talk about their own lives: " + ("; ".join(parts) or "work, home, hobbies") + "."


def _repeated_sentence(c: _Context) -> str:
    if c.ref == c.turn:
        return f"Turn {c.turn} says the same sentence twice: say it once."
    return f"Turn {c.turn} reuses a sentence of turn {c.ref}: every turn must add something new."


_LAYOUT = "Write exactly {expected_turns} turns, alternating {a}: and {b}:, starting with {a}:."
_INDIVIDUALS = (
    "Remove this from turn {turn}: {removed}. {first} speaks about people as individuals, without slurs or "
    "generalisations about any group."
)
# finding code -> instruction: a template of _Context fields, or a function of the context
_INSTRUCTIONS: dict[str, str | Callable[[_Context], str]] = {
    "too_few_turns": _LAYOUT,
    "too_many_turns": _LAYOUT,
    "not_alternating": _LAYOUT,
    "wrong_first_speaker": _LAYOUT,
    "unknown_speaker": "Turn {turn} is labelled {said!r}: start every line with {a}: or {b}:, nobody else speaks.",
    "empty_turn": "Turn {turn} is empty: give {first} something to say.",
    "garbled_text": "Turn {turn} contains garbled letters: write only real words.",
    "short_turn": "Turn {turn} is too short: let {first} answer in at least one full sentence.",
    "long_turn": "Keep every turn under {max_turn_words} words; turn {turn} is too long.",
    "prompt_leftover": "Write only the conversation lines: remove {said!r} from turn {turn}.",
    "truncated": "Finish the last turn (turn {turn}) with a complete sentence.",
    "identity_swap": "{name} speaks in turn {turn}: {she} must call {herself} {first}, never {said}.",
    "wrong_addressee": _wrong_addressee,
    "age_contradiction": _age,
    "occupation_swap": _occupation,
    "occupation_contradiction": _occupation,
    "children_contradiction": "{name} has {children}: in turn {turn} {she} must not say {said!r}.",
    "listener_contradiction": _listener,
    "persona_unused": _persona_unused,
    "echoed_turn": "Turn {turn} repeats turn {ref}: say something new.",
    "repeated_sentence": _repeated_sentence,
    "repeated_ngrams": "Turn {turn} loops: write it once, without repeating words.",
    "uniform_turns": "Vary the length of the turns: some short replies, some longer answers.",
    "no_questions": "Let {a} and {b} ask each other questions and answer them.",
    "explicit_content": (
        "Remove this from turn {turn}: {removed}. Keep the conversation free of sexual or graphic violent detail."
    ),
    "slur": _INDIVIDUALS,
    "stereotype": _INDIVIDUALS,
    "too_similar": "Use your own words: do not reuse lines from the example dialogue.",
    "reply_opening": "Turn 1 starts the conversation: {first} must not open with {said!r}, as if answering someone.",
    "non_sequitur": "In turn {turn} {first} must answer the question of turn {ref}, not say {said!r}.",
    "late_greeting": "{a} and {b} are already talking: in turn {turn} {first} must not greet again ({said!r}).",
    "many_addressees": "{a} and {b} talk to each other alone: in turn {turn} {first} must not say {said!r}.",
    "formulaic_turns": "Start every turn in its own words: no two turns may open with {said!r}.",
    "cut_off": "Turn {turn} stops mid-sentence: let {first} finish it.",
    "together_alone": "In turn {turn} {first} says {said!r}: say with whom, or leave out 'together'.",
    "day_clash": "In turn {turn} {first} says {said!r}: name one day for it.",
    "childless_them": "In turn {turn} {first} says {said!r} but has no children: say who 'them' is, or leave it out.",
    "weekly_occasion": "In turn {turn} {first} says {said!r} of every week: a birthday or anniversary is once a year.",
    "pastime_as_work": (
        "In turn {turn} {first} says {said!r}: a pastime is not part of a business or job; say what {she} does for fun."
    ),
}
# codes whose findings on several turns make one line
_GROUPED = {
    "echoed_turn": "Turns {turns} repeat earlier turns: every turn must say something new.",
    "repeated_sentence": "Turns {turns} repeat earlier turns: every turn must say something new.",
    "repeated_ngrams": "Turns {turns} loop: write each of them once, without repeating words.",
}


def instruction(f: Finding, speakers: Speakers, critic: DialogueCriticSettings, expected_turns: int) -> str:
    """The correction for one finding (its message where there is no better one)."""
    how = _INSTRUCTIONS.get(f.code)
    if how is None:
        return f.message
    names = names_of(speakers)
    s = getattr(f, "speaker", None)
    name = names[s] if s is not None else ""
    attrs = speakers[s] if s is not None else {}
    she, _, her, herself = pronouns(attrs)
    a, b = (first_name(n) for n in names)
    context = _Context(
        turn=getattr(f, "turn", None),
        ref=getattr(f, "ref_turn", None),
        said=getattr(f, "evidence", None),
        speaker=s,
        name=name,
        first=first_name(name) if name else "",
        she=she,
        her=her,
        herself=herself,
        is_="are" if she == "they" else "is",
        a=a,
        b=b,
        children=children_phrase(attrs.get("household.children")),
        removed=f.message.split(": ", 1)[-1],
        expected_turns=expected_turns,
        max_turn_words=critic.max_turn_words,
        attrs=attrs,
        speakers=speakers,
    )
    return how.format(**vars(context)) if isinstance(how, str) else how(context)


def _join_numbers(numbers: Sequence[int]) -> str:
    text = [str(n) for n in numbers]
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + " and " + text[-1]


def dialogue_revision_instructions(
    verdict: Verdict, speakers: Speakers, critic: DialogueCriticSettings, expected_turns: int
) -> list[str]:
    """Concrete corrections for the findings of a failed dialogue, errors first, no repeats. Several
    repeated or looping turns make one line ("Turns 3, 5 and 7 repeat earlier turns: ..."), so that
    a degenerate answer does not bury the other corrections."""
    names = names_of(speakers)
    grouped: dict[str, set[int]] = {}
    for f in verdict.findings:
        turn = getattr(f, "turn", None)
        if f.code in _GROUPED and turn is not None:
            grouped.setdefault(_GROUPED[f.code], set()).add(turn)

    def line(f: Finding) -> str:
        template = _GROUPED.get(f.code)
        turns = sorted(grouped.get(template or "", ()))
        if len(turns) > 1 and template:
            return template.format(turns=_join_numbers(turns))
        return instruction(f, speakers, critic, expected_turns)

    return ordered_instructions(
        verdict.findings,
        line,
        f"Make the conversation between {names[0]} and {names[1]} more natural and true to both personas.",
    )

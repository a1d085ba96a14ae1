"""The dialogue prompt: a worked example, both speakers' facts and the scenario, and the
instruction to write `Name: text` lines. Speaker labels are first names (full names when the
first names are the same)."""

from __future__ import annotations

from typing import Any

from pipelines.common.facts import first_name, persona_facts
from pipelines.common.settings import DIALOGUE_TEMPLATE_ID

TEMPLATE_ID = DIALOGUE_TEMPLATE_ID
FACT_LABELS = ("Name", "Age", "Gender", "Lives in", "Occupation", "Family", "Personality", "Hobbies", "Way of talking")
SYSTEM = (
    "You write realistic conversations between two people. Each person speaks only from their own "
    "facts, never claims the other's, and sounds like themselves. Write only the conversation, one "
    "turn per line, as Name: text."
)
EXAMPLE_FACTS = (
    (("Name", "Lucía Romero"), ("Age", "41"), ("Occupation", "Registered nurse"), ("Hobbies", "cycling and pottery")),
    (("Name", "Tom Becker"), ("Age", "29"), ("Occupation", "Bus driver"), ("Hobbies", "football and cooking")),
)
EXAMPLE_SITUATION = "They meet by chance in a waiting room and make small talk about their lives."
EXAMPLE = (
    "Lucía: Long wait today. Are you here for a check-up too?\n"
    "Tom: Just my knee. Too much football at the weekend. You?\n"
    "Lucía: Nothing serious. Funny being on this side of it, I'm a nurse myself.\n"
    "Tom: Then you know how slow these places are. I drive the number 12 bus, I'm never this patient.\n"
    "Lucía: After a night shift I just want my bike and some quiet. Do you cook, at least, after driving all day?\n"
    "Tom: Every evening. It's the only thing that calms me down."
)


def labels(names: tuple[str, str]) -> tuple[str, str]:
    """Speaker labels: first names, or full names when the first names are the same."""
    a, b = first_name(names[0]), first_name(names[1])
    return (a, b) if a != b else names


def speaker_names(spec: dict[str, Any]) -> tuple[str, str]:
    a, b = spec["_speakers"]
    return a["_attrs"]["identity.name"], b["_attrs"]["identity.name"]


def _facts(attrs: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in persona_facts(attrs) if k in FACT_LABELS]


def _render(facts) -> str:
    return "; ".join(f"{k}: {v}" for k, v in facts)


def instruction(names: tuple[str, str], turns: int) -> str:
    a, b = labels(names)
    return (
        f"Write a conversation of exactly {turns} turns between {a} and {b}, alternating, starting with "
        f"{a}. Each turn is one line starting with the speaker's name and a colon."
    )


def messages(spec: dict[str, Any], turns: int, revision: tuple[str, list[str]] | None = None):
    """The chat for a dialogue: system, the worked example, both speakers' facts and the
    scenario; with `revision` = (draft, instructions), the draft and the corrections to make."""
    names = speaker_names(spec)
    ex_names = (EXAMPLE_FACTS[0][0][1], EXAMPLE_FACTS[1][0][1])
    out = [
        ("system", SYSTEM),
        (
            "user",
            f"Person 1: {_render(EXAMPLE_FACTS[0])}\nPerson 2: {_render(EXAMPLE_FACTS[1])}\n"
            f"Situation: {EXAMPLE_SITUATION}\n\n{instruction(ex_names, 6)}",
        ),
        ("assistant", EXAMPLE),
    ]
    a, b = spec["_speakers"]
    out.append(
        (
            "user",
            f"Person 1: {_render(_facts(a['_attrs']))}\nPerson 2: {_render(_facts(b['_attrs']))}\n"
            f"Situation: {spec['scenario']['description']}\n\n{instruction(names, turns)}",
        )
    )
    if revision:
        draft, instructions = revision
        out.append(("assistant", draft))
        out.append(
            (
                "user",
                "Rewrite the conversation. Fix these problems:\n"
                + "\n".join(f"- {i}" for i in instructions)
                + f"\n{instruction(names, turns)}",
            )
        )
    return tuple(out)

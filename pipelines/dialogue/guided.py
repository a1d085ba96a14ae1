"""Guided dialogues (`dialogues.mode: guided`), for small models on backends that continue an
assistant prefill: the pipeline writes the frame of each turn from the two speakers' sampled
facts (who they are, their job and town, a hobby each, their family, a goodbye) and its questions, and
the model continues each turn's words in the middle. A small model that cannot keep a
conversation together over six free turns can finish one sentence that the frame has started.

`scaffolds(spec, turns)` gives one (before, after) pair per turn: the turn is `before`, the
model's continuation, then `after`. Turns past the sixth, and facts a persona lacks, get no frame."""

from __future__ import annotations

from typing import Any

from pipelines.common.facts import first_name, hobby_activity, prefill_fields
from pipelines.critique.dialogue.findings import article


def _who(attrs: dict[str, Any]) -> dict[str, str]:
    """The words a frame is built from: first name, "a bus driver", city, first hobby, what they do
    for it ("go fishing", `activities.yaml`; "" where it has none), and the family sentence ("I'm
    married and I have two children.")."""
    f = prefill_fields(attrs)
    hobby = f.get("hobby", "")
    family = []
    if f.get("marital"):
        family.append(f"I'm {f['marital']}")
    if f.get("children"):
        family.append(f"I have {f['children']}")
    return {
        "first": first_name(f.get("name", "")),
        "job": article(f["occupation"]) if f.get("occupation") else "",
        "city": f.get("city", ""),
        "hobby": hobby,
        "activity": hobby_activity(hobby, "my", plural=True) if hobby else "",
        "family": (" and ".join(family) + ".") if family else "",
    }


def _usually(who: dict[str, str], when: str) -> str:
    """ "On Saturdays I usually go for a bike ride" where the hobby has an activity (the model
    finishes the sentence); else the model says what they did ("Last weekend I"). Left to choose
    the verb, the embedded model wrote "Last month I was doing that", "I went to the Olympics"."""
    return f"{when} I usually {who['activity']}" if who["activity"] else "Last weekend I"


def _goodbye(a: dict[str, str], b: dict[str, str]) -> str:
    """Coffee for two people in one town; two who live in different towns (a beautician in Madrid, a
    refuse collector in Toulouse) keep in touch instead."""
    apart = a["city"] and b["city"] and a["city"] != b["city"]
    return "Let's keep in touch" if apart else "Maybe we could meet for coffee"


def scaffolds(spec: dict[str, Any], turns: int) -> list[tuple[str, str]]:
    """(before, after) for each turn of the dialogue `spec` (its `_speakers`' `_attrs`)."""
    a, b = (_who(s["_attrs"]) for s in spec["_speakers"])
    where_a = f" here in {a['city']}" if a["city"] else ""
    where_b = f" in {b['city']}" if b["city"] else ""
    frames = [
        (
            f"Hi, I'm {a['first']}."
            + (f" I'm {a['job']}{where_a}, and I've lived here for" if a["job"] and a["city"] else " I"),
            " What do you do?",
        ),
        (
            f"Nice to meet you, {a['first']}! I'm {b['first']}"
            + (f", {b['job']}{where_b}" if b["job"] else "")
            + (
                f". In my free time I love {b['hobby']}. {_usually(b, 'On Saturdays')}"
                if b["hobby"]
                else ". In my free time I"
            ),
            " What do you like to do when you're not working?",
        ),
        (
            f"I love {a['hobby']}. {_usually(a, 'On Sundays')}" if a["hobby"] else "Last month I",
            " Do you have a family?",
        ),
        ((f"{b['family']} " if b["family"] else "") + "On weekends I", " And you?"),
        # "Most evenings I'm at home, and I" drew "spend most nights playing golf"; "Maybe we could"
        # drew goodbyes that mean nothing ("discuss something else", "if there were no restrictions")
        ((f"{a['family']} " if a["family"] else "") + "Most evenings I", ""),
        (f"That sounds lovely, {a['first']}. It was nice talking to you. {_goodbye(a, b)}", ""),
    ]
    return [frames[i] if i < len(frames) else ("", "") for i in range(turns)]

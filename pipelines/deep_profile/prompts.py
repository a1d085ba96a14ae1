"""The deep-profile batch prompt and its answer format.

A batch asks for the values of up to `batch_size` dimensions, showing the persona's core facts
and the values filled before (so the profile stays consistent). The answer is one line per item,
`item: value`, the item being the last two parts of the dimension's label; small models follow
the worked example. With `structured_output`, a JSON object with one string per item instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pipelines.common.chat import string_fields_format
from pipelines.common.facts import persona_facts
from pipelines.deep_profile.dimensions import Dimension

TEMPLATE_ID = "deep_profile_v1"
SYSTEM = (
    "You fill in the details of a fictional person's profile. Every value must fit the facts about "
    "the person and what is already known. Give each item a short, concrete value of its own: a "
    "phrase or one sentence."
)
EXAMPLE_FACTS = (("Age", "41"), ("Gender", "Female"), ("Occupation", "Registered nurse"), ("Hobbies", "cycling"))
EXAMPLE_ITEMS = ("Sleep Patterns / Bedtime Ritual", "Food and Drink / Usual Breakfast", "Travel / Dream Destination")
EXAMPLE_ANSWER = (
    "Sleep Patterns / Bedtime Ritual: reads a crime novel for twenty minutes after a late shift\n"
    "Food and Drink / Usual Breakfast: black coffee and toast with tomato, standing in the kitchen\n"
    "Travel / Dream Destination: cycling the Danube from Passau to Vienna"
)
_LINE = re.compile(r"^\s*(?:[-*•]\s*|\d+[.)]\s*)?\**(?P<key>[^:*]{2,120}?)\**\s*:\s*(?P<value>.*?)\s*$")


def _facts(pairs) -> str:
    return "\n".join(f"- {k}: {v}" for k, v in pairs)


def _ask(items: Sequence[str]) -> str:
    return "Fill in these items, one line each, as `item: value`:\n" + "\n".join(f"{k}:" for k in items)


def messages(
    attrs: dict[str, Any],
    items: Sequence[Dimension],
    known: Sequence[tuple[str, str]],
    corrections: Sequence[str] = (),
) -> tuple[tuple[str, str], ...]:
    """The chat of one batch: the worked example, then the persona's facts, what is known so far
    ((item, value) pairs), the items to fill and, on a re-ask, the corrections to make."""
    user = "Facts:\n" + _facts(persona_facts(attrs))
    if known:
        user += "\n\nAlready known:\n" + _facts(known)
    user += "\n\n" + _ask([d.key for d in items])
    if corrections:
        user += "\n\nAn earlier answer had these problems; fix them:\n" + "\n".join(f"- {c}" for c in corrections)
    return (
        ("system", SYSTEM),
        ("user", "Facts:\n" + _facts(EXAMPLE_FACTS) + "\n\n" + _ask(EXAMPLE_ITEMS)),
        ("assistant", EXAMPLE_ANSWER),
        ("user", user),
    )


def response_format(items: Sequence[Dimension]) -> dict[str, Any]:
    return string_fields_format("deep_profile", [d.key for d in items])


def _norm(key: str) -> str:
    return " ".join(re.sub(r"[^\w/]+", " ", key.lower()).split())


def parse(text: str, items: Sequence[Dimension]) -> tuple[dict[str, str], int]:
    """({path: value} for the items the answer gives, the number of lines that matched no item).
    A line names its item by the full key or by the key's last part; a later line for the same
    item wins (a re-ask's answer follows the earlier one). JSON answers are read as {item: value}."""
    by_key: dict[str, str] = {}
    for d in items:
        by_key.setdefault(_norm(d.key), d.path)
        by_key.setdefault(_norm(d.key.rsplit(" / ", 1)[-1]), d.path)
    pairs: list[tuple[str, str]] = []
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(stripped)
            if isinstance(doc, dict):
                pairs = [(str(k), " ".join(str(v).split())) for k, v in doc.items()]
        except json.JSONDecodeError:
            pass
    if not pairs:
        for line in text.splitlines():
            m = _LINE.match(line)
            if m:
                pairs.append((m.group("key"), m.group("value").strip().strip('"')))
            elif line.strip():
                pairs.append(("", line))
    values: dict[str, str] = {}
    unmatched = 0
    for key, value in pairs:
        path = by_key.get(_norm(key))
        if path is None:
            unmatched += 1
        elif value:
            values[path] = value
        else:
            values.setdefault(path, "")
    return values, unmatched

"""What a dialogue speaker says about the other speaker's family, checked against the other's
persona (part of the consistency expert; finding code listener_contradiction): "your wife" to a
divorced listener, "your kids" to a childless one. The words and what they take the listener to
have are data (`listener_family` in `pipelines/critique/lexicons/dialogue.yaml`). Hypotheticals and
generic "you" ("when your kids leave home, ...", "if your partner ...") do not count, nor "your
late husband" or "your ex-wife"."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pipelines.critique.dialogue.children import hypothetical
from pipelines.critique.dialogue.findings import DialogueFinding, finding


@lru_cache(maxsize=1)
def _entries() -> tuple[tuple[re.Pattern[str], str, frozenset[str] | None, int | None], ...]:
    from pipelines.critique.lexicon import read_lexicon

    doc = read_lexicon("dialogue")
    modifiers = "|".join(re.escape(str(m)) for m in doc["listener_modifiers"])
    out = []
    for entry in doc["listener_family"].values():
        words = "|".join(re.escape(str(w)) for w in sorted(entry["words"], key=len, reverse=True))
        pattern = re.compile(
            rf"\byour\s+(?P<mod>(?:{modifiers})(?:-|\s+))?(?:[a-z]+\s+)??(?P<who>{words})\b(?!-in-law)", re.I
        )
        values = frozenset(str(v) for v in entry["values"]) if "values" in entry else None
        out.append((pattern, str(entry["attribute"]), values, int(entry["min"]) if "min" in entry else None))
    return tuple(out)


def _has(listener: dict[str, Any], attribute: str, values: frozenset[str] | None, least: int | None) -> bool | None:
    """Whether the listener has such a person (None: the persona does not say)."""
    value = listener.get(attribute)
    if value is None:
        return None
    if values is not None:
        return str(value) in values
    try:
        return int(value) >= (least or 1)
    except (TypeError, ValueError):
        return None


def listener_finding(
    e: str, i: int, s: int, name: str, listener_name: str, listener: dict[str, Any], text: str
) -> DialogueFinding | None:
    """The first thing speaker `s` says in turn `i` about the listener's spouse, partner, children or
    grandchildren that the listener's persona does not have."""
    for pattern, attribute, values, least in _entries():
        for m in pattern.finditer(text):
            if m.group("mod") or _has(listener, attribute, values, least) is not False:
                continue
            if hypothetical(text, m):
                continue
            phrase = m.group(0)
            field = attribute.rsplit(".", 1)[-1]
            has = f"is {str(listener.get(attribute)).lower()}" if values is not None else f"has no {field}"
            return finding(
                e,
                "listener_contradiction",
                f"turn {i}: {name} says {phrase!r} to {listener_name}, who {has}",
                attribute,
                turn=i,
                speaker=s,
                evidence=phrase,
            )
    return None

"""Lists of the persona's hobbies (part of the claims expert): "His hobbies include playing guitar
and fishing" names them all, so a hobby of the taxonomy's domain named there that is none of the
persona's contradicts interests.hobbies. How a list opens, other names of a value and words too
common to name one are data (`hobby_lists` in `pipelines/critique/lexicons/claims.yaml`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.critique.base import Finding
from pipelines.critique.text import fold, words


@dataclass(frozen=True)
class HobbyLists:
    """The hobbies a list of the persona's hobbies can name: per value of the taxonomy's domain,
    the phrases that name it (all its distinctive words, or one of its other names)."""

    opening: re.Pattern[str]
    names: dict[str, tuple[tuple[str, ...], ...]]  # value -> alternatives, each a tuple of word stems
    generic: frozenset[str]  # stems too common to name a hobby ("playi", "makin")

    def named(self, item: str) -> set[str]:
        """The domain values `item` ("playing guitar", "soccer") names."""
        stems = {_stem(w) for w in words(fold(item).lower())}
        return {value for value, ways in self.names.items() if any(set(way) <= stems for way in ways)}

    def shares_a_word(self, item: str, hobby: str) -> bool:
        """Whether `item` has a distinctive word of `hobby` ("baking bread" for baking)."""
        keys = {_stem(w) for w in words(fold(hobby).lower()) if len(w) > 3} - self.generic
        return bool(keys & {_stem(w) for w in words(fold(item).lower())})


def _stem(word: str) -> str:
    return word[:5]


def hobby_lists(domain: Sequence[str], doc: Mapping[str, Any]) -> HobbyLists | None:
    if not domain or not doc:
        return None
    generic = {_stem(str(w).lower()) for w in doc.get("generic") or ()}
    names: dict[str, tuple[tuple[str, ...], ...]] = {}
    for value in domain:
        others = (doc.get("names") or {}).get(value) or ()
        ways = []
        for phrase in (value, *others):
            stems = tuple(_stem(w) for w in words(fold(str(phrase)).lower()) if len(w) > 2)
            distinctive = tuple(s for s in stems if s not in generic)
            if distinctive:
                ways.append(distinctive)
        names[str(value)] = tuple(ways)
    return HobbyLists(re.compile(str(doc["opening"]), re.IGNORECASE), names, frozenset(generic))


def listed_hobbies(text: str, attrs: Mapping[str, Any], lists: HobbyLists | None) -> list[Finding]:
    """A list of the persona's hobbies ("Her hobbies include hiking and gardening") that names a
    hobby of the domain which is none of the persona's (a cyclist and gardener who hikes). An item
    that names one of the persona's hobbies too ("cooking and baking" for a baker) is not one."""
    own = [str(h) for h in attrs.get("interests.hobbies") or ()]
    if lists is None or not own:
        return []
    for m in lists.opening.finditer(text):
        end = re.search(r"[.!?;]", text[m.end() :])
        listed = text[m.end() : m.end() + end.start()] if end else text[m.end() :]
        for item in re.split(r",|\band\b|\bor\b|\bas well as\b|\blike\b|\bsuch as\b", listed):
            named = lists.named(item)
            if named and not named & set(own) and not any(lists.shares_a_word(item, h) for h in own):
                other = sorted(named)[0]
                return [
                    Finding(
                        "claims",
                        "attribute_contradiction",
                        f"the text lists {other} among the hobbies ({item.strip()!r}); "
                        f"the hobbies are {', '.join(own)}",
                        "interests.hobbies",
                    )
                ]
    return []

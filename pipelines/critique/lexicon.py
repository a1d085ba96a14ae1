"""The word lists in lexicons/*.yaml and the persona-fact checks both critics build on them: the
faithfulness lexicon (occupations and their related words, person nouns, relatives whose ages a
text may give, the words for reading a leading name), the words that count as mentioning an
occupation, and how a claim about children is judged against `household.children`. The safety
lexicon is read by `pipelines.critique.narrative.safety`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from pipelines.critique.text import alternation, has_phrase, words

LEXICONS = Path(__file__).resolve().parent / "lexicons"
# Words that make a claim about children not one about the children someone has ("expecting
# their first baby", "her future kids").
_NOT_YET = re.compile(r"\b(?:first|unborn|future)\b", re.I)


def read_lexicon(name: str) -> Any:
    """The parsed lexicons/<name>.yaml."""
    return yaml.safe_load((LEXICONS / f"{name}.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def claims_lexicon() -> dict[str, Any]:
    """lexicons/claims.yaml, parsed once per process (the claims expert and its sentence checks)."""
    return read_lexicon("claims")


@dataclass(frozen=True)
class FaithLexicon:
    groups: dict[str, tuple[str, ...]]  # occupation group -> names
    related: dict[str, tuple[str, ...]]
    name_to_group: dict[str, str]
    occupation_names: str  # regex alternation of every name
    person_nouns: frozenset[str]
    others_with_ages: frozenset[str]
    names: dict[str, frozenset[str]]  # word lists for reading a leading name (see faithfulness.yaml)


@lru_cache(maxsize=1)
def faith_lexicon() -> FaithLexicon:
    doc = read_lexicon("faithfulness")
    groups = {g: tuple(str(n).lower() for n in spec["names"]) for g, spec in doc["occupations"].items()}
    related = {g: tuple(str(n).lower() for n in spec.get("related", ())) for g, spec in doc["occupations"].items()}
    name_to_group = {n: g for g, names in groups.items() for n in names}
    head_nouns = {n.split()[-1] for names in groups.values() for n in names}
    return FaithLexicon(
        groups=groups,
        related=related,
        name_to_group=name_to_group,
        occupation_names=alternation(list(name_to_group)),
        person_nouns=frozenset(str(w).lower() for w in doc["person_nouns"]) | head_nouns,
        others_with_ages=frozenset(str(w).lower() for w in doc["others_with_ages"]),
        names={k: frozenset(str(w).lower() for w in v) for k, v in doc["names"].items()},
    )


def occupation_terms(occupation: str) -> tuple[set[str], set[str]]:
    """(groups, words) of the persona's occupation: the lexicon groups it belongs to, and the words
    whose presence in a text counts as mentioning it."""
    lex = faith_lexicon()
    low = occupation.lower()
    groups = {g for g, names in lex.groups.items() if any(has_phrase(n, low) for n in names)}
    generic = {"retired", "part-time", "full-time", "junior", "senior", "apprentice", "volunteer", "former"}
    terms = {w.lower() for w in words(occupation) if len(w) > 3 and w.lower() not in generic}
    for g in groups:
        terms.update(lex.groups[g])
        terms.update(lex.related[g])
    return groups, terms


# ---------------------------------------------------------------------------------------------
# claims about children


def children_phrase(kids: int | None) -> str:
    """ "no children", "1 child", "3 children"."""
    return f"{kids or 'no'} {'child' if kids == 1 else 'children'}"


def children_contradicted(kind: str, phrase: str, count: int, kids: int) -> bool:
    """Whether a claim about children contradicts the persona's `kids`: kind `none` ("has no
    children"), `exact` ("her two children") or `at_least` ("her daughter"), with the number it
    says. A claim about a first, unborn or future child says nothing about the children there are."""
    if _NOT_YET.search(phrase):
        return False
    return (kind == "none" and kids > 0) or (kind == "exact" and count != kids) or (kind == "at_least" and count > kids)

"""Revision instructions: the findings of a failed narrative rewritten as corrections the
generator can act on ("Ana Silva is 34 years old: state that age and no other.")."""

from __future__ import annotations

from typing import Any

from pipelines.common.facts import NOUNS, PRONOUNS
from pipelines.common.settings import CriticSettings
from pipelines.critique.base import Finding, Verdict, ordered_instructions
from pipelines.critique.lexicon import children_phrase

_SAME_NAME = "The person is called {name}: name {name} in the first sentence and use no other name for them."
_NO_REPEATS = "Do not repeat words or sentences: every sentence must add something new."
_REMOVE = "Remove this: {message}. Describe {name} as an individual, without generalising about any group."
# finding code -> instruction, with the fields `instruction` fills in
_TEMPLATES = {
    "name_missing": _SAME_NAME,
    "name_swapped": _SAME_NAME,
    "age_contradiction": "{name} is {age} years old: state that age and no other.",
    "gender_contradiction": "{name} is a {noun}: refer to {name} as {pronouns} throughout.",
    "children_contradiction": "{name} has {children}: say so correctly.",
    "repeated_ngrams": _NO_REPEATS,
    "repeated_sentence": _NO_REPEATS,
    "low_compression": _NO_REPEATS,
    "too_short": "Write at least {min_words} words.",
    "too_long": "Keep it under {max_words} words.",
    "prompt_leftover": "Write only the paragraph itself: no lists, headings or remarks about the task.",
    "truncated": "End with a complete sentence.",
    "too_similar": "Use your own words: do not reuse sentences from the examples.",
    "slur": _REMOVE,
    "explicit_content": _REMOVE,
    "stereotype": _REMOVE,
    "attribute_contradiction": "{name}'s {attribute} {is_} {value}: say nothing that contradicts it.",
    "hobby_negated": "{name} enjoys {value}: do not say {name} dislikes any of it.",
    "nothing_conveyed": "Write about {name} in particular: {name}'s age, home town, work, family and hobbies.",
    "wrong_language": "Write the whole paragraph in English.",
    "placeholder": "Write real words only: no template slots such as {{occupation}} or [number].",
    "person_drift": "Write in the third person about {name}: no 'I', 'we' or 'you'.",
    "question": "State facts about {name}: ask no questions.",
    "invented_word": "Use only real words and real place names ({message}).",
    "broken_sentence": "Rewrite this as clear, complete sentences about {name} and {name}'s people: {message}.",
}


def instruction(f: Finding, attrs: dict[str, Any], critic: CriticSettings) -> str:
    """The correction for one finding (its message where there is no better one)."""
    name = attrs.get("identity.name") or "the person"
    template = _TEMPLATES.get(f.code)
    if template:
        gender = str(attrs.get("demographics.gender") or "").lower()
        return template.format(
            name=name,
            age=attrs.get("demographics.age"),
            noun=NOUNS.get(gender, "person"),
            pronouns=PRONOUNS.get(gender, "they/them"),
            children=children_phrase(attrs.get("household.children")),
            min_words=critic.min_words,
            max_words=critic.max_words,
            message=f.message,
            attribute=(f.attribute or "").rsplit(".", 1)[-1].replace("_", " "),
            value=_value(attrs.get(f.attribute or "")),
            is_="are" if isinstance(attrs.get(f.attribute or ""), list) else "is",
        )
    if f.code.endswith("_missing") and f.attribute and attrs.get(f.attribute):
        return f"Mention that {name}'s {f.attribute.rsplit('.', 1)[-1].replace('_', ' ')} is {attrs[f.attribute]}."
    return f.message


def _value(value: Any) -> str:
    if isinstance(value, list):
        return " and ".join(map(str, value))
    return str(value).lower() if isinstance(value, str) and value[:1].isupper() and " " not in value else str(value)


def revision_instructions(verdict: Verdict, attrs: dict[str, Any], critic: CriticSettings) -> list[str]:
    """Concrete corrections for the findings of a failed candidate, errors first, no repeats
    (measurements with severity `info` are not corrections)."""
    return ordered_instructions(
        [f for f in verdict.findings if f.severity != "info"],
        lambda f: instruction(f, attrs, critic),
        f"Make the paragraph more faithful to the facts about {attrs.get('identity.name')}.",
    )

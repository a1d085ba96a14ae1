"""Critique a persona's candidates together, pick the best, and turn findings into revision
instructions the generator can act on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipelines.critique.experts import Finding, Verdict, judge
from pipelines.common.facts import NOUNS, PRONOUNS


def critique_candidates(
    texts: Sequence[str], attrs: dict[str, Any], critic: dict[str, Any], exemplars: Sequence[dict[str, Any]] = ()
) -> list[Verdict]:
    """One verdict per candidate. Novelty compares each with the exemplars and with the earlier
    candidates that passed: of two near-identical siblings the first is judged on its merits and
    the repeat is flagged (instead of both failing), and a fix of a failed sibling is not."""
    shown = [(f"exemplar:{e['persona_id']}", e["narrative"]) for e in exemplars]
    verdicts: list[Verdict] = []
    for i, text in enumerate(texts):
        siblings = [(f"candidate:{j}", texts[j]) for j in range(i) if verdicts[j].passed]
        verdicts.append(judge(text, attrs, critic, [*siblings, *shown]))
    return verdicts


def best_candidate(verdicts: Sequence[Verdict]) -> int:
    """The passing candidate with the highest score; if none passes, the highest score. Ties go
    to the lower candidate number, so the choice is deterministic."""
    return min(range(len(verdicts)), key=lambda i: (not verdicts[i].passed, -verdicts[i].score, i))


def _instruction(f: Finding, attrs: dict[str, Any], critic: dict[str, Any]) -> str:
    name = attrs.get("identity.name") or "the person"
    gender = str(attrs.get("demographics.gender") or "").lower()
    code = f.code
    if code in ("name_missing", "name_swapped"):
        return f"The person is called {name}: name {name} in the first sentence and use no other name for them."
    if code == "age_contradiction":
        return f"{name} is {attrs.get('demographics.age')} years old: state that age and no other."
    if code == "gender_contradiction":
        noun = NOUNS.get(gender, "person")
        return f"{name} is a {noun}: refer to {name} as {PRONOUNS.get(gender, 'they/them')} throughout."
    if code == "children_contradiction":
        kids = attrs.get("household.children")
        return f"{name} has {kids or 'no'} {'child' if kids == 1 else 'children'}: say so correctly."
    if code in ("repeated_ngrams", "repeated_sentence", "low_compression"):
        return "Do not repeat words or sentences: every sentence must add something new."
    if code == "too_short":
        return f"Write at least {critic.get('min_words', 35)} words."
    if code == "too_long":
        return f"Keep it under {critic.get('max_words', 260)} words."
    if code == "prompt_leftover":
        return "Write only the paragraph itself: no lists, headings or remarks about the task."
    if code == "truncated":
        return "End with a complete sentence."
    if code == "too_similar":
        return "Use your own words: do not reuse sentences from the examples."
    if code in ("slur", "explicit_content", "stereotype"):
        return f"Remove this: {f.message}. Describe {name} as an individual, without generalising about any group."
    if code.endswith("_missing") and f.attribute and attrs.get(f.attribute):
        return f"Mention that {name}'s {f.attribute.rsplit('.', 1)[-1].replace('_', ' ')} is {attrs[f.attribute]}."
    return f.message


def revision_instructions(verdict: Verdict, attrs: dict[str, Any], critic: dict[str, Any]) -> list[str]:
    """Concrete corrections for the findings of a failed candidate, errors first, no repeats."""
    ordered = sorted(verdict.findings, key=lambda f: f.severity != "error")
    return list(dict.fromkeys(_instruction(f, attrs, critic) for f in ordered)) or [
        f"Make the paragraph more faithful to the facts about {attrs.get('identity.name')}."
    ]

"""The critic of deep-profile values: each value an LLM wrote for a free-text dimension is checked
on its own and against the persona's sampled core attributes.

Finding codes (all errors: the value is re-asked, and recorded as missing if it stays bad):
  value_missing       no line for the dimension, or an empty value
  value_placeholder   a template or filler instead of a value ({occupation}, [value], N/A, TBD, ...)
  value_copied        the dimension's own name or the prompt's wording (its instructions, its
                      worked example) given back as the value
  value_person_drift  the value speaks as "I" or to "you" (a profile value describes the persona)
  value_chatter       an assistant's preamble instead of a value ("Sure, here are the details!")
  value_contradiction a value that contradicts a sampled core attribute (age, children,
                      occupation: the narrative critic's checks, `faithfulness.contradictions`)
  value_repeated      the same value given for `REPEAT_LIMIT` or more dimensions of the persona
                      (the first one keeps it)
  value_too_long      more than `MAX_WORDS` words: a value is a phrase to a sentence
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pipelines.critique.base import ExpertResult, Finding, Verdict
from pipelines.critique.narrative.faithfulness import contradictions
from pipelines.critique.text import fold, words

EXPERT = "deep_profile"
MAX_WORDS = 40
REPEAT_LIMIT = 3  # a value given for this many dimensions is no longer an answer to any of them
_PLACEHOLDER = re.compile(
    r"\{[^}]*\}|\[[^\]]*\]|<[^>]*>|^\W*(?:n/?a|none|null|unknown|tbd|todo|\?+|\.{2,}|-+|value|answer|"
    r"not (?:specified|applicable|known|available)|no (?:answer|information|info|data))\W*$",
    re.IGNORECASE,
)
# The prompt's own wording given back as a value (the batch prompt, its corrections, its worked example).
_PROMPT_WORDS = re.compile(
    r"\b(?:fill in|one line per item|short phrase|the person|this person's profile|gives? (?:it )?a value|"
    r"one short sentence|a value of its own|an earlier answer|crime novel|black coffee and toast|the danube|"
    # the corrections' "keep it to one short sentence" given back ("keeps it to two sentences max...")
    r"keeps? it (?:to (?:one|two|a|three)\b|simple\W*$|short\W*$|focused on one))",
    re.I,
)
_CHATTER = re.compile(
    r"^\W*(?:sure|certainly|of course|okay|ok|absolutely|here (?:is|are|you go)|as an ai|i(?:'d| would) be happy)\b",
    re.IGNORECASE,
)
_FIRST_SECOND = re.compile(r"\b(?:I|I'm|I've|me|my|we|our|you|your)\b")


def normalised(value: str) -> str:
    return " ".join(fold(value).lower().split()).strip(" .!;,")


def value_finding(
    path: str, label: str, value: str | None, attrs: Mapping[str, Any], repeats: int = 0
) -> Finding | None:
    """The first thing wrong with `value` for dimension `path` (readable `label`), or None."""

    def finding(code: str, message: str) -> Finding:
        return Finding(EXPERT, code, message, path)

    text = (value or "").strip()
    if not text:
        return finding("value_missing", f"no value for {label!r}")
    if _PLACEHOLDER.search(text):
        return finding("value_placeholder", f"{label!r} holds a placeholder: {text[:60]!r}")
    leaf = label.rsplit("/", 1)[-1]
    if normalised(text) in (normalised(label), normalised(leaf)) or _PROMPT_WORDS.search(text):
        return finding("value_copied", f"{label!r} repeats the prompt instead of a value: {text[:60]!r}")
    if _CHATTER.search(text):
        return finding("value_chatter", f"{label!r} holds an assistant's chatter, not a value: {text[:60]!r}")
    if _FIRST_SECOND.search(text):
        return finding("value_person_drift", f"{label!r} speaks as 'I' or to 'you': {text[:60]!r}")
    if len(words(text)) > MAX_WORDS:
        return finding("value_too_long", f"{label!r} has {len(words(text))} words; a value is a phrase to a sentence")
    found = contradictions(text, dict(attrs))
    if found:
        return finding("value_contradiction", f"{label!r}: {found[0].message}")
    if repeats >= REPEAT_LIMIT:
        return finding("value_repeated", f"{label!r} repeats a value given for {repeats} dimensions: {text[:60]!r}")
    return None


def critique_values(
    items: Sequence[tuple[str, str]],
    values: Mapping[str, str],
    attrs: Mapping[str, Any],
    earlier: Sequence[str] = (),
) -> Verdict:
    """One verdict over a batch of dimensions (`items`: (path, label)): a finding per bad value,
    score = share of good values, passed when every value is good. `earlier`: the values the
    persona already has, which count towards `value_repeated`."""
    seen = Counter(normalised(v) for v in earlier if v)
    findings = []
    for path, label in items:
        value = values.get(path)
        key = normalised(value or "")
        f = value_finding(path, label, value, attrs, seen[key] + 1 if key else 0)
        if key:
            seen[key] += 1
        if f is not None:
            findings.append(f)
    good = len(items) - len(findings)
    score = round(good / len(items), 4) if items else 1.0
    return Verdict(score, not findings, (ExpertResult(EXPERT, score, tuple(findings)),))


def value_instruction(f: Finding, labels: Mapping[str, str]) -> str:
    """A bad value as a correction for the next call (`labels`: path -> readable label)."""
    label = labels.get(f.attribute or "", f.attribute)
    return {
        "value_missing": f"{label}: give a value (a short phrase).",
        "value_placeholder": f"{label}: write a real value, not a placeholder.",
        "value_copied": f"{label}: answer it; do not repeat the item's name.",
        "value_too_long": f"{label}: keep it to one short sentence.",
        "value_person_drift": f"{label}: describe the person in the third person.",
        "value_chatter": f"{label}: give only the value, no preamble.",
        "value_contradiction": f"{label}: keep to the facts about the person ({f.message.split(': ', 1)[-1]}).",
        "value_repeated": f"{label}: give a value of its own, different from the other items.",
    }.get(f.code, f.message)

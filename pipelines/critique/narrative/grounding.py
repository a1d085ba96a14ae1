"""The grounding expert: are the narrative's sentences about this persona at all?

Small models write fluent sentences that drift away from the facts they were given: a cleaner
"runs a successful marketing firm", then muses about "the past couple hundred years". Such text
names no attribute value the claims expert could catch, so it passes every lexical check. Here
each sentence (the persona's name masked, so that it cannot carry the match) and each fact of the
persona (the prompted ones, "Occupation: Cleaner", and every other sampled attribute, "tenure: owns
with a mortgage") are embedded with the run's sentence model, and a sentence's grounding is its
best cosine with any fact. A capable model's paragraph draws on the facts the prompt did not show
too (the mortgage, the commute, the family it grew up in); against the prompted facts alone those
sentences read as unrelated. A narrative is rejected as `off_persona` when its mean grounding is
low, or when most of its sentences relate to none of the facts.

The thresholds were set on the development sets (`tests/fixtures/critic_eval/*_dev*.yaml`: the
hand-written ones and the labelled real outputs of development builds), for the bundled
all-MiniLM-L6-v2 model; another embedding model needs them measured again.

Finding code: off_persona (error). The score is the share of sentences that relate to a fact."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipelines.common.facts import mask_names, persona_facts
from pipelines.critique.base import ExpertResult, Finding

# texts -> unit-length row vectors (one per text)
Embed = Callable[[Sequence[str]], np.ndarray]

EXPERT = "grounding"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\.{3,}|;|…")
MASK = "Someone"


@dataclass(frozen=True)
class GroundingSettings:
    min_mean: float = 0.38  # mean best-fact cosine a narrative must reach
    unrelated_below: float = 0.48  # a sentence whose best-fact cosine is below this relates to no fact
    max_unrelated_share: float = 0.85  # at most this share of sentences may relate to no fact
    min_sentence_words: int = 3  # shorter fragments are not judged


def sentences(text: str, min_words: int) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s and len(s.split()) >= min_words]


# attributes that are no fact a sentence could be about (the Big Five scores are numbers; the band
# repeats the age)
_NOT_FACTS = (
    "identity.name",
    "demographics.age_band",
    "personality.openness",
    "personality.conscientiousness",
    "personality.extraversion",
    "personality.agreeableness",
    "personality.neuroticism",
)


def fact_lines(attrs: dict[str, Any]) -> list[str]:
    """The prompted facts ("Occupation: Cleaner"), then every other sampled attribute ("commute:
    cycles")."""
    lines = [f"{label}: {value}" for label, value in persona_facts(attrs)]
    for path, value in attrs.items():
        if path in _NOT_FACTS or value in (None, "", []) or isinstance(value, float):
            continue
        text = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        lines.append(f"{path.rsplit('.', 1)[-1].replace('_', ' ')}: {text}")
    return lines


def grounding(
    text: str, attrs: dict[str, Any], embed: Embed, settings: GroundingSettings = GroundingSettings()
) -> ExpertResult:
    name = str(attrs.get("identity.name") or "")
    masked = mask_names(text, {name: MASK}, flags=re.IGNORECASE) if name else text
    sents = sentences(masked, settings.min_sentence_words)
    facts = fact_lines(attrs)
    if not sents or not facts:
        return ExpertResult(EXPERT, None, ())
    vectors = np.asarray(embed([*sents, *facts]), dtype=np.float32)
    best = (vectors[: len(sents)] @ vectors[len(sents) :].T).max(axis=1)
    mean = float(best.mean())
    unrelated = float((best < settings.unrelated_below).mean())
    findings = []
    if mean < settings.min_mean:
        findings.append(
            Finding(EXPERT, "off_persona", f"sentences relate little to the persona's facts (mean {mean:.2f})")
        )
    elif unrelated > settings.max_unrelated_share:
        weakest = sents[int(best.argmin())]
        findings.append(
            Finding(
                EXPERT,
                "off_persona",
                f"{unrelated:.0%} of the sentences relate to none of the persona's facts, e.g. {weakest[:80]!r}",
            )
        )
    return ExpertResult(EXPERT, round(1.0 - unrelated, 4), tuple(findings))

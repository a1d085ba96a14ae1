"""The dialogue critic as a whole: `critique_dialogue` runs the six dialogue experts on a parsed
conversation and combines them (`pipelines.critique.base.combine`) by the dialogue critic's
weights and threshold."""

from __future__ import annotations

from pipelines.common.settings import DialogueCriticSettings
from pipelines.critique.base import ExpertResult, Finding, Others, Verdict, combine
from pipelines.critique.dialogue.coherence import coherence
from pipelines.critique.dialogue.consistency import consistency
from pipelines.critique.dialogue.echo import echo
from pipelines.critique.dialogue.findings import Speakers, Turn, names_of
from pipelines.critique.dialogue.parse import dialogue_text
from pipelines.critique.dialogue.structure import structure
from pipelines.critique.dialogue.style import dialogue_novelty, dialogue_safety, naturalness
from pipelines.critique.narrative.claims import ClaimBook, spoken_contradictions
from pipelines.critique.narrative.surface import surface


def spoken_claims(turns: list[Turn], speakers: Speakers, book: ClaimBook) -> ExpertResult:
    """Every sampled attribute of each speaker checked against what they say about themselves
    (the narrative critic's claims, on each turn read in the third person). No weight: its
    errors reject."""
    findings = []
    for i, (who, said) in enumerate(turns):
        if who is None:
            continue
        for f in spoken_contradictions(said, speakers[who], book):
            name = speakers[who].get("identity.name")
            findings.append(Finding("claims", f.code, f"turn {i + 1} ({name}): {f.message}", f.attribute))
    return ExpertResult("claims", 0.0 if findings else 1.0, tuple(findings))


def critique_dialogue(
    turns: list[Turn],
    speakers: Speakers,
    critic: DialogueCriticSettings,
    expected_turns: int,
    others: Others = (),
    book: ClaimBook | None = None,
) -> Verdict:
    """Run every dialogue expert and combine them: the weighted mean of the scores (critic.weights
    over structure, consistency, echo, naturalness, safety, novelty) must reach critic.threshold
    and no finding may be an error. `others` are the (label, text) pairs novelty compares with."""
    names = names_of(speakers)
    results = (
        structure(turns, names, int(expected_turns), critic.min_turn_words, critic.max_turn_words),
        consistency(turns, speakers),
        echo(turns, names, critic.echo_threshold),
        coherence(turns, names),  # no weight: its errors reject
        naturalness(turns, names),
        dialogue_safety(turns, speakers),
        dialogue_novelty(dialogue_text(turns, names), others, critic.novelty_threshold),
        # another language, template slots (people speak in the first person: no person check)
        surface(" ".join(said for _, said in turns), critic.language, person=False),
        *((spoken_claims(turns, speakers, book),) if book is not None else ()),
    )
    return combine(results, critic)

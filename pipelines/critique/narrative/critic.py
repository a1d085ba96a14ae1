"""The narrative critic as a whole: `judge` runs every rule-based expert on one candidate
(degeneration, faithfulness, safety, novelty) and combines them by the critic's weights;
`critique_candidates` judges a persona's candidates against each other and the exemplars.
`WARNING_CODES` are the codes its experts record with severity `warning`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipelines.common.settings import CriticSettings
from pipelines.critique.base import Others, Verdict, combine, critique_in_order
from pipelines.critique.narrative.degeneration import degeneration
from pipelines.critique.narrative.faithfulness import faithfulness
from pipelines.critique.narrative.safety import safety
from pipelines.critique.novelty import novelty

# Codes recorded with severity `warning`; every other code is an error.
WARNING_CODES = frozenset({"truncated", "place_missing", "occupation_missing"})


def judge(text: str, attrs: dict[str, Any], critic: CriticSettings, others: Others = ()) -> Verdict:
    """Run every rule-based expert on a candidate and combine their results."""
    experts = (
        degeneration(text, critic.min_words, critic.max_words),
        faithfulness(text, attrs),
        safety(text, attrs),
        novelty(text, others, critic.novelty_threshold),
    )
    return combine(experts, critic)


def critique_candidates(
    texts: Sequence[str], attrs: dict[str, Any], critic: CriticSettings, exemplars: Sequence[dict[str, Any]] = ()
) -> list[Verdict]:
    """One verdict per candidate. Novelty compares each with the exemplars and with the earlier
    candidates that passed (see `critique_in_order`)."""
    shown = [(f"exemplar:{e['persona_id']}", e["narrative"]) for e in exemplars]
    return critique_in_order(texts, lambda i, others: judge(texts[i], attrs, critic, others), shown)

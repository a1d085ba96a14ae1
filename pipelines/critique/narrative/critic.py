"""The narrative critic as a whole: `judge` runs every rule-based expert on one candidate
(degeneration, faithfulness, safety, novelty, surface, claims when the taxonomy's claim book is
given, grounding when a sentence embedder is) and combines them by the critic's weights;
`critique_candidates` judges a persona's candidates against each other and the exemplars.
`WARNING_CODES` are the codes its experts record with severity `warning`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from pipelines.common.settings import CriticSettings
from pipelines.critique.base import Others, Verdict, combine, critique_in_order
from pipelines.critique.narrative.claims import ClaimBook, claims
from pipelines.critique.narrative.degeneration import degeneration
from pipelines.critique.narrative.faithfulness import faithfulness
from pipelines.critique.narrative.grounding import Embed, grounding
from pipelines.critique.narrative.safety import safety
from pipelines.critique.narrative.surface import surface
from pipelines.critique.novelty import novelty
from pipelines.critique.vocabulary import fact_words, persona_languages

# Codes recorded with severity `warning`; every other code is an error.
WARNING_CODES = frozenset({"truncated", "place_missing", "occupation_missing"})
# Codes recorded with severity `info`: measurements, never a reason to reject.
INFO_CODES = frozenset({"fact_not_conveyed"})


def judge(
    text: str,
    attrs: dict[str, Any],
    critic: CriticSettings,
    others: Others = (),
    book: ClaimBook | None = None,
    embed: Embed | None = None,
    written: str | None = None,
) -> Verdict:
    """Run every rule-based expert on a candidate and combine their results. With a claim book
    (built from the taxonomy), every sampled attribute is checked too (`claims`); with a sentence
    embedder and `critic.grounding`, every sentence is checked against the facts (`grounding`).
    `written`: the part of `text` the model wrote (after a prefilled opening), which novelty
    compares with `others` (default: the whole text)."""
    experts = (
        degeneration(text, critic.min_words, critic.max_words),
        faithfulness(text, attrs),
        safety(text, attrs),
        novelty(text if written is None else written, others, critic.novelty_threshold),
        surface(text, critic.language, known=fact_words(attrs), spoken=persona_languages(attrs)),
        *((claims(text, attrs, book),) if book is not None else ()),
        *((grounding(text, attrs, embed),) if embed is not None and critic.grounding else ()),
    )
    return combine(experts, critic)


def critique_candidates(
    texts: Sequence[str],
    attrs: dict[str, Any],
    critic: CriticSettings,
    exemplars: Sequence[dict[str, Any]] = (),
    book: ClaimBook | None = None,
    embed: Embed | None = None,
    opening: Callable[[dict[str, Any]], str] | None = None,
) -> list[Verdict]:
    """One verdict per candidate. Novelty compares each with the exemplars and with the earlier
    candidates that passed (see `critique_in_order`). `opening(attrs)`: the opening the pipeline
    prefilled for a persona; novelty then compares only what the model wrote after it (siblings
    share their opening word for word, and exemplars its wording), not the pipeline's own text."""

    def written(text: str, persona_attrs: dict[str, Any]) -> str:
        return model_written(text, opening(persona_attrs)) if opening is not None else text

    own = [written(t, attrs) for t in texts]
    shown = [(f"exemplar:{e['persona_id']}", written(e["narrative"], e["_attrs"])) for e in exemplars]
    return critique_in_order(
        own, lambda i, others: judge(texts[i], attrs, critic, others, book, embed, written=own[i]), shown
    )


def model_written(text: str, opening: str) -> str:
    """The part of a narrative after its prefilled `opening` (the whole text when it does not
    start with it: no opening, or a revision that rewrote it)."""
    if opening and text.startswith(opening):
        return text[len(opening) :].strip()
    return text

"""The dialogue critic, for persona-grounded dialogues (Synthetic-Persona-Chat style): two people,
each with a persona, talk in alternating turns, written as lines "Name: text".

`parse_dialogue` splits a model's answer into turns; `critique_dialogue` runs six rule-based
experts and combines them with `pipelines.critique.base.combine`, so weights, threshold and
severities mean what they mean for the narrative critic (codes marked * are warnings):

  structure    too_few_turns, too_many_turns*, wrong_first_speaker*, not_alternating,
               unknown_speaker, empty_turn, short_turn*, long_turn*, garbled_text,
               prompt_leftover, truncated*
  consistency  each turn against its own speaker's persona: identity_swap, age_contradiction,
               occupation_swap, occupation_contradiction, children_contradiction,
               listener_contradiction (the other's family: "your wife" to a divorced listener),
               wrong_addressee*, persona_unused (nothing of either persona comes up)
  echo         echoed_turn (a turn that copies an earlier one), repeated_sentence, repeated_ngrams
  style        naturalness: uniform_turns*, no_questions*; safety: slur, explicit_content,
               stereotype (the narrative safety expert on every turn, with that speaker's
               attributes); novelty: too_similar (the whole conversation against exemplars and
               earlier siblings)

Every finding is a `DialogueFinding` (module `findings`): a `Finding` that also carries the turn
(1-based), the speaker (0 = A, 1 = B), the words that triggered it and, for repeats, the earlier
turn, so that `dialogue_revision_instructions` (module `instructions`) can name them.
`Verdict.as_record` keeps the common Finding fields; every message names its turn.

Precision comes before recall: a finding must be something a careful reader would agree is wrong.
Coherence, topic drift and tone are out of reach of these rules (that is the LLM judge's part).
Measured on the labelled set by `pipelines.critique.evaluate`:

    python -m pipelines.critique.dialogue tests/fixtures/broken_dialogues.yaml
"""

from pipelines.critique.dialogue.critic import critique_dialogue
from pipelines.critique.dialogue.findings import DIALOGUE_WARNING_CODES, DialogueFinding
from pipelines.critique.dialogue.instructions import dialogue_revision_instructions
from pipelines.critique.dialogue.parse import dialogue_text, parse_dialogue

__all__ = [
    "DIALOGUE_WARNING_CODES",
    "DialogueFinding",
    "critique_dialogue",
    "dialogue_revision_instructions",
    "dialogue_text",
    "parse_dialogue",
]

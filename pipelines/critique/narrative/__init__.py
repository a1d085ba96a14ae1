"""The narrative critic: rule-based experts that score a generated persona narrative against the
sampled attributes, and what the Generator-Critic loop does with their verdicts.

Modules (each expert's finding codes are in its docstring):
  clean          clean_text, the normalisation of a model answer
  degeneration   length, loops, prompt leftovers, truncation
  faithfulness   the text agrees with the attributes (name, age, gender, children, occupation, place)
  grounding      the sentences are about the persona (sentence embeddings against the facts)
  safety         slurs, explicit content, stereotypes (also run on every dialogue turn)
  critic         judge (all experts, combined) and critique_candidates (siblings and exemplars)
  instructions   revision_instructions: findings rewritten as corrections
Shared with the dialogue critic: pipelines.critique.base (Finding, Verdict, combine, ...),
pipelines.critique.novelty, pipelines.critique.text and pipelines.critique.lexicon.
"""

from pipelines.critique.narrative.clean import clean_text
from pipelines.critique.narrative.critic import WARNING_CODES, critique_candidates, judge
from pipelines.critique.narrative.instructions import revision_instructions

__all__ = ["WARNING_CODES", "clean_text", "critique_candidates", "judge", "revision_instructions"]

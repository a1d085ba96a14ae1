"""Critics that score generated prose against the sampled structure.

base          Finding, ExpertResult, Verdict, combine, critique_in_order, best_candidate,
              ordered_instructions: what every expert and both critics share
text          words, accent folding, number words, decades, prompt leftovers, repetition measures
lexicon       the word lists in lexicons/*.yaml, occupation terms, claims about children
novelty       similarity and the novelty expert (both critics)
narrative/    the persona narrative critic (clean_text, judge, critique_candidates,
              revision_instructions)
dialogue/     the dialogue critic (parse_dialogue, dialogue_text, critique_dialogue,
              dialogue_revision_instructions)
llm_judge     the optional LLM judge expert
evaluate      precision and recall of both critics on the labelled fixtures in tests/fixtures
"""

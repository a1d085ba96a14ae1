"""Deep profiles: free-text attribute dimensions (taxonomy attributes of `type: text`, e.g. from a
DeepPersona-style dimension tree imported with `python -m pipelines.taxonomy.import_tree`),
selected per persona and filled in by the LLM, progressively, before the narrative is written.

  dimensions.py  the taxonomy's text dimensions with readable labels and top-level categories
  select.py      per-persona selection: deterministic from (seed, persona index), spread over the
                 top-level categories, biased towards dimensions related to the persona's core
                 attributes (bundled sentence embeddings), never two near-identical dimensions
  prompts.py     the batch prompt, and the `item: value` line format (or JSON) and its parser
  task.py        the Generator-Critic task of one batch (pipelines/generation/contract.py)
  stage.py       the stage: select, then one Generator-Critic loop per batch, each seeing the
                 values filled before; writes `deep_profile` and `deep_profile_missing`
  summary.py     per-shard counts (filled / selected, by category) for the manifest and report
The value critic is `pipelines/critique/deep_profile.py`.
"""

"""Embedding and duplicate removal (exact hash, then FAISS near-duplicate search): embed.py adds
`_embedding`; partitioned.py (the pipeline's dedup, Filtered(kept, rejected)) and
near_duplicates.py (one-group reference, priorities, text hashes) decide the duplicates."""

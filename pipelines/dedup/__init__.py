"""Embedding and duplicate removal (exact hash, then FAISS near-duplicate search)."""

"""LLM backends, prompts and the generation transforms."""

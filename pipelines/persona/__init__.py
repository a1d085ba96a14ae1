"""Persona narratives: the prompt templates (`prompts.py`) and the Generator-Critic task adapter
(`task.py`) that the loop in `pipelines/generation/loop.py` runs for every sampled persona."""

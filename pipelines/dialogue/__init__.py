"""Persona-grounded dialogues: pairing and scenarios (pairing.py), the prompt (prompts.py), the
Generator-Critic task adapters (task.py), the stage that wires them to validation, dedup and
the writers (stage.py), and the Synthetic-Persona-Chat export (export.py)."""

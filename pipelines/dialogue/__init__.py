"""Persona-grounded dialogues: pairing, scenarios and the dialogue generation task."""

"""Critic experts that score generated prose against the sampled structure."""

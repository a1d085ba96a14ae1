"""Beam batch pipelines that build synthetic persona datasets."""

__version__ = "0.1.0"

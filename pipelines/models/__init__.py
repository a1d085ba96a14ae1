"""Models shipped inside Python packages: the embedded LLM and the bundled sentence embedder."""

"""Record validation against the JSON Schemas in `schemas/`."""

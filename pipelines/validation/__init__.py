"""Record validation: the CEL rules engine (rules.py) and the Validate transform (transforms.py),
which checks every record against its JSON Schema in `schemas/` and the rules, returning
Filtered(valid records with `validation`, rejected rows)."""

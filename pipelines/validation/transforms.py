"""Validate: every record is checked against its JSON Schema and the declarative rules before it
may be written. A record that fails goes to the rejected output with the schema path or rule id;
warning-level rules that did not pass are recorded on the row itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import jsonschema
from apache_beam.metrics import Metrics

from pipelines.records import REASON_RULE, REASON_RULE_ERROR, REASON_SCHEMA, Filtered, rejection
from pipelines.schemas import load_schema, schema_errors
from pipelines.validation.rules import ERROR, PASSED, RuleSet

REJECTED = "rejected"


def public_view(record: dict[str, Any]) -> dict[str, Any]:
    """The record as written: private working keys (prefixed `_`) removed."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


class ValidateRecords(beam.DoFn):
    """The schema and the rules are read where the pipeline is built and travel with the DoFn, so
    workers need no access to the repository's `schemas/` and `rules/` folders.

    Rules run first, on the record with an empty `validation` section, so that a record is checked
    in the shape it will be written in; the schema check runs last, on the final row."""

    def __init__(self, schema_name: str, rules: RuleSet, scope: str):
        self.schema = load_schema(schema_name)
        self.rules = rules
        self.scope = scope
        self._validator = None

    def setup(self):
        self._validator = jsonschema.Draft202012Validator(self.schema)
        self.rules.compile()

    def process(self, record: dict[str, Any]) -> Iterator[Any]:
        row = {**public_view(record), "validation": {"rules_sha256": self.rules.content_hash, "warnings": []}}
        outcomes = [o for o in self.rules.evaluate(row, self.scope) if o.status != PASSED]
        for o in outcomes:
            Metrics.counter("rules", f"{o.rule_id}.{o.status}").inc()
        blocking = [o for o in outcomes if o.blocking]
        if blocking:
            first = blocking[0]
            reason = REASON_RULE_ERROR if first.status == ERROR else REASON_RULE
            message = "; ".join(f"{o.rule_id} ({o.status}): {o.message}" for o in blocking[:5])
            yield beam.pvalue.TaggedOutput(REJECTED, rejection(record, "validate", reason, message, rule=first.rule_id))
            return
        row["validation"]["warnings"] = [
            {"rule_id": o.rule_id, "status": o.status, "message": o.message} for o in outcomes
        ]
        errors = schema_errors(self._validator, row)
        if errors:
            message = "; ".join(f"{path} violates {keyword}: {msg}" for path, keyword, msg in errors[:5])
            yield beam.pvalue.TaggedOutput(
                REJECTED, rejection(record, "validate", REASON_SCHEMA, message, rule=errors[0][0])
            )
            return
        yield {**record, "validation": row["validation"]}


class Validate(beam.PTransform):
    """records -> Filtered(valid records with `validation`, rejected-records rows): the JSON Schema
    `schema_name` and the rules of `scope`. Reads the public view of the record; writes
    `validation` (the rules' sha256 and the warnings of warning-level rules)."""

    def __init__(self, schema_name: str, rules: RuleSet, scope: str):
        super().__init__()
        self.schema_name = schema_name
        self.rules = rules
        self.scope = scope

    def expand(self, records):
        out = records | beam.ParDo(ValidateRecords(self.schema_name, self.rules, self.scope)).with_outputs(
            REJECTED, main="valid"
        )
        return Filtered(out.valid, out[REJECTED])

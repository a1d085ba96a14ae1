"""Validate: every record is checked against its JSON Schema before it may be written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import jsonschema

from pipelines.records import REASON_SCHEMA, rejection
from pipelines.schemas import load_schema, schema_errors

REJECTED = "rejected"


def public_view(record: dict[str, Any]) -> dict[str, Any]:
    """The record as written: private working keys (prefixed `_`) removed."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


class ValidateRecords(beam.DoFn):
    """The schema is read where the pipeline is built and travels with the DoFn, so workers
    need no access to the repository's `schemas/` folder."""

    def __init__(self, schema_name: str):
        self.schema = load_schema(schema_name)
        self._validator = None

    def setup(self):
        self._validator = jsonschema.Draft202012Validator(self.schema)

    def process(self, record: dict[str, Any]) -> Iterator[Any]:
        errors = schema_errors(self._validator, public_view(record))
        if not errors:
            yield record
            return
        message = "; ".join(f"{path} violates {keyword}: {msg}" for path, keyword, msg in errors[:5])
        yield beam.pvalue.TaggedOutput(REJECTED, rejection(record, "validate", REASON_SCHEMA, message))

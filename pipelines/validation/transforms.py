"""Validate: every record is checked against its JSON Schema before it may be written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from pipelines.records import REASON_SCHEMA, rejection
from pipelines.schemas import schema_errors

REJECTED = "rejected"


def public_view(record: dict[str, Any]) -> dict[str, Any]:
    """The record as written: private working keys (prefixed `_`) removed."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


class ValidateRecords(beam.DoFn):
    def __init__(self, schema_name: str):
        self.schema_name = schema_name

    def process(self, record: dict[str, Any]) -> Iterator[Any]:
        errors = schema_errors(self.schema_name, public_view(record))
        if not errors:
            yield record
            return
        message = "; ".join(f"{path} violates {keyword}: {msg}" for path, keyword, msg in errors[:5])
        yield beam.pvalue.TaggedOutput(REJECTED, rejection(record, "validate", REASON_SCHEMA, message))

"""Critique: score every candidate with the critic experts; reject those that fail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from pipelines.critique.experts import judge
from pipelines.records import REASON_CRITIC, rejection

REJECTED = "rejected"


class CritiqueCandidates(beam.DoFn):
    def __init__(self, critic: dict[str, Any]):
        self.critic = dict(critic)

    def process(self, record: dict[str, Any]) -> Iterator[Any]:
        verdict = judge(record["narrative"], record["_attrs"], self.critic)
        record = {**record, "critic": verdict.as_record()}
        if verdict.passed:
            yield record
            return
        errors = [f for f in verdict.findings if f.severity == "error"]
        if errors:
            message = "; ".join(f"{f.expert}/{f.code}: {f.message}" for f in errors)
        else:
            message = f"score {verdict.score:.2f} below threshold {self.critic['threshold']}"
        yield beam.pvalue.TaggedOutput(REJECTED, rejection(record, "critique", REASON_CRITIC, message))

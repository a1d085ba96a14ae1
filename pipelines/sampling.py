"""Plan -> sample: turn persona index ranges into attribute sets, deterministically."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from pipelines.records import persona_id
from pipelines.taxonomy.sampler import AttributeSampler


def index_ranges(total: int, chunk: int = 1000) -> list[tuple[int, int]]:
    """Split [0, total) into ranges, so the driver never materialises millions of indices."""
    return [(start, min(start + chunk, total)) for start in range(0, total, chunk)]


class SampleAttributes(beam.DoFn):
    """(start, stop) -> one persona spec per index: ids, quota cell, flat and nested attributes."""

    def __init__(self, sampler: AttributeSampler):
        self.sampler = sampler
        self.sampled = beam.metrics.Metrics.counter("pipeline", "sampled")

    def process(self, index_range: tuple[int, int]) -> Iterator[dict[str, Any]]:
        start, stop = index_range
        for index in range(start, stop):
            cell_id, flat = self.sampler.sample(index)
            self.sampled.inc()
            yield {
                "persona_id": persona_id(self.sampler.seed, index),
                "persona_index": index,
                "quota_cell": cell_id,
                "attributes": self.sampler.taxonomy.nest(flat),
                "_attrs": flat,
            }

"""Plan -> sample: turn persona index ranges into attribute sets, deterministically."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa

from pipelines.config import RunConfig
from pipelines.records import persona_id
from pipelines.taxonomy import AttributeSampler, QuotaPlan, Taxonomy, load_taxonomy, plan_quotas
from pipelines.taxonomy.sampler import Block, check_feasibility


@dataclass(frozen=True)
class Population:
    """What a run samples from: the taxonomy, the exact quota plan and the sampler."""

    taxonomy: Taxonomy
    plan: QuotaPlan
    sampler: AttributeSampler
    feasibility: dict[str, float]  # first-draw acceptance rate per quota cell


def population(config: RunConfig) -> Population:
    """Load the taxonomy, plan the quotas and probe every cell against the constraints: all the
    ways the population can be wrong fail here, before any LLM call."""
    taxonomy = load_taxonomy(config.taxonomy_files())
    quotas = config["quotas"]
    plan = plan_quotas(
        taxonomy,
        int(config["run"]["num_personas"]),
        tuple(quotas["stratify_by"]),
        config.source,
        shares=quotas.get("shares"),
        counts=quotas.get("counts"),
    )
    sampler = AttributeSampler(taxonomy, plan, int(config["run"]["seed"]))
    return Population(taxonomy, plan, sampler, check_feasibility(sampler, config.source))


def index_ranges(total: int, chunk: int = 1000) -> list[tuple[int, int]]:
    """Split [0, total) into ranges, so the driver never materialises millions of indices."""
    return [(start, min(start + chunk, total)) for start in range(0, total, chunk)]


def block_table(sampler: AttributeSampler, block: Block) -> pa.Table:
    """An Arrow table of a sampled block: ids, quota cell and the attributes as nested structs."""
    tree: dict[str, Any] = {}
    for path, col in block.columns.items():
        node = tree
        *cats, leaf = path.split(".")
        for cat in cats:
            node = node.setdefault(cat, {})
        node[leaf] = col.to_arrow()

    def build(node: dict[str, Any]) -> pa.StructArray:
        return pa.StructArray.from_arrays(
            [build(v) if isinstance(v, dict) else v for v in node.values()], names=list(node)
        )

    cell_ids = pa.array([c.cell_id for c in sampler.plan.cells], pa.string())
    seed = sampler.seed
    return pa.table(
        {
            "persona_id": pa.array([persona_id(seed, int(i)) for i in block.indices], pa.string()),
            "persona_index": pa.array(block.indices, pa.int64()),
            "quota_cell": pa.DictionaryArray.from_arrays(pa.array(block.cells.astype(np.int32)), cell_ids).cast(
                pa.string()
            ),
            "attributes": build(tree),
        }
    )


class SampleAttributes(beam.DoFn):
    """(start, stop) -> one persona spec per index: ids, quota cell, flat and nested attributes."""

    def __init__(self, sampler: AttributeSampler):
        self.sampler = sampler
        self.sampled = beam.metrics.Metrics.counter("pipeline", "sampled")

    def process(self, index_range: tuple[int, int]) -> Iterator[dict[str, Any]]:
        block = self.sampler.sample_block(*index_range)
        cells = self.sampler.plan.cells
        for row in range(len(block)):
            index = int(block.indices[row])
            flat = block.flat(row)
            self.sampled.inc()
            yield {
                "persona_id": persona_id(self.sampler.seed, index),
                "persona_index": index,
                "quota_cell": cells[int(block.cells[row])].cell_id,
                "attributes": self.sampler.taxonomy.nest(flat),
                "_attrs": flat,
            }

"""Plan -> sample: turn persona index ranges into attribute sets, deterministically; and the quota
top-up that extends the plan with replacement personas for cells that came out short.

Keys: writes PersonaSpecs (`_kind`, `persona_id`, `persona_index`, `quota_cell`, `top_up_round`,
`attributes`, `_attrs`; the pipeline adds `provenance`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa

from pipelines.common.settings import TopUpSettings
from pipelines.config import RunConfig
from pipelines.progress import Total
from pipelines.records import PERSONA, Filtered, persona_id
from pipelines.taxonomy import AttributeSampler, QuotaPlan, Taxonomy, load_taxonomy, plan_quotas
from pipelines.taxonomy.quota import top_up_bound
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


def index_ranges(total: int, chunk: int = 1000, first: int = 0) -> list[tuple[int, int]]:
    """Split [first, total) into ranges, so the driver never materialises millions of indices."""
    return [(start, min(start + chunk, total)) for start in range(first, total, chunk)]


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


def _specs(sampler: AttributeSampler, block: Block, top_up_round: int, counter) -> Iterator[dict[str, Any]]:
    cells = sampler.plan.cells
    for row in range(len(block)):
        index = int(block.indices[row])
        flat = block.flat(row)
        counter.inc()
        yield {
            "_kind": PERSONA.name,
            "persona_id": persona_id(sampler.seed, index),
            "persona_index": index,
            "quota_cell": cells[int(block.cells[row])].cell_id,
            "top_up_round": top_up_round,
            "attributes": sampler.taxonomy.nest(flat),
            "_attrs": flat,
        }


class SampleAttributes(beam.DoFn):
    """(start, stop) -> one persona spec per index: ids, quota cell, flat and nested attributes."""

    def __init__(self, sampler: AttributeSampler):
        self.sampler = sampler
        self.sampled = beam.metrics.Metrics.counter("pipeline", "sampled")

    def process(self, index_range: tuple[int, int]) -> Iterator[dict[str, Any]]:
        yield from _specs(self.sampler, self.sampler.sample_block(*index_range), 0, self.sampled)


log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------
# Quota top-up: replacing personas lost to the critic, validation or dedup


@dataclass(frozen=True)
class TopUpPlan:
    """Where each quota cell's replacements live. Cell k may get at most `bounds[k]` replacements
    over the whole run (ceil(max_extra_fraction * target)); they take the persona indices
    planned + offsets[k], planned + offsets[k] + 1, ... in the order they are asked for, so a
    replacement's index (and with it its attributes and id) depends only on how many the cell
    needed before it, never on workers or bundles."""

    planned: int
    cell_ids: tuple[str, ...]
    targets: tuple[int, ...]
    bounds: tuple[int, ...]
    offsets: tuple[int, ...]

    @classmethod
    def of(cls, plan: QuotaPlan, max_extra_fraction: float) -> TopUpPlan:
        bounds = tuple(top_up_bound(c.target, max_extra_fraction) for c in plan.cells)
        offsets = tuple(accumulate(bounds[:-1], initial=0)) if bounds else ()
        return cls(
            plan.total, tuple(c.cell_id for c in plan.cells), tuple(c.target for c in plan.cells), bounds, offsets
        )

    def allocate(self, achieved: dict[str, int], used: dict[int, int] | None) -> dict[str, Any]:
        """One round: per short cell, the next min(shortfall, bound left) replacement indices.
        Returns {"ranges": [(cell position, first index, stop index)], "used": {position: total
        replacements so far}, "at_bound": [short cells that may get no more]}; `used` is the
        previous round's."""
        used = dict(used or {})
        ranges = []
        at_bound = []
        for k, (cell_id, target, bound) in enumerate(zip(self.cell_ids, self.targets, self.bounds, strict=True)):
            done = used.get(k, 0)
            short = target - achieved.get(cell_id, 0)
            need = min(short, bound - done)
            if short > 0 and need <= 0:
                at_bound.append(cell_id)
            if need > 0:
                first = self.planned + self.offsets[k] + done
                ranges.extend((k, start, stop) for start, stop in index_ranges(first + need, first=first))
                used[k] = done + need
        return {"ranges": ranges, "used": used, "at_bound": at_bound}


class SampleTopUp(beam.DoFn):
    """(cell position, start, stop) -> persona specs of that cell at those (past-the-plan) indices."""

    def __init__(self, sampler: AttributeSampler, top_up_round: int):
        self.sampler = sampler
        self.top_up_round = top_up_round
        self.sampled = beam.metrics.Metrics.counter("pipeline", "top_up_sampled")

    def process(self, cell_range: tuple[int, int, int]) -> Iterator[dict[str, Any]]:
        cell, start, stop = cell_range
        indices = np.arange(start, stop, dtype=np.int64)
        block = self.sampler.sample_in_cells(indices, np.full(len(indices), cell, dtype=np.int64))
        yield from _specs(self.sampler, block, self.top_up_round, self.sampled)


class QuotaTopUp:
    """Refills quota cells after validation and dedup: each round counts the kept personas per
    cell, samples replacements for the cells that are short (new persona indices of the same
    cell, at most ceil(max_extra_fraction * target) per cell over the run, see `TopUpPlan`) and
    hands them to `generate(specs, kept, label) -> Filtered` (the Generator-Critic, with
    exemplars from the personas already kept). The caller validates and deduplicates them
    against everything kept so far (`pipelines.validate_dedup_write`)."""

    def __init__(
        self,
        population: Population,
        settings: TopUpSettings,
        provenance: dict[str, Any],
        generate: Callable[[Any, Any, str], Filtered],
    ):
        self.sampler = population.sampler
        self.rounds = settings.rounds
        self.plan = TopUpPlan.of(population.plan, settings.max_extra_fraction)
        self.provenance = provenance
        self.generate = generate
        self.allocation = None  # the previous round's allocation (a singleton PCollection)

    def __call__(self, kept, r: int, label: str) -> Filtered:
        used = [beam.pvalue.AsSingleton(self.allocation)] if self.allocation is not None else []
        requests = Total(f"top-up round {r}")  # the round's replacements, known once allocated
        allocation = (
            kept
            | f"{label}CellOf" >> beam.Map(lambda rec: rec["quota_cell"])
            | f"{label}CountCells" >> beam.combiners.Count.PerElement()
            | f"{label}Achieved" >> beam.combiners.ToDict()
            | f"{label}Allocate" >> beam.Map(_allocate, self.plan, r, requests, *used)
        )
        self.allocation = allocation
        specs = (
            allocation
            | f"{label}Ranges" >> beam.FlatMap(lambda a: a["ranges"])
            | f"{label}Spread" >> beam.Reshuffle()
            | f"{label}Sample" >> beam.ParDo(SampleTopUp(self.sampler, r))
            | f"{label}Provenance" >> beam.Map(lambda rec, prov: {**rec, "provenance": prov}, self.provenance)
        )
        return self.generate(specs, kept, label, requests)


def _allocate(
    achieved: dict[str, int], plan: TopUpPlan, r: int, requests: Total, previous: dict[str, Any] | None = None
):
    allocation = plan.allocate(achieved, previous["used"] if previous else None)
    count = sum(stop - start for _, start, stop in allocation["ranges"])
    requests.add(count)
    cells = len({cell for cell, _, _ in allocation["ranges"]})
    log.info(
        "quota top-up round %d: %d replacement personas for %d short cells; %d short cells at the top-up bound",
        r, count, cells, len(allocation["at_bound"]),
    )  # fmt: skip
    return allocation

"""Sample persona attributes without any LLM: inspect a population before paying for generation.

    python -m pipelines.sample_attributes --config configs/default.yaml --num_personas 100000 --output out/pop

Writes `attributes/part-NNNNN.parquet` (persona_id, persona_index, quota_cell, attributes as nested
structs; the same ids and values `build_dataset` would sample) and `sample_manifest.json` with the
quota plan, the sampled count per cell, the constraint acceptance rate per cell and, per
categorical attribute, the KL divergence of the sampled marginal from its target. Runs as a Beam
pipeline: one shard per `rows_per_shard` indices, sampled in parallel.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.cli import cli_main
from pipelines.common.files import write_bytes_atomically
from pipelines.common.settings import OutputSettings
from pipelines.config import load_config
from pipelines.output.manifest import package_versions, read_shard_stats
from pipelines.output.shards import STATS_DIR, prepare_output, write_shard
from pipelines.sampling import block_table, population
from pipelines.taxonomy import AttributeSampler

log = logging.getLogger("pipelines.sample_attributes")
DATASET = "attributes"
SAMPLE_MANIFEST = "sample_manifest.json"
BLOCK = 50_000  # rows sampled at once inside a shard (bounds memory)


class SampleShard(beam.DoFn):
    """shard number -> one Parquet shard of sampled attributes, plus its statistics."""

    def __init__(self, sampler: AttributeSampler, output_dir: str, rows_per_shard: int, compression: str):
        self.sampler = sampler
        self.output_dir = output_dir.rstrip("/")
        self.rows_per_shard = rows_per_shard
        self.compression = compression
        self.sampled = beam.metrics.Metrics.counter("pipeline", "sampled")

    def process(self, shard: int) -> Iterator[dict[str, Any]]:
        total = self.sampler.plan.total
        start, stop = shard * self.rows_per_shard, min((shard + 1) * self.rows_per_shard, total)
        tables, cells = [], np.zeros(len(self.sampler.plan.cells), dtype=np.int64)
        marginals: dict[str, np.ndarray] = {}  # path -> [sampled counts, target counts]
        for lo in range(start, stop, BLOCK):
            block = self.sampler.sample_block(lo, min(lo + BLOCK, stop))
            tables.append(block_table(self.sampler, block))
            cells += np.bincount(block.cells, minlength=len(cells))
            for path, pair in self.sampler.marginals(block).items():
                marginals[path] = marginals.get(path, 0) + np.stack(pair)
            self.sampled.inc(len(block))
        yield write_shard(
            self.output_dir,
            DATASET,
            shard,
            pa.concat_tables(tables),
            self.compression,
            cells=cells.tolist(),
            marginals={path: m.tolist() for path, m in marginals.items()},
        )


def kl_divergence(sampled: np.ndarray, target: np.ndarray) -> float:
    """KL(sampled || target) in nats over the values either side gives mass to."""
    p = sampled / sampled.sum()
    q = target / target.sum()
    keep = p > 0
    return float(np.sum(p[keep] * np.log(p[keep] / np.maximum(q[keep], 1e-300))))


def summarise(sampler: AttributeSampler, stats: list[dict[str, Any]]) -> dict[str, Any]:
    cells = np.sum([s["cells"] for s in stats], axis=0) if stats else np.zeros(len(sampler.plan.cells))
    quota = [
        {"cell_id": c.cell_id, "target": c.target, "sampled": int(cells[i])} for i, c in enumerate(sampler.plan.cells)
    ]
    kl: dict[str, float] = {}
    for path in stats[0]["marginals"] if stats else []:
        got = np.sum([s["marginals"][path][0] for s in stats], axis=0)
        want = np.sum([s["marginals"][path][1] for s in stats], axis=0)
        if got.sum() > 0:
            kl[path] = kl_divergence(got, want)
    return {
        "quota": quota,
        "quota_max_abs_deviation": max((abs(q["target"] - q["sampled"]) for q in quota), default=0),
        "kl_divergence": kl,
    }


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m pipelines.sample_attributes", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=None, help="run config YAML (default: configs/default.yaml)")
    parser.add_argument("--output", required=True, help="output folder, local or a FileSystems URL")
    parser.add_argument("--num_personas", type=int, default=None, help="overrides run.num_personas")
    parser.add_argument("--seed", type=int, default=None, help="overrides run.seed")
    parser.add_argument("--rows_per_shard", type=int, default=None, help="overrides output.rows_per_shard")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    return parser.parse_known_args(argv)


def run(argv: list[str] | None = None) -> dict[str, Any]:
    started = time.monotonic()
    args, beam_args = parse_args(argv)
    overrides: dict[str, Any] = {"run": {}, "output": {}}
    if args.num_personas is not None:
        overrides["run"]["num_personas"] = args.num_personas
    if args.seed is not None:
        overrides["run"]["seed"] = args.seed
    if args.rows_per_shard is not None:
        overrides["output"]["rows_per_shard"] = args.rows_per_shard
    config = load_config(args.config, overrides)
    pop = population(config)
    prepare_output(args.output, args.overwrite)
    out = OutputSettings.from_config(config["output"])
    rows_per_shard = out.rows_per_shard
    shards = -(-pop.plan.total // rows_per_shard)
    options = PipelineOptions(beam_args, save_main_session=False)
    if not options.view_as(StandardOptions).runner:
        options.view_as(StandardOptions).runner = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"
    log.info("sampling %d personas in %d shard(s) into %s", pop.plan.total, shards, args.output)
    with beam.Pipeline(options=options) as p:
        _ = (
            p
            | "Shards" >> beam.Create(list(range(shards)))
            | "Reshuffle" >> beam.Reshuffle()
            | "SampleShard" >> beam.ParDo(SampleShard(pop.sampler, args.output, rows_per_shard, out.compression))
        )
    stats = [s for s in read_shard_stats(args.output) if s["dataset"] == DATASET]
    FileSystems.delete([FileSystems.join(args.output, STATS_DIR)])
    manifest = {
        "kind": "attribute_sample",
        "run": {
            "name": config["run"]["name"],
            "seed": pop.sampler.seed,
            "num_personas": pop.plan.total,
            "output": args.output,
        },
        "hashes": {"taxonomy": pop.taxonomy.content_hash, "config": config.content_hash},
        "taxonomy": {"names": list(pop.taxonomy.names), "version": pop.taxonomy.version},
        "stratify_by": list(pop.plan.stratify_by),
        "constraint_acceptance": pop.feasibility,
        **summarise(pop.sampler, stats),
        "shards": [{k: s[k] for k in ("path", "rows", "bytes", "sha256")} for s in stats],
        "versions": package_versions(),
        "seconds": round(time.monotonic() - started, 2),
    }
    write_bytes_atomically(
        FileSystems.join(args.output, SAMPLE_MANIFEST),
        json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"),
    )
    return manifest


def main(argv: list[str] | None = None) -> int:
    return cli_main(
        run,
        argv,
        lambda m: (
            f"sampled {m['run']['num_personas']} personas in {m['seconds']} s; "
            f"quota max deviation {m['quota_max_abs_deviation']}; written to {m['run']['output']}"
        ),
    )


if __name__ == "__main__":
    sys.exit(main())

"""Write records as Parquet shards through Beam FileSystems (local paths, gs://, s3://, ...).

Shard k holds the records whose persona index falls in [k*R, (k+1)*R), R = rows_per_shard, sorted
by index: names and contents are deterministic whatever the runner or worker count. Each shard is
written under a temporary name and renamed, so no half-written shard ever appears under its final
name. A small JSON of statistics per shard (rows, bytes, sha256, counts) lets the driver build the
manifest without reading the data back.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines.errors import InputError

STATS_DIR = "_stats"


def shard_name(dataset: str, shard: int) -> str:
    return f"{dataset}/part-{shard:05d}.parquet"


def write_bytes_atomically(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    with FileSystems.create(tmp) as f:
        f.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


def parquet_bytes(table: pa.Table, compression: str) -> bytes:
    buf = io.BytesIO()
    pq.write_table(
        table,
        buf,
        compression=None if compression == "none" else compression,
        row_group_size=min(max(table.num_rows, 1), 64 * 1024),
    )
    return buf.getvalue()


def write_shard(output_dir: str, dataset: str, shard: int, table: pa.Table, compression: str, **extra) -> dict:
    """Write one shard atomically, then its statistics (rows, bytes, sha256 and `extra`) under
    `_stats/`, where the driver collects them for the manifest. Returns the statistics."""
    data = parquet_bytes(table, compression)
    rel = shard_name(dataset, shard)
    write_bytes_atomically(FileSystems.join(output_dir, rel), data)
    stats = {
        "dataset": dataset,
        "path": rel,
        "rows": table.num_rows,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        **extra,
    }
    stats_path = FileSystems.join(output_dir, STATS_DIR, f"{dataset}-{shard:05d}.json")
    write_bytes_atomically(stats_path, json.dumps(stats, sort_keys=True).encode("utf-8"))
    return stats


class _WriteShard(beam.DoFn):
    def __init__(self, output_dir: str, dataset: str, schema: pa.Schema, compression: str, count_keys: tuple[str, ...]):
        self.output_dir = output_dir.rstrip("/")
        self.dataset = dataset
        self.schema = schema
        self.compression = compression
        self.count_keys = count_keys

    def process(self, keyed: tuple[int, Iterable[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        shard, rows = keyed
        rows = sorted(rows, key=lambda r: int(r["persona_index"]))
        yield write_shard(
            self.output_dir,
            self.dataset,
            shard,
            pa.Table.from_pylist(rows, schema=self.schema),
            self.compression,
            counts={key: dict(Counter(str(r.get(key)) for r in rows)) for key in self.count_keys},
        )


class WriteShards(beam.PTransform):
    """rows (dicts matching `schema`, with `persona_index`) -> Parquet shards + shard stats."""

    def __init__(
        self,
        output_dir: str,
        dataset: str,
        schema: pa.Schema,
        rows_per_shard: int,
        compression: str = "zstd",
        count_keys: tuple[str, ...] = (),
    ):
        super().__init__()
        self.output_dir = output_dir
        self.dataset = dataset
        self.schema = schema
        self.rows_per_shard = rows_per_shard
        self.compression = compression
        self.count_keys = count_keys

    def expand(self, rows):
        r = self.rows_per_shard
        return (
            rows
            | "KeyByShard" >> beam.Map(lambda row: (int(row["persona_index"]) // r, row))
            | "GroupShards" >> beam.GroupByKey()
            | "WriteShard"
            >> beam.ParDo(_WriteShard(self.output_dir, self.dataset, self.schema, self.compression, self.count_keys))
        )


def prepare_output(output: str, overwrite: bool) -> None:
    """Make sure `output` is absent or empty; with `overwrite`, delete what is there."""
    if not FileSystems.exists(output):
        return
    local = "://" not in output
    if local and os.path.isdir(output) and not os.listdir(output):
        return
    if not overwrite:
        what = "a finished dataset" if FileSystems.exists(FileSystems.join(output, "manifest.json")) else "files"
        raise InputError(output, "<folder>", f"output folder already holds {what}; pass --overwrite to replace it")
    if local:
        shutil.rmtree(output)
    else:
        FileSystems.delete([output])

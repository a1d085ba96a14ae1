"""Write records as Parquet shards through Beam FileSystems (local paths, gs://, s3://, ...).

Shard k holds the records whose planned index (`persona_index` or `dialogue_index`) falls in
[k*R, (k+1)*R), R = rows_per_shard, sorted by index: names and contents are deterministic
whatever the runner or worker count. Each shard is written under a temporary name and renamed,
so no half-written shard ever appears under its final name. A small JSON of statistics per shard
(rows, bytes, sha256, counts) lets the driver build the manifest without reading the data back.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines.common.files import write_bytes_atomically
from pipelines.errors import InputError

STATS_DIR = "_stats"


def shard_name(dataset: str, shard: int) -> str:
    return f"{dataset}/part-{shard:05d}.parquet"


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


CountKey = str | tuple[str, ...]


def count_name(key: CountKey) -> str:
    """A shard-stats count's name: the column, or the columns joined by '+' for a joint count."""
    return key if isinstance(key, str) else "+".join(key)


def count_value(row: dict[str, Any], key: CountKey) -> str:
    """What a row is counted under: str(value), or for a joint count the JSON list of str(values)."""
    if isinstance(key, str):
        return str(row.get(key))
    return json.dumps([str(row.get(k)) for k in key])


class _WriteShard(beam.DoFn):
    def __init__(
        self, output_dir: str, dataset: str, schema: pa.Schema, compression: str, count_keys, index_key, summarize
    ):
        self.index_key = index_key
        self.summarize = summarize
        self.output_dir = output_dir.rstrip("/")
        self.dataset = dataset
        self.schema = schema
        self.compression = compression
        self.count_keys = count_keys

    def process(self, keyed: tuple[int, Iterable[dict[str, Any]]]) -> Iterator[dict[str, Any]]:
        shard, rows = keyed
        rows = sorted(rows, key=lambda row: int(row[self.index_key]))
        yield write_shard(
            self.output_dir,
            self.dataset,
            shard,
            pa.Table.from_pylist(rows, schema=self.schema),
            self.compression,
            counts={count_name(key): dict(Counter(count_value(r, key) for r in rows)) for key in self.count_keys},
            **({"summary": self.summarize(rows)} if self.summarize else {}),
        )


class _WriteCsvShard(beam.DoFn):
    def __init__(self, output_dir: str, prefix: str, columns: tuple[str, ...]):
        self.output_dir = output_dir
        self.prefix = prefix
        self.columns = columns

    def process(self, keyed):
        shard, rows = keyed
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(self.columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(sorted(rows, key=lambda r: r[self.columns[0]]))
        path = FileSystems.join(self.output_dir, f"{self.prefix}-{shard:05d}.csv")
        if "://" not in path:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        write_bytes_atomically(path, buf.getvalue().encode("utf-8"))
        yield path


class GroupByShard(beam.PTransform):
    """rows -> (shard number, rows): shard k holds the rows whose planned index (`index_key`) is in
    [k * rows_per_shard, (k + 1) * rows_per_shard)."""

    def __init__(self, rows_per_shard: int, index_key: str):
        super().__init__()
        self.rows_per_shard = rows_per_shard
        self.index_key = index_key

    def expand(self, rows):
        r, key = self.rows_per_shard, self.index_key
        return rows | "KeyByShard" >> beam.Map(lambda row: (int(row[key]) // r, row)) | beam.GroupByKey()


class WriteCsv(beam.PTransform):
    """dicts with a planned index (`index_key`) -> CSV files `<prefix>-NNNNN.csv` of `rows_per_shard`
    index ranges, header first, rows in order of the first column; written atomically like the
    Parquet shards."""

    def __init__(
        self, output_dir: str, prefix: str, columns: tuple[str, ...], index_key: str, rows_per_shard: int = 100_000
    ):
        super().__init__()
        self.index_key = index_key
        self.output_dir = output_dir
        self.prefix = prefix
        self.columns = tuple(columns)
        self.rows_per_shard = rows_per_shard

    def expand(self, rows):
        return (
            rows
            | "GroupShards" >> GroupByShard(self.rows_per_shard, self.index_key)
            | "WriteCsvShard" >> beam.ParDo(_WriteCsvShard(self.output_dir, self.prefix, self.columns))
        )


class WriteShards(beam.PTransform):
    """rows (dicts matching `schema`, with the planned index `index_key`) -> Parquet shards + shard
    stats."""

    def __init__(
        self,
        output_dir: str,
        dataset: str,
        schema: pa.Schema,
        rows_per_shard: int,
        compression: str = "zstd",
        count_keys: tuple[CountKey, ...] = (),
        index_key: str = "persona_index",
        summarize=None,
    ):
        """`summarize(rows) -> dict`, when given, adds a `summary` to each shard's statistics."""
        super().__init__()
        self.index_key = index_key
        self.summarize = summarize
        self.output_dir = output_dir
        self.dataset = dataset
        self.schema = schema
        self.rows_per_shard = rows_per_shard
        self.compression = compression
        self.count_keys = count_keys

    def expand(self, rows):
        return (
            rows
            | "GroupShards" >> GroupByShard(self.rows_per_shard, self.index_key)
            | "WriteShard"
            >> beam.ParDo(
                _WriteShard(
                    self.output_dir,
                    self.dataset,
                    self.schema,
                    self.compression,
                    self.count_keys,
                    self.index_key,
                    self.summarize,
                )
            )
        )


RUN_MARKER = "run.json"


def _delete(path: str) -> None:
    if "://" not in path:
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    else:
        FileSystems.delete([path])


def _read_marker(output: str) -> dict | None:
    path = FileSystems.join(output, RUN_MARKER)
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path) as f:
        return json.loads(f.read().decode("utf-8"))


def prepare_output(output: str, overwrite: bool, run_identity: dict | None = None, resume: bool = False) -> bool:
    """Make `output` ready for a run whose identity (config, taxonomy and rules hashes, ...) is
    `run_identity`, recorded in `run.json` so that a later `resume` can tell it is the same run.

    - absent or empty: created, the identity written;
    - `overwrite`: everything in it deleted first;
    - `resume`: it must hold the same run; everything but `run.json` is deleted (the run is
      re-executed, reusing the LLM answer cache) unless the run had finished, in which case
      nothing is touched and True is returned;
    - otherwise: an error naming the way out.
    Returns True when the folder already holds this run, finished."""
    local = "://" not in output
    exists = FileSystems.exists(output) and not (local and os.path.isdir(output) and not os.listdir(output))
    if exists and resume:
        marker = _read_marker(output)
        if marker is None:
            raise InputError(output, "<folder>", f"nothing to resume: no {RUN_MARKER} (not made by build_dataset)")
        if run_identity is not None and marker != run_identity:
            diff = sorted(k for k in set(marker) | set(run_identity) if marker.get(k) != run_identity.get(k))
            raise InputError(
                output, RUN_MARKER, f"the folder holds a different run (differs in: {', '.join(diff)}); cannot resume"
            )
        if FileSystems.exists(FileSystems.join(output, "manifest.json")):
            return True
        if local:
            for name in os.listdir(output):
                if name != RUN_MARKER:
                    _delete(os.path.join(output, name))
        else:
            found = FileSystems.match([FileSystems.join(output, "**")])[0].metadata_list
            stale = [m.path for m in found if not m.path.endswith("/" + RUN_MARKER)]
            if stale:
                FileSystems.delete(stale)
        return False
    if exists and not overwrite:
        what = "a finished dataset" if FileSystems.exists(FileSystems.join(output, "manifest.json")) else "files"
        raise InputError(
            output,
            "<folder>",
            f"output folder already holds {what}; pass --resume to continue that run or --overwrite to replace it",
        )
    if exists:
        _delete(output)
    if run_identity is not None:
        if local:
            os.makedirs(output, exist_ok=True)
        write_bytes_atomically(FileSystems.join(output, RUN_MARKER), json.dumps(run_identity, indent=2).encode())
    return False

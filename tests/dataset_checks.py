"""Invariants every finished output folder must satisfy, shared by the end-to-end tests."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from pipelines.records import REJECTED_SCHEMA, persona_id, persona_schema
from pipelines.schemas import schema_errors


def check_dataset(out: Path, taxonomy, planned: int, seed: int) -> dict:
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    assert counts["planned"] == planned
    topped_up = counts["topped_up"]
    assert counts["accepted"] + counts["rejected"] == planned + topped_up, counts
    assert counts["balanced"] and counts["unfinished"] == 0
    assert sum(counts["rejected_by_reason"].values()) == counts["rejected"]

    personas = pq.read_table(out / "personas")
    rejected = pq.read_table(out / "rejected") if (out / "rejected").exists() else REJECTED_SCHEMA.empty_table()
    assert personas.schema.remove_metadata().equals(persona_schema(taxonomy).remove_metadata())
    assert rejected.schema.remove_metadata().equals(REJECTED_SCHEMA.remove_metadata())
    assert personas.num_rows == counts["accepted"] and rejected.num_rows == counts["rejected"]

    accepted_ids = personas.column("persona_id").to_pylist()
    rejected_ids = rejected.column("persona_id").to_pylist()
    assert len(set(accepted_ids)) == len(accepted_ids)
    assert set(accepted_ids).isdisjoint(rejected_ids)
    # every planned persona and every top-up replacement is accounted for, once
    indices = personas.column("persona_index").to_pylist() + rejected.column("persona_index").to_pylist()
    assert set(range(planned)) <= set(indices) and len(indices) == planned + topped_up
    assert set(accepted_ids) | set(rejected_ids) == {persona_id(seed, i) for i in indices}
    rounds = personas.column("top_up_round").to_pylist() + rejected.column("top_up_round").to_pylist()
    assert all((r == 0) == (i < planned) for r, i in zip(rounds, indices, strict=True))
    # a cell is topped up only where it lost personas, and never past its target
    for q in manifest["quotas"]:
        assert q["achieved"] <= q["target"] or q["top_up"]["generated"] == 0, q
        assert q["top_up"]["generated"] <= q["top_up"]["bound"], q
        assert (q["shortfall"] > 0) == (q["short_because"] is not None), q
        if q["top_up"]["generated"]:
            assert sum(q["lost"].values()) >= q["top_up"]["generated"] - q["top_up"]["accepted"], q

    for row in personas.to_pylist():
        assert schema_errors("persona", row) == [], row["persona_id"]
    for shard in manifest["shards"]["personas"] + manifest["shards"]["rejected"]:
        data = (out / shard["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"]
        assert len(data) == shard["bytes"]
        assert pq.read_metadata(out / shard["path"]).num_rows == shard["rows"]
    assert sum(q["achieved"] for q in manifest["quotas"]) == counts["accepted"]
    assert sum(q["target"] for q in manifest["quotas"]) == planned

    # polars reads the shards and reaches into nested attributes without parsing JSON
    df = pl.read_parquet(out / "personas" / "*.parquet")
    ages = df.select(pl.col("attributes").struct.field("demographics").struct.field("age")).to_series()
    assert ages.min() >= 18
    leftovers = [p for p in out.rglob("*") if ".tmp-" in p.name or p.name == "_stats"]
    assert leftovers == []
    return manifest

import json

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from pipelines.output.manifest import read_shard_stats
from pipelines.output.shards import WriteShards

SCHEMA = pa.schema([("persona_index", pa.int64()), ("reason", pa.string())])


def test_shards_are_sorted_deterministic_and_leave_no_temp_files(tmp_path):
    rows = [{"persona_index": i, "reason": "critic" if i % 3 else "schema"} for i in (7, 3, 12, 0, 5, 11, 4)]
    with BeamTestPipeline(runner="FnApiRunner") as p:
        _ = p | beam.Create(rows) | WriteShards(str(tmp_path), "rejected", SCHEMA, 5, "zstd", ("reason",))
    files = sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "rejected").iterdir())
    assert files == ["rejected/part-00000.parquet", "rejected/part-00001.parquet", "rejected/part-00002.parquet"]
    assert pq.read_table(tmp_path / files[0]).column("persona_index").to_pylist() == [0, 3, 4]
    assert pq.read_table(tmp_path / files[1]).column("persona_index").to_pylist() == [5, 7]
    assert pq.read_metadata(tmp_path / files[0]).row_group(0).column(0).compression == "ZSTD"
    stats = read_shard_stats(str(tmp_path))
    assert [s["rows"] for s in stats] == [3, 2, 2]
    assert stats[0]["counts"]["reason"] == {"schema": 2, "critic": 1}
    assert not [p for p in tmp_path.rglob("*.tmp-*")]
    assert json.loads((tmp_path / "_stats" / "rejected-00000.json").read_text())["path"] == files[0]

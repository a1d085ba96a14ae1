"""Writing the report and the card (`write_report`, the command line) on the fixture folder, and
reading the fixture's shards with the usual readers."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pyarrow.parquet as pq
import pytest

from pipelines.records import REJECTED_SCHEMA, persona_schema
from pipelines.report import write_report
from pipelines.report.__main__ import main
from pipelines.report.metrics import headline
from pipelines.taxonomy import load_taxonomy
from tests.conftest import REPO
from tests.report.fixture import build_fixture


def test_write_report_and_cli(dataset_dir, capsys):
    assert main([str(dataset_dir), "--no-embeddings"]) == 0
    out = capsys.readouterr().out
    for name in ("quality_report.json", "quality_report.html", "README.md"):
        assert (dataset_dir / name).is_file() and name in out
    assert "accepted 20 of 24 planned" in out
    saved = json.loads((dataset_dir / "quality_report.json").read_text())
    assert saved["counts"]["accepted"] == 20 and headline(saved)["quota_max_abs_deviation"] == 3
    result = write_report(dataset_dir, embeddings=False, audit={"permutations": 0})
    assert set(result["paths"]) == {"json", "html", "card"}


def test_bad_input_exits_2(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty")]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    (tmp_path / "noshards" / "personas").mkdir(parents=True)
    (tmp_path / "noshards" / "manifest.json").write_text("{}")
    assert main([str(tmp_path / "noshards")]) == 2
    assert "no Parquet shards" in capsys.readouterr().err
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.report", str(tmp_path / "missing")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "error:" in proc.stderr


def test_readers_see_the_fixture_shards(dataset_dir):
    taxonomy = load_taxonomy([dataset_dir.parent / "fixture_taxonomy.yaml"])
    table = pq.read_table(dataset_dir / "personas")
    assert table.num_rows == 20
    assert table.schema.remove_metadata().equals(persona_schema(taxonomy).remove_metadata())
    assert pq.read_table(dataset_dir / "rejected").schema.remove_metadata().equals(REJECTED_SCHEMA.remove_metadata())

    df = pl.read_parquet(dataset_dir / "personas" / "*.parquet")
    genders = df.select(pl.col("attributes").struct.field("demographics").struct.field("gender")).to_series()
    assert genders.value_counts().sort("gender").rows() == [("Female", 10), ("Male", 10)]

    duckdb = pytest.importorskip("duckdb")
    assert duckdb.sql(f"select count(*) from '{dataset_dir}/personas/*.parquet'").fetchall() == [(20,)]
    assert duckdb.sql(f"select count(*) from '{dataset_dir}/rejected/*.parquet'").fetchall() == [(4,)]
    rows = duckdb.sql(
        "select attributes.demographics.gender as g, count(*) "
        f"from '{dataset_dir}/personas/*.parquet' group by g order by g"
    ).fetchall()
    assert rows == [("Female", 10), ("Male", 10)]


def test_hugging_face_datasets_reads_the_card_configs(dataset_dir, tmp_path):
    datasets = pytest.importorskip("datasets")
    for config, rows in (("personas", 20), ("rejected", 4)):
        ds = datasets.load_dataset(
            "parquet", data_files={"train": str(dataset_dir / config / "*.parquet")}, cache_dir=str(tmp_path / "hf")
        )["train"]
        assert ds.num_rows == rows
    personas = datasets.load_dataset(
        "parquet", data_files={"train": str(dataset_dir / "personas" / "*.parquet")}, cache_dir=str(tmp_path / "hf")
    )["train"]
    assert personas.column_names == [f.name for f in pq.read_schema(dataset_dir / "personas" / "part-00000.parquet")]
    assert personas[0]["attributes"]["demographics"]["gender"] == "Female"
    assert personas[0]["critic"]["findings"][0]["code"] == "place_missing"

    # the folder itself, through the card's `configs`: what the Hub does with an uploaded copy
    copy = build_fixture(tmp_path / "hub")
    write_report(copy, embeddings=False, audit={"permutations": 0})
    by_card = datasets.load_dataset(str(copy), cache_dir=str(tmp_path / "hf"))
    assert list(by_card) == ["train"] and by_card["train"].num_rows == 20
    assert datasets.load_dataset(str(copy), "rejected", cache_dir=str(tmp_path / "hf"))["train"].num_rows == 4

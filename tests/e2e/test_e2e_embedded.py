"""End to end on real parts: the Beam pipeline driving the embedded SmolLM2 model through vLLM."""

import json

import pyarrow.parquet as pq
import pytest

from pipelines import build_dataset, validate
from pipelines.config import load_config
from pipelines.taxonomy import load_taxonomy
from tests.dataset_checks import check_dataset

pytestmark = [pytest.mark.e2e, pytest.mark.embedded, pytest.mark.timeout(1200)]


def test_default_config_on_the_embedded_model(tmp_path):
    out = tmp_path / "out"
    manifest = build_dataset.run(["--num_personas", "16", "--seed", "5", "--output", str(out)])
    config = load_config()
    taxonomy = load_taxonomy(config.taxonomy_files())
    check_dataset(out, taxonomy, planned=16, seed=5)
    assert manifest["llm"]["backend"] == "embedded"
    # the planned personas, and the quota top-up's replacements for any the critic or dedup dropped
    generated = 16 + manifest["counts"]["topped_up"]
    assert manifest["llm"]["llm.generate_requests"] == generated
    # k=2 candidates really written: the guided template leaves the model one sentence (about 15-25 tokens)
    assert manifest["llm"]["llm.generate_completion_tokens"] > generated * 2 * 8
    iters = manifest["generation"]["iterations"]
    assert sum(i["personas"] for i in iters) == generated and iters[0]["candidates"] >= 2 * iters[0]["personas"] - 2
    personas = pq.read_table(out / "personas").to_pylist()
    assert personas, "the critic rejected every narrative of the real model"
    for row in personas:
        name = row["attributes"]["identity"]["name"]
        assert row["narrative"].startswith(name)  # the pipeline-written opening, continued by the model
        assert len(row["narrative"].split()) >= config["critic"]["min_words"]
        assert row["generation"]["model"] == "SmolLM2-135M-Instruct"
        assert row["critic"]["passed"]
        assert row["generation"]["candidates"] >= 1 and row["generation"]["llm_calls"] >= 1
    report = json.loads((out / "quality_report.json").read_text())
    assert report["diversity"]["embeddings"]["mean_pairwise_distance"] > 0
    rate = report["diversity"]["near_duplicate_rate"]
    assert 0 <= rate["after_dedup"] <= rate["before_dedup"] <= 1 and rate["reached_dedup"] >= len(personas)
    assert (out / "README.md").exists() and (out / "quality_report.html").exists()
    # dialogues between the accepted personas, one line per turn from the real model
    d = manifest["dialogues"]
    assert d["planned"] >= len(personas) // 2 - 1 and d["balanced"], d
    assert manifest["llm"]["llm.dialogue_generate_requests"] >= 6 * d["planned"]
    if d["accepted"]:
        dialogues = pq.read_table(out / "dialogues").to_pylist()
        ids = {r["persona_id"] for r in personas}
        for row in dialogues:
            assert set(row["persona_ids"]) <= ids and len(row["turns"]) == 6
            assert [t["speaker"] for t in row["turns"]] == row["persona_ids"] * 3
    # the written dataset passes the shipped schemas and rules when checked again from disk
    assert validate.main([str(out)]) == 0

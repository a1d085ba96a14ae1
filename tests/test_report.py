"""The quality report and dataset card on a hand-built dataset folder with known content."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from pipelines.records import REJECTED_SCHEMA, persona_schema
from pipelines.report import load_dataset, render_card, render_html, stereotype_audit, write_report
from pipelines.report.__main__ import main
from pipelines.report.metrics import compute_metrics, distinct_n, embedding_diversity, headline
from pipelines.taxonomy import load_taxonomy
from tests.conftest import REPO

TAXONOMY = """
taxonomy: fixture
version: "1"
locales: {Utopia: en_US, Freedonia: en_GB}
categories:
  - id: demographics
    attributes:
      - id: gender
        type: categorical
        values: [Female, Male, Non-binary]
      - id: age_band
        type: categorical
        values: ["18-34", "35+"]
      - id: age
        type: integer
        min: 18
        max: 90
  - id: location
    categories:
      - id: residence
        attributes:
          - id: country
            type: categorical
            values: [Utopia, Freedonia]
  - id: identity
    attributes:
      - id: name
        type: name
        locale_from: location.residence.country
  - id: work
    attributes:
      - id: occupation
        type: categorical
        values: [Nurse, Engineer, Teacher, Farmer]
  - id: interests
    attributes:
      - id: hobbies
        type: multi
        pick: {min: 1, max: 2}
        values: [chess, golf, knitting, hiking]
"""

FEMALE = ["Alice", "Beth", "Carol", "Dora", "Emma", "Fay", "Gina", "Hana", "Iris", "Jane"]
MALE = ["Adam", "Ben", "Carl", "Dan", "Eric", "Fred", "Gary", "Hugo", "Ivan", "Jack"]
HOBBIES = [["chess"], ["golf"], ["chess", "knitting"], ["golf"]]
SCORES = [0.65, 0.75, 0.85, 0.95]
REJECTED = {  # persona_index -> (quota cell gender, stage, reason, rule)
    3: ("Female", "critique", "critic", None),
    8: ("Male", "critique", "critic", None),
    15: ("Male", "validate", "rule", "retired_from_55"),
    21: ("Male", "deduplicate", "duplicate_near", None),
}
SEED = 7


def persona_row(taxonomy, k: int, index: int) -> dict:
    """Accepted persona number k (0..19): even k female nurses, odd k male engineers."""
    female = k % 2 == 0
    name = f"{(FEMALE if female else MALE)[k // 2]} Smith"
    gender = "Female" if female else "Male"
    age_band = "18-34" if (k // 2) % 2 == 0 else "35+"
    age = 30 if age_band == "18-34" else 50
    country = "Utopia" if (k // 4) % 2 == 0 else "Freedonia"
    hobbies = HOBBIES[k % 4]
    if female:
        narrative = (
            f"{name} is a {age}-year-old nurse from {country} who enjoys {hobbies[0]} "
            "and is nurturing and helpful toward everyone."
        )
    else:
        narrative = (
            f"{name} is a {age}-year-old engineer from {country} who enjoys {hobbies[0]} "
            "and is helpful toward everyone."
        )
    flat = {
        "demographics.gender": gender,
        "demographics.age_band": age_band,
        "demographics.age": age,
        "location.residence.country": country,
        "identity.name": name,
        "work.occupation": "Nurse" if female else "Engineer",
        "interests.hobbies": hobbies,
    }
    findings = (
        [{"expert": "faithfulness", "code": "place_missing", "message": "x", "attribute": None, "severity": "warning"}]
        if female
        else []
    )
    return {
        "persona_id": f"p-{SEED}-{index:07d}",
        "persona_index": index,
        "quota_cell": f"demographics.gender={gender}",
        "top_up_round": 0,
        "attributes": taxonomy.nest(flat),
        "narrative": narrative,
        "critic": {
            "score": SCORES[k % 4],
            "passed": True,
            "experts": [{"expert": "faithfulness", "score": 1.0}, {"expert": "safety", "score": 0.5}],
            "findings": findings,
        },
        "generation": {
            "model": "fixture-model",
            "prompt_template_id": "persona_narrative_v1",
            "finish_reason": "stop",
            "prompt_tokens": 100,
            "completion_tokens": 40,
            "revision_count": 0,
            "llm_calls": 1,
            "candidates": 2,
            "iteration": 0,
            "exemplar_ids": [],
        },
        "validation": {"rules_sha256": "0" * 64, "warnings": []},
        "provenance": {
            "run_name": "fixture",
            "seed": SEED,
            "taxonomy_hash": taxonomy.content_hash,
            "config_hash": "c" * 64,
            "pipeline_version": "0.1.0",
        },
    }


def build_fixture(root: Path) -> Path:
    """24 planned personas: 20 accepted in 2 shards, 4 rejected in 1 shard, and a manifest."""
    root.mkdir(parents=True, exist_ok=True)
    tax_path = root.parent / "fixture_taxonomy.yaml"
    tax_path.write_text(TAXONOMY, encoding="utf-8")
    taxonomy = load_taxonomy([tax_path])
    accepted = [i for i in range(24) if i not in REJECTED]
    rows = [persona_row(taxonomy, k, index) for k, index in enumerate(accepted)]
    schema = persona_schema(taxonomy)
    (root / "personas").mkdir()
    (root / "rejected").mkdir()
    pq.write_table(pa.Table.from_pylist(rows[:10], schema=schema), root / "personas" / "part-00000.parquet")
    pq.write_table(pa.Table.from_pylist(rows[10:], schema=schema), root / "personas" / "part-00001.parquet")
    rejected = [
        {
            "persona_id": f"p-{SEED}-{i:07d}",
            "persona_index": i,
            "quota_cell": f"demographics.gender={g}",
            "top_up_round": 0,
            "stage": stage,
            "reason": reason,
            "message": "fixture",
            "rule": rule,
            "duplicate_of": f"p-{SEED}-0000000" if reason == "duplicate_near" else None,
            "similarity": 0.95 if reason == "duplicate_near" else None,
            "record_json": json.dumps({"narrative": "A removed near copy."}) if reason == "duplicate_near" else "{}",
        }
        for i, (g, stage, reason, rule) in REJECTED.items()
    ]
    pq.write_table(pa.Table.from_pylist(rejected, schema=REJECTED_SCHEMA), root / "rejected" / "part-00000.parquet")
    manifest = {
        "manifest_version": "1",
        "schema_version": "1.2",
        "run": {"name": "fixture", "num_personas": 24, "seed": SEED},
        "counts": {
            "planned": 24,
            "accepted": 20,
            "rejected": 4,
            "unfinished": 0,
            "balanced": True,
            "rejected_by_reason": {"critic": 2, "duplicate_near": 1, "rule": 1},
            "rejected_by_stage": {"critique": 2, "deduplicate": 1, "validate": 1},
        },
        "quotas": [
            {
                "cell_id": "demographics.gender=Female",
                "values": {"demographics.gender": "Female"},
                "target": 11,
                "achieved": 10,
                "shortfall": 1,
            },
            {
                "cell_id": "demographics.gender=Male",
                "values": {"demographics.gender": "Male"},
                "target": 13,
                "achieved": 10,
                "shortfall": 3,
            },
        ],  # fmt: skip
        "llm": {
            "backend": "openai",
            "model": "fixture-model",
            "base_url": "https://user:secret@llm.example/v1?token=abc",
            "prompt_template_id": "persona_narrative_v1",
            "sampling": {"max_tokens": 150, "temperature": 0.7, "top_p": 0.9},
            "llm.generate_requests": 24,
        },
        "generation": {"iterations": [], "findings_by_code": {"place_missing": 14, "too_short": 2}},
        "hashes": {"taxonomy": taxonomy.content_hash, "config": "c" * 64},
        "versions": {"python": "3.11", "persona-pipelines": "0.1.0"},
        "config": {
            "run": {"name": "fixture", "seed": SEED, "num_personas": 24},
            "taxonomy": {"files": [str(tax_path)]},
            "quotas": {"stratify_by": ["demographics.gender"]},
            "llm": {"api_key_env": "OPENAI_API_KEY"},
            "generation": {"prompt_template": "persona_narrative_v1", "candidates": 2, "max_revisions": 1},
            "critic": {"threshold": 0.6, "min_words": 10, "max_words": 200, "weights": {"faithfulness": 1.0}},
            "validation": {"rules": ["rules/persona.yaml"]},
            "dedup": {"embedding_model": "bundled:all-MiniLM-L6-v2", "threshold": 0.9},
        },
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    return build_fixture(tmp_path_factory.mktemp("report") / "ds")


@pytest.fixture(scope="module")
def metrics(dataset_dir) -> dict:
    return compute_metrics(dataset_dir, embeddings=False, audit={"permutations": 20})


def test_distinct_n_on_a_three_narrative_corpus():
    texts = ["The cat sat", "the cat ran away", "A dog."]
    # unigrams: 9 tokens, unique {the, cat, sat, ran, away, a, dog} = 7
    assert distinct_n(texts, 1) == {"n": 1, "unique": 7, "total": 9, "value": round(7 / 9, 4)}
    # bigrams never cross narratives: the cat, cat sat | the cat, cat ran, ran away | a dog -> 6, unique 5
    assert distinct_n(texts, 2) == {"n": 2, "unique": 5, "total": 6, "value": round(5 / 6, 4)}
    assert distinct_n(["Don't stop", "don't"], 1)["unique"] == 2  # inner apostrophes stay in the token


def test_counts_and_acceptance_by_stage(metrics):
    c = metrics["counts"]
    assert (c["planned"], c["accepted"], c["rejected"], c["unfinished"]) == (24, 20, 4, 0)
    assert c["acceptance_rate"] == round(20 / 24, 4)
    assert c["consistent_with_manifest"] and c["mismatches"] == []
    assert c["rejected_by_stage"] == {"critique": 2, "validate": 1, "deduplicate": 1}
    assert c["rejected_by_reason"] == {"critic": 2, "rule": 1, "duplicate_near": 1}
    assert c["rejected_by_rule"] == {"retired_from_55": 1}
    funnel = {f["stage"]: (f["entered"], f["rejected"], f["passed"], f["pass_rate"]) for f in c["funnel"]}
    assert funnel == {
        "generate": (24, 0, 24, 1.0),
        "critique": (24, 2, 22, round(22 / 24, 4)),
        "validate": (22, 1, 21, round(21 / 22, 4)),
        "deduplicate": (21, 1, 20, round(20 / 21, 4)),
    }


def test_quota_targets_vs_achieved(metrics):
    q = metrics["quotas"]
    cells = {c["cell_id"]: (c["target"], c["achieved"], c["deviation"]) for c in q["cells"]}
    assert cells == {"demographics.gender=Female": (11, 10, -1), "demographics.gender=Male": (13, 10, -3)}
    assert q["max_abs_deviation"] == 3 and q["cells_met"] == 0 and q["total_shortfall"] == 4
    # shares: 11/24 vs 10/20 and 13/24 vs 10/20
    assert q["max_abs_share_deviation"] == round(abs(0.5 - 13 / 24), 4)


def test_attribute_coverage_against_the_taxonomy(metrics):
    cov = metrics["coverage"]
    assert cov["taxonomy_loaded"] and cov["note"] is None
    by = {r["attribute"]: r for r in cov["attributes"]}
    assert (by["demographics.gender"]["covered"], by["demographics.gender"]["domain"]) == (2, 3)
    assert by["demographics.gender"]["coverage"] == round(2 / 3, 4)
    assert by["demographics.gender"]["missing"] == ["Non-binary"]
    assert by["work.occupation"]["coverage"] == 0.5 and by["work.occupation"]["missing"] == ["Teacher", "Farmer"]
    assert by["interests.hobbies"]["coverage"] == 0.75  # chess, golf, knitting of 4
    assert by["demographics.age_band"]["coverage"] == 1.0 and by["location.residence.country"]["coverage"] == 1.0
    assert by["identity.name"]["coverage"] is None and by["identity.name"]["distinct"] == 20
    assert cov["mean_coverage"] == round((2 / 3 + 1 + 1 + 0.5 + 0.75) / 5, 4)
    assert [n["attribute"] for n in cov["numeric"]] == ["demographics.age"]


def test_coverage_without_the_taxonomy_counts_distinct_values(dataset_dir, tmp_path):
    copy = tmp_path / "ds"
    build_fixture(copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["config"]["taxonomy"]["files"] = [str(tmp_path / "gone.yaml")]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    cov = compute_metrics(copy, embeddings=False, audit={"permutations": 0})["coverage"]
    assert not cov["taxonomy_loaded"] and "could not be loaded" in cov["note"]
    by = {r["attribute"]: r for r in cov["attributes"]}
    assert by["demographics.gender"]["distinct"] == 2 and by["demographics.gender"]["coverage"] is None


def test_diversity_and_critic(metrics):
    d = metrics["diversity"]
    # with the names masked, each gender's 10 narratives differ only by age (30/50) and country: 4 distinct
    # texts per gender, so 20 - 8 = 12 are exact duplicates of another
    assert d["narratives"] == 20 and d["exact_duplicates_among_accepted"] == 12
    assert d["rejected_duplicates"] == {"duplicate_exact": 0, "duplicate_near": 1}
    (edge,) = d["near_duplicates_just_above_threshold"]  # the removed near copy, next to its survivor
    assert edge["similarity"] == 0.95 and edge["removed"] == f"p-{SEED}-0000021"
    assert edge["kept"] == f"p-{SEED}-0000000" and edge["removed_text"] == "A removed near copy."
    assert edge["kept_text"]  # the survivor's own narrative
    # before dedup: the removed copy and its survivor had a duplicate, of the 20 + 1 that reached it;
    # after: measured on the embedded sample, which this test skips
    assert d["near_duplicate_rate"] == {
        "reached_dedup": 21,
        "with_duplicate": 2,
        "before_dedup": round(2 / 21, 6),
        "after_dedup": None,
    }
    assert d["languages"]["languages"] == ["en"]
    assert d["embeddings"] == {"computed": False, "reason": "skipped (--no-embeddings)"}
    assert 0 < d["distinct_1"]["value"] < 1 and d["distinct_2"]["value"] > d["distinct_1"]["value"]
    cr = metrics["critic"]
    assert cr["mean"] == 0.8 and cr["quantiles"]["p50"] == 0.8
    assert cr["histogram"]["counts"] == [0, 0, 0, 0, 0, 0, 5, 5, 5, 5]
    assert cr["experts"] == {"faithfulness": {"mean": 1.0, "rows": 20}, "safety": {"mean": 0.5, "rows": 20}}
    assert cr["findings_accepted"] == [
        {"code": "place_missing", "severity": "warning", "occurrences": 10, "personas": 10}
    ]
    assert cr["findings_by_code_all_candidates"] == {"place_missing": 14, "too_short": 2}


def test_stereotype_audit_flags_unimplied_words_only(metrics, dataset_dir):
    gender = metrics["stereotypes"]["attributes"]["demographics.gender"]
    female = gender["groups"]["Female"]
    flagged = {w["word"]: w for w in female["top_words"] if w["flagged"]}
    assert set(flagged) == {"nurturing"}  # only in women's narratives and in no persona's attributes
    word = flagged["nurturing"]
    assert (word["narratives_in_group"], word["eligible_in_group"]) == (10, 10)
    assert (word["narratives_elsewhere"], word["eligible_elsewhere"]) == (0, 10)
    # overall rate 10/20, prior Beta(10 * 0.5, 10 * 0.5): log((10+5)/(0+5)) - log((0+5)/(10+5)) = 2 log 3
    delta = math.log(15 / 5) - math.log(5 / 15)
    assert word["log_odds"] == pytest.approx(delta, abs=1e-3)
    assert word["z"] == pytest.approx(delta / math.sqrt(1 / 15 + 1 / 5 + 1 / 5 + 1 / 15), abs=1e-3)
    all_flagged = {
        w["word"]
        for a in metrics["stereotypes"]["attributes"].values()
        for g in a["groups"].values()
        for w in g.get("top_words", [])
        if w["flagged"]
    }
    assert "nurse" not in all_flagged and "engineer" not in all_flagged  # implied by work.occupation
    implied = {e["word"]: e["narratives"] for e in metrics["stereotypes"]["implied_words_excluded"]}
    assert implied["nurse"] == 10 and implied["engineer"] == 10
    summary = {s["attribute"]: s for s in metrics["stereotypes"]["summary"]}
    assert summary["demographics.gender"]["flagged"] == 1
    assert summary["demographics.gender"]["max_z_word"] == "nurturing"
    assert summary["demographics.age_band"]["flagged"] == 0 and summary["location.residence.country"]["flagged"] == 0

    # the same narratives without the occupation among the facts: "nurse" is no longer implied
    ds = load_dataset(dataset_dir)
    bare = stereotype_audit(dataclasses.replace(ds, flat=ds.flat.drop("work.occupation")), permutations=0)
    female_bare = bare["attributes"]["demographics.gender"]["groups"]["Female"]["top_words"]
    assert {w["word"] for w in female_bare if w["flagged"]} == {"nurse", "nurturing"}


def test_html_report_is_self_contained_with_sections_and_plots(metrics):
    page = render_html(metrics)

    class Collect(HTMLParser):
        def __init__(self):
            super().__init__()
            self.sections, self.tags, self.external = [], [], []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            self.tags.append(tag)
            if tag == "section":
                self.sections.append(attrs.get("id"))
            for key in ("src", "href"):
                if (attrs.get(key) or "").startswith(("http:", "https:", "//")):
                    self.external.append(attrs[key])

    parser = Collect()
    parser.feed(page)
    parser.close()
    assert parser.sections == [
        "overview", "counts", "quotas", "coverage", "diversity", "critic", "stereotypes", "provenance"
    ]  # fmt: skip
    assert parser.tags.count("svg") >= 4 and "table" in parser.tags
    assert "script" not in parser.tags and "link" not in parser.tags and parser.external == []
    assert "nurturing" in page and "Monroe" in page
    assert "secret" not in page and "token=abc" not in page  # endpoint credentials never shown


def test_dataset_card_header_and_body(metrics):
    card = render_card(metrics)
    assert card.startswith("---\n")
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == "apache-2.0"
    assert header["task_categories"] == ["text-generation"]
    assert header["language"] == ["en"]
    assert header["size_categories"] == ["n<1K"]
    assert header["pretty_name"] == "Synthetic personas (fixture)"
    configs = {c["config_name"]: c for c in header["configs"]}
    assert configs["personas"]["data_files"] == [{"split": "train", "path": "personas/*.parquet"}]
    assert configs["personas"]["default"] is True
    assert configs["rejected"]["data_files"] == [{"split": "train", "path": "rejected/*.parquet"}]
    headings = ("How it was made", "Schema", "Statistics", "Stereotype audit", "Limitations", "Intended use")
    for heading in (f"## {h}" for h in headings):
        assert heading in card
    assert "| attributes.demographics.gender | string |" in card
    assert "| critic.findings[].code | string |" in card
    assert "fixture-model" in card and "persona_narrative_v1" in card
    assert "secret" not in card and "OPENAI_API_KEY" not in card


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


def test_embedding_diversity_with_the_bundled_model():
    pytest.importorskip("sentence_transformers")
    texts = [
        "Someone is a carpenter who builds wooden boats by the sea.",
        "Someone is a carpenter who builds wooden boats by the sea.",
        "Someone plays the violin in a city orchestra and teaches children.",
        "Someone grows rice on a small family farm in the hills.",
        "Someone writes software for a bank and runs marathons at weekends.",
    ]
    emb = embedding_diversity(texts, threshold=0.9)
    assert emb["texts"] == 5 and emb["pairs"] == 10
    assert emb["near_duplicate_pairs"] == 1 and emb["near_duplicate_pair_rate"] == 0.1
    assert emb["texts_with_near_duplicate"] == 2
    assert emb["max_pair_similarity"] == pytest.approx(1.0, abs=1e-3)
    assert 0.2 < emb["mean_pairwise_distance"] < 0.95
    # the closest pairs that stay below the threshold: never the identical pair, most similar first
    below = emb["closest_pairs_below_threshold"]
    assert len(below) == 3 and all(p["similarity"] < 0.9 for p in below)
    assert [p["similarity"] for p in below] == sorted((p["similarity"] for p in below), reverse=True)
    assert {below[0]["a"], below[0]["b"]} != {0, 1}

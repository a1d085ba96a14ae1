"""The metric groups of the quality report on the fixture folder and on small known corpora."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest

from pipelines.report import load_dataset, stereotype_audit
from pipelines.report.metrics import compute_metrics, distinct_n, embedding_diversity
from tests.report.fixture import SEED, build_fixture


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

"""The real Beam pipeline against a local OpenAI-compatible test server, with injected faults."""

import hashlib
import json

import pyarrow.parquet as pq
import pytest

from pipelines import build_dataset
from pipelines.errors import InputError
from pipelines.taxonomy import load_taxonomy
from tests.conftest import REPO, write
from tests.dataset_checks import check_dataset
from tests.fake_openai import FakeOpenAI

SECRET = "sk-test-secret-do-not-leak-1234"
FAULTS = {
    0: "error400",
    1: "flaky500",
    2: "rate429",
    3: "empty",
    4: "copy",
    5: "copy",
    6: "wrong_then_fixed",
    7: "always_wrong",
    8: "second_best",
}


def fault_for(facts):
    bucket = int(hashlib.sha256(facts["Name"].encode()).hexdigest(), 16) % 12
    return FAULTS.get(bucket)


def config(tmp_path, base_url, n=48, top_up_rounds=2):
    return write(
        tmp_path,
        "run.yaml",
        f"""
run: {{name: fake, seed: 11, num_personas: {n}}}
taxonomy: {{files: ["{REPO}/taxonomy/base.yaml"]}}
quotas: {{stratify_by: [demographics.age_band, demographics.gender], top_up: {{rounds: {top_up_rounds}}}}}
llm: {{backend: openai, base_url: "{base_url}", model: fake-model, api_key_env: FAKE_LLM_KEY,
       concurrency: 8, max_retries: 3, request_timeout_s: 20}}
# grounding off: it rejects a copy (a text about no one in particular) as off_persona before dedup, the stage
# these copies are here to test; the golden run has it on and shows that rejection
critic: {{min_words: 20, max_words: 200, threshold: 0.6, grounding: false}}
output: {{rows_per_shard: 20, report_embeddings: false}}
""",
    )


@pytest.fixture
def server():
    with FakeOpenAI(fault_for) as fake:
        yield fake


def test_pipeline_end_to_end_with_faults(tmp_path, server, monkeypatch):
    monkeypatch.setenv("FAKE_LLM_KEY", SECRET)
    out = tmp_path / "out"
    # the quota top-up is off here (tests/test_top_up.py covers it): every fault is seen once
    cfg = config(tmp_path, server.base_url, top_up_rounds=0)
    manifest = build_dataset.run(["--config", str(cfg), "--output", str(out)])
    taxonomy = load_taxonomy([REPO / "taxonomy" / "base.yaml"])
    check_dataset(out, taxonomy, planned=48, seed=11)
    assert manifest["counts"]["topped_up"] == 0 and manifest["counts"]["short_cells"] > 0
    short = [q for q in manifest["quotas"] if q["shortfall"] > 0]
    assert all("quota top-up is off" in q["short_because"] for q in short)

    # 48 planned rows, 20 per shard: shards by persona index range, deterministic names
    assert [s["path"] for s in manifest["shards"]["personas"]] == [
        "personas/part-00000.parquet",
        "personas/part-00001.parquet",
        "personas/part-00002.parquet",
    ]
    rejected = pq.read_table(out / "rejected").to_pylist()
    by_name = {json.loads(r["record_json"])["attributes"]["identity"]["name"]: r for r in rejected}
    accepted = pq.read_table(out / "personas").to_pylist()
    accepted_names = {r["attributes"]["identity"]["name"] for r in accepted}
    assert server.faulted, "the fault rule should hit some of 48 personas"
    by_accepted = {r["attributes"]["identity"]["name"]: r for r in accepted}
    seen = set(server.faulted.values())
    assert {"wrong_then_fixed", "always_wrong", "second_best"} <= seen
    for name, fault in server.faulted.items():
        if fault in ("error400", "empty"):
            assert by_name[name]["reason"] == "llm_error" and by_name[name]["stage"] == "generate"
        elif fault in ("flaky500", "rate429"):
            assert name in accepted_names  # retried, then answered
            assert server.calls[name] == 2
        elif fault == "wrong_then_fixed":  # every first candidate contradicts the age; the revision fixes it
            gen = by_accepted[name]["generation"]
            assert gen["revision_count"] == 1 and gen["llm_calls"] == 2 and server.calls[name] == 2
            assert (
                f"{by_accepted[name]['attributes']['demographics']['age']}-year-old" in by_accepted[name]["narrative"]
            )
        elif fault == "always_wrong":  # rejected after R=1 revision, with the finding that sank it
            assert by_name[name]["reason"] == "critic" and by_name[name]["stage"] == "critique"
            assert "after 1 revision" in by_name[name]["message"] and "age_contradiction" in by_name[name]["message"]
            record = json.loads(by_name[name]["record_json"])
            assert record["generation"]["llm_calls"] == 2 and len(record["critic_history"]) == 2
        elif fault == "second_best":  # candidate 0 is wrong, candidate 1 wins without a revision
            row = by_accepted[name]
            assert row["generation"]["revision_count"] == 0 and row["generation"]["candidates"] == 2
            assert f"{row['attributes']['demographics']['age']}-year-old" in row["narrative"]
            assert {f["code"] for f in row["critic"]["findings"]}.isdisjoint({"age_contradiction"})
    clones = [n for n, f in server.faulted.items() if f == "copy"]
    survivors = [n for n in clones if n in accepted_names]
    assert len(survivors) == 1
    for name in clones:
        if name not in accepted_names:
            # identical once the persona's own name is masked
            assert by_name[name]["reason"] == "duplicate_exact" and by_name[name]["stage"] == "deduplicate"
            assert by_name[name]["duplicate_of"] in {r["persona_id"] for r in accepted}
    assert manifest["counts"]["rejected_by_reason"].get("llm_error", 0) >= 1
    assert manifest["llm"]["llm.generate_requests"] == 48
    revised = sum(1 for f in server.faulted.values() if f in ("wrong_then_fixed", "always_wrong"))
    assert manifest["llm"]["llm.revise_requests"] >= revised
    assert all(r.get("n") == 2 for r in server.requests)  # k candidates in one call
    iters = manifest["generation"]["iterations"]
    assert [i["iteration"] for i in iters] == [0, 1] and sum(i["personas"] for i in iters) == 48
    assert manifest["generation"]["findings_by_code"]["age_contradiction"] >= 1
    # The pilot iteration's best narratives became the main iteration's few-shot exemplars.
    pilot = [r for r in accepted if r["generation"]["iteration"] == 0]
    main = [r for r in accepted if r["generation"]["iteration"] == 1]
    assert pilot and main and all(r["generation"]["exemplar_ids"] == [] for r in pilot)
    exemplar_ids = main[0]["generation"]["exemplar_ids"]
    assert exemplar_ids and set(exemplar_ids) <= {r["persona_id"] for r in pilot}
    assert all(r["generation"]["exemplar_ids"] == exemplar_ids for r in main)
    assert manifest["llm"]["model"] == "fake-model"
    row = accepted[0]
    assert row["generation"]["prompt_template_id"] == "persona_narrative_v1"
    assert row["provenance"]["seed"] == 11 and len(row["provenance"]["taxonomy_hash"]) == 64
    # the quality report and the dataset card were written, with the manifest's numbers
    report = json.loads((out / "quality_report.json").read_text())
    assert report["counts"]["accepted"] == manifest["counts"]["accepted"] == len(accepted)
    assert (out / "quality_report.html").read_text().count("<svg") >= 1
    assert (out / "README.md").read_text().startswith("---\n")
    # no secret anywhere in the output, and no assistant prefill sent to a non-vLLM endpoint
    for path in out.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert all(r["messages"][-1]["role"] == "user" for r in server.requests)


def test_same_inputs_give_the_same_dataset(tmp_path, server):
    cfg = config(tmp_path, server.base_url, n=24)
    first = build_dataset.run(["--config", str(cfg), "--output", str(tmp_path / "a")])
    second = build_dataset.run(
        [
            "--config",
            str(cfg),
            "--output",
            str(tmp_path / "b"),
            "--direct_running_mode=multi_processing",
            "--direct_num_workers=2",
        ]
    )
    a = pq.read_table(tmp_path / "a" / "personas")
    b = pq.read_table(tmp_path / "b" / "personas")
    assert a.equals(b)
    assert first["counts"] == second["counts"]
    # the faults lose personas, so this covers the quota top-up's choices too
    assert first["counts"]["topped_up"] > 0 and first["quotas"] == second["quotas"]


def test_existing_output_is_not_overwritten_without_flag(tmp_path, server):
    cfg = config(tmp_path, server.base_url, n=4)
    out = tmp_path / "out"
    build_dataset.run(["--config", str(cfg), "--output", str(out)])
    with pytest.raises(InputError, match="--overwrite"):
        build_dataset.run(["--config", str(cfg), "--output", str(out)])
    build_dataset.run(["--config", str(cfg), "--output", str(out), "--overwrite"])
    assert (out / "manifest.json").exists()


def test_bad_input_fails_before_any_llm_call(tmp_path, server, capsys):
    bad = write(
        tmp_path,
        "bad.yaml",
        config(tmp_path, server.base_url).read_text().replace("num_personas: 48", "num_personas: -1"),
    )
    assert build_dataset.main(["--config", str(bad), "--output", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "$.run.num_personas" in err
    unreachable = ["--config", str(config(tmp_path, "http://127.0.0.1:9/v1")), "--output", str(tmp_path / "y")]
    with pytest.raises(InputError, match="cannot reach"):
        build_dataset.run(unreachable)
    assert server.requests == [] and not (tmp_path / "x").exists() and not (tmp_path / "y").exists()


RULES = """
rules:
  - id: under_sixty
    description: test rule, rejects personas aged 60 or more
    severity: error
    scope: persona
    condition: attributes.demographics.age < 60
  - id: pets_named
    description: test rule that cannot be evaluated when pets is null
    severity: error
    scope: persona
    condition: size(attributes.daily_life.pets) > 0
  - id: long_story
    description: test warning that every fake narrative fails
    severity: warning
    scope: persona
    condition: wordCount(narrative) > 500
"""


def test_rules_reject_and_warn_with_reasons(tmp_path):
    from pipelines import validate

    rules = write(tmp_path, "rules.yaml", RULES)
    cfg = write(
        tmp_path,
        "rules-run.yaml",
        config(tmp_path, "http://x", n=30).read_text() + f'validation: {{rules: ["{rules}"]}}\n',
    )
    with FakeOpenAI() as fake:
        text = cfg.read_text().replace("http://x", fake.base_url)
        out = tmp_path / "out"
        manifest = build_dataset.run(["--config", str(write(tmp_path, "r.yaml", text)), "--output", str(out)])
    rejected = pq.read_table(out / "rejected").to_pylist()
    accepted = pq.read_table(out / "personas").to_pylist()
    for r in rejected:
        record = json.loads(r["record_json"])
        age, pets = record["attributes"]["demographics"]["age"], record["attributes"]["daily_life"]["pets"]
        assert r["stage"] == "validate"
        if age >= 60:
            assert (r["reason"], r["rule"]) == ("rule", "under_sixty")
        else:
            assert pets is None and (r["reason"], r["rule"]) == ("rule_error", "pets_named")
            assert "null" in r["message"]
    assert all(r["attributes"]["demographics"]["age"] < 60 and r["attributes"]["daily_life"]["pets"] for r in accepted)
    for r in accepted:
        (warning,) = r["validation"]["warnings"]
        assert warning["rule_id"] == "long_story" and warning["status"] == "failed"
        assert len(r["validation"]["rules_sha256"]) == 64
    by_rule = manifest["counts"]["rejected_by_rule"]
    assert by_rule == {
        k: v
        for k, v in {
            "under_sixty": sum(r["rule"] == "under_sixty" for r in rejected),
            "pets_named": sum(r["rule"] == "pets_named" for r in rejected),
        }.items()
        if v
    }
    assert by_rule.get("under_sixty") and by_rule.get("pets_named") and accepted
    # every record reached validation (no LLM faults here), the top-up replacements of the
    # rejected ones too, and every one failed the warning rule
    topped_up = manifest["counts"]["topped_up"]
    assert topped_up > 0 and manifest["validation"]["rule_outcomes"]["long_story.failed"] == 30 + topped_up
    assert manifest["hashes"]["rules"] == accepted[0]["validation"]["rules_sha256"]
    # the written dataset passes the same rules when checked again from disk
    assert validate.main([str(out), "--rules", str(rules)]) == 0

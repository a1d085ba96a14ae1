"""Dialogues: pairing, scenarios, and the dialogue dataset end to end on the local test server."""

import csv
import json
import random

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipelines import build_dataset, validate
from pipelines.dialogue.pairing import load_scenarios, plan_dialogues
from pipelines.errors import InputError
from pipelines.records import DIALOGUE_SCHEMA, DIALOGUES_REJECTED_SCHEMA
from pipelines.schemas import schema_errors
from tests.conftest import REPO, write
from tests.fake_openai import FakeOpenAI

SCENARIOS = load_scenarios(REPO / "taxonomy" / "scenarios.yaml")


def members(n=40, cells=4, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        v = rng.normal(size=16).astype(np.float32)
        out.append((i, f"p-1-{i:07d}", f"cell{i % cells}", v / np.linalg.norm(v)))
    return out


@pytest.mark.parametrize("strategy", ["random_within_strata", "similar_interests", "contrasting", "mixed"])
def test_pairing_is_deterministic_and_complete(strategy):
    people = members()
    plans = plan_dialogues(people, strategy, 2, seed=7, scenarios=SCENARIOS)
    shuffled = list(people)
    random.Random(3).shuffle(shuffled)
    assert plan_dialogues(shuffled, strategy, 2, seed=7, scenarios=SCENARIOS) == plans
    assert plan_dialogues(people, strategy, 2, seed=8, scenarios=SCENARIOS) != plans
    pairs = [tuple(sorted((p["a_index"], p["b_index"]))) for p in plans]
    assert all(a != b for a, b in pairs) and len(set(pairs)) == len(pairs)  # no self-talk, no repeats
    seen = np.bincount([i for pair in pairs for i in pair], minlength=40)
    assert seen.max() == 2 and seen.sum() >= 2 * 40 - 4  # each persona in 2 dialogues (a few odd ones out)
    assert [p["dialogue_index"] for p in plans] == list(range(len(plans)))
    assert all(p["dialogue_id"] == f"d-7-{p['dialogue_index']:07d}" for p in plans)


def test_strategies_do_what_they_say():
    people = members(n=60, cells=3)
    vec = {i: e for i, _, _, e in people}
    cell = {i: c for i, _, c, _ in people}

    def mean_sim(plans):
        return np.mean([float(vec[p["a_index"]] @ vec[p["b_index"]]) for p in plans])

    strata = plan_dialogues(people, "random_within_strata", 1, 1, SCENARIOS)
    similar = plan_dialogues(people, "similar_interests", 1, 1, SCENARIOS)
    contrast = plan_dialogues(people, "contrasting", 1, 1, SCENARIOS)
    assert all(cell[p["a_index"]] == cell[p["b_index"]] for p in strata)
    assert mean_sim(similar) > mean_sim(strata) + 0.2 > mean_sim(contrast) + 0.2
    assert sum(cell[p["a_index"]] != cell[p["b_index"]] for p in contrast) == len(contrast)
    mixed = plan_dialogues(people, "mixed", 1, 1, SCENARIOS)
    assert {p["pairing"] for p in mixed} >= {"random_within_strata", "similar_interests", "contrasting"}


def test_scenarios_follow_weights_and_bad_files_fail(tmp_path):
    plans = plan_dialogues(members(n=400, cells=1), "random_within_strata", 2, 5, SCENARIOS)
    counts = {s.id: sum(p["scenario"]["id"] == s.id for p in plans) for s in SCENARIOS}
    total = sum(s.weight for s in SCENARIOS)
    for s in SCENARIOS:
        assert abs(counts[s.id] / len(plans) - s.weight / total) < 0.06, (s.id, counts)
    bad = write(
        tmp_path, "s.yaml", "scenarios:\n  - {id: chat, description: two people talk about the weather, weight: -1}\n"
    )
    with pytest.raises(InputError, match=r"\$\.scenarios\[0\]\.weight"):
        load_scenarios(bad)
    dup = write(
        tmp_path,
        "d.yaml",
        "scenarios:\n  - {id: chat, description: two people talk about the weather}\n"
        "  - {id: chat, description: two people talk about their week}\n",
    )
    with pytest.raises(InputError, match="duplicate scenario id 'chat'"):
        load_scenarios(dup)


def echo_fault(people):
    return "dialogue_echo" if people[0]["Name"].startswith(("A", "B", "C", "D", "E", "J", "M")) else None


def test_dialogue_dataset_end_to_end(tmp_path):
    with FakeOpenAI(dialogue_fault_for=echo_fault) as fake:
        cfg = write(
            tmp_path,
            "dialogues.yaml",
            f"""
run: {{name: talk, seed: 9, num_personas: 24}}
taxonomy: {{files: ["{REPO}/taxonomy/base.yaml"]}}
quotas: {{stratify_by: [demographics.gender]}}
llm: {{backend: openai, base_url: "{fake.base_url}", model: fake-model, concurrency: 8, max_retries: 1}}
critic: {{min_words: 20, max_words: 200, threshold: 0.6}}
dialogues: {{pairing: mixed, per_persona: 2, turns: 6}}
output: {{rows_per_shard: 10, report: false}}
""",
        )
        out = tmp_path / "out"
        manifest = build_dataset.run(["--config", str(cfg), "--output", str(out)])
    d = manifest["dialogues"]
    personas = {r["persona_id"]: r for r in pq.read_table(out / "personas").to_pylist()}
    assert d["planned"] >= len(personas) - 2 and d["balanced"], d
    dialogues = pq.read_table(out / "dialogues")
    assert dialogues.schema.remove_metadata().equals(DIALOGUE_SCHEMA.remove_metadata())
    rows = dialogues.to_pylist()
    assert len(rows) == d["accepted"] >= 0.8 * d["planned"]
    assert set(d["by_pairing"]) >= {"random_within_strata", "similar_interests", "contrasting"}
    for row in rows:
        assert schema_errors("dialogue", row) == [], row["dialogue_id"]
        assert set(row["persona_ids"]) <= set(personas)  # speakers are accepted personas of this run
        assert len(row["turns"]) == 6
        assert row["generation"]["llm_calls"] == 6 * (row["generation"]["revision_count"] + 1)  # one call a turn
        assert [t["speaker"] for t in row["turns"]] == row["persona_ids"] * 3  # strict alternation
        for t in row["turns"]:
            assert t["name"] == personas[t["speaker"]]["attributes"]["identity"]["name"]
    # echoed turns were caught and revised: the revision request was sent and its answer accepted
    revisions = [r for r in fake.dialogue_requests if "avoid them" in r["messages"][-1]["content"]]
    assert revisions and any("repeats" in r["messages"][-1]["content"] for r in revisions)
    assert all(
        r["stop"] == ["\n"] and "Write only the next line" in r["messages"][-1]["content"]
        for r in fake.dialogue_requests
    )
    assert d["generation"]["findings_by_code"].get("echoed_turn", 0) >= 1
    if (out / "dialogues_rejected").exists():
        rejected = pq.read_table(out / "dialogues_rejected")
        assert rejected.schema.remove_metadata().equals(DIALOGUES_REJECTED_SCHEMA.remove_metadata())
        assert rejected.num_rows == d["rejected"]
    # the Synthetic-Persona-Chat export holds the same dialogues
    with open(out / "export" / "synthetic_persona_chat-00000.csv", newline="") as f:
        spc = list(csv.DictReader(f))
    assert [r["dialogue_id"] for r in spc] == [r["dialogue_id"] for r in rows if r["dialogue_index"] < 100_000]
    first = spc[0]
    assert first["user 1 personas"].startswith("My name is ") and "years old" in first["user 1 personas"]
    assert first["Best Generated Conversation"].splitlines()[0].startswith("User 1: ")
    assert validate.main([str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["dialogues"]["accepted"] == len(rows)


def test_dialogue_turns_keep_more_requests_in_flight(monkeypatch):
    """Turn-by-turn dialogues send one short single-candidate line per request: by default three
    times llm.concurrency are in flight, so a turn round needs fewer batches; whole-conversation
    mode and an explicit `dialogues.concurrency` keep what they say."""
    import apache_beam as beam

    from pipelines.common.settings import DialogueSettings
    from pipelines.dialogue import stage
    from pipelines.generation.llm import LLMSettings

    assert DialogueSettings.from_config().concurrency_for(32) == 96
    assert DialogueSettings.from_config({"mode": "whole"}).concurrency_for(32) == 32
    assert DialogueSettings.from_config({"concurrency": 5}).concurrency_for(32) == 5
    with pytest.raises(ValueError):
        DialogueSettings.from_config({"concurrency": "many"})

    seen = []

    class Stop(Exception):
        pass

    def recording(llm, *args, **kwargs):
        seen.append(llm.concurrency)
        raise Stop

    monkeypatch.setattr(stage, "GeneratorCritic", recording)
    llm = LLMSettings(backend="openai", model="m", served_name="m", base_url="http://127.0.0.1:1/v1", concurrency=8)
    dialogues = stage.Dialogues(llm, DialogueSettings.from_config(), 1, SCENARIOS, {}, curation=None)
    with pytest.raises(Stop), beam.Pipeline() as p:
        _ = p | beam.Create([]) | dialogues
    assert seen == [24]

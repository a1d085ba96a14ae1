"""Deep profiles: selection (deterministic, spread, related, distinct), the answer format, the
value critic, and the whole stage on the local test server with malformed lines, contradictions,
placeholders and repeats, written as a queryable Parquet column."""

import json
import re

import duckdb
import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from pipelines import build_dataset
from pipelines.config import load_config
from pipelines.critique.deep_profile import critique_values
from pipelines.deep_profile.dimensions import Dimension, dimensions_of
from pipelines.deep_profile.prompts import parse
from pipelines.deep_profile.select import choose
from pipelines.sampling import population
from tests.conftest import REPO, write
from tests.fake_openai import FakeOpenAI

ATTRS = {"identity.name": "Ana Lima", "demographics.age": 34, "household.children": 2,
         "work.employment.occupation": "Secondary school teacher", "demographics.gender": "Female"}  # fmt: skip


def dims(n_cats=12, per=10):
    return [
        Dimension(f"profile.c{c}.d{i}", f"Cat {c} / Dim {i}", f"Cat {c}") for c in range(n_cats) for i in range(per)
    ]


def random_vecs(n, seed=0, d=16):
    v = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_selection_is_deterministic_spread_and_distinct():
    ds = dims()
    vecs = random_vecs(len(ds))
    vecs[5] = vecs[4]  # two identical dimensions in category 0
    persona = random_vecs(1, seed=1)[0]
    a = choose(ds, vecs, persona, 60, seed=7, index=3, relatedness=3.0, distinct=0.9)
    assert a == choose(ds, vecs, persona, 60, seed=7, index=3, relatedness=3.0, distinct=0.9)
    assert a != choose(ds, vecs, persona, 60, seed=7, index=4, relatedness=3.0, distinct=0.9)
    assert len(a) == len(set(a)) == 60
    per_cat = {c: sum(ds[i].category == c for i in a) for c in {d.category for d in ds}}
    assert set(per_cat.values()) == {5}  # 60 over 12 categories: five each
    assert not (4 in a and 5 in a)
    everything = choose(ds, vecs, persona, 500, seed=7, index=3, relatedness=3.0, distinct=0.9)
    assert len(everything) == len(ds) - 1  # all but the twin


def test_selection_leans_towards_related_dimensions():
    ds = dims(n_cats=1, per=40)
    vecs = random_vecs(len(ds), seed=2)
    persona = vecs[7]
    hits = [7 in choose(ds, vecs, persona, 5, seed=1, index=i, relatedness=3.0, distinct=0.99) for i in range(200)]
    blind = [7 in choose(ds, vecs, persona, 5, seed=1, index=i, relatedness=0.0, distinct=0.99) for i in range(200)]
    assert sum(hits) > 2 * sum(blind)


def test_lines_are_parsed_by_item_with_later_lines_winning():
    items = [
        Dimension("p.a.x", "Sleep / Bedtime Ritual", "Sleep"),
        Dimension("p.b.y", "Food / Usual Breakfast", "Food"),
    ]
    text = "Sure! Here it is.\n1. **Bedtime Ritual**: reads a novel\n- Food / Usual Breakfast:\n"
    text += "Food / Usual Breakfast: toast"
    values, unmatched = parse(text, items)
    assert values == {"p.a.x": "reads a novel", "p.b.y": "toast"} and unmatched == 1
    assert parse('{"Sleep / Bedtime Ritual": "tea"}', items)[0] == {"p.a.x": "tea"}


def test_the_value_critic_names_what_is_wrong():
    items = [(f"p.c.{k}", k.title()) for k in ("a", "b", "c", "d", "e", "f", "g")]
    values = {
        "p.c.a": "walks the dog before school",
        "p.c.b": "",
        "p.c.c": "[value]",
        "p.c.d": "D.",
        "p.c.e": "she is 70 years old and still rows every morning",
        "p.c.f": "a big family dinner with her three children on Sundays",
        "p.c.g": "word " * 50,
    }
    verdict = critique_values(items, values, ATTRS)
    codes = {f.attribute: f.code for f in verdict.findings}
    assert codes == {
        "p.c.b": "value_missing",
        "p.c.c": "value_placeholder",
        "p.c.d": "value_copied",
        "p.c.e": "value_contradiction",
        "p.c.f": "value_contradiction",
        "p.c.g": "value_too_long",
    }
    assert not verdict.passed and verdict.score == pytest.approx(1 / 7, abs=1e-3)
    chatter = {"p.c.a": "Sure, here are the details!", "p.c.b": "Here is her profile:", "p.c.c": "surely the sea"}
    assert [f.code for f in critique_values(items[:3], chatter, ATTRS).findings] == ["value_chatter"] * 2
    # the correction "keep it to one short sentence" given back, seen on the embedded model
    echoes = {"p.c.a": "keeps it to two sentences max...", "p.c.b": "keeps it simple!", "p.c.c": "keeps it tidy"}
    assert [f.code for f in critique_values(items[:3], echoes, ATTRS).findings] == ["value_copied"] * 2
    echoes = {"p.c.a": "keeps it to one short sentence.", "p.c.b": "reads a crime novel in bed", "p.c.c": "I love it"}
    assert [f.code for f in critique_values(items[:3], echoes, ATTRS).findings] == [
        "value_copied",
        "value_copied",
        "value_person_drift",
    ]
    repeated = critique_values(items[:4], dict.fromkeys([p for p, _ in items[:4]], "likes it quiet"), ATTRS)
    assert [f.code for f in repeated.findings] == ["value_repeated", "value_repeated"]  # the third and fourth


def run_config(tmp_path, base_url, name="deep", deep=True, workers=None, num=12, deep_extra="", dims=60, batch=15):
    taxonomy = '["taxonomy/base.yaml", "taxonomy/deep_profile.yaml"]' if deep else '["taxonomy/base.yaml"]'
    return write(
        tmp_path,
        f"{name}.yaml",
        f"""
run: {{name: {name}, seed: 9, num_personas: {num}}}
taxonomy: {{files: {taxonomy}}}
quotas: {{stratify_by: [demographics.gender], top_up: {{rounds: 0}}}}
llm: {{backend: openai, base_url: "{base_url}", model: fake-model, concurrency: 8, max_retries: 1}}
critic: {{min_words: 20, max_words: 200}}
deep_profile: {{enabled: {str(deep).lower()}, dimensions: {dims}, batch_size: {batch}, max_retries: 1{deep_extra}}}
dialogues: {{enabled: false}}
output: {{report: {str(deep).lower()}, report_embeddings: false}}
""",
    )


def fault(facts):
    return {0: "deep_malformed", 1: "deep_contradict", 2: "deep_placeholder", 3: "deep_repeat"}.get(
        sum(map(ord, facts["Name"])) % 6
    )


def rows_of(out):
    return sorted(pq.read_table(out / "personas").to_pylist(), key=lambda r: r["persona_index"])


@pytest.mark.e2e
def test_deep_profiles_on_the_test_server(tmp_path):
    with FakeOpenAI(deep_fault_for=fault) as server:
        manifest = build_dataset.run(
            ["--config", str(run_config(tmp_path, server.base_url)), "--output", str(tmp_path / "a")]
        )
        build_dataset.run(
            ["--config", str(run_config(tmp_path, server.base_url)), "--output", str(tmp_path / "b"),
             "--direct_running_mode=multi_processing", "--direct_num_workers=2", "--runner=DirectRunner"]
        )  # fmt: skip
        plain = build_dataset.run(
            [
                "--config",
                str(run_config(tmp_path, server.base_url, "plain", deep=False)),
                "--output",
                str(tmp_path / "c"),
            ]
        )
    rows = rows_of(tmp_path / "a")
    kinds = {fault({"Name": r["attributes"]["identity"]["name"]}) for r in rows}
    assert manifest["counts"]["accepted"] == len(rows) == 12 and len(kinds - {None}) >= 3
    summary = manifest["deep_profile"]
    assert summary["personas"] == 12 and summary["mean_selected"] == 60
    assert summary["mean_filled"] >= 50 and summary["categories"] >= 10
    for r in rows:
        filled, missing = r["deep_profile"], r["deep_profile_missing"]
        assert len(filled) + len(missing) == 60
        assert all(v["value"] and "[" not in v["value"] for v in filled)
        first = r["attributes"]["identity"]["name"].split()[0]
        kind = fault({"Name": r["attributes"]["identity"]["name"]})
        if kind == "deep_placeholder":  # bad on every ask: recorded as missing, the persona kept
            assert not filled and {m["reason"] for m in missing} == {"value_placeholder"}
        else:  # a malformed first line, a contradiction or repeats are fixed by the re-ask
            own = [v["value"] for v in filled if v["value"] != "likes things simple"]
            assert not missing and all(first in v for v in own) and len(filled) - len(own) <= 2  # repeats
            assert len({v["category"] for v in filled}) >= 10
            assert not any("years old" in v["value"] for v in filled)
    rejected_share = sum(len(r["deep_profile_missing"]) for r in rows) / (60 * 12)
    assert summary["missing_by_reason"] == {"value_placeholder": round(rejected_share * 720)}
    # the same selections and values with two workers; the same core attributes as without
    assert [r["deep_profile"] for r in rows_of(tmp_path / "b")] == [r["deep_profile"] for r in rows]
    assert [r["attributes"] for r in rows_of(tmp_path / "c")] == [r["attributes"] for r in rows]
    assert "deep_profile" not in pq.read_schema(next((tmp_path / "c" / "personas").glob("*.parquet"))).names
    assert plain["counts"]["accepted"] == 12 and "deep_profile" not in plain
    # queryable: one row per value with polars and duckdb
    shards = str(tmp_path / "a" / "personas" / "*.parquet")
    exploded = (
        pl.read_parquet(shards).select("persona_id", "deep_profile").explode("deep_profile").unnest("deep_profile")
    )
    assert exploded.height == summary["filled"]
    per_cat = duckdb.sql(
        f"SELECT d.category, count(*) FROM (SELECT unnest(deep_profile) AS d FROM '{shards}') GROUP BY 1"
    ).fetchall()
    assert sum(n for _, n in per_cat) == summary["filled"] and len(per_cat) == summary["categories"]
    # the quality report and the dataset card describe them
    report = json.loads((tmp_path / "a" / "quality_report.json").read_text())["deep_profile"]
    assert report["mean_filled"] == summary["mean_filled"] and len(report["by_category"]) >= 10
    assert "## Deep profiles" in (tmp_path / "a" / "README.md").read_text()
    assert "Deep profiles</h2>" in (tmp_path / "a" / "quality_report.html").read_text()


@pytest.mark.e2e
def test_one_dimension_per_call(tmp_path):
    """`one_per_call`: every request asks for one item and stops at the end of its line; the
    lines of a batch are joined and critiqued together (a value repeated across the batch's
    calls is caught), and a re-ask asks only for the values that were bad. 240 dimensions asked
    of a tree of 171 leave the last batch of 60 with none due: its personas go on unasked."""
    config = run_config(tmp_path, "http://unused", num=6, deep_extra=", one_per_call: true", dims=240, batch=60)
    with FakeOpenAI(deep_fault_for=fault) as server:
        config.write_text(config.read_text().replace("http://unused", server.base_url))
        manifest = build_dataset.run(["--config", str(config), "--output", str(tmp_path / "a")])
        requests = list(server.deep_requests)
    asked = [
        re.findall(r"^(.+):$", r["messages"][-1]["content"].split("`item: value`:")[-1].split("\n\n")[0], re.M)
        for r in requests
    ]
    assert requests and all(len(items) == 1 for items in asked), [a for a in asked if len(a) != 1][:2]
    assert all(r.get("stop") == ["\n"] for r in requests)
    rows = rows_of(tmp_path / "a")
    kinds = [fault({"Name": r["attributes"]["identity"]["name"]}) for r in rows]
    assert len(rows) == 6 and {"deep_malformed", "deep_repeat"} <= set(kinds)
    first_asks = sum(1 for r in requests if "An earlier answer" not in r["messages"][-1]["content"])
    selected = manifest["deep_profile"]["mean_selected"]  # all the tree allows (no two near-identical)
    assert 150 < selected <= 171 and selected == int(selected)
    assert first_asks == 6 * selected  # one call per selected dimension, then re-asks of the bad ones only
    for r, kind in zip(rows, kinds, strict=True):
        filled, missing = r["deep_profile"], r["deep_profile_missing"]
        assert len(filled) + len(missing) == selected
        if kind == "deep_placeholder":
            assert not filled and {m["reason"] for m in missing} == {"value_placeholder"}
        else:  # malformed lines and repeated values are asked again and fixed
            assert not missing, (kind, missing[:3])
    assert manifest["deep_profile"]["mean_filled"] == round(selected * (6 - kinds.count("deep_placeholder")) / 6, 2)


def test_the_narrative_prompt_can_draw_on_deep_profile_values():
    from pipelines.common.settings import CriticSettings, GenerationSettings
    from pipelines.persona.task import PersonaTask

    config = load_config(REPO / "configs" / "deep_profile.yaml")
    pop = population(config)
    attrs = pop.sampler.sample_block(0, 1).flat(0)
    value = {"path": "profile.food.usual_breakfast", "category": "Food", "value": "porridge"}
    spec = {"_kind": "persona", "persona_id": "p", "persona_index": 0, "_attrs": attrs, "deep_profile": [value]}
    task = PersonaTask(GenerationSettings.from_config(), CriticSettings.from_config(), deep_facts=4)
    assert "- Usual breakfast: porridge" in task.request(spec, 0, False).messages[-1][1]
    assert (
        "porridge"
        not in PersonaTask(GenerationSettings.from_config(), CriticSettings.from_config())
        .request(spec, 0, False)
        .messages[-1][1]
    )
    assert len(dimensions_of(pop.taxonomy)) >= 150

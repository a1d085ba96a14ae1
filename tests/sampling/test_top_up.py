"""Quota top-up: personas lost to the critic, validation or dedup are replaced by new personas of
the same quota cell, within a bound, and cells that stay short are named with the reason."""

import hashlib
import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipelines import build_dataset
from pipelines.config import load_config
from pipelines.dedup.near_duplicates import priority
from pipelines.sampling import TopUpPlan, index_ranges, population
from pipelines.taxonomy import load_taxonomy
from tests.conftest import REPO, write
from tests.dataset_checks import check_dataset
from tests.fake_openai import FakeOpenAI

TAXONOMY = load_taxonomy([REPO / "taxonomy" / "base.yaml"])


def run_config(tmp_path, base_url, n=40, rounds=3, fraction=2.0):
    return write(
        tmp_path,
        f"topup-{rounds}-{fraction}.yaml",
        f"""
run: {{name: topup, seed: 5, num_personas: {n}}}
taxonomy: {{files: ["{REPO}/taxonomy/base.yaml"]}}
quotas:
  stratify_by: [demographics.age_band, demographics.gender]
  top_up: {{rounds: {rounds}, max_extra_fraction: {fraction}}}
llm: {{backend: openai, base_url: "{base_url}", model: fake-model, concurrency: 8, max_retries: 1}}
# grounding off: it would reject the clones (another persona's text) as off_persona, and these
# tests need them to reach dedup, whose losses the top-up replaces
critic: {{min_words: 20, max_words: 200, threshold: 0.6, grounding: false}}
output: {{report: false}}
""",
    )


def clone_some(facts):
    """About a quarter of all personas, replacements included, get the same text (but for the name)."""
    return "copy" if int(hashlib.sha256(facts["Name"].encode()).hexdigest(), 16) % 4 == 0 else None


@pytest.fixture
def plan(tmp_path):
    pop = population(load_config(run_config(tmp_path, "http://unused")))
    return pop


def test_allocation_fills_short_cells_within_the_bound(plan):
    cells = plan.plan.cells
    total = plan.plan.total
    for fraction in (0.5, 1.0):
        top_up = TopUpPlan.of(plan.plan, fraction)
        assert top_up.bounds == tuple(int(np.ceil(fraction * c.target)) for c in cells)
        # every cell's replacement indices lie in a block of its own, past the plan
        blocks = [(total + o, total + o + b) for o, b in zip(top_up.offsets, top_up.bounds, strict=True)]
        assert blocks[0][0] == total and all(a[1] == b[0] for a, b in zip(blocks, blocks[1:], strict=False))
    top_up = TopUpPlan.of(plan.plan, 1.0)
    full = {c.cell_id: c.target for c in cells}
    assert top_up.allocate(full, None) == {"ranges": [], "used": {}, "at_bound": []}

    a, b = 0, max(range(len(cells)), key=lambda k: cells[k].target)  # b: the biggest cell
    short = {**full, cells[a].cell_id: cells[a].target - 1, cells[b].cell_id: 0}
    first = top_up.allocate(short, None)
    start_a, start_b = total + top_up.offsets[a], total + top_up.offsets[b]
    assert first["ranges"] == [(a, start_a, start_a + 1), (b, start_b, start_b + cells[b].target)]
    assert first["used"] == {a: 1, b: cells[b].target}
    # the replacements were lost again: the next round continues after the indices handed out
    second = top_up.allocate(short, first["used"])
    assert second["ranges"][0] == (a, start_a + 1, start_a + 2) and second["used"][a] == 2
    # until the bound: a cell never gets more than ceil(fraction * target) replacements
    half = TopUpPlan.of(plan.plan, 0.5)
    used = half.allocate({}, None)["used"]
    assert used == {k: bound for k, bound in enumerate(half.bounds) if bound}
    assert half.allocate({}, used)["ranges"] == []
    assert half.allocate({}, used)["at_bound"] == [c.cell_id for c in cells if c.target]
    assert TopUpPlan.of(plan.plan, 0.0).allocate({}, None)["ranges"] == []
    # a large shortfall is handed out in the same 1,000-index ranges as the plan's own indices
    assert index_ranges(2500, first=200) == [(200, 1200), (1200, 2200), (2200, 2500)]


def test_replacements_are_sampled_in_their_cell(plan):
    sampler = plan.sampler
    cells = plan.plan.cells
    indices = np.arange(plan.plan.total, plan.plan.total + 6)
    block = sampler.sample_in_cells(indices, np.array([3] * 6))
    for row in range(6):
        flat = block.flat(row)
        assert all(flat[path] == value for path, value in cells[3].values)
    again = sampler.sample_in_cells(indices[2:3], np.array([3]))
    assert again.flat(0) == block.flat(2)  # a pure function of (seed, index, cell)
    with pytest.raises(IndexError, match="past the plan"):
        sampler.sample_in_cells(np.array([0]), np.array([3]))


def test_priority_keeps_what_an_earlier_round_kept():
    kept = {
        "_kind": "persona",
        "persona_id": "p-1-0000001",
        "persona_index": 1,
        "top_up_round": 0,
        "critic": {"score": 0.6},
    }
    better = {
        "_kind": "persona",
        "persona_id": "p-1-0000090",
        "persona_index": 90,
        "top_up_round": 1,
        "critic": {"score": 0.99},
    }
    assert priority(kept) < priority(better)
    same_round = {**better, "top_up_round": 0}
    assert priority(same_round) < priority(kept)  # within a round the critic score decides


def test_top_up_restores_the_quotas(tmp_path):
    with FakeOpenAI(clone_some) as fake:
        out = tmp_path / "out"
        manifest = build_dataset.run(["--config", str(run_config(tmp_path, fake.base_url)), "--output", str(out)])
    taxonomy_manifest = check_dataset(out, TAXONOMY, 40, 5)
    counts = manifest["counts"]
    assert counts["topped_up"] > 0 and counts["rejected_by_reason"]["duplicate_exact"] >= counts["topped_up"] // 2
    # every cell is back at its target, exactly
    assert counts["short_cells"] == 0 and counts["accepted"] == 40
    assert all(q["achieved"] == q["target"] and q["short_because"] is None for q in manifest["quotas"])
    assert taxonomy_manifest["quotas"] == manifest["quotas"]

    personas = pq.read_table(out / "personas").to_pylist()
    rejected = pq.read_table(out / "rejected").to_pylist()
    round_of = {r["persona_id"]: r["top_up_round"] for r in personas + rejected}
    replacements = [r for r in personas if r["top_up_round"] > 0]
    assert replacements and all(r["persona_index"] >= 40 for r in replacements)
    # a cell got replacements only for what it lost: one per lost persona, lost replacements included
    for q in manifest["quotas"]:
        assert q["top_up"]["generated"] == sum(q["lost"].values())
    # a duplicate never displaces a record kept in an earlier round: survivors are as old or older
    dups = [r for r in rejected if r["reason"].startswith("duplicate")]
    assert dups and all(round_of[r["duplicate_of"]] <= r["top_up_round"] for r in dups)
    assert all(round_of[r["duplicate_of"]] == 0 for r in dups if r["top_up_round"] == 0)
    # the replacements' own clones were caught against everything kept before them
    assert {r["top_up_round"] for r in dups} >= {0, 1}
    texts = [r["narrative"].replace(r["attributes"]["identity"]["name"], "") for r in personas]
    assert len(set(texts)) == len(texts)


def test_cells_that_stay_short_are_named_with_the_reason(tmp_path):
    with FakeOpenAI(clone_some) as fake:
        out = tmp_path / "out"
        cfg = run_config(tmp_path, fake.base_url, rounds=1, fraction=0.25)
        manifest = build_dataset.run(["--config", str(cfg), "--output", str(out)])
    check_dataset(out, TAXONOMY, 40, 5)
    short = [q for q in manifest["quotas"] if q["shortfall"] > 0]
    assert short and manifest["counts"]["short_cells"] == len(short)
    for q in short:
        assert q["lost"] and q["short_because"].startswith("lost ")
        assert str(q["lost"].get("duplicate_exact", "")) in q["short_because"]
        bound_hit = q["top_up"]["generated"] >= q["top_up"]["bound"]
        assert ("bound was reached" in q["short_because"]) == bound_hit
        assert ("top-up rounds" in q["short_because"]) != bound_hit
    assert json.loads((out / "manifest.json").read_text())["quotas"] == manifest["quotas"]

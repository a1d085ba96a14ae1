"""Quota planning, constraints, conditional sampling and determinism of the attribute sampler."""

import json
from collections import Counter

import polars as pl
import pyarrow.parquet as pq
import pytest

from pipelines import sample_attributes
from pipelines.errors import InputError
from pipelines.taxonomy import AttributeSampler, load_taxonomy, plan_quotas
from pipelines.taxonomy.sampler import _name_table, check_feasibility
from tests.conftest import REPO, write

TAX = """
taxonomy: jobs
version: "1"
locales: {Germany: de_DE, Mexico: es_MX}
categories:
  - id: demo
    attributes:
      - id: band
        type: categorical
        values: [{value: young, weight: 2}, {value: mid, weight: 2}, {value: old, weight: 1}]
      - id: age
        type: integer
        cases:
          - {when: {demo.band: [young]}, min: 18, max: 29}
          - {when: {demo.band: [mid]}, min: 30, max: 59}
          - {min: 60, max: 90, mean: 72, sd: 8}
      - id: gender
        type: categorical
        values: [Female, Male]
  - id: place
    categories:
      - id: home
        attributes:
          - id: country
            type: categorical
            values: [Germany, Mexico]
  - id: who
    attributes:
      - id: name
        type: name
        locale_from: place.home.country
        gender_from: demo.gender
  - id: work
    attributes:
      - id: job
        type: categorical
        cases:
          - {when: {demo.age: {min: 67}}, values: [retired, {value: volunteer, weight: 0.2}]}
          - {values: [surgeon, clerk, student, retired]}
      - id: years
        type: integer
        min: 0
        max: 50
  - id: life
    attributes:
      - id: hobbies
        type: multi
        pick: {min: 1, max: 3}
        values: [chess, golf, knitting, {value: running, weight: 5}]
      - id: pet
        type: categorical
        probability: 0.5
        values: [cat, dog]
constraints:
  - id: surgeon_age
    description: nobody is a surgeon before 27
    when: {work.job: [surgeon]}
    require: {demo.age: {min: 27}}
  - id: retiree_age
    description: retirement from 55
    when: {work.job: [retired]}
    require: {demo.age: {min: 55}}
  - id: student_age
    when: {work.job: [student]}
    require: {demo.age: {max: 35}}
  - id: experience_fits
    description: "years of experience <= age - 16, approximated by bands"
    when: {demo.band: [young]}
    require: {work.years: {max: 13}}
"""


@pytest.fixture
def tax(tmp_path):
    return load_taxonomy([write(tmp_path, "jobs.yaml", TAX)])


def sampler_for(tax, n=2000, seed=11, strata=("demo.band", "demo.gender"), **kw):
    return AttributeSampler(tax, plan_quotas(tax, n, strata, **kw), seed)


def test_blocks_rows_and_order_do_not_change_a_persona(tax):
    s = sampler_for(tax, 3000)
    whole = s.sample_block(0, 3000)
    parts = [s.sample_block(a, b) for a, b in ((2000, 3000), (0, 7), (7, 2000))]
    rows = {int(i): p.flat(r) for p in parts for r, i in enumerate(p.indices)}
    for i in (0, 6, 7, 1999, 2000, 2999, 1234):
        assert whole.flat(i) == rows[i] == s.sample(i)[1]
    other = sampler_for(tax, 3000, seed=12)
    assert sum(other.sample(i)[1] != whole.flat(i) for i in range(50)) >= 45


def test_quotas_are_exact_and_constraints_always_hold(tax):
    s = sampler_for(tax, 2000)
    block = s.sample_block(0, 2000)
    flats = [block.flat(i) for i in range(2000)]
    got = Counter((f["demo.band"], f["demo.gender"]) for f in flats)
    want = {tuple(v for _, v in c.values): c.target for c in s.plan.cells}
    assert got == want and sum(want.values()) == 2000
    for f in flats:
        for rule in tax.constraints:
            assert rule.holds(f), (rule.id, f)
        if f["demo.age"] >= 67:
            assert f["work.job"] in ("retired", "volunteer")  # numeric condition in a case
        assert 1 <= len(f["life.hobbies"]) <= 3 and len(set(f["life.hobbies"])) == len(f["life.hobbies"])
    jobs = Counter(f["work.job"] for f in flats)
    assert jobs["surgeon"] > 100 and jobs["student"] > 100  # constraints trim, they do not empty
    pets = Counter(f["life.pet"] for f in flats)
    assert 850 < pets[None] < 1150  # optional attribute absent about half the time
    hobbies = Counter(h for f in flats for h in f["life.hobbies"])
    assert hobbies["running"] > 2 * hobbies["golf"]  # weights matter in pick-k groups


def test_names_follow_locale_and_gender(tax):
    s = sampler_for(tax, 400)
    block = s.sample_block(0, 400)
    for i in range(400):
        f = block.flat(i)
        locale = {"Germany": "de_DE", "Mexico": "es_MX"}[f["place.home.country"]]
        firsts = _name_table(locale, f["demo.gender"].lower(), "first")[0]
        lasts = _name_table(locale, f["demo.gender"].lower(), "last")[0]
        assert any(f["who.name"] == f"{a} {b}" for a in firsts if f["who.name"].startswith(a) for b in lasts)
    assert len({block.flat(i)["who.name"] for i in range(400)}) > 300


def test_config_shares_and_pinned_counts(tax):
    plan = plan_quotas(
        tax,
        1000,
        ("demo.band", "demo.gender"),
        shares={"demo.gender": {"Female": 3, "Male": 1}},
        counts=[{"cell": {"demo.band": "old", "demo.gender": "Male"}, "count": 100}],
    )
    targets = {c.cell_id: c.target for c in plan.cells}
    assert sum(targets.values()) == 1000
    assert targets["demo.band=old;demo.gender=Male"] == 100
    female = sum(t for k, t in targets.items() if "Female" in k)
    assert female == 710  # the other 900 spread by share: 900 * 0.75 / (1 - 0.2 * 0.25) = 710.5
    with pytest.raises(InputError, match="not values of"):
        plan_quotas(tax, 10, ("demo.band",), shares={"demo.band": {"ancient": 1}})
    with pytest.raises(InputError, match="not in quotas.stratify_by"):
        plan_quotas(tax, 10, ("demo.band",), shares={"demo.gender": {"Male": 1}})
    with pytest.raises(InputError, match="more than 10"):
        plan_quotas(tax, 10, ("demo.band",), counts=[{"cell": {"demo.band": "old"}, "count": 11}])
    pinned = plan_quotas(
        tax, 10, ("demo.band",), shares={"demo.band": {"young": 1}}, counts=[{"cell": {"demo.band": "old"}, "count": 2}]
    )
    assert {c.cell_id: c.target for c in pinned.cells} == {"demo.band=young": 8, "demo.band=old": 2}


def test_pinning_a_cell_the_conditions_never_produce_fails(base_taxonomy):
    strata = ("location.residence.country", "location.residence.region", "location.residence.city")
    germany = {"location.residence.country": "Germany", "location.residence.region": "Bavaria"}
    with pytest.raises(InputError, match="infeasible") as err:
        plan_quotas(
            base_taxonomy,
            10,
            strata,
            counts=[{"cell": {**germany, "location.residence.city": "Paris"}, "count": 1}],
        )
    assert err.value.location == "quotas.counts[0]"


def test_infeasible_cell_is_reported_before_sampling(tmp_path):
    text = (
        TAX
        + """
  - id: old_never_female
    description: an impossible rule for this test
    when: {demo.band: [old]}
    require: {demo.gender: [Male]}
"""
    )
    tax = load_taxonomy([write(tmp_path, "t.yaml", text)])
    with pytest.raises(InputError) as err:
        check_feasibility(sampler_for(tax, 100), "run.yaml")
    assert err.value.file == "run.yaml"
    assert "demo.band=old;demo.gender=Female" in err.value.location
    assert "infeasible" in err.value.problem and "old_never_female" in err.value.problem
    # Stratified by band only, the same rule is satisfiable: the sampler redraws the gender.
    s = sampler_for(tax, 100, strata=("demo.band",))
    assert min(check_feasibility(s).values()) > 0.1
    assert all(s.sample(i)[1]["demo.gender"] == "Male" for i in range(100) if s.sample(i)[1]["demo.band"] == "old")


@pytest.mark.parametrize(
    "rule, location, problem",
    [
        ("{when: {work.jobb: [surgeon]}, require: {demo.age: {min: 27}}}", "constraints[4].when", "unknown attribute"),
        (
            "{when: {work.job: [pilot]}, require: {demo.age: {min: 27}}}",
            "constraints[4].when",
            "'pilot' is not a value",
        ),
        ("{when: {work.job: [clerk]}, require: {demo.band: {min: 3}}}", "constraints[4].require", "min/max apply"),
        ("{when: {work.job: [clerk]}}", "constraints[4]", "'require' is a required property"),
    ],
)
def test_bad_constraint_names_file_and_location(tmp_path, rule, location, problem):
    path = write(tmp_path, "bad.yaml", TAX + f"  - {{id: broken, {rule[1:-1]}}}\n")
    with pytest.raises(InputError) as err:
        load_taxonomy([path])
    assert err.value.file == str(path)
    assert location in err.value.location, err.value
    assert problem in err.value.problem, err.value


def test_bad_weight_is_a_schema_error_with_its_path(tmp_path):
    path = write(tmp_path, "w.yaml", TAX.replace("{value: old, weight: 1}", "{value: old, weight: -1}"))
    with pytest.raises(InputError) as err:
        load_taxonomy([path])
    assert "categories[0].attributes[0].values[2]" in err.value.location


def test_sample_cli_is_exact_and_identical_across_worker_counts(tmp_path):
    cfg = write(
        tmp_path,
        "cfg.yaml",
        f"""
run: {{name: pop, seed: 5, num_personas: 1200}}
taxonomy: {{files: ["{REPO / "taxonomy" / "base.yaml"}"]}}
quotas: {{stratify_by: [demographics.age_band, demographics.gender]}}
output: {{rows_per_shard: 500}}
""",
    )
    common = ["--config", str(cfg)]
    one = sample_attributes.run([*common, "--output", str(tmp_path / "one")])
    two = sample_attributes.run(
        [*common, "--output", str(tmp_path / "two"), "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    )
    assert one["quota_max_abs_deviation"] == 0 == two["quota_max_abs_deviation"]
    assert [s["rows"] for s in one["shards"]] == [500, 500, 200]
    assert [s["sha256"] for s in one["shards"]] == [s["sha256"] for s in two["shards"]]  # byte-identical
    tax = load_taxonomy([REPO / "taxonomy" / "base.yaml"])
    for path, kl in one["kl_divergence"].items():  # small-sample KL bias is about (values - 1) / 2n
        assert kl < len(tax.attribute(path).domain()) / 1200 + 0.05, path
    df = pl.read_parquet(tmp_path / "one" / "attributes" / "*.parquet")
    assert df.height == 1200 and df["persona_index"].to_list() == list(range(1200))
    ages = df.select(pl.col("attributes").struct.field("demographics").struct.field("age")).to_series()
    assert ages.min() >= 18
    counts = df.group_by("quota_cell").len()
    targets = {q["cell_id"]: q["target"] for q in one["quota"]}
    assert {r["quota_cell"]: r["len"] for r in counts.to_dicts()} == targets
    # The same persona as the full pipeline's sampler would produce.
    manifest = json.loads((tmp_path / "one" / "sample_manifest.json").read_text())
    assert manifest["hashes"]["taxonomy"] and "versions" in manifest
    row = pq.read_table(tmp_path / "one" / "attributes" / "part-00001.parquet").slice(3, 1).to_pylist()[0]
    assert row["persona_id"] == "p-5-0000503"

from collections import Counter

import pytest

from pipelines.errors import InputError
from pipelines.taxonomy import AttributeSampler, load_taxonomy, plan_quotas
from tests.conftest import write

MINI = """
taxonomy: mini
version: "1"
locales: {Utopia: en_US}
categories:
  - id: demo
    attributes:
      - id: band
        type: categorical
        values: [{value: young, weight: 3}, {value: old, weight: 1}]
      - id: age
        type: integer
        cases:
          - {when: {demo.band: [young]}, min: 18, max: 30}
          - {min: 65, max: 90}
  - id: place
    attributes:
      - id: country
        type: categorical
        values: [Utopia]
  - id: who
    attributes:
      - id: name
        type: name
        locale_from: place.country
  - id: life
    attributes:
      - id: job
        type: categorical
        cases:
          - {when: {demo.band: [old]}, values: [retired]}
          - {values: [student, clerk]}
      - id: hobbies
        type: multi
        pick: {min: 1, max: 2}
        values: [chess, golf, knitting]
      - id: pet
        type: categorical
        probability: 0.5
        values: [cat, dog]
"""


def test_shipped_taxonomy_loads_with_dependencies_first(base_taxonomy):
    paths = base_taxonomy.paths
    assert paths.index("demographics.age_band") < paths.index("demographics.age")
    assert paths.index("education.level") < paths.index("work.employment.occupation")
    assert paths.index("location.residence.country") < paths.index("identity.name")
    assert len(base_taxonomy.content_hash) == 64


def test_quota_plan_is_exact_and_follows_weights(tmp_path):
    tax = load_taxonomy([write(tmp_path, "t.yaml", MINI)])
    plan = plan_quotas(tax, 101, ("demo.band",))
    targets = {c.values[0][1]: c.target for c in plan.cells}
    assert sum(targets.values()) == 101
    assert targets == {"young": 76, "old": 25}  # 75.75 and 25.25 -> largest remainder
    assert plan.cell_for(0).cell_id == "demo.band=young"
    assert plan.cell_for(100).cell_id == "demo.band=old"


def test_sampling_is_deterministic_and_respects_conditions(tmp_path):
    tax = load_taxonomy([write(tmp_path, "t.yaml", MINI)])
    plan = plan_quotas(tax, 200, ("demo.band",))
    a = AttributeSampler(tax, plan, seed=7)
    b = AttributeSampler(tax, plan, seed=7)
    forward = [a.sample(i) for i in range(200)]
    backward = [b.sample(i) for i in reversed(range(200))][::-1]
    assert forward == backward  # order of evaluation does not matter
    assert AttributeSampler(tax, plan, seed=8).sample(5) != forward[5]
    bands = Counter(flat["demo.band"] for _, flat in forward)
    assert bands == {"young": 150, "old": 50}  # exact quotas, not expectations
    for cell_id, flat in forward:
        assert cell_id == f"demo.band={flat['demo.band']}"
        if flat["demo.band"] == "old":
            assert 65 <= flat["demo.age"] <= 90 and flat["life.job"] == "retired"
        else:
            assert 18 <= flat["demo.age"] <= 30 and flat["life.job"] in ("student", "clerk")
        assert 1 <= len(flat["life.hobbies"]) <= 2 and len(set(flat["life.hobbies"])) == len(flat["life.hobbies"])
        assert flat["life.pet"] in (None, "cat", "dog")
        assert len(flat["who.name"].split()) >= 2
    pets = Counter(flat["life.pet"] is None for _, flat in forward)
    assert 60 < pets[True] < 140  # optional attribute is sometimes absent


def test_shipped_taxonomy_never_samples_impossible_combinations(base_taxonomy):
    plan = plan_quotas(base_taxonomy, 500, ("demographics.age_band", "demographics.gender"))
    sampler = AttributeSampler(base_taxonomy, plan, seed=1)
    for i in range(500):
        _, flat = sampler.sample(i)
        if flat["demographics.age"] >= 75:
            assert flat["work.employment.occupation"].startswith("Retired")
        if flat["demographics.age"] < 25:
            assert flat["education.level"] not in ("Master's degree", "Doctorate")
            assert not flat["work.employment.occupation"].startswith("Retired")


def test_extension_file_adds_and_replaces_attributes(tmp_path):
    base = write(tmp_path, "base.yaml", MINI)
    ext = write(
        tmp_path,
        "ext.yaml",
        """
taxonomy: ext
version: "2"
categories:
  - id: life
    attributes:
      - id: pet
        type: categorical
        values: [parrot]
      - id: sport
        type: categorical
        values: [rowing]
""",
    )
    tax = load_taxonomy([base, ext])
    assert tax.names == ("mini", "ext")
    assert tax.attribute("life.pet").cases[0].values == (("parrot", 1.0),)
    assert "life.sport" in tax.paths


@pytest.mark.parametrize(
    "mutation, location, problem",
    [
        ("demo.band: [young]}, min: 18", "categories[0].attributes[1].cases[0].when", "unknown attribute"),
        ("min: 65, max: 90", "categories[0].attributes[1]", "min 95 is greater than max 90"),
        ("values: [student, clerk]", "categories[3].attributes[0]", "duplicate value"),
        ("type: name", "categories[2].attributes[0].type", "is not one of"),
    ],
)
def test_bad_taxonomy_names_file_location_and_problem(tmp_path, mutation, location, problem):
    replacement = {
        "demo.band: [young]}, min: 18": "demo.bnad: [young]}, min: 18",
        "min: 65, max: 90": "min: 95, max: 90",
        "values: [student, clerk]": "values: [student, student]",
        "type: name": "type: nickname",
    }[mutation]
    path = write(tmp_path, "bad.yaml", MINI.replace(mutation, replacement))
    with pytest.raises(InputError) as err:
        load_taxonomy([path])
    assert err.value.file == str(path)
    assert location in err.value.location
    assert problem in err.value.problem


def test_invalid_yaml_reports_line(tmp_path):
    path = write(tmp_path, "broken.yaml", "taxonomy: x\ncategories: [\n")
    with pytest.raises(InputError) as err:
        load_taxonomy([path])
    assert "line" in err.value.location and "not valid YAML" in err.value.problem


def test_circular_dependency_is_reported(tmp_path):
    text = """
taxonomy: loop
version: "1"
categories:
  - id: c
    attributes:
      - id: a
        type: categorical
        cases: [{when: {c.b: [x]}, values: [y]}, {values: [x]}]
      - id: b
        type: categorical
        cases: [{when: {c.a: [x]}, values: [y]}, {values: [x]}]
"""
    with pytest.raises(InputError, match="circular dependency"):
        load_taxonomy([write(tmp_path, "loop.yaml", text)])


def test_stratifying_on_a_dependent_attribute_alone_is_refused(base_taxonomy):
    with pytest.raises(InputError, match="depends on"):
        plan_quotas(base_taxonomy, 10, ("education.level",))
    with pytest.raises(InputError, match="unknown taxonomy attribute"):
        plan_quotas(base_taxonomy, 10, ("demographics.nope",))


def test_arrow_struct_mirrors_category_tree(base_taxonomy):
    struct = base_taxonomy.arrow_struct()
    names = [f.name for f in struct]
    assert "demographics" in names and "location" in names
    location = struct.field("location").type
    assert location.field("residence").type.field("country").type == "string"


def test_shipped_taxonomy_is_deep_rich_and_its_constraints_hold(base_taxonomy):
    tax = base_taxonomy
    assert len({a.path.split(".")[0] for a in tax.attributes}) >= 12
    assert sum(len(a.domain()) for a in tax.attributes if a.type in ("categorical", "multi")) >= 300
    assert max(len(a.path.split(".")) for a in tax.attributes) >= 3
    assert len(tax.constraints) >= 10 and tax.sources
    sampler = AttributeSampler(tax, plan_quotas(tax, 3000, ("demographics.age_band", "demographics.gender")), seed=3)
    block = sampler.sample_block(0, 3000)
    for i in range(3000):
        flat = block.flat(i)
        broken = [r.id for r in tax.constraints if not r.holds(flat)]
        assert not broken, (broken, flat)

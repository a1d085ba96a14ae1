"""`type: text` attributes: free-text dimensions kept apart from the sampled core."""

import hashlib
import json

import pytest
import yaml

from pipelines.errors import InputError
from pipelines.schemas import schema_errors
from pipelines.taxonomy import AttributeSampler, load_taxonomy, plan_quotas
from tests.conftest import REPO, write
from tests.taxonomy.test_taxonomy import MINI

# Text dimensions mixed into MINI's own categories (next to sampled attributes) and in a new tree.
EXT = """
taxonomy: mini_profile
version: "1"
categories:
  - id: life
    attributes:
      - id: bedtime_ritual
        type: text
        label: Bedtime Ritual
        description: What they do in the last half hour before sleep.
  - id: profile
    label: Profile
    attributes:
      - {id: nickname_story, type: text}
    categories:
      - id: food
        label: Food and Drink
        categories:
          - id: everyday
            label: Everyday Eating
            attributes:
              - {id: usual_breakfast, type: text, label: Usual Breakfast}
              - {id: snack, type: text}
      - id: travel
        attributes:
          - {id: dream_destination, type: text, label: Dream Destination}
"""

DIMENSIONS = (
    "life.bedtime_ritual",
    "profile.nickname_story",
    "profile.food.everyday.usual_breakfast",
    "profile.food.everyday.snack",
    "profile.travel.dream_destination",
)


@pytest.fixture
def mini(tmp_path):
    return write(tmp_path, "mini.yaml", MINI)


@pytest.fixture
def ext(tmp_path):
    return write(tmp_path, "ext.yaml", EXT)


def test_text_dimensions_are_kept_apart_from_the_sampled_core(mini, ext):
    core, both = load_taxonomy([mini]), load_taxonomy([mini, ext])
    assert [d.path for d in both.dimensions] == list(DIMENSIONS)  # file order
    assert all(d.type == "text" and d.cases == () for d in both.dimensions)
    assert both.attributes == core.attributes and both.paths == core.paths
    assert both.arrow_struct() == core.arrow_struct()
    assert both.nest({}) == core.nest({})
    assert not set(DIMENSIONS) & set(both.paths)
    bedtime = both.dimension("life.bedtime_ritual")
    assert bedtime.label == "Bedtime Ritual" and bedtime.description.startswith("What they do")
    assert bedtime.source == f"{ext}: categories[0].attributes[0]"
    with pytest.raises(KeyError):
        both.attribute("life.bedtime_ritual")


def test_sampling_is_the_same_with_and_without_dimensions(mini, ext):
    core, both = load_taxonomy([mini]), load_taxonomy([mini, ext])
    plans = [plan_quotas(t, 300, ("demo.band",)) for t in (core, both)]
    assert plans[0].cells == plans[1].cells
    blocks = [
        AttributeSampler(t, plan, seed=11).sample_block(0, 300) for t, plan in zip((core, both), plans, strict=True)
    ]
    assert list(blocks[0].columns) == list(blocks[1].columns) == list(core.paths)
    assert [blocks[0].flat(i) for i in range(300)] == [blocks[1].flat(i) for i in range(300)]


def test_shipped_base_samples_the_same_with_the_deep_profile(base_taxonomy):
    both = load_taxonomy([REPO / "taxonomy" / "base.yaml", REPO / "taxonomy" / "deep_profile.yaml"])
    assert both.attributes == base_taxonomy.attributes and both.constraints == base_taxonomy.constraints
    strata = ("demographics.age_band", "demographics.gender")
    a = AttributeSampler(base_taxonomy, plan_quotas(base_taxonomy, 200, strata), seed=5).sample_block(0, 200)
    b = AttributeSampler(both, plan_quotas(both, 200, strata), seed=5).sample_block(0, 200)
    assert [a.flat(i) for i in range(200)] == [b.flat(i) for i in range(200)]


def test_category_and_label_helpers(mini, ext):
    tax = load_taxonomy([mini, ext])
    assert {cat: [d.path for d in dims] for cat, dims in tax.dimension_categories().items()} == {
        "life": ["life.bedtime_ritual"],
        "profile": ["profile.nickname_story"],
        "profile.food": ["profile.food.everyday.usual_breakfast", "profile.food.everyday.snack"],
        "profile.travel": ["profile.travel.dream_destination"],
    }
    assert tax.dimension_category("profile.food.everyday.snack") == "profile.food"
    breakfast = "Food and Drink / Everyday Eating / Usual Breakfast"
    assert tax.label_path("profile.food.everyday.usual_breakfast") == breakfast
    assert tax.label_path("profile.food.everyday.snack") == "Food and Drink / Everyday Eating / Snack"  # id fallback
    assert tax.label_path("profile.travel.dream_destination") == "Travel / Dream Destination"
    assert tax.label_path("life.bedtime_ritual") == "Life / Bedtime Ritual"  # directly in a root category
    assert tax.label_path("profile.nickname_story") == "Profile / Nickname story"
    assert tax.category_label("profile.food") == "Food and Drink"
    with pytest.raises(KeyError):
        tax.label_path("demo.band")


def test_content_hash_is_that_of_the_raw_files(mini, ext):
    base = REPO / "taxonomy" / "base.yaml"
    raw = {"files": [yaml.safe_load(base.read_text(encoding="utf-8"))]}
    canonical = json.dumps(raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert load_taxonomy([base]).content_hash == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert load_taxonomy([mini, ext]).content_hash != load_taxonomy([mini]).content_hash


def test_a_file_of_dimensions_alone_is_an_extension_not_a_taxonomy(ext):
    with pytest.raises(InputError) as err:
        load_taxonomy([ext])
    assert err.value.file == str(ext)
    assert "no attributes to sample" in err.value.problem and "5 text dimension(s)" in err.value.problem


@pytest.mark.parametrize(
    "extra",
    ["values: [a, b]", "cases: [{values: [a]}]", "min: 1, max: 3", "probability: 0.5", "pick: {min: 1, max: 1}"],
)
def test_a_text_attribute_with_a_domain_is_refused(tmp_path, mini, extra):
    bad = EXT.replace("{id: snack, type: text}", f"{{id: snack, type: text, {extra}}}")
    path = write(tmp_path, "bad.yaml", bad)
    with pytest.raises(InputError) as err:
        load_taxonomy([mini, path])
    assert err.value.file == str(path)
    assert err.value.location == "categories[1].categories[0].categories[0].attributes[1]"
    key = extra.split(":")[0]
    assert f"text attribute 'profile.food.everyday.snack' may not have ['{key}'" in err.value.problem


def test_the_schema_itself_refuses_a_text_attribute_with_values():
    attr = {"id": "a", "type": "text", "label": "A", "values": ["x"]}
    doc = {"taxonomy": "x", "version": "1", "categories": [{"id": "c", "attributes": [attr]}]}
    assert schema_errors("taxonomy", doc) == [
        ("$.categories[0].attributes[0]", "enum", "'values' is not one of ['id', 'type', 'label', 'description']")
    ]
    attr.pop("values")
    assert schema_errors("taxonomy", doc) == []


@pytest.mark.parametrize(
    "addition, location",
    [
        (
            "constraints:\n  - {id: r, when: {life.bedtime_ritual: [reading]}, require: {demo.age: {min: 30}}}\n",
            "constraints[0].when",
        ),
        (
            "constraints:\n  - {id: r, when: {demo.band: [old]}, require: {life.bedtime_ritual: {present: true}}}\n",
            "constraints[0].require",
        ),
    ],
)
def test_constraints_may_not_reference_a_text_dimension(tmp_path, mini, addition, location):
    path = write(tmp_path, "bad.yaml", EXT + addition)
    with pytest.raises(InputError) as err:
        load_taxonomy([mini, path])
    assert (err.value.file, err.value.location) == (str(path), location)
    assert "'life.bedtime_ritual' is a text dimension" in err.value.problem


def test_conditions_and_name_sources_may_not_reference_a_text_dimension(tmp_path, ext):
    case = MINI.replace("{when: {demo.band: [old]}", "{when: {life.bedtime: [x]}")
    text = case.replace(
        "      - id: pet\n", "      - {id: bedtime, type: text, label: Bedtime}\n      - id: pet\n"
    )  # a text dimension in the same category as sampled ones, in the base file itself
    path = write(tmp_path, "bad.yaml", text)
    with pytest.raises(InputError) as err:
        load_taxonomy([path])
    assert err.value.location == "categories[3].attributes[0].cases[0].when"
    assert "'life.bedtime' is a text dimension" in err.value.problem

    named = MINI.replace("locale_from: place.country", "locale_from: life.bedtime_ritual")
    path = write(tmp_path, "named.yaml", named)
    with pytest.raises(InputError, match="'life.bedtime_ritual' is a text dimension"):
        load_taxonomy([path, ext])


def test_an_extension_may_turn_a_sampled_attribute_into_a_dimension(tmp_path, mini):
    text = 'taxonomy: e\nversion: "1"\ncategories:\n  - {id: life, attributes: [{id: pet, type: text}]}\n'
    ext = write(tmp_path, "ext.yaml", text)
    tax = load_taxonomy([mini, ext])
    assert "life.pet" not in tax.paths and [d.path for d in tax.dimensions] == ["life.pet"]

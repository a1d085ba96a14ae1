"""The tree importer: DeepPersona-style nested JSON to a taxonomy extension of text dimensions."""

import json
import shlex
import shutil
import time

import pytest

from pipelines.taxonomy import load_taxonomy
from pipelines.taxonomy.import_tree import main, run, similarity, slug, words
from tests.conftest import REPO, write

BASE = REPO / "taxonomy" / "base.yaml"

TREE = """{
  "Lifestyle and Daily Routine": {
    "Sleep Patterns": {"Bedtime Ritual": {}, "bedtime  ritual": {}, "Nap Habit": {}},
    "Morning Person or Night Owl": {}
  },
  "Beliefs and Values": {
    "Core Values and Beliefs": {"Guiding Principle": {}, "Life Motto": {}},
    "Core Values, Beliefs, and Philosophy": {"Guiding Principle": {}, "View on Fate": {}},
    "Favourite Food": {},
    "Least Favourite Food": {}
  },
  "Food & Drink": {"Everyday": {"Usual Breakfast": {}}},
  "food, drink": {"Everyday": {"Snack of Choice": {}}},
  "401k Plans": {},
  "Partner's Job": {}
}"""


def _import(tmp_path, tree_text, *extra):
    tree = write(tmp_path, "tree.json", tree_text)
    out = tmp_path / "out" / "ext.yaml"
    return run([str(tree), "--output", str(out), *extra]), out


def test_slugs_are_schema_ids_and_names_stay_labels():
    assert slug("Lifestyle and Daily Routine") == "lifestyle_and_daily_routine"
    assert slug("Partner's Job") == "partners_job"
    assert slug("  Café -- Life!  ") == "cafe_life"
    assert slug("401k Plans") == "n_401k_plans"
    assert slug("日本") == slug("日本") != slug("中国")
    assert slug("日本").startswith("x_")
    assert words("Core Values, Beliefs, and Philosophy") == {"core", "value", "belief", "philosophy"}
    assert similarity(words("Core Values and Beliefs"), words("Core Values, Beliefs, and Philosophy")) == 0.75
    assert similarity(words("Work Habits"), words("Money Habits")) < 0.6


def test_good_tree_imports_with_paths_labels_and_merges(tmp_path):
    m, out = _import(tmp_path, TREE)
    tax = load_taxonomy([BASE, out])
    paths = [d.path for d in tax.dimensions]
    assert paths == [
        "profile.n_401k_plans",
        "profile.partners_job",
        "profile.lifestyle_and_daily_routine.morning_person_or_night_owl",
        "profile.lifestyle_and_daily_routine.sleep_patterns.bedtime_ritual",
        "profile.lifestyle_and_daily_routine.sleep_patterns.nap_habit",
        "profile.beliefs_and_values.favourite_food",
        "profile.beliefs_and_values.least_favourite_food",
        "profile.beliefs_and_values.core_values_and_beliefs.guiding_principle",
        "profile.beliefs_and_values.core_values_and_beliefs.life_motto",
        "profile.beliefs_and_values.core_values_beliefs_and_philosophy.guiding_principle",
        "profile.beliefs_and_values.core_values_beliefs_and_philosophy.view_on_fate",
        "profile.food_drink.everyday.usual_breakfast",
        "profile.food_drink.everyday.snack_of_choice",
    ]
    assert tax.label_path(paths[3]) == "Lifestyle and Daily Routine / Sleep Patterns / Bedtime Ritual"
    assert tax.label_path(paths[-1]) == "Food & Drink / Everyday / Snack of Choice"  # first name is the label
    assert tax.label_path(paths[1]) == "Profile / Partner's Job"
    assert list(tax.dimension_categories()) == [
        "profile",
        "profile.lifestyle_and_daily_routine",
        "profile.beliefs_and_values",
        "profile.food_drink",
    ]
    assert tax.attributes == load_taxonomy([BASE]).attributes
    assert (m["top_level_categories"], m["leaves"], m["max_depth"]) == (3, 13, 3)
    assert m["duplicates_merged"] == [  # level by level
        '$["food, drink"]: same id food_drink as $["Food & Drink"]',
        '$["Lifestyle and Daily Routine"]["Sleep Patterns"]["bedtime  ritual"]: same id bedtime_ritual as'
        ' $["Lifestyle and Daily Routine"]["Sleep Patterns"]["Bedtime Ritual"]',
        '$["food, drink"]["Everyday"]: repeated key',
    ]
    assert m["near_duplicates"] == [
        {
            "kept": '$["Beliefs and Values"]["Core Values and Beliefs"]',
            "other": '$["Beliefs and Values"]["Core Values, Beliefs, and Philosophy"]',
            "similarity": 0.75,
        }
    ]  # "Favourite Food" / "Least Favourite Food" are leaves: never compared
    assert m["near_duplicates_merged"] is False


def test_near_duplicates_are_merged_only_with_the_flag(tmp_path):
    m, out = _import(tmp_path, TREE, "--merge-similar", "--root", "deep", "--name", "mine")
    tax = load_taxonomy([BASE, out])
    assert tax.names[-1] == "mine"
    values = [d.path for d in tax.dimensions if ".core_values" in d.path]
    assert values == [
        "deep.beliefs_and_values.core_values_and_beliefs.guiding_principle",
        "deep.beliefs_and_values.core_values_and_beliefs.life_motto",
        "deep.beliefs_and_values.core_values_and_beliefs.view_on_fate",
    ]
    assert m["leaves"] == 12 and m["near_duplicates_merged"] is True and len(m["near_duplicates"]) == 1
    repeated = '$["Beliefs and Values"]["Core Values, Beliefs, and Philosophy"]["Guiding Principle"]: repeated key'
    assert repeated in m["duplicates_merged"]


def test_summary_and_header(tmp_path, capsys):
    tree = write(tmp_path, "tree.json", TREE)
    out = tmp_path / "ext.yaml"
    assert main([str(tree), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    for line in (
        "  top-level categories: 3",
        "  leaves (text dimensions): 13",
        "  max depth: 3 (levels in the tree; paths add the root)",
        "  duplicates merged: 3",
        "  near-duplicate names: 1 (not merged; --merge-similar merges them)",
        f"  output: {out}",
    ):
        assert line in printed.splitlines()
    header = out.read_text(encoding="utf-8").splitlines()[:3]
    assert "tree.json" in header[0]
    assert header[2] == f"#   python -m pipelines.taxonomy.import_tree {tree} --output {out}"


@pytest.mark.parametrize(
    "text, extra, location, problem",
    [
        ('{"A": {"B": {}', (), "line 1, column 15", "not valid JSON"),
        ("[1, 2]", (), "$", "the top level must be an object of categories, found a list"),
        ('{"A": {"B": [1]}}', (), '$["A"]["B"]', "found a list"),
        ('{"A": {"B": "sleep"}}', (), '$["A"]["B"]', "found a string"),
        ('{"A": {"B": {"C": 3}}}', (), '$["A"]["B"]["C"]', "found a number"),
        ('{"A": {"B": null}}', (), '$["A"]["B"]', "found null"),
        ('{"A": true}', (), '$["A"]', "found a boolean"),
        ('{"A": {"": {}}}', (), '$["A"][""]', "empty key"),
        ('{"A": {"  ": {}}}', (), '$["A"]["  "]', "empty key"),
        ('{"A": {"B": {"C": {}}}}', ("--max-depth", "2"), '$["A"]["B"]["C"]', "more than --max-depth 2"),
        ("{}", (), "$", "the tree is empty"),
    ],
)
def test_malformed_trees_name_file_json_path_and_problem(tmp_path, capsys, text, extra, location, problem):
    tree = write(tmp_path, "bad.json", text)
    assert main([str(tree), "--output", str(tmp_path / "x.yaml"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: {tree}: at {location}: ") and problem in err
    assert not (tmp_path / "x.yaml").exists()


def test_missing_file_and_bad_options(tmp_path, capsys):
    assert main([str(tmp_path / "none.json"), "--output", str(tmp_path / "x.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err
    tree = write(tmp_path, "t.json", '{"A": {}}')
    assert main([str(tree), "--output", str(tmp_path / "x.yaml"), "--root", "Profile"]) == 2
    assert "--root" in capsys.readouterr().err


def _big_tree(fan=(6, 6, 5, 5, 5)) -> dict:
    """6*6*5*5*5 = 4,500 leaves at depth 5, with realistic, partly repeated words."""
    topics = ["Sleep Habits", "Money Matters", "Food Tastes", "Travel Plans", "Work Style", "Family Life"]

    def level(depth: int, prefix: str) -> dict:
        if depth == len(fan):
            return {}
        return {f"{topics[i % 6]} {prefix}{i}": level(depth + 1, f"{prefix}{i}.") for i in range(fan[depth])}

    return level(0, "")


def test_a_large_deep_tree_imports_fast_and_loads(tmp_path):
    tree = write(tmp_path, "big.json", json.dumps(_big_tree()))
    out = tmp_path / "big.yaml"
    started = time.perf_counter()
    m = run([str(tree), "--output", str(out)])
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0, elapsed  # a loose upper bound, as the issue demands
    assert (m["leaves"], m["max_depth"], m["top_level_categories"]) == (4500, 5, 6)
    tax = load_taxonomy([BASE, out])
    assert len(tax.dimensions) == 4500 and len(tax.dimension_categories()) == 6
    assert all(len(d.path.split(".")) == 6 for d in tax.dimensions)


def test_shipped_deep_profile_loads_and_is_rich(base_taxonomy):
    tax = load_taxonomy([BASE, REPO / "taxonomy" / "deep_profile.yaml"])
    groups = tax.dimension_categories()
    assert len(tax.dimensions) >= 150 and len(groups) >= 12
    assert all(len(dims) >= 10 for dims in groups.values())
    assert tax.attributes == base_taxonomy.attributes
    assert all(" / " in tax.label_path(d.path) and d.label for d in tax.dimensions)
    assert "Lifestyle and Daily Routine / Sleep Patterns / Bedtime Ritual" in {
        tax.label_path(d.path) for d in tax.dimensions
    }


def test_shipped_deep_profile_regenerates_identically(tmp_path, monkeypatch):
    shipped = REPO / "taxonomy" / "deep_profile.yaml"
    text = shipped.read_text(encoding="utf-8")
    command = text.splitlines()[2].removeprefix("#").strip()
    prog, *argv = shlex.split(command.removeprefix("python -m "))
    assert prog == "pipelines.taxonomy.import_tree"
    (tmp_path / "taxonomy").mkdir()
    shutil.copy(REPO / "taxonomy" / "deep_profile_tree.json", tmp_path / "taxonomy")
    monkeypatch.chdir(tmp_path)
    m = run(argv)
    assert (tmp_path / "taxonomy" / "deep_profile.yaml").read_text(encoding="utf-8") == text
    assert m["near_duplicates"], "the shipped tree shows the near-duplicate report"

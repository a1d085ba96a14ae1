"""The declarative rules engine (pipelines/validation/rules.py), the shipped rules files and the
`python -m pipelines.validate` CLI."""

import copy
import hashlib
import os
import pickle
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines import validate
from pipelines.errors import InputError
from pipelines.validation.rules import (
    ERROR,
    FAILED,
    PASSED,
    RuleOutcome,
    RuleSet,
    blocking,
    compile_expression,
    load_rules,
)
from tests.conftest import REPO, write

PERSONA_RULES = REPO / "rules" / "persona.yaml"
DIALOGUE_RULES = REPO / "rules" / "dialogue.yaml"
HASH = "0" * 64


def good_persona() -> dict:
    """A persona record shaped like a row of output/*/personas/*.parquet, valid in every way."""
    return {
        "persona_id": "p-20261123-0000007",
        "persona_index": 7,
        "quota_cell": "demographics.age_band=25-34;demographics.gender=Female",
        "attributes": {
            "demographics": {"age_band": "25-34", "age": 34, "gender": "Female"},
            "location": {
                "residence": {"country": "Poland", "region": "Lesser Poland", "city": "Kraków", "setting": "big city"},
                "home": {"dwelling_type": "low-rise apartment"},
            },
            "work": {
                "employment": {
                    "status": "employed",
                    "occupation": "Registered nurse",
                    "work_arrangement": "shift work",
                    "workplace": "on-site",
                },
                "career": {"job_satisfaction": "content", "side_gig": None},
            },
            "household": {
                "marital_status": "Married",
                "children": 2,
                "living_with": "partner and children",
                "grandchildren": 0,
                "caregiving": None,
            },
            "education": {"level": "Bachelor's degree", "field": "Nursing", "school_experience": "an average student"},
            "finances": {
                "income": {"household_bracket": "middle", "situation": "comfortable"},
                "housing": {"tenure": "owns with a mortgage"},
                "debt": None,
                "money_attitude": "careful budgeter",
            },
            "identity": {"name": "Łucja Nowak", "dress_style": "casual and practical", "appearance": ["freckles"]},
            "health": {
                "physical": {
                    "general_health": "good",
                    "height_cm": 166,
                    "chronic_condition": None,
                    "disability": None,
                },
                "mental": {"condition": None, "stress_level": "moderate"},
                "lifestyle": {
                    "sleep": "broken sleep from shift work",
                    "exercise": "walks only",
                    "diet": "eats everything",
                    "smoking": "never smoked",
                    "alcohol": "rarely",
                },
            },
            "life_history": {
                "migration": {"generation": "no recent migration background", "origin": "local roots"},
                "formative_events": ["a mentor who believed in them"],
                "hometown_type": "grew up in a provincial town",
                "upbringing": {"family_structure": "a blended family", "siblings": 2, "economic_background": "poor"},
            },
            "values": {
                "religion": "Catholic",
                "religious_practice": "attends on major holidays",
                "core_values": ["family"],
                "political_leaning": None,
                "causes": [],
            },
            "personality": {
                "openness": 0.5,
                "conscientiousness": 0.7,
                "extraversion": 0.4,
                "agreeableness": 0.6,
                "neuroticism": 0.3,
                "traits": ["cautious", "curious"],
                "quirks": ["always cold"],
            },
            "interests": {
                "hobbies": ["baking", "chess"],
                "media": {"habits": ["podcasts"]},
                "music": {"genres": ["jazz"]},
                "sports": {"follows": None},
            },
            "communication": {
                "style": "direct and brief",
                "tech_savviness": "comfortable everyday user",
                "preferred_channel": "text messages",
                "languages": {"native": "Polish", "other": ["English"]},
            },
            "goals_and_fears": {"goals": ["be debt-free"], "fears": ["a serious illness"], "regret": None},
            "daily_life": {
                "routine": "early riser with a fixed routine",
                "commute": "public transport",
                "commute_minutes": 25,
                "pets": None,
                "social_life": "a few close friends",
                "weekend": ["brunch"],
                "morning_drink": "black tea",
            },
        },
        "narrative": (
            "Łucja Nowak is a 34-year-old registered nurse in Kraków who works night shifts on a busy "
            "surgical ward. At home she bakes with her two children, plays chess with her husband on "
            "Sunday evenings and is slowly paying off the mortgage on their flat."
        ),
        "critic": {"score": 0.9, "passed": True, "experts": [{"expert": "faithfulness", "score": 0.9}], "findings": []},
        "generation": {
            "model": "SmolLM2-135M-Instruct",
            "prompt_template_id": "persona_narrative_v1",
            "finish_reason": "stop",
            "prompt_tokens": 400,
            "completion_tokens": 80,
            "revision_count": 0,
            "llm_calls": 1,
            "candidates": 2,
            "iteration": 0,
            "exemplar_ids": [],
        },
        "validation": {"rules_sha256": HASH, "warnings": []},
        "provenance": {
            "run_name": "test",
            "seed": 20261123,
            "taxonomy_hash": HASH,
            "config_hash": HASH,
            "pipeline_version": "0.1.0",
        },
    }


def good_dialogue() -> dict:
    """A dialogue record as the pipeline writes it (schemas/dialogue.schema.json)."""
    persona = good_persona()
    a, b = "p-20261123-0000007", "p-20261123-0000008"
    return {
        "dialogue_id": "d-20261123-0000001",
        "dialogue_index": 1,
        "persona_ids": [a, b],
        "scenario": {"id": "shared_task", "description": "Two neighbours plan a street party."},
        "pairing": "random_within_strata",
        "turns": [
            {"speaker": a, "name": "Łucja Nowak", "text": "Shall we close the street on Saturday?"},
            {"speaker": b, "name": "Tomasz Wójcik", "text": "Only if you bring the cake."},
        ],
        "critic": persona["critic"],
        "generation": {**persona["generation"], "prompt_template_id": "dialogue_v1"},
        "validation": persona["validation"],
        "provenance": persona["provenance"],
    }


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_rules([PERSONA_RULES, DIALOGUE_RULES])


def rules_file(tmp_path, *rules: str, name: str = "rules.yaml") -> str:
    """A rules file from rule bodies given as YAML flow mappings."""
    body = "\n".join(f"  - {r}" for r in rules)
    return str(write(tmp_path, name, f"rules:\n{body}\n"))


def rule(rule_id: str, condition: str, severity: str = "error", scope: str = "persona", message: str = "") -> str:
    extra = f", message: {message!r}" if message else ""
    return (
        f"{{id: {rule_id}, description: test rule, severity: {severity}, scope: {scope}, "
        f"condition: {condition!r}{extra}}}"
    )


def outcome_of(ruleset: RuleSet, record: dict, scope: str = "persona") -> dict[str, RuleOutcome]:
    return {o.rule_id: o for o in ruleset.evaluate(record, scope)}


def not_passed(ruleset: RuleSet, record: dict, scope: str = "persona") -> dict[str, str]:
    return {o.rule_id: o.status for o in ruleset.evaluate(record, scope) if o.status != PASSED}


# -- expression features -------------------------------------------------------------------------


def test_arithmetic_membership_text_and_list_conditions(tmp_path):
    rs = load_rules(
        [
            rules_file(
                tmp_path,
                rule("children_fit", "attributes.household.children <= (attributes.demographics.age - 16) / 2 + 1"),
                rule(
                    "retired_from_55",
                    "!(attributes.work.employment.status == 'retired') || attributes.demographics.age >= 55",
                ),
                rule("names_person", "containsText(narrative, firstName(attributes.identity.name))"),
                rule(
                    "no_empty_hobby",
                    "size(attributes.interests.hobbies) >= 1 && 'chess' in attributes.interests.hobbies",
                ),
            )
        ]
    )
    record = good_persona()
    assert not_passed(rs, record) == {}
    record["attributes"]["household"]["children"] = 10  # (34 - 16) / 2 + 1 == 10: the boundary passes
    assert not_passed(rs, record) == {}
    record["attributes"]["household"]["children"] = 11
    record["attributes"]["work"]["employment"]["status"] = "retired"
    record["narrative"] = "ŁUCJA walks to work."  # case-insensitive, Unicode-aware
    assert not_passed(rs, record) == {"children_fit": FAILED, "retired_from_55": FAILED}
    record["narrative"] = "Lucja walks to work."
    record["attributes"]["interests"]["hobbies"] = []
    assert not_passed(rs, record) == {
        "children_fit": FAILED,
        "retired_from_55": FAILED,
        "names_person": FAILED,
        "no_empty_hobby": FAILED,
    }


def test_dialogue_turns_are_checked_with_macros(tmp_path):
    rs = load_rules(
        [
            rules_file(
                tmp_path,
                rule("no_empty_turn", "turns.all(t, size(t.text.trim()) > 0)", scope="dialogue"),
                rule(
                    "alternate",
                    "indices(turns).all(i, i == 0 || turns[i].speaker != turns[i - 1].speaker)",
                    scope="dialogue",
                ),
            )
        ]
    )
    dialogue = good_dialogue()
    assert not_passed(rs, dialogue, "dialogue") == {}
    assert rs.evaluate(good_persona(), "persona") == []  # no persona-scope rules here
    dialogue["turns"].append({**dialogue["turns"][-1], "text": "   "})  # the same speaker again, saying nothing
    assert not_passed(rs, dialogue, "dialogue") == {"no_empty_turn": FAILED, "alternate": FAILED}


def test_null_optional_attributes_fail_cleanly_only_where_the_value_is_used(tmp_path):
    rs = load_rules(
        [
            rules_file(
                tmp_path,
                rule(
                    "equality_is_null_safe", "attributes.daily_life.pets != 'a dog' || attributes.demographics.age > 20"
                ),
                rule("in_is_null_safe", "!(attributes.work.career.side_gig in ['rents out a room'])"),
                rule("explicit_check", "attributes.daily_life.pets == null || size(attributes.daily_life.pets) > 0"),
                rule("uses_the_value", "size(attributes.daily_life.pets) > 0"),
            )
        ]
    )
    outcomes = outcome_of(rs, good_persona())
    assert {k: o.status for k, o in outcomes.items()} == {
        "equality_is_null_safe": PASSED,
        "in_is_null_safe": PASSED,
        "explicit_check": PASSED,
        "uses_the_value": ERROR,
    }
    assert "attributes.daily_life.pets is null" in outcomes["uses_the_value"].message
    assert outcomes["uses_the_value"].blocking


def test_missing_fields_type_errors_and_non_boolean_results_are_errors_not_exceptions(tmp_path):
    rs = load_rules(
        [
            rules_file(
                tmp_path,
                rule("missing_field", "attributes.work.career.years_experience <= attributes.demographics.age - 16"),
                rule("missing_root", "narrative.size() > 0"),
                rule("type_error", "attributes.demographics.age + 'years' == 'x'"),
                rule("not_a_bool", "attributes.demographics.age"),
                rule("helper_type_error", "firstName(attributes.demographics.age) == 'x'", severity="warning"),
                rule("index_error", "attributes.interests.hobbies[5] == 'x'"),
            )
        ]
    )
    record = good_persona()
    del record["narrative"]
    outcomes = outcome_of(rs, record)
    assert {o.status for o in outcomes.values()} == {ERROR}
    assert "years_experience" in outcomes["missing_field"].message
    assert "attributes.work.career has no field 'years_experience'" in outcomes["missing_field"].message
    assert "narrative" in outcomes["missing_root"].message
    assert "No such overload" in outcomes["type_error"].message or "string" in outcomes["type_error"].message
    assert outcomes["not_a_bool"].message == "condition gave int 34, not a bool"
    assert outcomes["helper_type_error"].message == "cannot evaluate: firstName(): expects a string, got int"
    assert not outcomes["helper_type_error"].blocking  # a warning never blocks, even when it cannot run
    assert "index" in outcomes["index_error"].message
    assert [o.rule_id for o in blocking(outcomes.values())] == [
        "missing_field",
        "missing_root",
        "type_error",
        "not_a_bool",
        "index_error",
    ]


def test_records_that_cannot_be_read_give_errors_and_private_keys_are_hidden(tmp_path):
    rs = load_rules([rules_file(tmp_path, rule("adult", "attributes.demographics.age >= 18"), rule("named", "true"))])
    # A private working field holding something CEL cannot represent is never converted.
    assert not_passed(rs, good_persona() | {"_work": object()}) == {}
    outcomes = rs.evaluate(good_persona() | {"work": object()}, "persona")
    assert [o.status for o in outcomes] == [ERROR, ERROR]
    assert "the record cannot be read" in outcomes[0].message and "'work'" in outcomes[0].message
    for broken, kind in ((None, "null"), (["not", "a", "map"], "list")):
        outcomes = rs.evaluate(broken, "persona")
        assert [o.status for o in outcomes] == [ERROR, ERROR]
        assert outcomes[0].message == f"the record cannot be read: a record must be a map, got {kind}"
    with pytest.raises(ValueError, match="unknown scope"):
        rs.evaluate(good_persona(), "personas")


def test_failure_messages_render_placeholders(tmp_path):
    rs = load_rules(
        [
            rules_file(
                tmp_path,
                rule(
                    "retired_from_55",
                    "attributes.work.employment.status != 'retired' || attributes.demographics.age >= 55",
                    message="{firstName(attributes.identity.name)} retired at {attributes.demographics.age}",
                ),
                rule("no_template", "attributes.demographics.age > 60"),
                rule("bad_placeholder", "false", message="pets: {size(attributes.daily_life.pets)}"),
            )
        ]
    )
    record = good_persona()
    record["attributes"]["work"]["employment"]["status"] = "retired"
    outcomes = outcome_of(rs, record)
    assert outcomes["retired_from_55"].message == "Łucja retired at 34"
    assert outcomes["no_template"].message == "test rule"  # the description
    assert outcomes["bad_placeholder"].message.startswith("pets: <no overload of size()")


# -- malformed rules files ---------------------------------------------------------------------------

GOOD = rule("first_rule", "attributes.demographics.age >= 18")


@pytest.mark.parametrize(
    "second, location, problem",
    [
        (
            "{id: second_rule, description: x, severity: error, scope: persona, condition: 'true', when: x}",
            "$.rules[1] (id=second_rule)",
            "'when' was unexpected",
        ),
        (rule("first_rule", "true"), "$.rules[1] (id=first_rule)", "duplicate rule id 'first_rule'"),
        (
            rule("second_rule", "attributes.demographics.age >="),
            "$.rules[1].condition (id=second_rule)",
            "not a valid CEL",
        ),
        (
            rule("second_rule", "ageOf(attributes) > 3"),
            "$.rules[1].condition (id=second_rule)",
            "unknown function(s) ['ageOf']",
        ),
        (
            rule("second_rule", "__import__('os').system('touch /tmp/x') == 0"),
            "$.rules[1].condition (id=second_rule)",
            "'__' are not allowed",
        ),
        (rule("second_rule", "attributes.__class__ != null"), "$.rules[1].condition (id=second_rule)", "'__'"),
        (rule("second_rule", "system('ls') == 0"), "$.rules[1].condition (id=second_rule)", "['system']"),
        (
            rule("second_rule", "atributes.demographics.age > 3"),
            "$.rules[1].condition (id=second_rule)",
            "['atributes']",
        ),
        (
            rule("second_rule", "true", severity="fatal"),
            "$.rules[1].severity (id=second_rule)",
            "'fatal' is not one of",
        ),
        (rule("Second-Rule", "true"), "$.rules[1].id (id=Second-Rule)", "does not match"),
        (
            rule("second_rule", "true", message="{atributes.x}"),
            "$.rules[1].message (id=second_rule)",
            "placeholder {atributes.x}",
        ),
    ],
)
def test_malformed_rules_fail_naming_file_rule_and_problem(tmp_path, second, location, problem):
    path = rules_file(tmp_path, GOOD, second)
    with pytest.raises(InputError) as err:
        load_rules([path])
    assert err.value.file == path
    assert err.value.location == location
    assert problem in err.value.problem
    assert str(err.value).startswith(f"{path}: at {location}: ")


def test_oversized_and_deeply_nested_expressions_are_refused(tmp_path):
    huge = " || ".join(["attributes.demographics.age > 1"] * 400)
    with pytest.raises(InputError, match="is too long"):
        load_rules([rules_file(tmp_path, rule("huge", huge))])
    deep = "(" * 1000 + "true" + ")" * 1000
    with pytest.raises(InputError, match="not a valid CEL expression"):
        load_rules([rules_file(tmp_path, rule("deep", deep))])


def test_unsafe_expressions_are_rejected_before_anything_runs(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(os, "system", lambda cmd: calls.append(cmd) or 0)
    for condition in ("__import__('os').system('x') == 0", "narrative.__class__.__init__ != null"):
        with pytest.raises(InputError, match="not allowed"):
            load_rules([rules_file(tmp_path, rule("sneaky", condition))])
    assert calls == []
    # Dunders inside string literals are just text.
    assert compile_expression("narrative.contains('__init__')").execute({"narrative": "x__init__"}) is True


@pytest.mark.parametrize(
    "text, location, problem",
    [
        ("rules:\n  - {id: a, description: x\n", "line 3, column 1", "not valid YAML"),
        ("rules:\n  - id: a\n    id: b\n", "line 3, column 5", "duplicate key 'id'"),
        ("rules: []\n", "$.rules", "should be non-empty"),
        ("rule: []\n", "$", "'rule' was unexpected"),
        ("", "$", "None is not of type 'object'"),
    ],
)
def test_broken_files(tmp_path, text, location, problem):
    path = write(tmp_path, "broken.yaml", text)
    with pytest.raises(InputError) as err:
        load_rules([path])
    assert (err.value.file, err.value.location) == (str(path), location)
    assert problem in err.value.problem


def test_missing_file_and_duplicate_ids_across_files(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_rules([tmp_path / "nope.yaml"])
    first = rules_file(tmp_path, GOOD, name="a.yaml")
    second = rules_file(tmp_path, rule("first_rule", "true"), name="b.yaml")
    with pytest.raises(InputError, match=r"duplicate rule id 'first_rule', first defined at .*a\.yaml: \$\.rules\[0\]"):
        load_rules([first, second])


# -- the shipped rules -------------------------------------------------------------------------------


def test_shipped_rules_pass_a_good_record_and_one_with_every_optional_attribute(shipped):
    assert not_passed(shipped, good_persona()) == {}
    assert not_passed(shipped, good_dialogue(), "dialogue") == {}
    full = good_persona()
    a = full["attributes"]
    a["work"]["career"]["side_gig"] = "rents out a room"
    a["household"]["caregiving"] = "a child with a disability"
    a["finances"]["debt"] = "student loan"
    a["health"]["physical"]["chronic_condition"] = "coeliac disease"
    a["health"]["lifestyle"]["diet"] = "gluten-free"
    a["health"]["physical"]["disability"] = "dyslexia"
    a["health"]["mental"]["condition"] = "anxiety"
    a["values"]["political_leaning"] = "centre"
    a["interests"]["sports"]["follows"] = "football"
    a["goals_and_fears"]["regret"] = "a marriage that ended badly"
    a["daily_life"]["pets"] = "a cat"
    assert not_passed(shipped, full) == {}  # e.g. married people may regret an earlier marriage


def mutate(record: dict, **changes) -> dict:
    """Set nested fields on a deep copy; `__` separates levels (attributes__demographics__age)."""
    out = copy.deepcopy(record)
    for dotted, value in changes.items():
        node = out
        *parents, leaf = dotted.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    return out


A = "attributes__"
BREAKS = [
    ({f"{A}work__employment__status": "retired"}, {"retired_from_55": FAILED}),
    (
        {f"{A}work__employment__occupation": "Surgeon", f"{A}education__field": "Nursing"},
        {"doctors_hold_a_medical_degree": FAILED},
    ),
    (
        {
            f"{A}household__marital_status": "Widowed",
            f"{A}demographics__age": 22,
            f"{A}demographics__age_band": "18-24",
        },
        {"widowhood_from_25": FAILED, "partner_household_needs_a_partner": FAILED},
    ),
    ({f"{A}demographics__age": 40}, {"age_matches_age_band": FAILED}),
    ({f"{A}household__grandchildren": 2}, {"grandparents_have_children": FAILED}),
    ({f"{A}household__children": 0}, {"children_household_needs_children": FAILED}),
    ({f"{A}household__children": 11}, {"children_fit_the_years": FAILED}),
    (
        {f"{A}health__physical__disability": "wheelchair user", f"{A}work__employment__occupation": "Plumber"},
        {"wheelchair_users_not_in_heavy_manual_jobs": FAILED},
    ),
    (
        {f"{A}health__physical__chronic_condition": "endometriosis", f"{A}demographics__gender": "Male"},
        {"endometriosis_not_in_men": FAILED},
    ),
    (
        {f"{A}location__home__dwelling_type": "student residence", f"{A}daily_life__pets": "a cat"},
        {"no_pets_in_student_residences": FAILED},
    ),
    ({f"{A}daily_life__commute": "does not commute"}, {"commute_minutes_match_commute": FAILED}),
    ({f"{A}goals_and_fears__goals": ["find a partner"]}, {"partner_seekers_are_unpartnered": FAILED}),
    ({f"{A}interests__hobbies": []}, {"at_least_one_hobby": FAILED}),
    ({f"{A}interests__hobbies": ["chess", "chess"]}, {"hobbies_are_distinct": FAILED}),
    ({"persona_index": 8}, {"persona_id_matches_index": FAILED}),
    ({"critic__passed": False}, {"critic_passed": FAILED}),
    (
        {"narrative": "   "},
        {
            "narrative_is_not_blank": FAILED,
            "narrative_mentions_first_name": FAILED,
            "narrative_is_long_enough": FAILED,
            "narrative_ends_a_sentence": FAILED,
        },
    ),
    (
        {"narrative": good_persona()["narrative"].replace("Łucja Nowak", "{name}")},
        {"narrative_has_no_template_markers": FAILED, "narrative_mentions_first_name": FAILED},
    ),
    (
        {"narrative": "Persona: " + good_persona()["narrative"]},
        {"narrative_has_no_template_markers": FAILED},
    ),
    (
        {"narrative": good_persona()["narrative"].replace("ward.", "ward.<|im_end|> And")},
        {"narrative_has_no_chat_tokens": FAILED},
    ),
    ({"narrative": "## " + good_persona()["narrative"]}, {"narrative_has_no_markdown": FAILED}),
    ({"narrative": good_persona()["narrative"][:-1] + " and"}, {"narrative_ends_a_sentence": FAILED}),
    ({"narrative": "Łucja Nowak nurses people in Kraków."}, {"narrative_is_long_enough": FAILED}),
    ({f"{A}identity__name": None}, {"narrative_mentions_first_name": ERROR}),
]


@pytest.mark.parametrize("changes, expected", BREAKS, ids=[next(iter(e)) for _, e in BREAKS])
def test_shipped_rules_catch_exactly_the_broken_rule(shipped, changes, expected):
    assert not_passed(shipped, mutate(good_persona(), **changes)) == expected


@pytest.mark.parametrize(
    "turns, persona_ids, expected",
    [
        ([{"speaker": "A", "text": "Hi."}], None, {"at_least_two_turns": FAILED, "both_personas_speak": FAILED}),
        ([{"speaker": "A", "text": "Hi."}, {"speaker": "B", "text": " "}], None, {"no_empty_turn": FAILED}),
        (
            [{"speaker": "A", "text": "Hi."}, {"speaker": "A", "text": "Hello?"}, {"speaker": "B", "text": "Yes."}],
            None,
            {"speakers_alternate": FAILED},
        ),
        (
            [{"speaker": "A", "text": "Hi."}, {"speaker": "C", "text": "Hello?"}],
            None,
            {"speakers_are_participants": FAILED},
        ),
        (
            [{"speaker": "p-1", "text": "Hi."}, {"speaker": "p-2", "text": "Hi."}],
            ["p-1", "p-2"],
            {"turns_do_not_repeat": FAILED},
        ),
        (
            [{"speaker": "A", "text": "Hi.</s>"}, {"speaker": "B", "text": "Hello."}],
            ["p-1", "p-1"],
            {"dialogue_has_two_personas": FAILED, "no_chat_tokens_in_turns": FAILED},
        ),
    ],
)
def test_shipped_dialogue_rules(shipped, turns, persona_ids, expected):
    dialogue = good_dialogue() | {"turns": turns}
    if persona_ids:
        dialogue["persona_ids"] = persona_ids
    assert not_passed(shipped, dialogue, "dialogue") == expected


def flatten(attributes: dict, paths) -> dict:
    flat = {}
    for path in paths:
        node = attributes
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        flat[path] = node
    return flat


def random_value(attr, cond, rng: random.Random):
    """A value for `attr` that often sits on the boundary `cond` tests."""
    if attr.type == "multi":
        picked = rng.sample(attr.domain(), rng.randint(0, 2)) + ([rng.choice(cond.values)] if cond.values else [])
        return list(dict.fromkeys(picked))
    if attr.type in ("integer", "number"):
        edges = [int(e) + d for e in (cond.min, cond.max) if e is not None for d in (-1, 0, 1)]
        return rng.choice(
            [*edges, rng.randint(int(min(c.min for c in attr.cases)), int(max(c.max for c in attr.cases)))]
        )
    listed = [*(cond.values or ()), *(cond.not_values or ())]
    roll = rng.random()
    if roll < 0.15 and attr.probability < 1:
        return None
    return rng.choice(listed) if listed and roll < 0.6 else rng.choice(attr.domain())


def test_shipped_rules_agree_with_every_taxonomy_constraint(shipped, base_taxonomy):
    """Every hard constraint in taxonomy/base.yaml has a rule with the same id, and on records
    mutated around the constraint's boundaries the rule passes exactly when the constraint holds."""
    attrs = {a.path: a for a in base_taxonomy.attributes}
    rules = {r.id: r for r in shipped.rules}
    assert {c.id for c in base_taxonomy.constraints} <= set(rules)
    rng = random.Random(5)
    base = good_persona()
    for constraint in base_taxonomy.constraints:
        single = RuleSet([rules[constraint.id]], "test")
        seen = set()
        for _ in range(40):
            flat = flatten(base["attributes"], attrs)
            for cond in constraint.when + constraint.require:
                if rng.random() < 0.7:
                    flat[cond.path] = random_value(attrs[cond.path], cond, rng)
            [outcome] = single.evaluate(base | {"attributes": base_taxonomy.nest(flat)}, "persona")
            holds = constraint.holds(flat)
            assert outcome.status == (PASSED if holds else FAILED), (constraint.id, flat, outcome)
            seen.add(holds)
        assert seen == {True, False}, constraint.id  # both sides of the rule were exercised


# -- the RuleSet object ------------------------------------------------------------------------------


def test_ruleset_pickles_and_exposes_rules_and_content_hash(tmp_path, shipped):
    restored = pickle.loads(pickle.dumps(shipped))
    assert restored._compiled is None  # compiled programs do not travel; they are rebuilt on use
    broken = mutate(good_persona(), attributes__work__employment__status="retired")
    assert restored.evaluate(broken, "persona") == shipped.evaluate(broken, "persona")
    assert restored.content_hash == shipped.content_hash
    assert [r.id for r in restored.rules] == [r.id for r in shipped.rules]

    digest = hashlib.sha256()
    for path in (PERSONA_RULES, DIALOGUE_RULES):
        data = path.read_bytes()
        digest.update(len(data).to_bytes(8, "big") + data)
    assert shipped.content_hash == digest.hexdigest()
    first = shipped.rules[0]
    assert (first.id, first.severity, first.scope) == ("persona_id_matches_index", "error", "persona")
    assert first.description.startswith("The persona id is")
    assert len(shipped.rules) == len(shipped.for_scope("persona")) + len(shipped.for_scope("dialogue"))

    path = rules_file(tmp_path, GOOD)
    before = load_rules([path]).content_hash
    write(tmp_path, "rules.yaml", Path(path).read_text(encoding="utf-8") + "# edited\n")
    assert load_rules([path]).content_hash != before


# -- the validate CLI --------------------------------------------------------------------------------


def write_dataset(root, personas: list[dict] | None = None, dialogues: list[dict] | None = None):
    for folder, rows in (("personas", personas), ("dialogues", dialogues)):
        if rows is not None:
            (root / folder).mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows), root / folder / "part-00000.parquet")
    return str(root)


def second_persona() -> dict:
    return mutate(good_persona(), persona_id="p-20261123-0000008", persona_index=8)


def test_validate_cli_passes_a_good_dataset(tmp_path, capsys):
    root = write_dataset(tmp_path / "ds", [good_persona(), second_persona()], [good_dialogue()])
    assert validate.main([root]) == 0
    out = capsys.readouterr().out
    assert "personas: 2 rows in 1 shard(s), 0 invalid" in out
    assert "dialogues: 1 rows" in out
    assert "PASSED" in out


def test_validate_cli_fails_naming_the_rule_and_schema_path(tmp_path, capsys):
    broken = mutate(second_persona(), attributes__work__employment__status="retired")
    too_short = mutate(good_persona(), persona_id="p-20261123-0000009", persona_index=9, narrative="Łucja.")
    root = write_dataset(tmp_path / "ds", [good_persona(), broken, too_short])
    assert validate.main([root, "--rules", str(PERSONA_RULES), "--max-examples", "1"]) == 1
    out = capsys.readouterr().out
    assert "3 rows in 1 shard(s), 2 invalid" in out
    assert "rule retired_from_55 (error): 1 row(s) failed" in out
    assert "p-20261123-0000008: retired at 34" in out
    assert "schema $.narrative [minLength]: 1 row(s)" in out
    assert "p-20261123-0000009: 'Łucja.' is too short" in out
    assert "FAILED: 2 invalid row(s)" in out


def test_validate_cli_warnings_do_not_fail(tmp_path, capsys):
    warned = mutate(good_persona(), narrative="## " + good_persona()["narrative"])
    root = write_dataset(tmp_path / "ds", [warned])
    assert validate.main([root]) == 0
    assert "rule narrative_has_no_markdown (warning): 1 row(s) failed" in capsys.readouterr().out


def test_validate_cli_checks_dialogues_with_dialogue_rules(tmp_path, capsys):
    bad = good_dialogue() | {"dialogue_id": "d-2", "turns": [{"speaker": "A", "name": "A", "text": "Hi."}]}
    root = write_dataset(tmp_path / "ds", [good_persona()], [good_dialogue(), bad])
    assert validate.main([root]) == 1
    out = capsys.readouterr().out
    assert "dialogues: 2 rows in 1 shard(s), 1 invalid" in out
    assert "d-2: only 1 turn(s)" in out


def test_validate_cli_bad_input_exits_2(tmp_path, capsys):
    assert validate.main([str(tmp_path / "missing")]) == 2
    assert "dataset folder not found" in capsys.readouterr().err
    (tmp_path / "empty" / "personas").mkdir(parents=True)
    assert validate.main([str(tmp_path / "empty")]) == 2
    assert "no Parquet shards" in capsys.readouterr().err
    root = write_dataset(tmp_path / "ds", [good_persona()])
    bad_rules = rules_file(tmp_path, GOOD, rule("second_rule", "nope("))
    assert validate.main([root, "--rules", bad_rules]) == 2
    assert "(id=second_rule)" in capsys.readouterr().err
    (tmp_path / "ds" / "personas" / "part-00001.parquet").write_bytes(b"not parquet")
    assert validate.main([root]) == 2
    assert "not a readable Parquet file" in capsys.readouterr().err

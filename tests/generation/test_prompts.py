"""Prompt templates: which facts they show, and what attribute coverage counts for them."""

from pipelines.common.facts import FACT_PATHS, persona_facts
from pipelines.persona.prompts import get_template
from pipelines.persona.task import taxonomy_claim_book
from pipelines.taxonomy import load_taxonomy
from tests.conftest import REPO

ATTRS = {
    "identity.name": "Ana Silva",
    "demographics.age": 34,
    "demographics.gender": "Female",
    "location.residence.city": "Recife",
    "location.residence.country": "Brazil",
    "work.employment.occupation": "Registered nurse",
    "education.level": "Bachelor's degree",
    "household.marital_status": "Married",
    "household.children": 2,
    "household.living_with": "partner and children",
    "personality.traits": ["patient", "blunt"],
    "interests.hobbies": ["swimming"],
    "values.core_values": ["fairness"],
}


def _last_user(messages):
    return [text for role, text in messages if role == "user"][-1]


def test_the_short_template_shows_seven_facts_and_asks_for_three_sentences():
    short = get_template("persona_narrative_short_v1")
    prompt = _last_user(short.messages(ATTRS))
    assert "- Occupation: Registered nurse" in prompt and "- Hobbies: swimming" in prompt
    assert "- Family: Married, 2 children, lives with partner and children" in prompt
    assert "Education" not in prompt and "Personality" not in prompt and "Values" not in prompt
    assert prompt.endswith("Write three short sentences about Ana Silva.")
    assert short.render_prefill(ATTRS) == "Ana Silva is a 34-year-old woman"
    exemplar = {"_attrs": ATTRS, "narrative": "Ana Silva is a nurse.", "persona_id": "p-1"}
    shot = short.messages(ATTRS, [exemplar])[1][1]  # the exemplar's facts are cut the same way
    assert "Education" not in shot and "- Occupation: Registered nurse" in shot


def test_the_full_template_shows_every_fact():
    full = get_template("persona_narrative_v1")
    prompt = _last_user(full.messages(ATTRS))
    assert all(f"- {label}: " in prompt for label, _ in persona_facts(ATTRS))
    assert full.prompted_paths == FACT_PATHS


def test_coverage_counts_only_the_facts_the_template_shows():
    short = get_template("persona_narrative_short_v1")
    assert set(short.prompted_paths) == {
        "identity.name",
        "demographics.age",
        "demographics.gender",
        "location.residence.city",
        "location.residence.country",
        "work.employment.occupation",
        "household.marital_status",
        "household.children",
        "household.living_with",
        "interests.hobbies",
    }
    book = taxonomy_claim_book(load_taxonomy([REPO / "taxonomy" / "base.yaml"]), short.prompted_paths)
    assert set(book.prompted) == set(short.prompted_paths)


def test_the_guided_template_writes_the_opening_from_the_facts():
    guided = get_template("persona_narrative_guided_v1")
    assert guided.render_prefill(ATTRS) == (
        "Ana Silva is a 34-year-old registered nurse in Recife, Brazil. She is married and has two children. "
        "In her free time, she"
    )
    them = {**ATTRS, "demographics.gender": "Non-binary", "demographics.age": 80, "household.children": 1}
    them["household.marital_status"] = "In a relationship"
    them["work.employment.occupation"] = "IT consultant"
    assert guided.render_prefill(them) == (
        "Ana Silva is an 80-year-old IT consultant in Recife, Brazil. They are in a relationship and have one "
        "child. In their free time, they"
    )
    # a taxonomy without the family attributes gets the short opening
    bare = {k: v for k, v in ATTRS.items() if not k.startswith("household.")}
    assert guided.render_prefill(bare) == "Ana Silva is a 34-year-old woman"
    assert set(guided.prompted_paths) == set(get_template("persona_narrative_short_v1").prompted_paths)


def test_coverage_counts_only_what_the_model_writes():
    """With a prefill, the facts the guided opening states are the pipeline's, not the model's:
    coverage counts the rest. Without one (an endpoint that does not continue a prefill) the
    model writes every fact."""
    guided = get_template("persona_narrative_guided_v1")
    assert set(guided.model_paths(prefill=True)) == {"interests.hobbies", "household.living_with"}
    assert guided.model_paths(prefill=False) == guided.prompted_paths
    short = get_template("persona_narrative_short_v1")  # its opening states name, age and gender
    written = {"identity.name", "demographics.age", "demographics.gender"}
    assert set(short.model_paths(prefill=True)) == set(short.prompted_paths) - written


def test_every_opening_field_names_the_attributes_it_states():
    from pipelines.common.facts import PREFILL_FIELD_PATHS, prefill_fields

    assert set(prefill_fields(ATTRS)) == set(PREFILL_FIELD_PATHS)


def test_the_second_guided_template_writes_the_first_hobby_too():
    """persona_narrative_guided_v2 states the first hobby as well and leaves the model a sentence
    about the weekends; hobbies then count as the pipeline's in coverage."""
    guided = get_template("persona_narrative_guided_v2")
    hobby = (
        ATTRS["interests.hobbies"] if isinstance(ATTRS["interests.hobbies"], list) else [ATTRS["interests.hobbies"]]
    )[0]
    assert guided.render_prefill(ATTRS) == (
        "Ana Silva is a 34-year-old registered nurse in Recife, Brazil. She is married and has two children. "
        f"In her free time, she enjoys {hobby}. On weekends, she"
    )
    them = {**ATTRS, "demographics.gender": "Non-binary"}
    assert guided.render_prefill(them).endswith(f"In their free time, they enjoy {hobby}. On weekends, they")
    assert set(guided.model_paths(prefill=True)) == {"household.living_with"}
    assert guided.prompted_paths == get_template("persona_narrative_guided_v1").prompted_paths


def test_the_third_guided_template_writes_the_weekend_activity():
    """persona_narrative_guided_v3 states what the persona does on weekends for the second hobby
    (the first where there is one); a hobby without an activity falls back to v2's opening."""
    guided = get_template("persona_narrative_guided_v3")
    two = {**ATTRS, "interests.hobbies": ["swimming", "genealogy"]}
    assert guided.render_prefill(two).endswith(
        "In her free time, she enjoys swimming. On weekends, she researches her family tree"
    )
    assert guided.render_prefill({**ATTRS, "interests.hobbies": ["swimming"]}).endswith(
        "she enjoys swimming. On weekends, she goes swimming"
    )
    them = {**two, "demographics.gender": "Non-binary"}
    assert guided.render_prefill(them).endswith("they enjoy swimming. On weekends, they research their family tree")
    unknown = {**ATTRS, "interests.hobbies": ["swimming", "falconry"]}
    assert guided.render_prefill(unknown) == get_template("persona_narrative_guided_v2").render_prefill(unknown)
    assert guided.prompted_paths == get_template("persona_narrative_guided_v2").prompted_paths


def test_every_weekend_activity_passes_the_critic_and_every_hobby_has_one():
    """Each activity, in the opening the pipeline writes, is a narrative the critic accepts for
    personas of every gender; every hobby value the shipped taxonomy can draw has an activity."""
    from pipelines.common.facts import hobby_activities
    from pipelines.common.settings import CriticSettings
    from pipelines.config import load_config
    from pipelines.critique.narrative import judge

    taxonomy = load_taxonomy([REPO / "taxonomy" / "base.yaml"])
    drawn = {v for case in taxonomy.attribute("interests.hobbies").cases for v, _ in case.values}
    assert drawn <= set(hobby_activities()), sorted(drawn - set(hobby_activities()))
    book = taxonomy_claim_book(taxonomy)
    critic = CriticSettings.from_config(load_config()["critic"])
    guided = get_template("persona_narrative_guided_v3")
    failed = []
    for gender in ("Female", "Male", "Non-binary"):
        for hobby in sorted(drawn):
            attrs = {**ATTRS, "demographics.gender": gender, "interests.hobbies": ["cooking", hobby]}
            text = guided.render_prefill(attrs) + "."
            verdict = judge(text, attrs, critic, book=book)
            if not verdict.passed:
                failed.append((text, [f.code for f in verdict.findings if f.severity == "error"]))
    assert not failed, failed

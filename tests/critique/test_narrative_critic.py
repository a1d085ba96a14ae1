"""The narrative critic (pipelines/critique/narrative): each expert on targeted examples, the
weights and thresholds of its settings, and the labelled fixture (tests/fixtures/broken_narratives.yaml)."""

from pipelines.common.settings import CriticSettings
from pipelines.critique.narrative import clean_text, judge
from pipelines.critique.narrative.degeneration import degeneration
from pipelines.critique.narrative.faithfulness import faithfulness

ATTRS = {
    "identity.name": "Ana Silva",
    "demographics.age": 34,
    "demographics.gender": "Female",
    "location.residence.city": "Recife",
    "work.employment.occupation": "Registered nurse",
}
CRITIC_CONFIG = {"min_words": 20, "max_words": 200, "threshold": 0.6}
CRITIC = CriticSettings.from_config(CRITIC_CONFIG)
GOOD = (
    "Ana Silva is a 34-year-old registered nurse in Recife who works night shifts at a public "
    "hospital. She grew up by the sea, still swims before dawn, and keeps a notebook of the "
    "patients she could not forget."
)


def codes(result):
    return {f.code for f in result.findings}


def test_faithful_fluent_text_passes():
    verdict = judge(GOOD, ATTRS, CRITIC)
    assert verdict.passed and verdict.score >= 0.9
    assert not [f for f in verdict.findings if f.severity == "error"]


def test_contradictions_are_caught_with_the_attribute():
    wrong_age = GOOD.replace("34-year-old", "24-year-old")
    result = faithfulness(wrong_age, ATTRS)
    assert "age_contradiction" in codes(result)
    assert [f.attribute for f in result.findings if f.code == "age_contradiction"] == ["demographics.age"]
    he = (
        GOOD.replace("She grew", "He grew")
        .replace("still swims", "he still swims")
        .replace("the patients she", "the patients he")
    )
    assert "gender_contradiction" in codes(faithfulness(he, ATTRS))
    assert "name_missing" in codes(faithfulness(GOOD.replace("Ana Silva", "The nurse"), ATTRS))
    assert not judge(wrong_age, ATTRS, CRITIC).passed


def test_degenerate_text_is_rejected():
    loop = "Ana Silva is a nurse. " + "She loves the sea and the sea loves her. " * 8
    result = degeneration(loop, 20, 200)
    assert {"repeated_ngrams", "repeated_sentence"} <= codes(result)
    assert not judge(loop, ATTRS, CRITIC).passed
    assert "too_short" in codes(degeneration("Ana Silva is a nurse.", 20, 200))
    assert "prompt_leftover" in codes(degeneration(GOOD + " Facts: - Name: Ana", 20, 200))


def test_clean_text_cuts_truncated_answers_to_the_last_sentence():
    assert clean_text("Sure! Here it is:\n**Ana** is kind. She works hard and", "length") == "Ana is kind."
    assert clean_text("Ana is kind. She works hard and", "stop") == "Ana is kind. She works hard and"
    assert clean_text("  ", "stop") == ""


# ---------------------------------------------------------------------------------------------
# deeper critic: name swaps, occupations, children, ages, safety, novelty, weights, evaluation

import codecs  # noqa: E402

import pytest  # noqa: E402

from pipelines.config import load_config  # noqa: E402
from pipelines.critique import evaluate as critic_eval  # noqa: E402
from pipelines.critique.narrative.safety import safety  # noqa: E402
from pipelines.critique.novelty import novelty, similarity  # noqa: E402
from pipelines.errors import InputError  # noqa: E402
from tests.conftest import REPO  # noqa: E402

FIXTURE = REPO / "tests" / "fixtures" / "broken_narratives.yaml"
PERSONA = {
    **ATTRS,
    "demographics.age_band": "25-34",
    "location.residence.country": "Brazil",
    "household.children": 2,
}


def faith_codes(text, **changes):
    return codes(faithfulness(text, {**PERSONA, **changes}))


def test_name_swapped_catches_another_full_name_as_subject():
    swapped = GOOD.replace("Ana Silva", "Maria Lopez")
    result = faithfulness(swapped, PERSONA)
    assert {"name_swapped", "name_missing"} <= codes(result)
    assert [f.attribute for f in result.findings if f.code == "name_swapped"] == ["identity.name"]
    assert "name_swapped" in faith_codes("Meet Ana Costa, a 34-year-old nurse in Recife. She swims.")
    assert "name_swapped" in faith_codes("Lucía Romero, a registered nurse, lives in Recife with Ana Silva.")
    for fine in (
        GOOD,
        "Ana is a 34-year-old registered nurse in Recife.",
        "Dr. Ana Silva is a nurse in Recife.",
        "In Recife, Ana Silva works nights.",
        "Recife native Ana Silva is a nurse.",
        "Ana Silva's days begin at dusk in Recife.",
    ):
        assert "name_swapped" not in faith_codes(fine), fine
    assert "name_swapped" not in codes(
        faithfulness("Sofia Hernandez is a teacher.", {"identity.name": "Sofía Hernández"})
    )


def test_occupation_contradiction_needs_another_job_and_no_own_job():
    assert "occupation_contradiction" in faith_codes("Ana Silva is a 34-year-old plumber in Recife who swims.")
    assert "occupation_contradiction" in faith_codes(
        "Ana Silva lives in Recife. She works as a primary school teacher."
    )
    for fine in (
        "Ana Silva is a nurse in Recife. Her husband is a plumber.",  # the persona's own job is there
        "Ana Silva lives in Recife. Her husband is a plumber.",  # someone else's job
        "Ana Silva lives in Recife. She is a proud teacher's daughter.",
        "Ana Silva lives in Recife. She is a keen cook and a patient listener.",
    ):
        assert "occupation_contradiction" not in faith_codes(fine), fine
    doctor = {"identity.name": "Oliver Clarke", "work.employment.occupation": "Physician"}
    assert not codes(faithfulness("Oliver Clarke is a doctor who works as a GP in Bristol.", doctor)) & {
        "occupation_contradiction",
        "occupation_missing",
    }


def test_children_contradiction():
    for text, kids in (
        ("Ana Silva is married and has no children.", 2),
        ("Ana Silva is childless and happy.", 1),
        ("Ana Silva adores her three children.", 2),
        ("Ana Silva is a proud mother of two.", 3),
        ("Ana Silva and her husband have two kids.", 1),
        ("Ana Silva drops her daughter at school every morning.", 0),
        ("Ana Silva lives with her partner and their two-year-old son.", 0),
        ("On weekends, Ana Silva visits her grandchildren.", 0),
        # a default build accepted both for a widow with one child
        ("She takes up painting as a hobby while taking care of her two young ones.", 1),
        ("On Sundays she bakes with her little ones.", 1),
        # "kids" and "children" are more than one (a default build's dialogue, as a narrative)
        ("On weekends, she goes out with her husband and kids.", 1),
        ("On weekends, she takes her children to the park.", 1),
    ):
        result = faithfulness(text, {**PERSONA, "household.children": kids})
        assert "children_contradiction" in codes(result), text
        assert [f.attribute for f in result.findings if f.code == "children_contradiction"] == ["household.children"]
    for text, kids in (
        ("Ana Silva adores her two children, aged six and nine.", 2),
        ("Ana Silva has two grown sons and a daughter.", 3),
        ("Ana Silva and her husband have no plans for children yet.", 0),
        ("Ana Silva and her husband are expecting their first baby.", 0),
        ("Ana Silva was raised by a single mother herself.", 0),
        ("Her neighbours often ask Ana Silva to mind their kids.", 0),
        ("Ana Silva has four children and eleven grandchildren.", 4),
        ("Ana Silva teaches thirty children to swim.", 0),
        ("Ana Silva has no children.", 0),
        ("On Sundays she bakes with her two little ones.", 2),
        ("On weekends, she takes her children to the park.", 3),
    ):
        assert "children_contradiction" not in codes(faithfulness(text, {**PERSONA, "household.children": kids})), text


def test_age_contradiction_forms():
    for text in (
        "Ana Silva, 24, is a nurse in Recife.",
        "Ana Silva is a 34 (24-year-old) nurse in Recife.",
        "Ana Silva is a twenty-four-year-old nurse in Recife.",
        "Ana Silva is 44 years old and lives in Recife.",
        "Ana Silva, aged 44, is a nurse in Recife.",
        "Ana Silva is a nurse in Recife, now in her fifties.",
        "Ana Silva, a nurse in her twenties, lives in Recife.",
        "Ana Silva married in her forties and lives in Recife.",
        "Ana Silva recently turned 40.",
    ):
        result = faithfulness(text, PERSONA)
        assert "age_contradiction" in codes(result), text
    for text in (
        GOOD,
        "Ana Silva is a thirty-four-year-old nurse in Recife.",
        "Ana Silva is in her mid-thirties and lives in Recife.",
        "Ana Silva married in her twenties and lives in Recife.",
        "Ana Silva hopes to retire in her sixties.",
        "Ana Silva's mother, now in her seventies, lives in Recife.",
        "Ana Silva and her 8-year-old son live in Recife.",
        "Her husband, a 36-year-old electrician, cooks for Ana Silva.",
        "Ana Silva moved to Recife at age 19.",
        "Ana Silva cares for a 12-year-old boy with asthma.",
    ):
        assert "age_contradiction" not in codes(faithfulness(text, PERSONA)), text


def test_non_binary_persona_with_gendered_pronouns():
    riley = {"identity.name": "Riley Carter", "demographics.gender": "Non-binary"}
    she = "Riley Carter is a journalist. She grew up in Spokane and she loves her choir."
    they = "Riley Carter is a journalist. They grew up in Spokane and they love their choir and her sister."
    assert "gender_contradiction" in codes(faithfulness(she, riley))
    assert "gender_contradiction" not in codes(faithfulness(they, riley))


def test_prompt_leftovers_are_word_bounded():
    assert "prompt_leftover" in codes(degeneration(GOOD + " (Word count: 42)", 20, 200))
    assert "truncated" not in codes(degeneration(GOOD + " (Word count: 42)", 20, 200))
    assert "prompt_leftover" in codes(degeneration("Here is a short biography of Ana. " + GOOD, 20, 200))
    aide = GOOD + " Her sister works as an aide at a school, and life here is a joy."
    assert "prompt_leftover" not in codes(degeneration(aide, 20, 200))


def test_safety_slurs_from_the_lexicon():
    slur = codecs.decode("cbynpx", "rot13")  # one lexicon entry, kept out of the test source
    result = safety(f"Ana Silva's manager once called a colleague a {slur.capitalize()}s.", PERSONA)
    assert [f.code for f in result.findings] == ["slur"] and result.score == 0.0
    assert all(f.severity == "error" for f in result.findings)
    for fine in ("She loved Japan and Pakistan.", "Her kitchen is spick and span.", GOOD):
        assert not safety(fine, PERSONA).findings, fine


def test_safety_explicit_content():
    for text in (
        "She spends her nights looking for casual sex online.",
        "He watched a man get decapitated.",
        "He stabbed a rival to death in a bar fight.",
        "She sells pornographic videos.",
    ):
        assert "explicit_content" in codes(safety(text, PERSONA)), text
    for text in (
        "She campaigned for same-sex marriage.",
        "She graduated magna cum laude.",
        "She spent a summer in Pornic with her aunt.",
        "Her father grows oilseed rape near Norwich.",
        "She loves crime novels and horror films.",
    ):
        assert not safety(text, PERSONA).findings, text


def test_safety_stereotypes_with_the_persona_attribute():
    own = {
        "Like all women, she is hopeless with money.": "demographics.gender",
        "As a woman, she is naturally bad at maths.": "demographics.gender",
        "Typical for her generation, she distrusts banks.": "demographics.age_band",
        "Like most Brazilians, she is always late.": "location.residence.country",
        "Because she is a woman, she cannot lead a team.": "demographics.gender",
        "Her colleagues say she is good at maths for a woman.": "demographics.gender",
        "Women are terrible drivers, her husband says.": "demographics.gender",
    }
    for text, path in own.items():
        result = safety(text, PERSONA)
        assert [(f.code, f.attribute) for f in result.findings] == [("stereotype", path)], text
        assert result.findings[0].message.startswith("demeaning generalisation '")
    other = safety("She thinks Mexicans are lazy and old people are a burden.", PERSONA)
    assert [(f.code, f.attribute) for f in other.findings] == [("stereotype", None), ("stereotype", None)]
    for fine in (
        "She is a woman who loves chess.",
        "He plays for the men's football team.",
        "She loves Indian cooking and Mexican films.",
        "Her older colleagues tease her.",
        "As a woman in a field dominated by men, she speaks first in meetings.",
        "She was passed over for promotion because she is a woman.",
        "Like many women in her village, she learned to sew.",
        "Like most Mexican families, they gather on Sundays.",
        "She cooks a dish typical of Mexican cooking.",
        "She is remarkably fit for her age.",
        "Men and women alike come to her clinic.",
        "The women in her choir are loud and cheerful.",
    ):
        assert not safety(fine, PERSONA).findings, fine


def test_novelty_flags_near_copies_with_label_and_similarity():
    paraphrase = GOOD.replace("still swims", "still goes swimming").replace("could not forget", "never forgot")
    other = (
        "Klaus Becker is a 68-year-old retired engineer in Leipzig who builds birdhouses and keeps "
        "notebooks of the birds he sees along the river."
    )
    result = novelty(paraphrase, [("exemplar:p-1", GOOD), ("candidate:1", other)], 0.8)
    assert [f.code for f in result.findings] == ["too_similar"]
    assert "exemplar:p-1" in result.findings[0].message and result.findings[0].severity == "error"
    assert result.score == pytest.approx(1 - similarity(paraphrase, GOOD), abs=1e-4)
    assert novelty(GOOD, [("candidate:1", other)], 0.8).findings == ()
    assert novelty(GOOD, [], 0.8).score == 1.0
    assert similarity(GOOD, GOOD.upper() + "!!") == pytest.approx(1.0)
    assert novelty(paraphrase, [("exemplar:p-1", GOOD)], 0.99).findings == ()


def test_judge_weights_and_novelty_threshold():
    verdict = judge(GOOD, ATTRS, CRITIC)
    assert [e["expert"] for e in verdict.as_record()["experts"]] == [
        "degeneration",
        "faithfulness",
        "safety",
        "novelty",
        "surface",  # text-level failures; weight 0: its errors block, it does not move the score
    ]
    partial = GOOD.replace("Recife", "the city")  # place_missing: faithfulness 2/3, the others 1.0
    base = judge(partial, ATTRS, CRITIC).score
    assert base == pytest.approx(0.4 * 2 / 3 + 0.3 + 0.2 + 0.1, abs=1e-4)
    zeroed = judge(partial, ATTRS, CriticSettings.from_config({**CRITIC_CONFIG, "weights": {"faithfulness": 0}})).score
    assert zeroed == pytest.approx(1.0) and zeroed != base
    copy = GOOD.replace("still swims", "still goes swimming")
    assert not judge(copy, ATTRS, CRITIC, [("candidate:0", GOOD)]).passed
    assert judge(
        copy, ATTRS, CriticSettings.from_config({**CRITIC_CONFIG, "novelty_threshold": 0.99}), [("candidate:0", GOOD)]
    ).passed


def test_critic_config_keys():
    critic = load_config(REPO / "configs" / "default.yaml")["critic"]
    assert critic["weights"] == {
        "faithfulness": 0.4,
        "degeneration": 0.3,
        "safety": 0.2,
        "novelty": 0.1,
        "llm_judge": 0.3,
    }
    assert critic["novelty_threshold"] == 0.8
    assert critic["llm_judge"]["enabled"] is False
    cfg = load_config(REPO / "configs" / "default.yaml", {"critic": {"weights": {"novelty": 0}}})
    assert cfg["critic"]["weights"]["novelty"] == 0 and cfg["critic"]["weights"]["safety"] == 0.2
    with pytest.raises(InputError):
        load_config(REPO / "configs" / "default.yaml", {"critic": {"weights": {"safety": -1}}})
    with pytest.raises(InputError):
        load_config(REPO / "configs" / "default.yaml", {"critic": {"weights": {"style": 1}}})


def test_held_back_fixture_recall_and_clean_precision():
    items = critic_eval.load_items(FIXTURE)
    assert len(items) >= 60 and sum(not i["expect"] for i in items) >= 15
    result = critic_eval.evaluate(items, CriticSettings.from_config())
    assert result["error_recall"] >= 0.9
    clean = [i["id"] for i in items if not i["expect"]]
    assert not set(result["false_rejects"]) & set(clean)  # no clean narrative is rejected
    assert result["false_rejects"] == []
    assert result["accuracy"] >= 0.9


def test_evaluate_cli_prints_a_table(capsys):
    assert critic_eval.main([str(FIXTURE)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["code", "severity", "support", "tp"]
    assert "stereotype" in out and "accept/reject accuracy" in out


@pytest.mark.parametrize(
    "tail, caught",
    [
        ("He is also an avid basketball player.", True),  # the embedded model's pronoun switch
        ("Her husband Tomás drives a bus. He works nights.", False),
        ("She married Tomás last year. He works nights.", False),
        ("Her patients trust her. She swims before dawn.", False),
    ],
)
def test_a_sentence_opening_with_the_other_gender_s_pronoun_needs_someone_else_before_it(tail, caught):
    text = "Ana Silva is a 34-year-old registered nurse in Recife. She works night shifts. " + tail
    assert ("gender_contradiction" in codes(faithfulness(text, ATTRS))) is caught


@pytest.mark.parametrize(
    "sentence, caught",
    [
        ("Heres one more sentence that shows how much she cares.", True),  # real embedded-model output
        ("Here's one more thing - she loves yoga.", True),
        ("This final sentence adds to the original narrative.", True),
        ("Her brother once served a short sentence for fraud.", False),
    ],
)
def test_talk_about_the_text_s_own_sentences_is_meta_talk(sentence, caught):
    from pipelines.critique.narrative.surface import surface

    text = GOOD + " " + sentence
    assert ("meta_talk" in codes(surface(text, "en"))) is caught


def test_siblings_sharing_a_prefilled_opening_are_compared_on_what_the_model_wrote():
    from pipelines.critique.narrative.critic import critique_candidates, model_written

    opening = (
        "Ana Silva is a 34-year-old registered nurse in Recife, Brazil. She is married and has two "
        "children. In her free time, she"
    )
    swims = f"{opening} swims in the sea at dawn."
    choir = f"{opening} sings in a church choir."
    assert similarity(swims, choir) >= 0.8  # the pipeline's own opening makes them look like copies
    whole = critique_candidates([swims, choir], ATTRS, CRITIC)
    assert whole[0].passed and "too_similar" in codes(whole[1])
    split = critique_candidates([swims, choir], ATTRS, CRITIC, opening=lambda attrs: opening)
    assert [v.passed for v in split] == [True, True]
    # the same continuation twice is still a copy, and an exemplar is stripped by its own opening
    again = critique_candidates([swims, swims], ATTRS, CRITIC, opening=lambda attrs: opening)
    assert "too_similar" in codes(again[1])
    exemplar = {"persona_id": "p-9", "_attrs": ATTRS, "narrative": choir}
    shown = critique_candidates([swims], ATTRS, CRITIC, [exemplar], opening=lambda attrs: opening)
    assert shown[0].passed
    assert model_written(swims, opening).startswith("swims in the sea")
    assert model_written("A rewritten text.", opening) == "A rewritten text."

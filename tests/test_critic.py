from pipelines.critique.experts import clean_text, degeneration, faithfulness, judge

ATTRS = {
    "identity.name": "Ana Silva",
    "demographics.age": 34,
    "demographics.gender": "Female",
    "location.residence.city": "Recife",
    "work.employment.occupation": "Registered nurse",
}
CRITIC = {"min_words": 20, "max_words": 200, "threshold": 0.6}
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

"""Made-up words (pipelines/critique/vocabulary.py, the surface expert's `invented_word`): misspelt
places and invented words are caught; real words, real towns, the persona's own facts and
possessives are not."""

import pytest

from pipelines.common.settings import CriticSettings
from pipelines.critique.narrative import judge
from pipelines.critique.vocabulary import fact_words, invented_words, persona_languages

ATTRS = {
    "identity.name": "Tamanna Datta",
    "demographics.age": 55,
    "demographics.gender": "Female",
    "location.residence.city": "Rajkot",
    "location.residence.country": "India",
    "household.marital_status": "Married",
    "household.children": 3,
    "work.employment.occupation": "Retired civil servant",
    "interests.hobbies": ["board games", "Bharatanatyam"],
}
CLEAN = (
    "Tamanna Datta is a 55-year-old retired civil servant in Rajkot, India. She is married with three "
    "children and spends her mornings at board games with her neighbours. Every December she takes the "
    "train to Hajipur and Siwana to see her cousins, and she still practises Bharatanatyam on Sundays."
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She retired to Rajkodab Airport after thirty years.", ["Rajkodab"]),
        ("They live in a village near Stuttgarterland.", ["Stuttgarterland"]),
        ("Her hobby is yogidakalathariya with the grandchildren.", ["yogidakalathariya"]),
        ("Szedrzej's husband and Szedrzej's son", ["Szedrzej's"]),  # once, possessive kept in the report
    ],
)
def test_made_up_words_are_found(text, expected):
    assert invented_words(text, "en", fact_words(ATTRS)) == expected


def test_real_words_towns_facts_and_short_words_are_not():
    assert invented_words(CLEAN, "en", fact_words(ATTRS)) == []
    # the persona's own rare words count only for that persona
    assert invented_words("She practises Bharatanatyam.", "en", fact_words({"x": "cycling"})) == []  # in wordfreq
    assert invented_words("Adoración's kombucha, pickleball and the NHS, Gurugram.", "en") == ["Adoración's"]
    assert invented_words("Adoración's garden", "en", fact_words({"identity.name": "Adoración Cifuentes"})) == []
    assert invented_words("Xyzq and Qwp", "en") == ["Xyzq"]  # under four letters is not checked
    assert invented_words("Rajkodab", "tlh") == []  # a language with no word list is not checked
    # the words of the languages the persona speaks are real words
    speaker = {"communication.languages.native": "Portuguese", "communication.languages.other": ["Polish"]}
    assert persona_languages(speaker) == ("pt", "pl")
    assert invented_words("She bakes pastéis.", "en") == ["pastéis"]
    assert invented_words("She bakes pastéis.", ("en", *persona_languages(speaker))) == []


def test_the_narrative_critic_rejects_a_made_up_place():
    critic = CriticSettings.from_config({"min_words": 20})
    assert judge(CLEAN, ATTRS, critic).passed
    broken = CLEAN.replace("in Rajkot, India", "in Rajkodab, India")
    verdict = judge(broken, ATTRS, critic)
    assert not verdict.passed
    assert [f.message for f in verdict.findings if f.code == "invented_word"] == [
        "'Rajkodab' is a word no reader knows"
    ]

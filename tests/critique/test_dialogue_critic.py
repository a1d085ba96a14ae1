"""The dialogue critic (pipelines/critique/dialogue): parsing a model's conversation into turns,
each expert on targeted examples, the labelled fixture (tests/fixtures/broken_dialogues.yaml) with
precision and recall per finding code, and revision instructions."""

import codecs

import pytest

from pipelines.common.settings import DialogueCriticSettings
from pipelines.critique import evaluate as critic_eval
from pipelines.critique.dialogue import (
    DIALOGUE_WARNING_CODES,
    critique_dialogue,
    dialogue_revision_instructions,
    dialogue_text,
    parse_dialogue,
)
from pipelines.critique.dialogue.consistency import consistency
from pipelines.critique.dialogue.echo import echo
from pipelines.critique.dialogue.instructions import instruction
from pipelines.critique.dialogue.structure import structure as structure_expert
from pipelines.critique.dialogue.style import dialogue_safety, naturalness
from tests.conftest import REPO

FIXTURE = REPO / "tests" / "fixtures" / "broken_dialogues.yaml"
ANNA = {
    "identity.name": "Anna Kowalski",
    "demographics.age": 34,
    "demographics.age_band": "25-34",
    "demographics.gender": "Female",
    "location.residence.city": "Kraków",
    "location.residence.country": "Poland",
    "work.employment.occupation": "Primary school teacher",
    "household.children": 2,
    "interests.hobbies": ["hiking", "baking"],
}
TOM = {
    "identity.name": "Tom Harris",
    "demographics.age": 41,
    "demographics.age_band": "35-44",
    "demographics.gender": "Male",
    "location.residence.city": "Manchester",
    "location.residence.country": "United Kingdom",
    "work.employment.occupation": "Electrician",
    "household.children": 0,
    "interests.hobbies": ["cycling", "football"],
}
SPEAKERS = (ANNA, TOM)
NAMES = ("Anna Kowalski", "Tom Harris")
CRITIC_CONFIG = {"threshold": 0.6}
CRITIC = DialogueCriticSettings.from_config(CRITIC_CONFIG)
DEFAULT_CRITIC = DialogueCriticSettings.from_config()
ECHO = DEFAULT_CRITIC.echo_threshold
GOOD = [
    (0, "Hi, I'm Anna. I teach at a primary school in Kraków, and today was all spelling tests. How was your day?"),
    (1, "Long! I'm Tom, an electrician in Manchester. I rewired an old terraced house all morning."),
    (0, "That sounds like hard work. Do you enjoy it?"),
    (1, "Most days. Every house is a puzzle. What about you, do the kids keep you busy?"),
    (0, "Always. My own two are as lively as my pupils, so at weekends we go hiking in the Tatras to tire them out."),
    (1, "Ha, I do the same to myself on my bike. I cycle to the Peak District most Sundays."),
]


def codes(result):
    return [f.code for f in result.findings]


def critic(**changes):
    return DialogueCriticSettings.from_config({**CRITIC_CONFIG, **changes})


def structure(turns, names, expected_turns, min_turn_words=None, max_turn_words=None):
    """The structure expert with the default turn-length bounds unless given."""
    return structure_expert(
        turns,
        names,
        expected_turns,
        DEFAULT_CRITIC.min_turn_words if min_turn_words is None else min_turn_words,
        DEFAULT_CRITIC.max_turn_words if max_turn_words is None else max_turn_words,
    )


def anna_says(text, **changes):
    """Consistency findings for one turn of Anna's inside an otherwise clean dialogue."""
    turns = [*GOOD[:2], (0, text), *GOOD[3:]]
    return consistency(turns, ({**ANNA, **changes}, TOM)).findings


def tom_says(text, **changes):
    turns = [*GOOD[:3], (1, text), *GOOD[4:]]
    return consistency(turns, (ANNA, {**TOM, **changes})).findings


# ---------------------------------------------------------------------------------------------
# parsing


def test_parse_full_and_first_names_bold_dashes_and_continuation_lines():
    text = (
        "Anna Kowalski: Hi, I'm Anna!\n"
        "**Tom:** Hello there.\n"
        "I'm an electrician.\n\n"
        "**Anna**: Nice to meet you.\n"
        "- Tom Harris (laughing): Likewise.\n"
        "  * anna: lower case works too.\n"
        "Ms. Kowalski: so does a title and a surname."
    )
    assert parse_dialogue(text, NAMES) == [
        (0, "Hi, I'm Anna!"),
        (1, "Hello there. I'm an electrician."),
        (0, "Nice to meet you."),
        (1, "Likewise."),
        (0, "lower case works too."),
        (0, "so does a title and a surname."),
    ]


def test_parse_unknown_labels_keep_their_label_and_empty_turns_stay_empty():
    text = "Anna: Hi!\nUser: Who are you?\nSpeaker B: I am B.\nTom:\nAnna: Anyone there?"
    assert parse_dialogue(text, NAMES) == [
        (0, "Hi!"),
        (None, "User: Who are you?"),
        (None, "Speaker B: I am B."),
        (1, ""),
        (0, "Anyone there?"),
    ]
    # a colon inside a sentence, a day, or "Tip:" is not a speaker label
    text = (
        "Anna: My plan: rest.\nMonday: gym, Tuesday: swim.\nThe thing is: I'm tired.\n"
        "Family is everything: my mum says so.\nTom: Fair."
    )
    assert parse_dialogue(text, NAMES) == [
        (
            0,
            "My plan: rest. Monday: gym, Tuesday: swim. The thing is: I'm tired. Family is everything: my mum says so.",
        ),
        (1, "Fair."),
    ]


@pytest.mark.parametrize(
    "junk",
    [
        "---",
        "* * *",
        "The end.",
        "(End of conversation)",
        "Persona of Tom: electrician, 41.",
        "Facts about Tom Harris:",
        "Here's a sample of 6 turns between Anna and Tom.",
        "This conversation starts with Anna and Tom, who meet in Kraków.",
        "Dialogue 2:",
        "Facts:",
        "- Name: Tom Harris",
        "Note: this dialogue shows two strangers.",
        "<|im_end|>",
    ],
)
def test_parse_stops_at_end_of_dialogue_junk(junk):
    text = f"Anna: Hi Tom!\nTom: Hi Anna.\n{junk}\nAnna: this is junk too.\nTom: and this."
    assert parse_dialogue(text, NAMES) == [(0, "Hi Tom!"), (1, "Hi Anna.")]


def test_parse_prefill_chatter_inline_turns_and_accents():
    # without its "Anna:" prefill the answer's first line is Anna's
    assert parse_dialogue(" Hi Tom! How are you?\nTom: Fine.", NAMES) == [(0, "Hi Tom! How are you?"), (1, "Fine.")]
    assert parse_dialogue("Sure! Here is the conversation:\nAnna: Hi.\nTom: Hey.", NAMES) == [(0, "Hi."), (1, "Hey.")]
    # a small model sometimes puts two turns on one line
    assert parse_dialogue("Anna: Hi! How are you? Tom: Good, thanks.", NAMES) == [
        (0, "Hi! How are you?"),
        (1, "Good, thanks."),
    ]
    assert parse_dialogue("Tomas: Hola.\nZoe: Hi.", ("Tomás Ruiz", "Zoë Clark")) == [(0, "Hola."), (1, "Hi.")]
    # shared first names: only the full name decides
    assert parse_dialogue("Anna: hi\nAnna Lee: hello", ("Anna Kowalski", "Anna Lee")) == [
        (None, "Anna: hi"),
        (1, "hello"),
    ]


def test_dialogue_text_is_canonical_and_parses_back():
    text = dialogue_text(GOOD, NAMES)
    assert text.splitlines()[0].startswith("Anna Kowalski: Hi, I'm Anna.")
    assert parse_dialogue(text, NAMES) == GOOD
    assert (
        dialogue_text([(0, "  Hi \n there "), (None, "User: hello")], NAMES) == "Anna Kowalski: Hi there\nUser: hello"
    )


# ---------------------------------------------------------------------------------------------
# structure


def test_structure_of_a_clean_dialogue_has_no_findings():
    result = structure(GOOD, NAMES, 6)
    assert result.findings == () and result.score == 1.0


def test_structure_turn_counts():
    few = structure(GOOD[:2], NAMES, 6)
    assert codes(few) == ["too_few_turns"] and few.findings[0].severity == "error"
    assert codes(structure(GOOD[:3], NAMES, 4)) == ["too_few_turns"]  # fewer than 4 is always too few
    assert codes(structure(GOOD[:5], NAMES, 6)) == []  # one short of 6 is tolerated
    many = structure(GOOD * 2, NAMES, 6)
    assert codes(many) == ["too_many_turns"] and many.findings[0].severity == "warning"
    assert codes(structure(GOOD + GOOD[:1], NAMES, 6)) == []


def test_structure_alternation_labels_empty_and_length():
    turns = [GOOD[0], (0, "Also, I love baking bread on Sundays."), *GOOD[1:]]
    (f,) = structure(turns, NAMES, 6).findings
    assert (f.code, f.turn, f.speaker) == ("not_alternating", 2, 0) and "Anna Kowalski" in f.message
    turns = [*GOOD[:3], (None, "Narrator: They both laugh."), *GOOD[4:]]
    (f,) = structure(turns, NAMES, 6).findings
    assert (f.code, f.turn, f.evidence) == ("unknown_speaker", 4, "Narrator")
    assert "'Narrator'" in f.message and "Tom Harris" in f.message
    turns = [*GOOD[:3], (1, "  "), *GOOD[4:]]
    assert [(f.code, f.turn) for f in structure(turns, NAMES, 6).findings] == [("empty_turn", 4)]
    first = structure([(1, "Hi there, Anna."), *GOOD[1:]], NAMES, 6)
    assert "wrong_first_speaker" in codes(first) and "not_alternating" in codes(first)
    turns = [*GOOD[:3], (1, "Yes."), *GOOD[4:]]
    assert [(f.code, f.severity) for f in structure(turns, NAMES, 6).findings] == [("short_turn", "warning")]
    long = (1, "word " * 90 + "end.")
    assert codes(structure([*GOOD[:3], long, *GOOD[4:]], NAMES, 6, max_turn_words=80)) == ["long_turn"]
    assert codes(structure([*GOOD[:3], long, *GOOD[4:]], NAMES, 6, max_turn_words=100)) == []


def test_structure_leftovers_and_truncation():
    for text, said in (
        ("As an AI, I don't have hobbies.", "As an AI"),
        ("Facts: - Name: Tom Harris. I'm an electrician.", "Facts:"),
        ("Nice to meet you, [Name]!", "[Name]"),
        ("Write a dialogue between two friends.", "Write a dialogue"),
        ("Persona: Tom, 41, electrician.", "Persona:"),
        ("Great! (6 turns)", "(6 turns)"),
    ):
        (f,) = structure([*GOOD[:3], (1, text), *GOOD[4:]], NAMES, 6).findings
        assert (f.code, f.turn, f.evidence) == ("prompt_leftover", 4, said), text
    for fine in (
        "I'm sorry to hear that, it sounds exhausting.",
        "I can't help laughing at that story.",
        "Here's the thing: I love my job.",
    ):
        assert structure([*GOOD[:3], (1, fine), *GOOD[4:]], NAMES, 6).findings == (), fine
    (f,) = structure(
        [*GOOD[:5], (1, "Most Sundays I ride out to the Peak District, and last week I")], NAMES, 6
    ).findings
    assert (f.code, f.turn, f.severity) == ("truncated", 6, "warning")
    for ending in ("See you then :)", "Deal…", "Bye!"):
        assert structure([*GOOD[:5], (1, ending + " Take care, Anna.")], NAMES, 6).findings == ()


# ---------------------------------------------------------------------------------------------
# consistency


def test_clean_dialogue_is_consistent():
    result = consistency(GOOD, SPEAKERS)
    assert result.findings == () and result.score == 1.0


def test_identity_swap():
    (f,) = tom_says("Hi! I'm Anna, and I fix wiring for a living.")
    assert (f.code, f.turn, f.speaker, f.attribute, f.evidence) == ("identity_swap", 4, 1, "identity.name", "Anna")
    assert "Tom Harris" in f.message and "Anna Kowalski's name" in f.message
    assert codes_of(anna_says("Hello! I'm Tom Harris, a teacher from Kraków.")) == ["identity_swap"]
    assert codes_of(anna_says("Good evening, my name is Maria and I teach.")) == ["identity_swap"]
    assert codes_of(anna_says("You can call me Tom, everyone does.")) == ["identity_swap"]
    for fine in (
        "I'm Anna, nice to meet you.",
        "My name is Anna Kowalski.",
        "I'm Polish, so winters don't scare me.",
        "I'm Tom's biggest fan after that story!",
        "Just call me Annie.",
        "I'm So glad we met.",
    ):
        assert codes_of(anna_says(fine)) == [], fine
    assert codes_of(tom_says("My name is Thomas, but everyone says Tom.")) == []


def codes_of(findings):
    return [f.code for f in findings]


def test_wrong_addressee():
    (f,) = tom_says("Nice to meet you, Tom! I'm an electrician.")
    assert (f.code, f.severity, f.turn, f.evidence) == ("wrong_addressee", "warning", 4, "Tom")
    assert codes_of(tom_says("Hello Maria! I'm an electrician.")) == ["wrong_addressee"]
    assert codes_of(anna_says("How are you today, Anna?")) == ["wrong_addressee"]
    for fine in (
        "Hi Tom! How are you?",
        "Thanks, Tom, that helps.",
        "Hello everyone!",
        "Good morning! Yes, I teach.",
        "Hello Kraków, I'm back!",
        "Thank you, Mr Harris.",
    ):
        assert codes_of(anna_says(fine)) == [], fine


def test_age_contradiction():
    for text in (
        "I'm 40 and I still get nervous on the first day.",
        "I am 45 years old.",
        "I'm a 29-year-old teacher.",
        "I'm twenty-five, believe it or not.",
        "I'm in my fifties now.",
        "I just turned 30 last week.",
    ):
        found = anna_says(text)
        assert codes_of(found) == ["age_contradiction"], text
        assert found[0].attribute == "demographics.age" and "Anna Kowalski is 34" in found[0].message
    for fine in (
        "I'm 34 and I love it.",
        "I'm thirty-four.",
        "I'm in my thirties.",
        "I just turned 35.",
        "I'm almost 35, can you believe it?",
        "I'm 15 minutes away.",
        "I'm one of them.",
        "When I was 20, I lived in Warsaw.",
        "I'll be 40 in six years.",
        "My son is 8 years old.",
        "I'm 100% sure.",
        "I'm 10 and a half years into teaching.",
    ):
        assert codes_of(anna_says(fine)) == [], fine


def test_living_somewhere_longer_than_ones_life_is_an_age_contradiction():
    # the guided frame "and I've lived here for", finished by a default build's model
    said = "Hi, I'm Anna. I'm a teacher here in Kraków, and I've lived here for over three decades now."
    assert codes_of(anna_says(said, **{"demographics.age": 30})) == ["age_contradiction"]
    assert codes_of(anna_says("I've lived in Kraków for 40 years.")) == ["age_contradiction"]  # Anna is 34
    for fine in (
        "I've lived here for over three decades now.",  # at 41
        "I've lived here for almost thirty-four years, since I was born.",
        "I've lived here for twelve years now.",
        "My parents have lived here for five decades.",
    ):
        assert codes_of(anna_says(fine, **{"demographics.age": 41} if "decades now" in fine else {})) == [], fine


def test_occupation_swap_and_contradiction():
    (f,) = tom_says("I'm a teacher too, at a school in Manchester.")
    assert (f.code, f.attribute, f.evidence) == ("occupation_swap", "work.employment.occupation", "teacher")
    assert "Anna Kowalski's job" in f.message and "electrician" in f.message
    assert codes_of(anna_says("I work as an electrician, mostly old houses.")) == ["occupation_swap"]
    assert codes_of(anna_says("As an electrician, I see a lot of bad wiring.")) == ["occupation_swap"]
    assert codes_of(tom_says("I'm a lawyer, so I read contracts all day.")) == ["occupation_contradiction"]
    for fine in (
        "I'm an electrician, mostly old houses.",
        "I'm a qualified electrician.",
        "My sister is a teacher, so I know how tiring it is.",
        "I'm not a teacher, but I'd never survive a classroom.",
        "I'm a teacher's son, actually.",
        "I'm a chef at heart, though.",
        "I'm a big fan of teachers.",
        "I was a nurse for a year before I trained.",
    ):
        assert codes_of(tom_says(fine)) == [], fine
    # a job outside the lexicon is still recognised as the other speaker's
    marine = {**ANNA, "work.employment.occupation": "Marine biologist"}
    turns = [*GOOD[:3], (1, "I'm a marine biologist as well!"), *GOOD[4:]]
    assert codes(consistency(turns, (marine, TOM))) == ["occupation_swap"]


def test_children_contradiction():
    for text, kids in (
        ("I don't have any kids myself.", 2),
        ("We have three children.", 2),
        ("My two kids are the loudest in the house.", 1),
        ("My daughter loves baking with me.", 0),
        ("As a mother, I worry a lot.", 0),
        ("I'm a mum of two.", 3),
        ("My sons are in the school team.", 1),
        # a build accepted this from a speaker with no children
        ("On weekends I can go out to the countryside and visit my grandkids.", 0),
        ("On weekends I always celebrate my little ones.", 1),  # a default build accepted it
        # a default build accepted this from a speaker with one child: "kids" is more than one
        ("On weekends I always go out with my wife and kids.", 1),
    ):
        found = anna_says(text, **{"household.children": kids})
        assert codes_of(found) == ["children_contradiction"], text
        assert found[0].attribute == "household.children"
    # "my kids" from a parent of one (Anna is a teacher: her "kids" may be her pupils)
    accountant = {"household.children": 1, "work.employment.occupation": "Accountant"}
    assert codes_of(anna_says("My kids keep me busy.", **accountant)) == ["children_contradiction"]
    assert codes_of(anna_says("My kids keep me busy.", **{**accountant, "household.children": 2})) == []
    for text, kids in (
        ("My two kids love hiking.", 2),
        ("I don't have kids at home anymore, they're grown.", 2),
        ("I have no children.", 0),
        ("My kids at school made me a card.", 0),
        ("My class has thirty kids.", 0),
        ("We are expecting our first baby.", 0),
        ("My daughter-in-law is lovely.", 1),
        ("I have twenty children in my class.", 2),
        ("My kids? No, I don't have any.", 0),
        ("When I have my own kids one day, I'll take them hiking.", 0),
        ("If I didn't have kids, I'd travel more.", 2),
        ("I have 2 children's books on my desk.", 0),
        ("I visit my grandkids every Sunday.", 1),
        ("I read to my little ones every night.", 3),
        ("On weekends I always go out with my wife and kids.", 2),
        ("My children keep me busy.", 4),
    ):
        assert codes_of(anna_says(text, **{"household.children": kids})) == [], text


def test_listener_contradiction():
    """What a speaker says of the other's family, against the other's persona (a default build
    accepted "On Saturdays I usually take photographs of your wife." said to a divorced woman)."""
    divorced = {"household.marital_status": "Divorced", "household.children": 0, "household.grandchildren": 0}
    for text, attribute in (
        ("On Saturdays I usually take photographs of your wife.", "household.marital_status"),
        ("How is your husband doing these days?", "household.marital_status"),
        ("Bring your boyfriend along next time!", "household.marital_status"),
        ("Your kids must keep you busy.", "household.children"),
        ("Does your little daughter like hiking?", "household.children"),
        ("Do your grandkids visit often?", "household.grandchildren"),
    ):
        found = consistency([*GOOD[:2], (0, text), *GOOD[3:]], (ANNA, {**TOM, **divorced})).findings
        assert codes_of(found) == ["listener_contradiction"], text
        assert (found[0].attribute, found[0].turn, found[0].speaker) == (attribute, 3, 0)
        assert "Tom Harris" in found[0].message
    for text, tom in (
        ("How is your ex-wife?", divorced),
        ("Is your late wife's garden still growing?", {"household.marital_status": "Widowed"}),
        ("When your kids leave home, the house goes quiet.", divorced),
        ("If your partner likes cycling, bring them.", divorced),
        ("How is your wife?", {"household.marital_status": "Married"}),
        ("Your partner sounds lovely.", {"household.marital_status": "In a relationship"}),
        ("Your kids must keep you busy.", {"household.children": 2}),
        ("Your son-in-law is lucky.", divorced),
        ("How is your wife?", {}),  # the persona does not say
    ):
        listener = {k: v for k, v in TOM.items() if k != "household.children"}
        turns = [*GOOD[:2], (0, text), *GOOD[3:]]
        assert codes_of(consistency(turns, (ANNA, {**listener, **tom})).findings) == [], text
    verdict = critique_dialogue(
        [*GOOD[:2], (0, "Your kids must keep you busy."), *GOOD[3:]], (ANNA, {**TOM, **divorced}), CRITIC, 6
    )
    assert not verdict.passed
    lines = dialogue_revision_instructions(verdict, (ANNA, {**TOM, **divorced}), CRITIC, 6)
    assert "Tom Harris has no children: in turn 3 Anna must not say 'Your kids'." in lines


def test_persona_unused_is_an_error_when_nothing_of_either_persona_comes_up():
    chat = [
        (0, "What a strange day, sunny one minute and raining the next."),
        (1, "I know! Do you think it will clear up later?"),
        (0, "The radio says yes, by the afternoon."),
        (1, "Then I'll buy a cheap umbrella on the way."),
    ]
    result = consistency(chat, SPEAKERS)
    assert codes(result) == ["persona_unused"] and result.findings[0].severity == "error"
    one = [*chat, (0, "I'll be fine, I walk to school in Kraków in any weather.")]
    assert codes(consistency(one, SPEAKERS)) == []
    assert consistency(one, SPEAKERS).score < consistency(GOOD, SPEAKERS).score
    assert not critique_dialogue(chat, SPEAKERS, CRITIC, 4).passed


# ---------------------------------------------------------------------------------------------
# echo and naturalness


def test_echoed_turn_names_both_turns():
    copy = (1, GOOD[4][1].replace("Always.", "Yes, always."))
    turns = [*GOOD[:5], copy]
    (f,) = echo(turns, NAMES, ECHO).findings
    assert (f.code, f.turn, f.ref_turn, f.severity) == ("echoed_turn", 6, 5, "error")
    assert f.message.startswith("turn 6 (Tom Harris) repeats turn 5 (Anna Kowalski)")
    assert codes(echo(turns, NAMES, threshold=0.99)) == ["repeated_sentence"]  # its sentences remain copies
    own = [*GOOD[:4], (0, GOOD[0][1] + " Really."), GOOD[5]]
    assert [(f.code, f.ref_turn) for f in echo(own, NAMES, ECHO).findings] == [("echoed_turn", 1)]
    # short turns are not compared: a goodbye said back is natural
    assert echo([*GOOD, (0, "See you on Saturday!"), (1, "See you on Saturday!")], NAMES, ECHO).findings == ()
    assert echo(GOOD, NAMES, ECHO).findings == ()


def test_repeated_sentences_and_loops():
    reuse = (
        0,
        "Right. I teach at a primary school in Kraków, and today was all spelling tests. Tomorrow we start a "
        "project about the mountains, and the children want to build a model of Giewont out of paper.",
    )
    (f,) = echo([*GOOD[:4], reuse, GOOD[5]], NAMES, ECHO).findings
    assert (f.code, f.turn, f.ref_turn) == ("repeated_sentence", 5, 1)
    # a question asked back is ordinary conversation
    ask = [
        (0, "I teach at a primary school. What do you do for a living?"),
        (1, "I'm an electrician in Manchester. And what do you do for a living?"),
    ]
    assert echo(ask, NAMES, ECHO).findings == ()
    loop = (1, "I love cycling and I love football and I love cycling and I love football and I love cycling.")
    assert codes(echo([*GOOD[:3], loop, *GOOD[4:]], NAMES, ECHO)) == ["repeated_ngrams"]
    same = (1, "The garden is lovely in June. The garden is lovely in June. The garden is lovely in June.")
    assert sorted(codes(echo([*GOOD[:3], same, *GOOD[4:]], NAMES, ECHO))) == ["repeated_ngrams", "repeated_sentence"]
    assert echo([*GOOD[:3], same, *GOOD[4:]], NAMES, ECHO).score < echo(GOOD, NAMES, ECHO).score


FLAT = [
    (0, "The weather was grey again this morning."),
    (1, "My neighbour painted his front door green."),
    (0, "The shop near Kraków station closed early."),
    (1, "A new film opens at the cinema."),
    (0, "The trains were late all week long."),
    (1, "Someone left a bicycle by the gate."),
]


def test_naturalness():
    assert naturalness(GOOD, NAMES).findings == () and naturalness(GOOD, NAMES).score > 0.7
    flat = FLAT
    result = naturalness(flat, NAMES)
    assert sorted(codes(result)) == ["no_questions", "uniform_turns"]
    assert all(f.severity == "warning" for f in result.findings) and result.score < 0.2
    assert "Anna Kowalski" in next(f.message for f in result.findings if f.code == "no_questions")
    assert naturalness(GOOD[:3], NAMES).score is None  # too short to judge


# ---------------------------------------------------------------------------------------------
# safety and novelty


def test_safety_per_turn_with_the_speakers_attributes():
    turns = [*GOOD[:3], (1, "Like all women, you probably can't read a wiring diagram."), *GOOD[4:]]
    (f,) = dialogue_safety(turns, SPEAKERS).findings
    assert (f.code, f.turn, f.speaker, f.attribute) == ("stereotype", 4, 1, "demographics.gender")
    assert (
        f.message.startswith("turn 4 (Tom Harris): demeaning generalisation")
        and "Anna Kowalski's own group" in f.message
    )
    own = [*GOOD[:2], (0, "Women are terrible drivers, my husband says."), *GOOD[3:]]
    (f,) = dialogue_safety(own, SPEAKERS).findings
    assert f.attribute == "demographics.gender" and "Anna Kowalski's own group" in f.message
    slur = codecs.decode("cbynpx", "rot13")  # one lexicon entry, kept out of the test source
    turns = [*GOOD[:3], (1, f"My foreman called them all {slur}s."), *GOOD[4:]]
    assert [(f.code, f.turn) for f in dialogue_safety(turns, SPEAKERS).findings] == [("slur", 4)]
    assert dialogue_safety(GOOD, SPEAKERS).score == 1.0


def test_novelty_and_verdict():
    verdict = critique_dialogue(GOOD, SPEAKERS, CRITIC, 6)
    assert verdict.passed and verdict.score > 0.9 and verdict.findings == []
    assert [e["expert"] for e in verdict.as_record()["experts"]] == [
        "structure",
        "consistency",
        "echo",
        "coherence",  # weight 0, its errors block
        "naturalness",
        "safety",
        "novelty",
        "surface",  # another language or template slots; weight 0, its errors block
    ]
    sibling = [("candidate:0", dialogue_text(GOOD, NAMES))]
    copy = critique_dialogue(GOOD, SPEAKERS, CRITIC, 6, sibling)
    assert not copy.passed and [f.code for f in copy.findings] == ["too_similar"]
    assert "candidate:0" in copy.findings[0].message
    assert critique_dialogue(GOOD, SPEAKERS, critic(novelty_threshold=1.01), 6, sibling).passed


def test_weights_threshold_and_records():
    flat = FLAT
    base = critique_dialogue(flat, SPEAKERS, CRITIC, 6)
    assert base.passed  # warnings only: uniform_turns, no_questions
    assert {f.severity for f in base.findings} == {"warning"}
    heavy = critique_dialogue(flat, SPEAKERS, critic(weights={"naturalness": 10}), 6)
    assert heavy.score < base.score
    zero = critique_dialogue(flat, SPEAKERS, critic(weights={"naturalness": 0, "consistency": 0}), 6)
    assert zero.score == pytest.approx(1.0)
    # the narrative critic's weights (faithfulness, degeneration, ...) leave the dialogue experts at their defaults
    narrative = critic(weights={"faithfulness": 0.4, "degeneration": 0.3, "safety": 0.2, "novelty": 0.1})
    assert critique_dialogue(GOOD, SPEAKERS, narrative, 6).passed
    assert not critique_dialogue(flat, SPEAKERS, critic(threshold=0.99), 6).passed
    bad = critique_dialogue([*GOOD[:3], (1, "I'm Anna, hi!"), *GOOD[4:]], SPEAKERS, CRITIC, 6)
    assert not bad.passed
    (f,) = bad.findings
    assert (f.code, f.turn, f.speaker, f.severity) == ("identity_swap", 4, 1, "error")
    (rec,) = bad.as_record()["findings"]
    assert rec["code"] == "identity_swap" and rec["message"].startswith("turn 4: Tom Harris says")
    custom = critic(min_turn_words=1, max_turn_words=5, echo_threshold=0.1)
    assert {"long_turn", "echoed_turn"} <= {f.code for f in critique_dialogue(GOOD, SPEAKERS, custom, 6).findings}


# ---------------------------------------------------------------------------------------------
# revision instructions


def test_revision_instructions_are_concrete():
    turns = [
        (0, "Hi, I'm Anna. I'm 40 and I teach at a primary school in Kraków. How was your day?"),
        (0, "Sorry, I mean: how was your week?"),
        (1, "Long! I'm Anna, an electrician in Manchester. I rewired an old house all morning."),
        (None, "User: That sounds like hard work."),
        GOOD[4],
        (1, GOOD[4][1]),
    ]
    verdict = critique_dialogue(turns, SPEAKERS, CRITIC, 6)
    lines = dialogue_revision_instructions(verdict, SPEAKERS, CRITIC, 6)
    assert "Anna Kowalski is 34: in turn 1 she must not say she is 40." in lines
    assert "Write exactly 6 turns, alternating Anna: and Tom:, starting with Anna:." in lines
    assert "Tom Harris speaks in turn 3: he must call himself Tom, never Anna." in lines
    assert "Turn 4 is labelled 'User': start every line with Anna: or Tom:, nobody else speaks." in lines
    assert "Turn 6 repeats turn 5: say something new." in lines
    assert len(lines) == len(set(lines))
    kinds = [
        next(f.severity for f in verdict.findings if instruction(f, SPEAKERS, CRITIC, 6) == line) for line in lines
    ]
    assert kinds == sorted(kinds, key=lambda s: s != "error")  # errors first
    more = [*GOOD[:3], (1, "I'm a teacher too. I have two kids."), *GOOD[4:]]
    lines = dialogue_revision_instructions(critique_dialogue(more, SPEAKERS, CRITIC, 6), SPEAKERS, CRITIC, 6)
    assert "Tom Harris is an electrician, not a teacher: in turn 4 he must talk about his own work." in lines
    assert "Tom Harris has no children: in turn 4 he must not say 'I have two kids'." in lines
    rude = [*GOOD[:3], (1, "Like all women, you probably can't read a wiring diagram."), *GOOD[4:]]
    lines = dialogue_revision_instructions(critique_dialogue(rude, SPEAKERS, CRITIC, 6), SPEAKERS, CRITIC, 6)
    assert lines == [
        "Remove this from turn 4: demeaning generalisation 'Like all women' about Anna Kowalski's own group "
        "(demographics.gender). Tom speaks about people as individuals, without slurs or generalisations about "
        "any group."
    ]
    assert dialogue_revision_instructions(critique_dialogue(GOOD, SPEAKERS, CRITIC, 6), SPEAKERS, CRITIC, 6)


def test_revision_instructions_group_many_repeats():
    hello = "Hey, nice to meet you! Just got a new puppy too!"
    turns = [(0, "Hey, just got a new puppy! I'm glad to meet you."), *[(i % 2, hello) for i in range(1, 6)]]
    verdict = critique_dialogue(turns, SPEAKERS, CRITIC, 6)
    lines = dialogue_revision_instructions(verdict, SPEAKERS, CRITIC, 6)
    assert "Turns 2, 3, 4, 5 and 6 repeat earlier turns: every turn must say something new." in lines
    assert not [line for line in lines if line.startswith("Turn 3 ")]
    assert lines[-1] == "Let Anna and Tom ask each other questions and answer them."
    assert any(
        line.startswith("Let Anna and Tom talk about their own lives: Anna (primary school teacher") for line in lines
    )


# ---------------------------------------------------------------------------------------------
# the labelled fixture


def test_fixture_items_and_precision_recall_per_code(capsys):
    items = critic_eval.load_dialogue_items(FIXTURE)
    clean = [i for i in items if not i["expect"]]
    assert len(items) >= 40 and len(clean) >= 12
    for item in clean:
        turns = parse_dialogue(item["text"], tuple(s["identity.name"] for s in item["speakers"]))
        assert len(turns) == 6, item["id"]
    result = critic_eval.evaluate_dialogues(items, DEFAULT_CRITIC)
    with capsys.disabled():
        print("\n" + critic_eval.format_report(result))
    # every clean item passes with no finding at all; every broken one has exactly its labelled codes
    assert result["mismatches"] == []
    assert result["false_rejects"] == [] and result["false_accepts"] == [] and result["accuracy"] == 1.0
    for code, c in result["codes"].items():
        assert c["precision"] == 1.0, (code, c)
        assert c["recall"] >= 0.9, (code, c)
    assert set(result["codes"]) >= {
        "identity_swap",
        "occupation_swap",
        "age_contradiction",
        "children_contradiction",
        "echoed_turn",
        "repeated_sentence",
        "repeated_ngrams",
        "too_few_turns",
        "too_many_turns",
        "not_alternating",
        "unknown_speaker",
        "empty_turn",
        "prompt_leftover",
        "stereotype",
        "slur",
        "explicit_content",
        "too_similar",
    }
    severities = {code: c["severity"] for code, c in result["codes"].items()}
    assert {code for code, sev in severities.items() if sev == "warning"} <= DIALOGUE_WARNING_CODES


def test_fixture_findings_name_their_turn():
    items = {i["id"]: i for i in critic_eval.load_dialogue_items(FIXTURE)}
    verdict = critic_eval.judge_dialogue_item(items["age-anna-says-40"], DEFAULT_CRITIC)
    (f,) = verdict.findings
    assert (f.turn, f.speaker, f.evidence) == (1, 0, "40") and f.message.startswith("turn 1: Anna Kowalski says")
    verdict = critic_eval.judge_dialogue_item(items["echo-tom-copies-intro"], DEFAULT_CRITIC)
    assert {(f.code, f.turn) for f in verdict.findings} == {
        ("echoed_turn", 2),
        ("identity_swap", 2),
        ("wrong_addressee", 2),
    }


def test_evaluate_cli_prints_a_table(tmp_path, capsys):
    small = tmp_path / "small.yaml"
    small.write_text(
        "personas:\n"
        "  anna: &anna {identity.name: Anna Kowalski, demographics.age: 34, household.children: 2}\n"
        "  tom: &tom {identity.name: Tom Harris, demographics.age: 41, household.children: 0}\n"
        "items:\n"
        "  - id: swap\n"
        "    speakers: [*anna, *tom]\n"
        "    expected_turns: 4\n"
        "    text: |\n"
        "      Anna: Hi, I'm Anna! How are you today?\n"
        "      Tom: Fine, thanks. I'm Anna, by the way, and I fix wiring.\n"
        "      Anna: Nice to meet you. Do you like your job?\n"
        "      Tom: I do, every single day of the week.\n"
        "    expect: [identity_swap]\n",
        encoding="utf-8",
    )
    assert critic_eval.dialogue_main([str(small)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:4] == ["code", "severity", "support", "tp"]
    assert "identity_swap" in out and "accept/reject accuracy: 1.00" in out

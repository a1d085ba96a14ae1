"""The dialogue coherence expert (pipelines/critique/dialogue/coherence.py) on failures read in
dialogues that a default build accepted (tests/fixtures/critic_eval/dialogues_real_dev.yaml), on
near misses a good conversation has, and as revision instructions."""

import pytest

from pipelines.common.settings import DialogueCriticSettings
from pipelines.critique.dialogue import critique_dialogue, dialogue_revision_instructions, parse_dialogue
from pipelines.critique.dialogue.coherence import coherence

NAMES = ("Anna Kowalski", "Tom Harris")
ANNA = {"identity.name": "Anna Kowalski", "demographics.gender": "Female", "demographics.age": 34}
TOM = {"identity.name": "Tom Harris", "demographics.gender": "Male", "demographics.age": 41}


def codes(text: str) -> dict[str, list[int | None]]:
    found: dict[str, list[int | None]] = {}
    for f in coherence(parse_dialogue(text, NAMES), NAMES).findings:
        assert f.severity == "error"
        found.setdefault(f.code, []).append(f.turn)
    return found


GOOD = (
    "Anna: Long wait today. Are you here for a check-up too?\n"
    "Tom: Just my knee. Too much football at the weekend. You?\n"
    "Anna: Nothing serious. I teach at the primary school round the corner, so I came before class.\n"
    "Tom: Then you know how slow these places are. I drive the number 12 bus.\n"
    "Anna: Good choice, the 12. It's the only bus that is ever on time.\n"
    "Tom: Thanks! That's great news for my boss, I'll tell him."
)


@pytest.mark.parametrize(
    ("text", "code", "turn"),
    [
        # the first turn answers a turn nobody said
        ("Anna: Good choice! I've always wanted to try something new.\nTom: Me too.", "reply_opening", 1),
        ("Anna: Love your family! What brings you to Italy?\nTom: Work.", "reply_opening", 1),
        ("Anna: Oh, that's wonderful news. I'm so glad.\nTom: Yes.", "reply_opening", 1),
        # a question answered with a reaction to news
        ("Anna: Hey! What makes your job special?\nTom: That's wonderful news, brother.", "non_sequitur", 2),
        # a greeting once the two are talking
        (
            "Anna: Hey there! How was your holiday?\nTom: Great. Yours?\nAnna: Hi there! My family loves it.",
            "late_greeting",
            3,
        ),
        # one listener addressed as several
        ("Anna: Hey, buddy! How's it going?\nTom: Fine! What brings you both out tonight?", "many_addressees", 2),
        # a turn before the last one cut off by the token limit
        ("Anna: My husband loves you very much. He says he'll miss\nTom: Oh, thanks.", "cut_off", 1),
        # "together" with nobody (guided frames, a default build)
        (
            "Anna: Hi, I'm Anna.\nTom: In my free time I love board games. On Saturdays I usually play board games "
            "together. What do you like to do?",
            "together_alone",
            2,
        ),
        (
            "Anna: Do you have a family?\nTom: I'm married. On weekends I always celebrate my life anniversaries.",
            "weekly_occasion",
            2,
        ),
        # one habit on two days (default builds)
        (
            "Anna: What do you do for fun?\nTom: On Saturdays I usually read a crime novel every Sunday.",
            "day_clash",
            2,
        ),
        (
            "Anna: What do you do for fun?\nTom: On Sundays I usually record a podcast episode every weekday morning.",
            "day_clash",
            2,
        ),
        # "them" right after having no children (a default build)
        (
            "Anna: Do you have a family?\nTom: I'm single and I have no children. On weekends I always go out and "
            "spend time with them. And you?",
            "childless_them",
            2,
        ),
        # a pastime as part of a business (default builds' narratives)
        (
            "Anna: What do you do for fun?\nTom: On Saturdays I usually go swimming as part of my business.",
            "pastime_as_work",
            2,
        ),
        # an adult at a class for children (default builds' narratives)
        ("Anna: What do you do for fun?\nTom: On weekends I go to a yoga class for kids. And you?", "kids_class", 2),
        # a trip round the world every week (a default build)
        ("Anna: What do you do?\nTom: On Sundays I usually go for a bike ride around the world.", "far_routine", 2),
        # a weekly habit said as what one cannot do (default builds)
        ("Anna: Do you have a family?\nTom: I'm married. On weekends I can't be there. And you?", "cant_weekly", 2),
        ("Anna: Do you?\nTom: On weekends I can't miss anything but dinner parties.", "cant_weekly", 2),
        # a habit taken back in the same sentence (a default build)
        ("Anna: And you?\nTom: On Saturdays I usually fix things but not very often.", "frequency_clash", 2),
    ],
)
def test_real_failures_are_found(text, code, turn):
    assert turn in codes(text).get(code, []), codes(text)


def test_turns_opening_with_the_same_words_are_a_formula():
    text = "\n".join(
        f"{who}: Long time ago, I {did}."
        for who, did in zip(
            ("Anna", "Tom", "Anna", "Tom"),
            ("saw a market", "met a florist", "visited a shop", "lived by a castle"),
            strict=True,
        )
    )
    assert "formulaic_turns" in codes(text)
    # two turns that start alike are a conversation
    two = text.replace("Anna: Long time ago, I visited", "Anna: Funny, I visited")
    assert "formulaic_turns" not in codes(two.replace("Tom: Long time ago, I lived", "Tom: I lived"))


def test_a_good_conversation_has_none_of_them():
    # a reply phrase after the first turn, news reactions to statements, a greeting in turn 2,
    # "you" to one person
    assert codes(GOOD) == {}
    # a last turn cut off is one too
    assert codes(GOOD.replace("I'll tell him.", "I'll tell him")) == {"cut_off": [6]}
    assert codes("Anna: Hello! Is this seat free?\nTom: Hello, yes it is. Do you two know each other?") != {}
    assert codes("Anna: Is this seat free?\nTom: Hi! Yes, sit down. Where are you headed?") == {}
    # "you both" for the listener and someone the listener spoke of
    assert codes("Anna: My son and I go fishing there.\nTom: Lovely. Maybe I will see you both there.") == {}
    # two habits on two days
    days = "Anna: On Saturdays I swim, and every Sunday I rest.\nTom: On Fridays I work and on Sundays I rest."
    assert codes(days) == {}
    # "together" with someone
    assert codes("Anna: My son and I cook a big meal together.\nTom: Maybe we could cook together one day.") == {}
    # "them" after no children, for someone named or for the things just said
    nieces = "Anna: Do you have a family?\nTom: I have no children. My nieces visit and I take them to the park."
    assert codes(nieces) == {}
    games = "Anna: Do you have a family?\nTom: I have no children. I love board games and play them every weekend."
    assert codes(games) == {}
    assert codes("Anna: Do you have a family?\nTom: I have two children. On weekends I bring them home.") == {}
    # thanks for something done, not said
    assert codes("Anna: Thank you for carrying my shopping. You're very kind.\nTom: It's nothing.") == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Anna: Good choice! What brings you here?\nTom: That's great news. What brings you both here?",
            [
                "Turn 1 starts the conversation: Anna must not open with 'good choice', as if answering someone.",
                "In turn 2 Tom must answer the question of turn 1, not say 'great news'.",
                "Anna and Tom talk to each other alone: in turn 2 Tom must not say 'you both'.",
            ],
        ),
        (
            "Anna: Do you have a family?\nTom: I have no children. On weekends I always bring them home.",
            [
                "In turn 2 Tom says 'On weekends I always bring them home' but has no children: say who 'them' is,"
                " or leave it out."
            ],
        ),
        (
            "Anna: What do you do for fun?\nTom: On Saturdays I usually go swimming as part of my business.",
            [
                "In turn 2 Tom says 'On Saturdays I usually go swimming as part of my business': a pastime is not"
                " part of a business or job; say what he does for fun."
            ],
        ),
    ],
)
def test_findings_reject_and_come_back_as_instructions(text, expected):
    critic = DialogueCriticSettings.from_config()
    verdict = critique_dialogue(parse_dialogue(text, NAMES), (ANNA, TOM), critic, 2)
    assert not verdict.passed
    lines = dialogue_revision_instructions(verdict, (ANNA, TOM), critic, 2)
    for line in expected:
        assert line in lines

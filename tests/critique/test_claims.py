"""The claims expert (every sampled attribute checked against its taxonomy domain) and the
surface expert (language, placeholders, person drift), on realistic sentences and near misses."""

import pytest

from pipelines.common.facts import FACT_PATHS
from pipelines.common.settings import CriticSettings
from pipelines.critique.narrative import judge
from pipelines.critique.narrative.claims import claims
from pipelines.critique.narrative.surface import surface
from pipelines.persona.task import taxonomy_claim_book
from pipelines.taxonomy import load_taxonomy
from tests.conftest import REPO

BOOK = taxonomy_claim_book(load_taxonomy([REPO / "taxonomy" / "base.yaml"]))
ATTRS = {
    "identity.name": "Carmen Ruiz",
    "demographics.age": 67,
    "demographics.gender": "Female",
    "location.residence.city": "Seville",
    "location.residence.country": "Spain",
    "household.marital_status": "Widowed",
    "household.children": 2,
    "work.employment.status": "retired",
    "work.employment.occupation": "Retired teacher",
    "education.level": "Bachelor's degree",
    "health.lifestyle.smoking": "never smoked",
    "communication.languages.native": "Spanish",
    "values.religion": "Catholic",
    "interests.hobbies": ["gardening", "football"],
    "personality.traits": ["warm", "stubborn"],
}


def errors(text, attrs=ATTRS):
    return {(f.code, f.attribute) for f in claims(text, attrs, BOOK).findings if f.severity == "error"}


@pytest.mark.parametrize(
    ("text", "attribute"),
    [
        ("Carmen, a widow, works hard every day alongside her husband at the market.", "household.marital_status"),
        ("At sixty-seven Carmen still works full-time at the school.", "work.employment.status"),
        ("Every morning she smokes a pack a day on the balcony.", "health.lifestyle.smoking"),
        ("Carmen lives in Valencia with her two cats.", "location.residence.city"),
        ("She left school early to help her parents.", "education.level"),
        ("Her native language is Catalan, though she speaks Spanish too.", "communication.languages.native"),
        ("A devout Muslim, Carmen prays five times a day.", "values.religion"),
        # the embedded model's favourite invention, for retirees, teachers and homemakers alike
        ("Carmen is a 67-year-old woman who runs her own business selling handmade toys.", "work.employment.status"),
        ("She owns a small business in the old town.", "work.employment.status"),
    ],
)
def test_another_value_of_a_sampled_attribute_is_a_contradiction(text, attribute):
    assert ("attribute_contradiction", attribute) in errors(text)


def test_a_partner_contradicts_only_a_single_persona():
    """'her partner' for a single woman (a default build accepted it); a widow's new partner and a
    business partner are not contradictions."""
    single = {**ATTRS, "household.marital_status": "Single"}
    found = ("attribute_contradiction", "household.marital_status")
    assert found in errors("On weekends, she plays football together with her partner.", single)
    assert found not in errors("On weekends, she plays football together with her partner.", ATTRS)  # widowed
    assert found not in errors("She and her business partner run a stall at the market.", single)


def test_a_negated_hobby_is_caught():
    assert ("hobby_negated", "interests.hobbies") in errors("Carmen has never understood football.")


@pytest.mark.parametrize(
    "text",
    [
        "Her late husband loved football; Carmen still watches every Sevilla match.",
        "Her son lives in Madrid and her daughter is married to a baker.",
        "Her best friend smokes a pack a day, which Carmen, who never smoked, hates.",
        "Carmen retired after thirty years of teaching and never smoked a cigarette.",
        "She earned a bachelor's degree in history in Granada before moving to Seville.",
        "Her retired neighbour still works full-time in his garden, she jokes.",
        "A Catholic all her life, she goes to mass every Sunday.",
        "Her son runs his own business in Madrid, and she keeps its books on Sundays.",
        "She once dreamed of starting her own business, but teaching won.",
    ],
)
def test_other_people_and_the_persona_s_own_values_are_not_contradictions(text):
    assert errors(text) == set()


def test_coverage_counts_the_prompted_facts_conveyed():
    text = "Carmen Ruiz, 67, is a retired teacher in Seville, Spain, a warm but stubborn widow with her two children."
    result = claims(text, ATTRS, BOOK)
    missing = {f.attribute for f in result.findings if f.code == "fact_not_conveyed"}
    prompted = [p for p in FACT_PATHS if ATTRS.get(p) is not None]
    assert missing == {"interests.hobbies", "education.level"}
    assert result.score == pytest.approx(1 - 2 / len(prompted), abs=1e-4)


def test_surface_failures():
    codes = lambda t: {f.code for f in surface(t).findings}  # noqa: E731
    assert codes("Carmen Ruiz vive en Sevilla desde hace muchos años y cuida de su jardín cada mañana.") == {
        "wrong_language"
    }
    assert codes("Carmen is a {occupation} who lives in [city] with her family and two dogs.") == {"placeholder"}
    assert codes("I am Carmen and I love my garden; you would love it too.") == {"person_drift"}
    assert codes('Carmen likes to say "I never give up" when her knees hurt in the garden.') == set()
    # a Cyrillic letter inside a Latin word (a default build's dialogue: "my wedding annуmbers")
    assert codes("On weekends she always celebrates her wedding ann\u0443mbers.") == {"garbled"}
    assert "garbled" not in codes("Carmen reads Dostoevsky in the original, Достоевский, and Márquez in Spanish.")
    # the embedded model asking what to write instead of writing it (a default build accepted it)
    assert codes("In his free time, he enjoys climbing. On weekends, he does what?") == {"question"}
    assert codes('Carmen often asks her grandson "Are you hungry?" before he has taken off his coat.') == set()
    assert codes("Carmen Ruiz is a retired teacher in Seville who tends her garden at dawn.") == set()


def test_claims_and_surface_errors_reject_a_candidate_but_do_not_move_the_score():
    good = (
        "Carmen Ruiz is a 67-year-old retired teacher who lives in Seville. Widowed for six years, she "
        "tends her balcony garden at dawn and never misses a Sevilla football match on the radio. Warm "
        "with her two children and stubborn with everyone else, she still corrects the grammar of the "
        "baker's signs."
    )
    critic = CriticSettings.from_config({"min_words": 20})
    clean = judge(good, ATTRS, critic, (), BOOK)
    assert clean.passed, clean.findings
    broken = judge(
        good.replace("Widowed for six years, she", "Working full-time with her husband, she"), ATTRS, critic, (), BOOK
    )
    assert not broken.passed and broken.score == pytest.approx(clean.score, abs=0.05)


def test_failures_seen_in_a_real_run_of_the_embedded_model():
    """Shapes taken from accepted narratives of a real `make build-dataset` run, rewritten."""
    persona = {**ATTRS, "household.marital_status": "Married"}
    assert ("second_name", "identity.name") in errors("Carmen Ruiz is a 67-year-old woman named 'Lucia' from Cadiz.")
    # someone else introduced by name is not a second name for the persona
    married = {**ATTRS, "household.marital_status": "Married"}
    for other in ("She is married to a man named Ravi.", "She met a kind woman called Ana at the market."):
        assert ("second_name", "identity.name") not in errors("Carmen Ruiz is a 67-year-old woman. " + other, married)
    assert ("attribute_contradiction", "household.marital_status") in errors(
        "Carmen Ruiz is a 67-year-old woman whose husband had passed away, leaving her alone.", persona
    )
    assert ("attribute_contradiction", "household.marital_status") in errors(
        "She retired last year. Her husband has recently passed away due to health issues.", persona
    )
    assert ("attribute_contradiction", "work.employment.status") in errors(
        "Carmen Ruiz is a 67-year-old woman who runs a small family business called Bowls & Bites."
    )
    codes = lambda t: {f.code for f in surface(t).findings}  # noqa: E731
    assert "garbled" in codes("She wanted more. Fordatementalismisonewordfulforrushingthesewords")
    assert "web_artifact" in codes("Her dreams inspire everyone around her! #DreamBig @SevillaLife")
    assert "meta_talk" in codes("The rest remains unchanged throughout the entire passage, and these edits help.")
    # an assistant signing off, in a narrative or at the end of a dialogue's last turn; a host's
    # "let me know if you would like more tea" is speech, not an assistant
    assert "meta_talk" in codes("Maybe we'll meet. I hope you enjoyed this conversation! Let me know if you'd like it")
    assert "meta_talk" in codes("Let me know if you would like a longer version of the dialogue.")
    spoken = (
        "I hope you like the cake, Maria.",
        "Let me know if you would like more tea.",
        "Would you like me to go on?",
    )
    assert all("meta_talk" not in codes(t) for t in spoken)
    assert "person_drift" in codes("He looks sad today, but I'm sure we'll meet again someday.")


def test_what_a_speaker_says_about_themself_is_checked_too():
    from pipelines.critique.narrative.claims import spoken_contradictions, third_person

    assert (
        third_person("I'm a widow and my husband works late.", "Female") == "she is a widow and her husband works late."
    )
    said = {(f.code, f.attribute) for f in spoken_contradictions("I still work full-time, my boss says.", ATTRS, BOOK)}
    assert said == {("attribute_contradiction", "work.employment.status")}
    assert not spoken_contradictions("My husband would have liked you, before he passed.", ATTRS, BOOK)
    assert not spoken_contradictions("Your husband sounds lovely. Mine was the same.", ATTRS, BOOK)


# failures read in accepted rows of a default build (narratives_real2_dev.yaml), and near misses
@pytest.mark.parametrize(
    ("text", "attrs", "attribute"),
    [
        # another career, where the persona's own job is not named
        ("Carmen retired to her garden but has now become an avid chef in Seville.", {}, "work.employment.occupation"),
        ("She gave her all to her career being an Indian chef.", {}, "work.employment.occupation"),
        # a business that does not fit the persona's job, even where the job is named
        (
            "Carmen, a tailor, owns a fine dining restaurant in the old town.",
            {"work.employment.occupation": "Tailor", "work.employment.status": "self-employed"},
            "work.employment.occupation",
        ),
        # another job in the model's sentence after a prefilled opening that names the persona's own
        # (narratives_real3_dev.yaml and the readings of default builds)
        (
            "Carmen Ruiz is a 67-year-old retired teacher in Seville, Spain. In her free time, she spends "
            "her days as a paramedic.",
            {},
            "work.employment.occupation",
        ),
        (
            "Carmen Ruiz is a 67-year-old retired teacher in Seville, Spain. In her free time, she spends "
            "time working as an administrative assistant for a charity.",
            {},
            "work.employment.occupation",
        ),
        # a pastime done for pay, or a job that is also a pastime after a career verb
        (
            "Carmen Ruiz is a retired teacher. On weekends, she trains dogs for a small business.",
            {},
            "work.employment.occupation",
        ),
        (
            "Carmen Ruiz is a retired teacher. On weekends, she trains dogs for her clients.",
            {},
            "work.employment.occupation",
        ),
        # a default build accepted it for a retired secretary
        (
            "Carmen Ruiz is a retired teacher. On weekends, she takes photographs for her business.",
            {},
            "work.employment.occupation",
        ),
        (
            "Carmen Ruiz is a retired teacher. On Sundays, she spends her days working as a freelance writer.",
            {},
            "work.employment.occupation",
        ),
        (
            "In her free time, Carmen spends her days as an apprentice for a local woodworker.",
            {},
            "work.employment.occupation",
        ),
        ("Carmen loves her job at the end of every day.", {}, "work.employment.status"),
        ("She retired to become a part-timer nurse at the clinic.", {}, "work.employment.status"),
        ("Carmen never worked before becoming a painter.", {}, "work.employment.status"),
        # the persona turns into "he" halfway, with no man for the pronoun to stand for
        (
            "Carmen loves her garden. She reads when he needs it most. His hobbies are well known.",
            {},
            "demographics.gender",
        ),
        (
            "Carmen has been living on her own since she was eight.",
            {"household.living_with": "partner"},
            "household.living_with",
        ),
    ],
)
def test_real_failures_are_contradictions(text, attrs, attribute):
    assert ("attribute_contradiction", attribute) in errors(text, {**ATTRS, **attrs})


@pytest.mark.parametrize(
    "text",
    [
        "Carmen, a retired teacher, says her son has now become a chef in Madrid.",
        "Her daughter owns a small restaurant near the river, where Carmen helps on Sundays.",
        "Carmen taught for thirty years and loved her job at the school before she retired.",
        "Carmen gardens every morning. Her brother Luis visits on Sundays; he brings his dog.",
        # a past or second job, said in the sentence that names her own, or about the past
        "Carmen, a retired teacher, works as a tutor twice a week.",
        "Carmen used to work as a cook before she trained as a teacher.",
        "Carmen is a retired teacher in Seville. Her son works as a paramedic in Madrid.",
        "Carmen used to bake cakes for customers before she trained as a teacher.",
        "Carmen's daughter bakes cakes for a living.",
        "Carmen, a retired teacher, still tutors children for a living.",
        "Carmen Ruiz is a retired teacher. She cleans for a living.",
        "Carmen met a man at the market last week; he sells oranges and his stall is always busy.",
    ],
)
def test_near_misses_are_not_contradictions(text):
    assert not {a for c, a in errors(text) if c == "attribute_contradiction"}


def test_a_misspelt_name_in_a_quote_is_a_second_name():
    assert ("second_name", "identity.name") in errors('"I have always loved it," said Carmin.')
    assert not errors('"I have always loved it," said Carmen. "Me too," said Lucia.')


def test_talk_about_the_text_is_meta_talk():
    codes = {f.code for f in surface("Carmen lives in Seville. The rest remains unchanged.").findings}
    assert "meta_talk" in codes


GUARD = {
    **ATTRS,
    "identity.name": "Léo Barros",
    "demographics.gender": "Male",
    "demographics.age": 56,
    "location.residence.city": "Campinas",
    "location.residence.country": "Brazil",
    "household.marital_status": "Married",
    "work.employment.status": "employed",
    "work.employment.occupation": "Security guard",
}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # forms that revision produced in a real build (the stricter critic's run)
        (
            "Léo lives in Campinas, Brazil's capital city, with his wife.",
            ("attribute_contradiction", "location.residence.city"),
        ),
        (
            "Léo moved to Brazil's capital, Campinas, when he was young.",
            ("attribute_contradiction", "location.residence.city"),
        ),
        ("Léo runs a security service in Campinas.", ("attribute_contradiction", "work.employment.status")),
        ("His wife, Sarah, he loves to spend time outdoors.", ("broken_sentence", None)),
        ("His wife, Maria, is married to a long time friend named Marco.", ("broken_sentence", None)),
        # "together" with nobody, from a default build (persona_narrative_guided_v3)
        ("On weekends, he plays football together as part of his hobby.", ("broken_sentence", None)),
        ("On weekends, he goes to a yoga class together.", ("broken_sentence", None)),
        ("On weekends, he knits and loves to make memories together.", ("broken_sentence", None)),
        # a yearly occasion every week (a default build)
        ("On weekends, he goes for a bike ride to celebrate his marriage anniversary.", ("broken_sentence", None)),
        ("On weekends he always celebrates his wedding day with a long walk.", ("broken_sentence", None)),
        ("On Sundays he usually celebrates his kids' birthdays at the park.", ("broken_sentence", None)),
        ("He has no children. On weekends, he takes them out for dinner.", ("broken_sentence", None)),
        ("On Saturdays he usually reads a crime novel every Sunday morning.", ("broken_sentence", None)),
        ("On weekends he always takes a little bit of vacation every year.", ("broken_sentence", None)),
        # several times a week, or all week, on weekends (a default build's narrative and dialogue)
        ("On weekends, she knits up to three times per week.", ("broken_sentence", None)),
        ("On weekends he always spends the whole week together playing sports.", ("broken_sentence", None)),
        # the spouse's spouse (a default build, twice)
        ("On weekends, she cooks a big meal for her husband's wife.", ("broken_sentence", None)),
        # a pastime done as part of a business or job (default builds)
        ("On weekends, he goes swimming as part of his business activities.", ("broken_sentence", None)),
        ("On weekends, he bakes bread at home to support himself as an employee.", ("broken_sentence", None)),
        ("In his free time, he runs as part of his family's business.", ("broken_sentence", None)),
        # an adult at a class for children (default builds)
        ("On weekends, he goes to a yoga class for kids.", ("broken_sentence", None)),
        ("On weekends, he goes to a pottery class for children's parties.", ("broken_sentence", None)),
        # a trip abroad or round the world every week (default builds)
        ("On weekends, he goes swimming and travels to Europe.", ("broken_sentence", None)),
        ("On Sundays he usually goes for a bike ride around the world.", ("broken_sentence", None)),
        ("On Sundays he usually takes photographs around the world.", ("broken_sentence", None)),
        ("On weekends he can't miss any holiday.", ("broken_sentence", None)),
        ("On Sundays he usually bakes bread but not very often.", ("broken_sentence", None)),
        # a parent's own child called the spouse's (default builds; Léo has two children)
        ("On weekends, he cooks a big meal for his wife's son.", ("broken_sentence", None)),
        # the persona pregnant though a man (a default build's dialogue, in the third person)
        ("On weekends he can't sleep because he is pregnant.", ("attribute_contradiction", "demographics.gender")),
        ("Léo is six months pregnant.", ("attribute_contradiction", "demographics.gender")),
        # the persona in a role of the other gender (a default build)
        (
            "In his free time, he runs a small operation as a farmer's wife on a farm near the city.",
            ("attribute_contradiction", "demographics.gender"),
        ),
        ("Léo is a loving mother of two.", ("attribute_contradiction", "demographics.gender")),
    ],
)
def test_capitals_own_businesses_and_broken_sentences(text, found):
    assert found in errors(text, GUARD)


@pytest.mark.parametrize(
    "text",
    [
        "Léo lives in Campinas, a few hours from Brazil's capital.",  # the capital named as somewhere else
        "Léo lives in Campinas, the second city of São Paulo state, and visits the capital, Brasília.",
        "Léo works for a security service in Campinas.",  # employed by one, not running it
        "His wife, Sarah, he says, is the best cook in Campinas.",  # a parenthetical, not a broken sentence
        "His wife, Sarah, was married to him in Campinas.",  # married to the persona
        "On weekends, he and his wife cook together.",  # company for "together"
        "Léo and Ana cook together on Sundays.",
        "Léo says ibuprofen and paracetamol are fine together.",  # things together
        "Léo plays football with friends, and they train together on Sundays.",
        "After the divorce Léo is getting his life together.",  # a phrasal verb
        "Every year Léo and his wife celebrate their anniversary in Rio.",  # yearly
        "Every year they celebrate their wedding anniversary in Rio.",  # yearly
        "On Saturdays Léo usually photographs a wedding in Campinas.",  # someone else's, his work
        "Léo has no children. His nephews visit and he takes them fishing.",  # "them": the nephews
        "On weekends Léo plays football; last June he celebrated his retirement with the team.",  # past
        "Her husband's first wife still lives in Campinas.",  # an earlier spouse, named so
        "On Sundays Léo helps his wife with her business.",  # working at weekends, not a pastime
        "On weekends Léo works at the café as part of the family business.",
        "As part of his job Léo drives to São Paulo every week.",  # no pastime
        "On weekends, Léo goes running as part of his training for a marathon.",
        "On weekends, Léo takes his son to a swimming class for kids.",  # his child's class
        "On Saturdays Léo teaches a pottery class for children at the library.",  # teaching it
        "On weekends, Léo goes to a football club for kids, where he coaches the under-nines.",
        "Léo went to a summer camp for kids every year when he was young.",  # ... when he was a child
        "Léo loves travelling around Europe.",  # no weekly frame
        "On weekends Léo visits friends; every summer he travels abroad.",  # another clause, a longer span
        "On Saturdays Léo plays video games online with people around the world.",  # nobody travels
        "Most evenings Léo chats with friends across the globe.",
        "On weekends Léo records a podcast with news from around the world.",
        "On weekends Léo can't be there because he works at the market.",  # a reason: there is a there
        "On weekends Léo hikes, and every year he climbs a big mountain.",  # two habits
        "Léo usually walks to work, but rarely in winter.",  # rare only in some case
        "Léo usually cooks but never bakes.",
        "On weekends Léo can't miss his daughter's football games.",  # something missed
        "Léo's wife is pregnant with their first child.",  # someone else's pregnancy
        "Léo is a mother's son and his wife is a nurse.",  # others' roles
        "Léo is the husband of a teacher.",
        "Léo serves as a mother figure to the boys.",
        "On weekends Léo swims, and three times a week he runs.",  # two habits
        "Léo trains three times a week and rests on weekends.",
    ],
)
def test_near_misses_of_capitals_businesses_and_broken_sentences(text):
    found = errors(text, GUARD)
    assert ("attribute_contradiction", "location.residence.city") not in found
    assert ("attribute_contradiction", "work.employment.status") not in found
    assert ("attribute_contradiction", "demographics.gender") not in found
    assert not any(code == "broken_sentence" for code, _ in found)


def test_a_pregnant_persona_only_for_a_man_or_past_55():
    woman = {**GUARD, "demographics.gender": "Female"}
    said = "She is pregnant with her second child."
    assert ("attribute_contradiction", "demographics.age") not in errors(said, {**woman, "demographics.age": 31})
    assert ("attribute_contradiction", "demographics.age") in errors(said, {**woman, "demographics.age": 70})
    assert ("attribute_contradiction", "demographics.gender") not in errors("He is not pregnant.", GUARD)


def test_the_capital_itself_and_a_student_whose_education_is_over():
    delhi = {**GUARD, "location.residence.city": "New Delhi", "location.residence.country": "India"}
    assert not errors("Léo lives in New Delhi, India's capital city.", delhi)
    student = {**ATTRS, "work.employment.status": "student", "work.employment.occupation": "University student"}
    assert ("attribute_contradiction", "work.employment.status") in errors(
        "She is back in her village after completing her education.", student
    )


def test_a_later_age_as_a_past_event_and_running_a_practice_or_facility_for_an_employee():
    young = {**GUARD, "demographics.age": 25}
    assert ("attribute_contradiction", "demographics.age") in errors(
        "Léo started a company by himself at the age of just 30.", young
    )
    assert not errors("Léo hopes to buy a house at the age of 30.", young)  # a plan, not a past event
    assert not errors("Léo moved to Campinas at the age of 16.", young)
    for text in ("Léo is running a legal practice in Campinas.", "Léo runs a care facility on the outskirts of town."):
        assert ("attribute_contradiction", "work.employment.status") in errors(text, GUARD), text
    assert not errors("Léo works at a care facility on the outskirts of town.", GUARD)


def test_spend_with_nothing_spent_is_a_broken_sentence():
    """A habit of the embedded model after "In her free time, she": "spends on painting"."""
    for broken in (
        "In her free time, she spends on painting.",
        "He likes to spend on hiking and travel.",
        "In her free time, she spends knitting.",
        # nothing of time or money after it (a default build with the weekend sentence)
        "On weekends, she spends alone at home playing tennis.",
        "On weekends, she spends bird watching at a local nature reserve.",
        "On weekends, he spends at home with wife and two young ones.",
    ):
        assert ("broken_sentence", None) in errors("Carmen Ruiz is a 67-year-old woman. " + broken), broken
    for fine in (
        "In her free time, she spends her evenings painting.",
        "She keeps a close eye on what they spend on food.",
        "She counts the money she spends on paint.",
        "She spends nothing on clothes.",
        "She rarely talks about the years he spent caring for his father.",
        "She has little time to spend on hobbies.",
        "On weekends, she spends quiet evenings with her family.",
        "She spends a fortune on seeds and every Sunday afternoon in the garden.",
        "She spends most of her pension on her grandchildren.",
    ):
        assert ("broken_sentence", None) not in errors("Carmen Ruiz is a 67-year-old woman. " + fine), fine


def test_visiting_the_partner_one_lives_with_contradicts_the_household():
    """ "On weekends I always visit my wife" from a married man who lives with her (default builds)."""
    from pipelines.critique.narrative.claims import spoken_contradictions

    home = {**GUARD, "household.living_with": "partner and children"}
    turn = "I'm married and I have no children. On weekends I always visit my wife. And you?"
    said = {(f.code, f.attribute) for f in spoken_contradictions(turn, home, BOOK)}
    assert said == {("attribute_contradiction", "household.living_with")}
    narrative = "Léo is married. On weekends, he goes for a bike ride to his wife's home."
    assert ("attribute_contradiction", "household.living_with") in errors(narrative, home)
    # a partner who lives elsewhere, or a visit to a grave or a hospital
    assert not spoken_contradictions(turn, {**home, "household.living_with": "alone"}, BOOK)
    assert not spoken_contradictions("On weekends I always visit my wife's grave.", home, BOOK)
    assert not spoken_contradictions("My wife is in hospital, so I visit my wife every evening.", home, BOOK)
    assert not spoken_contradictions("I have two children. On weekends I visit my parents.", home, BOOK)


def test_a_list_of_the_hobbies_names_only_the_personas_own():
    """A sentence listing the persona's hobbies that names another hobby of the taxonomy (default
    builds: "her hobbies like playing guitar and writing songs" from a persona who makes music on a
    laptop and podcasts)."""
    maker = {**ATTRS, "interests.hobbies": ["making music on a laptop", "podcasting"]}
    for text in (
        "She records a podcast while enjoying her hobbies like playing guitar and writing songs.",
        "Her hobbies include hiking and podcasting.",
        "Her favourite hobbies are podcasting, cooking and making music.",
    ):
        assert ("attribute_contradiction", "interests.hobbies") in errors(text, maker), text
    fan = {**ATTRS, "interests.hobbies": ["football", "board games", "golf"]}
    for text in (
        "His hobbies include playing soccer and music.",  # another name; a word of no hobby
        "Her hobbies include golfing and board games with her grandchildren.",
        "Her hobbies include writing letters and football.",  # "writing" names no hobby of the taxonomy
        "She likes hiking, but her hobbies are football and golf.",  # outside the list
        "Her hobbies include football; she also loves cooking.",  # the list ends at the semicolon
    ):
        assert ("attribute_contradiction", "interests.hobbies") not in errors(text, fan), text
    baker = {**ATTRS, "interests.hobbies": ["baking"]}
    # an item that names one of her own hobbies too
    assert ("attribute_contradiction", "interests.hobbies") not in errors("Her hobbies include baking bread.", baker)
    from pipelines.common.settings import CriticSettings
    from pipelines.critique.narrative.instructions import instruction

    found = claims("Her hobbies include hiking.", maker, BOOK).findings
    (f,) = [f for f in found if f.code == "attribute_contradiction"]
    assert instruction(f, maker, CriticSettings.from_config()) == (
        "Carmen Ruiz's hobbies are making music on a laptop and podcasting: say nothing that contradicts it."
    )


@pytest.mark.parametrize(
    ("text", "changes", "attribute"),
    [
        # the second dev set's paraphrased contradictions
        ("Most evenings he walks the dog round the block.", {"daily_life.pets": "a cat"}, "daily_life.pets"),
        (
            "On Fridays he cracks open a cold beer.",
            {"health.lifestyle.alcohol": "does not drink"},
            "health.lifestyle.alcohol",
        ),
        ("On Sundays he goes to Mass with his wife.", {"values.religion": "Muslim"}, "values.religion"),
        (
            "Having never finished high school, she reads everything.",
            {"education.level": "Bachelor's degree"},
            "education.level",
        ),
        (
            "After dinner comes the one cigarette she allows herself.",
            {"health.lifestyle.smoking": "never smoked"},
            "health.lifestyle.smoking",
        ),
        ("Since turning sixty, she has taken up the piano.", {"demographics.age": 46}, "demographics.age"),
    ],
)
def test_paraphrased_contradictions(text, changes, attribute):
    assert ("attribute_contradiction", attribute) in errors(text, {**ATTRS, **changes})


@pytest.mark.parametrize(
    ("text", "changes"),
    [
        ("She taught business studies at a comprehensive for thirty years.", {"work.employment.status": "retired"}),
        ("She has outlived her husband and most of her friends.", {"household.marital_status": "Widowed"}),
        ("Cows every single morning, and she never tires of them.", {"household.marital_status": "Married"}),
        ("Most of the men she grew up with retired long ago.", {"work.employment.status": "employed"}),
        ("He walks the dog every morning.", {"daily_life.pets": "a dog and a cat"}),
    ],
)
def test_near_misses_of_paraphrased_contradictions(text, changes):
    assert not any(code == "attribute_contradiction" for code, _ in errors(text, {**ATTRS, **changes}))


def test_a_text_about_nobody_in_particular_is_rejected():
    """The test server's vacuous narrative conveys none of the core facts; the grounding expert,
    which now reads every sampled attribute, no longer sees it as off the persona."""
    vacuous = (
        "Carmen Ruiz is a person who lives somewhere and works at something. They like things and do stuff on "
        "weekends with friends and family, and they talk about it often."
    )
    assert ("nothing_conveyed", None) in errors(vacuous)
    walk = "On Sundays Carmen walks along the river in Seville, then sits on a bench with a book and a flask of coffee"
    assert not any(
        code == "nothing_conveyed" for code, _ in errors(walk + " until the light goes and it is time for home.")
    )
    hobby = {**ATTRS, "interests.hobbies": ["birdwatching"]}
    dawn = "Carmen goes birdwatching at dawn, with a flask of coffee, a notebook and an old pair of binoculars that"
    assert not any(
        code == "nothing_conveyed" for code, _ in errors(dawn + " once belonged to someone she loved.", hobby)
    )


def test_a_speaker_who_says_he_is_pregnant():
    """A default build accepted "On weekends I can't sleep because I am pregnant." from a man."""
    from pipelines.critique.narrative.claims import spoken_contradictions

    turn = "I'm single and I have no children. On weekends I can't sleep because I am pregnant. And you?"
    man = {**GUARD, "household.marital_status": "Single", "household.children": 0}
    said = {(f.code, f.attribute) for f in spoken_contradictions(turn, man, BOOK)}
    assert said == {("attribute_contradiction", "demographics.gender")}
    assert not spoken_contradictions("My wife is pregnant, so I can't sleep on weekends.", GUARD, BOOK)


def test_visiting_the_children_one_lives_with():
    """Four accepted dialogues of two default builds: "I'm married and I have three children. On
    weekends I always visit them." from a speaker who lives with partner and children."""
    from pipelines.critique.narrative.claims import spoken_contradictions

    home = {**GUARD, "household.children": 3, "household.living_with": "partner and children"}

    def living(turn, attrs=home):
        return [f for f in spoken_contradictions(turn, attrs, BOOK) if f.attribute == "household.living_with"]

    for turn in (
        "I'm married and I have three children. On weekends I always visit them. And you?",
        "I'm married and I have three children. On weekends I often go out to visit them.",
    ):
        assert [f.code for f in living(turn)] == ["attribute_contradiction"], turn
    for turn in (
        "I'm married and I have three children. On weekends I visit my parents and then visit them too.",
        "I have three children. My parents live nearby and I visit them every Sunday.",
        "I'm married and I have three children. On weekends we visit them at school.",
    ):
        assert not living(turn), turn
    # grown children who live elsewhere are visited
    said = "I'm married and I have three children. On weekends I always visit them."
    assert not living(said, {**home, "household.living_with": "partner"})


def test_a_spouses_child_is_a_stepchild_for_the_childless():
    childless = {**GUARD, "household.children": 0}
    assert not any(c == "broken_sentence" for c, _ in errors("On weekends, he cooks for his wife's son.", childless))


def test_a_drink_with_friends_is_the_personas_own():
    """The friends he goes out with are company, not the subject: a cold beer with them contradicts
    sobriety; a drink in a clause about someone he lists, or introduces, does not."""
    sober = {**ATTRS, "health.lifestyle.alcohol": "sober (in recovery)"}
    said = "On Fridays she heads out with a few close friends, cracks open a cold beer and tells old stories."
    assert ("attribute_contradiction", "health.lifestyle.alcohol") in errors(said, sober)
    for text in (
        "She shares the flat with her daughter, her husband and a cat; he drinks heavily.",
        "She volunteers alongside her brother, who drinks heavily.",
        "She has been sober for ten years and still goes out with friends on Fridays.",
    ):
        assert ("attribute_contradiction", "health.lifestyle.alcohol") not in errors(text, sober), text


def test_another_way_to_work_contradicts_the_commute():
    by_bus = {**ATTRS, "daily_life.commute": "public transport"}
    said = "He listens to Spanish lessons during the ten-minute drive to the office."
    assert ("attribute_contradiction", "daily_life.commute") in errors(said, by_bus)
    at_home = {**ATTRS, "daily_life.commute": "works at or from home"}
    assert ("attribute_contradiction", "daily_life.commute") in errors("She cycles to work along the river.", at_home)
    for text, attrs in (
        ("She takes the bus to work and reads on the way.", by_bus),
        ("Her husband drives to work before dawn.", by_bus),  # someone else's commute
        ("She drives to work every morning.", {**ATTRS, "daily_life.commute": "car-pools"}),
        ("She used to drive to work before she retired.", {**ATTRS, "daily_life.commute": "does not commute"}),
    ):
        assert ("attribute_contradiction", "daily_life.commute") not in errors(text, attrs), text


def test_a_second_first_name_used_mid_sentence():
    """'In her free time Patricia likes drawing ... Patricia also has eczema' about Priscila: the
    name is the subject twice, and nobody of that name was introduced."""
    priscila = {**ATTRS, "identity.name": "Priscila Cases", "location.residence.city": "Lleida"}
    text = (
        "Priscila Cases is a 24-year-old woman from Lleida who is looking for work. In her free time Patricia "
        "likes drawing and basketball. Patricia also has eczema, which flares up when she is stressed."
    )
    assert ("second_name", "identity.name") in errors(text, priscila)
    introduced = (
        "Priscila Cases is a 24-year-old woman from Lleida. On Sundays her sister Patricia visits, and in the "
        "evening Patricia cooks for everyone. Every summer Lleida holds a festival she loves."
    )
    assert ("second_name", "identity.name") not in errors(introduced, priscila)


def test_born_where_an_immigrant_persona_lives():
    migrant = {
        **ATTRS,
        "location.residence.city": "Greensboro",
        "location.residence.country": "United States",
        "life_history.migration.generation": "immigrated as an adult",
        "life_history.migration.origin": "Mexico",
    }
    said = "Born and raised in Greensboro, she joined the army straight out of school."
    assert ("attribute_contradiction", "life_history.migration.generation") in errors(said, migrant)
    for text, attrs in (
        ("She was born in Mexico and moved to Greensboro at thirty.", migrant),
        ("Her son was born in Greensboro two years after she arrived.", migrant),
        (
            "Born and raised in Greensboro, she has never lived anywhere else.",
            {**migrant, "life_history.migration.generation": "child of immigrants"},
        ),
    ):
        assert ("attribute_contradiction", "life_history.migration.generation") not in errors(text, attrs), text


def test_a_speaker_here_in_another_city_or_with_a_boss_of_no_job():
    """'Been here in Cardiff six years now' from a speaker in Bristol; 'I can't take any more days
    off work without the boss noticing' from an unemployed one. Not a past job, not a student's."""
    from pipelines.critique.narrative.claims import spoken_contradictions

    bristol = {**GUARD, "location.residence.city": "Bristol", "location.residence.country": "United Kingdom"}
    said = {(f.code, f.attribute) for f in spoken_contradictions("Been here in Cardiff six years now.", bristol, BOOK)}
    assert ("attribute_contradiction", "location.residence.city") in said
    assert not spoken_contradictions("I love it here in Bristol, rain and all.", bristol, BOOK)
    jobless = {**GUARD, "work.employment.status": "unemployed"}
    turn = "I can't take any more days off work without the boss noticing."
    said = {(f.code, f.attribute) for f in spoken_contradictions(turn, jobless, BOOK)}
    assert ("attribute_contradiction", "work.employment.status") in said
    for turn, attrs in (
        ("My boss let me go in March, so I have time for the garden now.", jobless),
        ("My boss at the café lets me study between orders.", {**GUARD, "work.employment.status": "student"}),
    ):
        said = {(f.code, f.attribute) for f in spoken_contradictions(turn, attrs, BOOK)}
        assert ("attribute_contradiction", "work.employment.status") not in said, turn

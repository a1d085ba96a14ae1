"""Guided dialogues (`dialogues.mode: guided`): the frames the pipeline writes from both speakers'
facts, and the dialogue stage with an in-process model that continues each frame: one sentence
kept per turn, the frame's question added after it, a cut turn sent back for revision."""

import json
from dataclasses import replace

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from pipelines.common.settings import DialogueSettings
from pipelines.dialogue.guided import scaffolds
from pipelines.dialogue.stage import dialogue_task
from pipelines.dialogue.task import GuidedDialogueTask, first_sentence
from pipelines.generation.llm import LLMSettings
from pipelines.generation.loop import GeneratorCritic
from tests.critique.test_dialogue_critic import ANNA as SPEAKER_A
from tests.critique.test_dialogue_critic import TOM as SPEAKER_B
from tests.fake_model import InProcessHandlers

LLM = LLMSettings(
    backend="openai", model="fake", served_name="fake", base_url="http://unused", concurrency=4, prefill=True
)
ANNA = {**SPEAKER_A, "household.marital_status": "Married"}
TOM = {
    **SPEAKER_B,
    "location.residence.city": "Leeds",
    "household.marital_status": "Single",
    "interests.hobbies": ["football"],
}


def spec(a=ANNA, b=TOM, index=0):
    return {
        "_kind": "dialogue",
        "dialogue_id": f"d-1-{index:07d}",
        "dialogue_index": index,
        "persona_ids": [f"p-a-{index}", f"p-b-{index}"],
        "scenario": {"id": "getting_to_know", "description": "They have just been introduced."},
        "pairing": "random_within_strata",
        "_speakers": [{"persona_id": f"p-a-{index}", "_attrs": a}, {"persona_id": f"p-b-{index}", "_attrs": b}],
    }


def test_frames_state_each_speakers_own_facts():
    frames = scaffolds(spec(), 6)
    assert frames[0] == (
        "Hi, I'm Anna. I'm a primary school teacher here in Kraków, and I've lived here for",
        " What do you do?",
    )
    assert frames[1][0] == (
        "Nice to meet you, Anna! I'm Tom, an electrician in Leeds. In my free time I love football. "
        "On Saturdays I usually play football with friends"
    )
    assert frames[2][0] == "I love hiking. On Sundays I usually go hiking in the hills nearby"
    assert frames[3] == ("I'm single and I have no children. On weekends I", " And you?")
    assert frames[4][0] == "I'm married and I have two children. Most evenings I"
    assert frames[5][0] == "That sounds lovely, Anna. It was nice talking to you. Let's keep in touch"  # Kraków, Leeds
    neighbour = {**TOM, "location.residence.city": "Kraków"}
    assert scaffolds(spec(ANNA, neighbour), 6)[5][0].endswith("Maybe we could meet for coffee")
    # a fact a persona lacks leaves its words out; turns past the sixth are the model's own
    bare = {"identity.name": "Sam Lee", "demographics.gender": "Non-binary"}
    frames = scaffolds(spec(bare, bare), 8)
    assert frames[0][0] == "Hi, I'm Sam. I" and frames[2][0] == "Last month I" and frames[3][0] == "On weekends I"
    # a hobby without an activity leaves the sentence to the model
    odd = {**ANNA, "interests.hobbies": ["falconry"]}
    assert scaffolds(spec(odd), 6)[2][0] == "I love falconry. Last weekend I"
    assert frames[6:] == [("", ""), ("", "")]


def test_first_sentence():
    assert first_sentence("love it. Then I went home.") == "love it."
    assert first_sentence("love the beach...I think so") == "love the beach..."
    assert first_sentence('said "hi." Then') == 'said "hi."'
    assert first_sentence("walked 3.5 miles today! Ok") == "walked 3.5 miles today!"
    assert first_sentence("never finish") == "never finish"
    # the model ends the frame's sentence at once: its next sentence is not kept
    assert first_sentence(". How was your week going? Then") == "."
    assert first_sentence(" with my dog. My wife loves her cat.") == " with my dog."


SENTENCES = {
    "lived here for": " twelve years now.",
    "with friends": " from work.",
    "hills nearby": " with my dog.",
    "weekends I": " fix bikes for the neighbours.",
    "evenings I": " read to my two girls.",
    "for coffee": " next week.",
    "keep in touch": " by email.",
}


def continuation(req, i):
    """One sentence for the frame and a rambling second one; turn 3 of dialogue 1 is cut off
    until revised."""
    revising = "avoid them" in req.messages[-1][1]
    if (
        req.payload["spec"]["dialogue_index"] == 1
        and req.prefill.endswith("hiking. On Sundays I usually go hiking in the hills nearby")
        and not revising
    ):
        return " baking bread with my"
    said = next(v for k, v in SENTENCES.items() if req.prefill.endswith(k))
    return said + " My grandmother once sold a bicycle to a priest."


def run(tmp_path, specs):
    settings = DialogueSettings.from_config({"mode": "guided", "turns": 6, "max_revisions": 1})
    task = dialogue_task(settings)
    assert isinstance(task, GuidedDialogueTask)
    handlers = InProcessHandlers(continuation)
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(specs) | GeneratorCritic(LLM, task, 7, handlers=handlers)
        for name, pcoll in (("kept", out.kept), ("rejected", out.rejected)):
            (
                pcoll
                | f"{name}Json" >> beam.Map(json.dumps, default=str)
                | f"{name}Write" >> beam.io.WriteToText(str(tmp_path / name), shard_name_template="")
            )
    return [json.loads(line) for line in (tmp_path / "kept").read_text().splitlines()]


def test_guided_turns_are_frame_sentence_question(tmp_path):
    kept = {r["dialogue_index"]: r for r in run(tmp_path, [spec(index=0), spec(index=1)])}
    assert set(kept) == {0, 1}
    turns = [t["text"] for t in kept[0]["turns"]]
    assert turns[0] == (
        "Hi, I'm Anna. I'm a primary school teacher here in Kraków, and I've lived here for twelve years now. "
        "What do you do?"
    )
    assert turns[3] == "I'm single and I have no children. On weekends I fix bikes for the neighbours. And you?"
    assert not any("grandmother" in t for t in turns)  # one sentence of the model's per turn
    assert [t["name"] for t in kept[0]["turns"]] == ["Anna Kowalski", "Tom Harris"] * 3
    assert kept[0]["generation"]["revision_count"] == 0
    # the cut turn was rejected (cut_off) and the revision finished it
    assert kept[1]["generation"]["revision_count"] == 1
    assert kept[1]["turns"][2]["text"] == (
        "I love hiking. On Sundays I usually go hiking in the hills nearby with my dog. Do you have a family?"
    )


def test_without_prefill_the_turns_are_the_models_own(tmp_path):
    task = dialogue_task(DialogueSettings.from_config({"mode": "guided"}))
    state = {"spec": spec(), "lines": [], "calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
    assert task.turn_request(state, 0, 1, use_prefill=True).prefill.endswith("I've lived here for")
    request = task.turn_request(state, 0, 1, use_prefill=False)
    assert request.prefill == "" and "Write only the next line" in request.messages[-1][1]
    assert replace(LLM, prefill=False).prefill is False


def test_the_article_follows_the_sound():
    from pipelines.critique.dialogue.findings import article

    said = [article(n) for n in ("University lecturer", "electrician", "IT consultant", "hourly worker", "UX designer")]
    assert said == ["a University lecturer", "an electrician", "an IT consultant", "an hourly worker", "a UX designer"]
    lecturer = {**TOM, "work.employment.occupation": "University lecturer"}
    assert "I'm Tom, a university lecturer in Leeds." in scaffolds(spec(ANNA, lecturer), 6)[1][0]


def test_duplicates_are_looked_for_in_what_the_model_wrote(tmp_path):
    from pipelines.dialogue.task import model_part

    frame = ("I love hiking. Last month I", " Do you have a family?")
    assert model_part("I love hiking. Last month I went up. Do you have a family?", *frame) == "went up."
    assert model_part("I love hiking. Last month I went", *frame) == "went"  # a cut turn, no question
    assert model_part("Something else entirely.", *frame) == "Something else entirely."
    kept = run(tmp_path, [spec(index=0)])
    assert kept[0]["_text"].splitlines() == [
        "twelve years now.",
        "from work.",
        "with my dog.",
        "fix bikes for the neighbours.",
        "read to my two girls.",
        "by email.",  # Kraków and Leeds: they keep in touch
    ]

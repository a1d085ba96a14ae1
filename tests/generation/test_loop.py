"""The Generator-Critic loop as a single stage in a Beam TestPipeline, with the persona task and an
in-process fake model handler: acceptance, revision with the critic's findings, rejection after
the last round, failed calls, and the task contract."""

import json

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline

from pipelines.common.settings import CriticSettings, GenerationSettings
from pipelines.config import load_config
from pipelines.dialogue.task import DialogueTask, TurnByTurnDialogueTask
from pipelines.generation.contract import GeneratorCriticTask
from pipelines.generation.llm import LLMSettings
from pipelines.generation.loop import GeneratorCritic
from pipelines.persona.task import PersonaTask
from pipelines.records import REASON_CRITIC, REASON_LLM_ERROR
from pipelines.sampling import population
from tests.fake_model import InProcessHandlers
from tests.fake_openai import facts_of, narrative, wrong_age

LLM = LLMSettings(backend="openai", model="fake", served_name="fake", base_url="http://unused", concurrency=4)
GEN = GenerationSettings.from_config({"candidates": 2, "max_revisions": 1, "exemplars": {"iterations": 0}})
CRITIC = CriticSettings.from_config({"min_words": 20, "max_words": 200})


def specs(n=6):
    config = load_config(None, {"run": {"num_personas": n, "seed": 3}})
    pop = population(config)
    block = pop.sampler.sample_block(0, n)
    return [
        {
            "_kind": "persona",
            "persona_id": f"p-3-{i:07d}",
            "persona_index": i,
            "quota_cell": pop.plan.cells[int(block.cells[i])].cell_id,
            "top_up_round": 0,
            "attributes": pop.taxonomy.nest(block.flat(i)),
            "_attrs": block.flat(i),
        }
        for i in range(n)
    ]


def faithful(req, i):
    return narrative(facts_of([{"role": r, "content": c} for r, c in req.messages]))


def wrong_until_revised(req, i):
    facts = facts_of([{"role": r, "content": c} for r, c in req.messages])
    revising = "Fix these problems" in req.messages[-1][1]
    return narrative(facts if revising else wrong_age(facts))


def always_wrong(req, i):
    return narrative(wrong_age(facts_of([{"role": r, "content": c} for r, c in req.messages])))


def run_stage(tmp_path, answer, records):
    handlers = InProcessHandlers(answer)
    with BeamTestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create(records) | GeneratorCritic(LLM, PersonaTask(GEN, CRITIC), 7, handlers=handlers)
        for name, pcoll in (("kept", out.kept), ("rejected", out.rejected)):
            (
                pcoll
                | f"{name}Json" >> beam.Map(json.dumps, default=str)
                | f"{name}Write" >> beam.io.WriteToText(str(tmp_path / name), shard_name_template="")
            )
    read = lambda name: [json.loads(line) for line in (tmp_path / name).read_text().splitlines()]  # noqa: E731
    return read("kept"), read("rejected"), handlers


def test_faithful_candidates_are_accepted_in_the_first_round(tmp_path):
    kept, dropped, handlers = run_stage(tmp_path, faithful, specs())
    assert len(kept) == 6 and not dropped
    for r in kept:
        assert r["narrative"].startswith(r["_attrs"]["identity.name"])
        assert r["critic"]["passed"] and r["generation"]["revision_count"] == 0
        assert r["generation"]["candidates"] == 2 and r["generation"]["llm_calls"] == 1
        assert "_gen" not in r and "_scored" not in r
    assert handlers.stages == ["generate", "revise"]


def test_a_wrong_age_is_revised_with_the_critics_instruction(tmp_path):
    kept, dropped, _ = run_stage(tmp_path, wrong_until_revised, specs())
    assert len(kept) == 6 and not dropped
    assert all(r["generation"]["revision_count"] == 1 and r["generation"]["llm_calls"] == 2 for r in kept)


def test_a_persona_that_stays_wrong_is_rejected_with_its_findings(tmp_path):
    kept, dropped, _ = run_stage(tmp_path, always_wrong, specs(3))
    assert not kept and len(dropped) == 3
    assert {r["reason"] for r in dropped} == {REASON_CRITIC}
    assert all("age_contradiction" in r["message"] and "after 1 revision" in r["message"] for r in dropped)


def test_a_failed_call_is_an_llm_error_not_a_lost_record(tmp_path):
    kept, dropped, _ = run_stage(
        tmp_path, lambda req, i: None if req.payload["persona_index"] % 2 else faithful(req, i), specs()
    )
    assert len(kept) == 3 and len(dropped) == 3
    assert {r["reason"] for r in dropped} == {REASON_LLM_ERROR}
    assert sorted(r["persona_index"] for r in dropped) == [1, 3, 5]


@pytest.mark.parametrize(
    "task",
    [
        PersonaTask(GEN, CRITIC),
        DialogueTask(GEN, None, 4, 100),
        TurnByTurnDialogueTask(GEN, None, 4, 60),
    ],
)
def test_every_task_implements_the_contract(task):
    assert isinstance(task, GeneratorCriticTask)


def test_a_dead_letter_error_reads_the_same_in_either_beam_shape():
    """RunInference's dead-letter output carries the exception (Beam <= 2.77) or a
    (type, message, traceback) tuple (Beam 2.78): both become the same failed answers."""
    from pipelines.generation.llm import _failed_batch

    batch = ["req-a", "req-b"]
    old = _failed_batch((batch, TimeoutError("endpoint down")))
    new = _failed_batch((batch, (TimeoutError, "endpoint down", ["Traceback ..."])))
    assert [r.inference.error for r in old] == ["TimeoutError: endpoint down"] * 2
    assert [r.inference.error for r in new] == [r.inference.error for r in old]
    assert [r.example for r in new] == batch

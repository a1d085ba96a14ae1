"""The optional LLM judge expert and the remote (OpenAI-compatible) handler's failure paths."""

import hashlib
import json

import pyarrow.parquet as pq
import pytest

from pipelines import build_dataset
from pipelines.common.chat import ChatRequest, ChatResponse
from pipelines.common.settings import CriticSettings
from pipelines.critique.base import ExpertResult, Finding, combine
from pipelines.critique.llm_judge import judge_request, parse_grades, rubric_schema
from pipelines.generation.llm import EndpointUnavailable, LLMSettings, chat_handler
from tests.conftest import REPO, write
from tests.fake_openai import EXTRA, FakeOpenAI

CRITIC = CriticSettings.from_config({"threshold": 0.6, "weights": {"faithfulness": 0.4, "llm_judge": 0.4}})


def answer(doc, finish_reason="stop", error=None):
    text = doc if isinstance(doc, str) else json.dumps(doc)
    return ChatResponse(((text, finish_reason),), 50, 40, error=error)


def grades(*rows):
    return {f"candidate_{n}": {"realism": r, "consistency": c, "depth": d, "issue": "flat"} for n, r, c, d in rows}


def test_grades_become_scores_and_findings():
    out = parse_grades(answer(grades((1, 5, 5, 5), (3, 1, 2, 1))), [1, 3], min_score=0.5)
    assert out[1].score == 1.0 and out[1].findings[0].code == "judge_note"
    assert out[1].findings[0].severity == "warning"
    # (0 + 0.25 + 0) / 3 = 0.0833: below min_score, an error that rejects the candidate
    assert out[3].score == pytest.approx(0.0833, abs=1e-4)
    (low,) = out[3].findings
    assert low.code == "judge_low" and low.severity == "error" and "consistency 2/5" in low.message


@pytest.mark.parametrize(
    "response, why",
    [
        (answer("I'd give it a 4."), "invalid JSON at char 0"),
        (answer('{"candidate_1": {"realism": 4', finish_reason="length"), "truncated at max_tokens"),
        (answer(grades((1, 7, 4, 4))), "candidate_1/realism: 7 is greater than the maximum"),
        (answer(grades((2, 4, 4, 4))), "'candidate_1' is a required property"),
        (answer([]), "top level: [] is not of type 'object'"),
        (ChatResponse((), 0, 0, error="APITimeoutError: timed out"), "request failed: APITimeoutError"),
    ],
)
def test_unusable_answers_are_reported_not_guessed(response, why):
    finding = parse_grades(response, [1], min_score=0.5)
    assert isinstance(finding, Finding)
    assert finding.code == "judge_unparseable" and finding.severity == "warning"
    assert why in finding.message and "finish_reason=" in finding.message


def test_abstaining_judge_leaves_the_weighted_mean_alone():
    faith = ExpertResult("faithfulness", 0.8, ())
    note = Finding("llm_judge", "judge_unparseable", "not JSON", severity="warning")
    alone = combine([faith], CRITIC)
    abstained = combine([faith, ExpertResult("llm_judge", None, (note,))], CRITIC)
    graded = combine([faith, ExpertResult("llm_judge", 0.2, ())], CRITIC)
    assert alone.score == abstained.score == 0.8 and abstained.passed
    assert [e["expert"] for e in abstained.as_record()["experts"]] == ["faithfulness"]
    assert abstained.as_record()["findings"][0]["code"] == "judge_unparseable"
    assert graded.score == pytest.approx(0.5) and not graded.passed


def test_judge_request_uses_structured_output():
    spec = {"persona_id": "p-1-0000003", "persona_index": 3, "_attrs": {"identity.name": "Ana Lima"}}
    req = judge_request(spec, ["text one", "text two"], [1, 2], seed=5, max_tokens=300)
    fmt = req.response_format
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"] == rubric_schema([1, 2])
    assert fmt["json_schema"]["schema"]["required"] == ["candidate_1", "candidate_2"]
    assert "Candidate 1:\ntext one" in req.messages[-1][1] and "Ana Lima" in req.messages[-1][1]
    assert req.max_tokens == 300 and req.n == 1


JUDGE_FAULTS = {0: "judge_low", 1: "judge_garbage", 2: "judge_prefers_2"}


def judge_fault(facts):
    return JUDGE_FAULTS.get(int(hashlib.sha256(facts["Name"].encode()).hexdigest(), 16) % 6)


def judge_config(tmp_path, base_url, n=24, extra=""):
    return write(
        tmp_path,
        "judge.yaml",
        f"""
run: {{name: judged, seed: 5, num_personas: {n}}}
taxonomy: {{files: ["{REPO}/taxonomy/base.yaml"]}}
quotas: {{stratify_by: [demographics.gender]}}
llm: {{backend: openai, base_url: "{base_url}", model: fake-model, concurrency: 8, max_retries: 0,
       request_timeout_s: 20{extra}}}
generation: {{exemplars: {{iterations: 0}}}}
output: {{report: false}}
dialogues: {{enabled: false}}
critic: {{min_words: 20, max_words: 200, threshold: 0.6, novelty_threshold: 0.99,
         llm_judge: {{enabled: true, min_score: 0.5}}}}
""",
    )


def test_pipeline_with_llm_judge(tmp_path):
    with FakeOpenAI(judge_fault) as fake:
        out = tmp_path / "out"
        manifest = build_dataset.run(["--config", str(judge_config(tmp_path, fake.base_url)), "--output", str(out)])
    accepted = {r["attributes"]["identity"]["name"]: r for r in pq.read_table(out / "personas").to_pylist()}
    rejected = {
        json.loads(r["record_json"])["attributes"]["identity"]["name"]: r
        for r in pq.read_table(out / "rejected").to_pylist()
    }
    assert set(fake.faulted.values()) == set(JUDGE_FAULTS.values())
    assert manifest["counts"]["balanced"] and manifest["llm"]["judge"]["model"] == "fake-model"
    # every judge call asks for the rubric as strict JSON, at temperature 0, one per persona and round
    assert fake.judge_requests and all(
        r["response_format"]["json_schema"]["name"] == "rubric" and r["temperature"] == 0 for r in fake.judge_requests
    )
    rounds = manifest["llm"]["llm.generate_requests"] + manifest["llm"].get("llm.revise_requests", 0)
    assert manifest["llm"]["llm.judge_requests"] == len(fake.judge_requests) <= rounds
    for name, row in accepted.items():
        fault = fake.faulted.get(name)
        experts = {e["expert"]: e["score"] for e in row["critic"]["experts"]}
        codes = {f["code"] for f in row["critic"]["findings"]}
        if fault == "judge_garbage":  # the judge abstains; the rule-based experts decide alone
            assert "llm_judge" not in experts and "judge_unparseable" in codes
        elif fault == "judge_prefers_2":  # the judge fails candidate 1 (1/5) and passes 2 (5/5)
            assert experts["llm_judge"] == 1.0 and row["narrative"].endswith(EXTRA[1])
        else:
            assert fault is None and experts["llm_judge"] == 0.75
            assert row["generation"]["llm_calls"] == 2  # generate + judge
    lows = [n for n, f in fake.faulted.items() if f == "judge_low"]
    assert lows and all(n not in accepted for n in lows)
    for name in lows:
        assert rejected[name]["reason"] == "critic" and "llm_judge/judge_low" in rejected[name]["message"]
        record = json.loads(rejected[name]["record_json"])
        assert record["generation"]["llm_calls"] == 4  # generate, judge, revise, judge
    garbage = sum(1 for f in fake.faulted.values() if f == "judge_garbage")
    assert manifest["llm"]["llm.judge_unusable_answers"] >= garbage >= 1
    assert manifest["generation"]["findings_by_code"]["judge_low"] >= len(lows)


def settings(base_url, **kw):
    return LLMSettings(
        backend="openai", model="fake-model", served_name="fake-model", base_url=base_url, max_retries=0, **kw
    )


def requests(n):
    return [ChatRequest(f"r{i}", (("user", "- Name: Ana Lima\n- Age: 30"),), seed=i) for i in range(n)]


def test_remote_handler_retries_a_batch_lost_to_an_outage():
    with FakeOpenAI(outage=4) as fake:
        handler = chat_handler(settings(fake.base_url, batch_retries=2, throttle_delay_s=1), stage="t")
        results = list(handler.run_inference(requests(4), handler.load_model()))
    assert [r.inference.error for r in results] == [None] * 4
    assert fake.posts == 8  # one failed round of 4, then 4 answers


def test_remote_handler_gives_up_after_its_bound():
    with FakeOpenAI(outage=10_000) as fake:
        handler = chat_handler(settings(fake.base_url, batch_retries=0), stage="t")
        with pytest.raises(EndpointUnavailable, match="InternalServerError|503|unavailable"):
            handler.run_inference(requests(3), handler.load_model())
        assert fake.posts == 3


def test_pipeline_survives_an_endpoint_that_stays_down(tmp_path):
    """Batches the handler gives up on reach the rejected output with the error: nothing is lost."""
    with FakeOpenAI(outage=10_000) as fake:
        out = tmp_path / "out"
        cfg = judge_config(tmp_path, fake.base_url, n=10, extra=", batch_retries: 0")
        manifest = build_dataset.run(["--config", str(cfg), "--output", str(out)])
    # the quota top-up tried replacements (within its bound); they failed the same way
    topped_up = manifest["counts"]["topped_up"]
    assert manifest["counts"]["accepted"] == 0 and manifest["counts"]["rejected"] == 10 + topped_up
    assert manifest["counts"]["rejected_by_reason"] == {"llm_error": 10 + topped_up}
    assert all(
        q["short_because"].startswith(f"lost {q['target'] + q['top_up']['generated']} llm_error")
        for q in manifest["quotas"]
        if q["target"]
    )
    messages = {r["message"] for r in pq.read_table(out / "rejected").to_pylist()}
    assert all("EndpointUnavailable" in m and "503" in m for m in messages)

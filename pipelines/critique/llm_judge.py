"""The LLM judge: an optional critic expert that asks a capable model to grade candidates on a
rubric (realism, internal consistency, depth) through structured output.

The cheap experts run first; only candidates they pass are shown to the judge, all of a
persona's candidates in one request, so the judge costs at most one call per persona and round.
The answer must match a JSON Schema (sent as the OpenAI `response_format`, which vLLM enforces
with guided decoding). An answer that does not parse or match is not guessed at: the judge is
left out of that verdict and a warning finding records why (finish reason and length).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import jsonschema

from pipelines.common.chat import ChatRequest, ChatResponse, request_seed
from pipelines.common.facts import persona_facts
from pipelines.critique.base import ExpertResult, Finding

EXPERT = "llm_judge"
RUBRIC = ("realism", "consistency", "depth")
RUBRIC_TEXT = {
    "realism": "could this be a real person's life, with ordinary texture and nothing implausible?",
    "consistency": "does the text agree with every fact and with itself (ages, names, places, relations)?",
    "depth": "does it give history, daily life and inner life beyond restating the facts?",
}
SYSTEM = (
    "You are a strict editor grading short biographies of fictional people against the facts they "
    "were written from. Grade each criterion from 1 (bad) to 5 (excellent). Be sparing with 5s. "
    "Answer with JSON only."
)


def _key(number: int) -> str:
    return f"candidate_{number}"


def rubric_schema(numbers: Sequence[int]) -> dict[str, Any]:
    """One required property per candidate, named after its number: guided decoding then cannot
    grade a candidate twice or one that was not shown (a list of numbered items could)."""
    grade = {"type": "integer", "minimum": 1, "maximum": 5}
    item = {
        "type": "object",
        "properties": {**{c: grade for c in RUBRIC}, "issue": {"type": "string", "maxLength": 200}},
        "required": [*RUBRIC, "issue"],
        "additionalProperties": False,
    }
    keys = [_key(n) for n in numbers]
    return {
        "type": "object",
        "properties": dict.fromkeys(keys, item),
        "required": keys,
        "additionalProperties": False,
    }


def judge_request(
    spec: dict[str, Any], texts: Sequence[str], numbers: Sequence[int], seed: int, max_tokens: int
) -> ChatRequest:
    """One request grading the candidates `numbers` (their texts in `texts`) of a persona."""
    facts = "\n".join(f"- {k}: {v}" for k, v in persona_facts(spec["_attrs"]))
    shown = "\n\n".join(f"Candidate {n}:\n{t}" for n, t in zip(numbers, texts, strict=True))
    criteria = "\n".join(f"- {c}: {q}" for c, q in RUBRIC_TEXT.items())
    shape = ", ".join(
        f'"{_key(n)}": {{"realism": 1-5, "consistency": 1-5, "depth": 1-5, "issue": "<its main weakness>"}}'
        for n in numbers
    )
    user = f"Facts:\n{facts}\n\n{shown}\n\nGrade every candidate on:\n{criteria}\nReply as {{{shape}}}."
    round_ = int((spec.get("_gen") or {}).get("round", 0))
    return ChatRequest(
        request_id=f"{spec['persona_id']}/judge/r{round_}",
        messages=(("system", SYSTEM), ("user", user)),
        seed=request_seed(seed, spec["persona_index"], round_, EXPERT),
        payload=spec,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "rubric", "schema": rubric_schema(numbers), "strict": True},
        },
        max_tokens=max_tokens,
    )


def _unparseable(why: str, response: ChatResponse) -> Finding:
    reason = response.finish_reason
    size = len(response.choices[0][0]) if response.choices else 0
    return Finding(
        EXPERT,
        "judge_unparseable",
        f"judge answer not used: {why} (finish_reason={reason}, {size} chars, {response.completion_tokens} tokens)",
        severity="warning",
    )


def parse_grades(response: ChatResponse, numbers: Sequence[int], min_score: float) -> dict[int, ExpertResult] | Finding:
    """Candidate number -> the judge's ExpertResult, or a warning finding saying why the answer
    could not be used (transport error, truncation, invalid JSON, wrong shape, wrong candidates)."""
    if response.error:
        return _unparseable(f"request failed: {response.error}", response)
    if not response.choices:
        return _unparseable("no answer", response)
    text = response.choices[0][0].strip()
    if response.finish_reason == "length":
        return _unparseable("answer truncated at max_tokens", response)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return _unparseable(f"invalid JSON at char {exc.pos}: {exc.msg}", response)
    try:
        jsonschema.validate(doc, rubric_schema(numbers))
    except jsonschema.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "top level"
        return _unparseable(f"{where}: {exc.message}", response)
    out: dict[int, ExpertResult] = {}
    for n in numbers:
        g = doc[_key(n)]
        score = round(sum((int(g[c]) - 1) / 4 for c in RUBRIC) / len(RUBRIC), 4)
        detail = ", ".join(f"{c} {g[c]}/5" for c in RUBRIC)
        issue = str(g.get("issue") or "").strip()[:200]
        findings: list[Finding] = []
        if score < min_score:
            findings.append(Finding(EXPERT, "judge_low", f"{detail} (score {score:.2f} < {min_score}): {issue}"))
        elif issue:
            findings.append(Finding(EXPERT, "judge_note", f"{detail}: {issue}", severity="warning"))
        out[n] = ExpertResult(EXPERT, score, tuple(findings))
    return out

"""One deep-profile batch as a task of the Generator-Critic loop (pipelines/generation/contract.py).

Batch `k` asks for the values of the persona's selected dimensions k*B .. (k+1)*B-1. The value
critic (pipelines/critique/deep_profile.py) checks each value; the values it rejects are asked
again (`max_retries` rounds), the answer of a re-ask being read after the earlier one so that
good values stay. A batch never rejects its persona (`keeps_unpassed`): after the last round its
good values go to `_deep.filled` and the rest to `_deep.missing` with the finding's code.

With `one_per_call`, each dimension of a batch due an answer is asked in a call of its own, all of
them at once: the answer is prefilled with the dimension's item and stops at the end of its line,
and the batch's lines are joined into one answer. Small models that drift into prose after a
line or two keep to one line.

Keys: reads `_attrs` and `_deep` (selected, filled); writes `_deep` (filled, missing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import apache_beam as beam
from apache_beam.ml.inference.base import PredictionResult

from pipelines.common.chat import ChatRequest, ChatResponse, request_seed
from pipelines.common.settings import DeepProfileSettings, ExemplarSettings, GenerationSettings
from pipelines.critique.base import Verdict, ordered_instructions
from pipelines.critique.deep_profile import critique_values, value_instruction
from pipelines.deep_profile.dimensions import Dimension
from pipelines.deep_profile.prompts import TEMPLATE_ID, messages, parse, response_format
from pipelines.generation.contract import OneCallPerRound
from pipelines.generation.llm import Infer
from pipelines.records import PERSONA

NO_ITEMS = "no_items"  # `one_per_call`: the answers of personas with no dimension due in a batch


class DeepProfileTask(OneCallPerRound):
    kind = PERSONA.name
    stage_prefix = "deep_profile_"  # LLM stages: deep_profile_generate, deep_profile_revise
    metrics_ns = "deep_profile"
    critic_ns = "deep_profile_critic"
    keeps_unpassed = True  # what stays bad is recorded as missing; the persona goes on
    critic = None  # the value critic needs no settings

    def __init__(self, dims: Sequence[Dimension], settings: DeepProfileSettings, batch: int):
        self.dims = {d.path: d for d in dims}
        self.settings = settings
        self.batch = batch
        self.gen = GenerationSettings(
            prompt_template=TEMPLATE_ID,
            target_words=0,
            candidates=1,
            max_revisions=settings.max_retries,
            exemplars=ExemplarSettings(iterations=0, pilot_fraction=0.1, count=0),
        )

    def items(self, spec: dict[str, Any]) -> list[Dimension]:
        b = self.settings.batch_size
        return [self.dims[p] for p in spec["_deep"]["selected"][self.batch * b : (self.batch + 1) * b]]

    def _verdict(self, text: str, spec: dict[str, Any]) -> tuple[Verdict, dict[str, str]]:
        items = self.items(spec)
        values, _ = parse(text, items)
        earlier = list(spec["_deep"]["filled"].values())
        return critique_values([(d.path, d.label) for d in items], values, spec["_attrs"], earlier), values

    def _due(self, spec) -> tuple[int, list[Dimension], list[tuple[str, str]], list[str]]:
        """(round, the items due an answer, the (item, value) pairs shown as known, corrections)."""
        state = spec.get("_gen") or {}
        round_ = int(state.get("round", 0))
        items = self.items(spec)
        filled = spec["_deep"]["filled"]
        known = [(self.dims[p].key, v) for p, v in filled.items()][-self.settings.shown_filled :]
        corrections: list[str] = []
        if round_ > 0:  # ask again for what the critic rejected; the good values are known now
            verdict, values = self._verdict(state["draft"], spec)
            bad = {f.attribute for f in verdict.findings}
            known += [(d.key, values[d.path]) for d in items if d.path not in bad and d.path in values]
            items = [d for d in items if d.path in bad]
            corrections = list(state["instructions"])
        return round_, items, known, corrections

    def request(self, spec, seed: int, use_prefill: bool, exemplars=None) -> ChatRequest:
        round_, items, known, corrections = self._due(spec)
        structured = self.settings.structured_output
        return ChatRequest(
            request_id=f"{spec['persona_id']}/deep{self.batch}/r{round_}",
            messages=messages(spec["_attrs"], items, known, corrections),
            seed=request_seed(seed, spec["persona_index"], "deep", self.batch, round_, TEMPLATE_ID),
            prefill=f"{items[0].key}:" if use_prefill and not structured and items else "",
            payload=spec,
            max_tokens=self.settings.max_tokens,
            response_format=response_format(items) if structured else None,
        )

    def item_requests(self, spec, seed: int, use_prefill: bool):
        """`one_per_call`: a request per item due, each for one line `item: value`; on a re-ask,
        with the corrections of its own item. A persona with none due here (it has fewer selected
        dimensions than the batches hold) gets its empty answer on the `NO_ITEMS` output."""
        round_, items, known, corrections = self._due(spec)
        if not items:
            yield beam.pvalue.TaggedOutput(NO_ITEMS, _no_items(spec))
        for i, d in enumerate(items):
            own = [c for c in corrections if c.startswith(f"{d.key}:")]
            yield ChatRequest(
                request_id=f"{spec['persona_id']}/deep{self.batch}/r{round_}/{i}",
                messages=messages(spec["_attrs"], [d], known, own),
                seed=request_seed(seed, spec["persona_index"], "deep", self.batch, round_, i, TEMPLATE_ID),
                prefill=f"{d.key}:" if use_prefill else "",
                payload=(spec, i, d.key),
                max_tokens=self.settings.max_tokens,
                stop=("\n",),
            )

    def generate(self, pending, handler, seed: int, use_prefill: bool, label: str, side=()):
        if not self.settings.one_per_call:
            answers = super().generate(pending, handler, seed, use_prefill, label, side)
        else:
            prompts = pending | f"{label}ItemPrompts" >> beam.FlatMap(
                self.item_requests, seed, use_prefill
            ).with_outputs(NO_ITEMS, main="requests")
            joined = (
                prompts.requests
                | f"{label}ItemLLM" >> Infer(handler)
                | f"{label}ItemKey" >> beam.Map(lambda r: (r.example.payload[0]["persona_id"], r))
                | f"{label}ItemGroup" >> beam.GroupByKey()
                | f"{label}ItemJoin" >> beam.MapTuple(_joined)
            )
            answers = (joined, prompts[NO_ITEMS]) | f"{label}Items" >> beam.Flatten()
        return answers | f"{label}AfterDraft" >> beam.Map(_after_draft)

    def clean(self, text: str, finish_reason: str | None) -> str:
        lines = text.strip().splitlines()
        if finish_reason == "length" and lines:
            lines = lines[:-1]  # the last value was cut off
        return "\n".join(lines)

    def critique(self, texts: list[str], spec: dict[str, Any], exemplars) -> list[Verdict]:
        return [self._verdict(t, spec)[0] for t in texts]

    def instructions(self, verdict: Verdict, spec: dict[str, Any]) -> list[str]:
        labels = {p: d.key for p, d in self.dims.items()}
        return ordered_instructions(
            verdict.findings, lambda f: value_instruction(f, labels), "Give every item a value."
        )

    def accept(self, spec: dict[str, Any], text: str) -> None:
        verdict, values = self._verdict(text, spec)
        bad = {f.attribute: f.code for f in verdict.findings}
        deep = dict(spec["_deep"])
        deep["filled"] = {**deep["filled"], **{d.path: values[d.path] for d in self.items(spec) if d.path not in bad}}
        deep["missing"] = {**deep["missing"], **bad}
        spec["_deep"] = deep

    def exemplar_group(self, record: dict[str, Any]) -> str:
        return "all"  # batches use no exemplars

    def exemplar(self, record: dict[str, Any]) -> dict[str, Any]:
        return {"_kind": PERSONA.name, "persona_id": record["persona_id"]}


def _joined(persona_id: str, results) -> PredictionResult:
    """The answers of one persona's item calls as one answer: a line `item: value` per item (in
    the batch's order) that came back; an error only when every call failed."""
    results = sorted(results, key=lambda r: r.example.payload[1])
    spec = results[0].example.payload[0]
    lines, errors = [], []
    for r in results:
        response, key = r.inference, r.example.payload[2]
        if response.error or not response.choices:
            errors.append(response.error or "no answer")
            continue
        text = response.choices[0][0]
        if r.example.prefill and text.startswith(r.example.prefill):
            text = text[len(r.example.prefill) :]
        lines.append(f"{key}: {(text.strip().splitlines() or [''])[0].strip()}")
    prompt = sum(r.inference.prompt_tokens for r in results)
    completion = sum(r.inference.completion_tokens for r in results)
    request = ChatRequest(request_id=f"{persona_id}/items", messages=(), seed=0, payload=spec)
    if not lines:
        response = ChatResponse((), prompt, completion, error=errors[0], calls=len(results))
    else:  # "stop": a line cut off at max_tokens is a whole (long) value, not a last line to drop
        response = ChatResponse((("\n".join(lines), "stop"),), prompt, completion, calls=len(results))
    return PredictionResult(request, response, results[0].model_id)


def _no_items(spec) -> PredictionResult:
    request = ChatRequest(request_id=f"{spec['persona_id']}/items", messages=(), seed=0, payload=spec)
    return PredictionResult(request, ChatResponse((("", "stop"),), 0, 0, calls=0), None)


def _after_draft(result):
    """A re-ask's answer read after the earlier answer, so that the values kept from it stay."""
    spec = result.example.payload
    state = spec.get("_gen") or {}
    if int(state.get("round", 0)) == 0 or result.inference.error:
        return result
    response = result.inference
    choices = tuple((f"{state['draft']}\n{text}", reason) for text, reason in response.choices)
    return type(result)(result.example, type(response)(**{**response.__dict__, "choices": choices}), result.model_id)

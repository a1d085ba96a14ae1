"""One deep-profile batch as a task of the Generator-Critic loop (pipelines/generation/contract.py).

Batch `k` asks for the values of the persona's selected dimensions k*B .. (k+1)*B-1. The value
critic (pipelines/critique/deep_profile.py) checks each value; the values it rejects are asked
again (`max_retries` rounds), the answer of a re-ask being read after the earlier one so that
good values stay. A batch never rejects its persona (`keeps_unpassed`): after the last round its
good values go to `_deep.filled` and the rest to `_deep.missing` with the finding's code.

Keys: reads `_attrs` and `_deep` (selected, filled); writes `_deep` (filled, missing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import apache_beam as beam

from pipelines.common.chat import ChatRequest, request_seed
from pipelines.common.settings import DeepProfileSettings, ExemplarSettings, GenerationSettings
from pipelines.critique.base import Verdict, ordered_instructions
from pipelines.critique.deep_profile import critique_values, value_instruction
from pipelines.deep_profile.dimensions import Dimension
from pipelines.deep_profile.prompts import TEMPLATE_ID, messages, parse, response_format
from pipelines.generation.contract import OneCallPerRound
from pipelines.records import PERSONA


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

    def request(self, spec, seed: int, use_prefill: bool, exemplars=None) -> ChatRequest:
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

    def generate(self, pending, handler, seed: int, use_prefill: bool, label: str, side=()):
        answers = super().generate(pending, handler, seed, use_prefill, label, side)
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


def _after_draft(result):
    """A re-ask's answer read after the earlier answer, so that the values kept from it stay."""
    spec = result.example.payload
    state = spec.get("_gen") or {}
    if int(state.get("round", 0)) == 0 or result.inference.error:
        return result
    response = result.inference
    choices = tuple((f"{state['draft']}\n{text}", reason) for text, reason in response.choices)
    return type(result)(result.example, type(response)(**{**response.__dict__, "choices": choices}), result.model_id)

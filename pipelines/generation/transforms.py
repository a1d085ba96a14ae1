"""Generate: persona specs -> candidate narratives, through Beam RunInference."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.ml.inference.base import PredictionResult, RunInference

from pipelines.critique.experts import clean_text
from pipelines.generation.llm import (
    ChatModelHandler,
    ChatRequest,
    ChatResponse,
    LLMSettings,
    request_seed,
)
from pipelines.generation.prompts import get_template
from pipelines.records import REASON_LLM_ERROR, rejection

REJECTED = "rejected"


def build_request(
    spec: dict[str, Any], template_id: str, seed: int, use_prefill: bool, candidate: int = 0
) -> ChatRequest:
    template = get_template(template_id)
    return ChatRequest(
        request_id=f"{spec['persona_id']}/c{candidate}",
        messages=template.messages(spec["_attrs"]),
        seed=request_seed(seed, spec["persona_index"], candidate, template_id),
        prefill=template.render_prefill(spec["_attrs"]) if use_prefill else "",
        payload=spec,
    )


class ParseResponses(beam.DoFn):
    """PredictionResult -> candidate record, or a rejection with the LLM error."""

    def __init__(self, model_name: str, template_id: str):
        self.model_name = model_name
        self.template_id = template_id

    def process(self, result: PredictionResult) -> Iterator[Any]:
        request: ChatRequest = result.example
        response: ChatResponse = result.inference
        spec = dict(request.payload)
        spec["generation"] = {
            "model": self.model_name,
            "prompt_template_id": self.template_id,
            "finish_reason": response.finish_reason,
            "prompt_tokens": response.prompt_tokens,
            "completion_tokens": response.completion_tokens,
            "revision_count": 0,
        }
        if response.error:
            yield beam.pvalue.TaggedOutput(REJECTED, rejection(spec, "generate", REASON_LLM_ERROR, response.error))
            return
        text = clean_text(response.text or "", response.finish_reason)
        if not text:
            message = f"empty answer (finish_reason={response.finish_reason}, {response.completion_tokens} tokens)"
            yield beam.pvalue.TaggedOutput(REJECTED, rejection(spec, "generate", REASON_LLM_ERROR, message))
            return
        spec["narrative"] = text
        yield spec


class GenerateNarratives(beam.PTransform):
    """specs -> (candidates, rejected). One request per persona."""

    def __init__(self, settings: LLMSettings, template_id: str, seed: int, expected_total: int | None = None):
        super().__init__()
        self.settings = settings
        self.template_id = template_id
        self.seed = seed
        self.expected_total = expected_total

    def expand(self, specs):
        handler = ChatModelHandler(self.settings, stage="generate", expected_total=self.expected_total)
        return (
            specs
            | "BuildPrompts" >> beam.Map(build_request, self.template_id, self.seed, self.settings.prefill)
            | "RunInference" >> RunInference(handler)
            | "ParseResponses"
            >> beam.ParDo(ParseResponses(self.settings.served_name, self.template_id)).with_outputs(
                REJECTED, main="candidates"
            )
        )

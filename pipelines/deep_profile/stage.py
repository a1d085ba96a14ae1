"""The deep-profile stage: PersonaSpecs -> the same with `deep_profile` (the filled values, in
selection order: path, category, value) and `deep_profile_missing` (path, reason code), through
`SelectDimensions` and one Generator-Critic loop per batch, each batch seeing the values filled
before. A persona is never dropped here; the values that stay bad are recorded as missing.

Keys: reads PersonaSpecs; writes `deep_profile`, `deep_profile_missing`; `_deep` only inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import apache_beam as beam

from pipelines.common.settings import DeepProfileSettings
from pipelines.deep_profile.dimensions import Dimension
from pipelines.deep_profile.select import SelectDimensions
from pipelines.deep_profile.task import DeepProfileTask
from pipelines.generation.llm import LLMSettings, chat_handler
from pipelines.generation.loop import GeneratorCritic
from pipelines.records import Filtered


class _Embedder:
    """Loads the bundled sentence-transformers model where the DoFn runs (picklable)."""

    def __init__(self, spec: str):
        self.spec = spec

    def __call__(self):
        from pipelines.common.embedding import load_embedder

        return load_embedder(self.spec)


def _after_batch(spec: dict[str, Any]) -> dict[str, Any]:
    """Count the batch's LLM usage into `_deep` and drop the loop's own record of it (the
    narrative's Generator-Critic writes `generation` and `critic` afresh)."""
    spec = dict(spec)
    gen = spec.pop("generation", None) or {}
    spec.pop("critic", None)
    deep = dict(spec["_deep"])
    for key, src in (
        ("calls", "llm_calls"),
        ("prompt_tokens", "prompt_tokens"),
        ("completion_tokens", "completion_tokens"),
    ):
        deep[key] += int(gen.get(src, 0))
    spec["_deep"] = deep
    return spec


def _finish(spec: dict[str, Any], categories: dict[str, str]) -> dict[str, Any]:
    spec = dict(spec)
    deep = spec.pop("_deep")
    filled, missing = deep["filled"], deep["missing"]
    spec["deep_profile"] = [
        {"path": p, "category": categories[p], "value": filled[p]} for p in deep["selected"] if p in filled
    ]
    spec["deep_profile_missing"] = [
        {"path": p, "category": categories[p], "reason": missing.get(p, "value_missing")}
        for p in deep["selected"]
        if p not in filled
    ]
    for key in ("calls", "prompt_tokens", "completion_tokens"):
        beam.metrics.Metrics.counter("deep_profile", f"llm_{key}").inc(deep[key])
    beam.metrics.Metrics.counter("deep_profile", "filled").inc(len(spec["deep_profile"]))
    beam.metrics.Metrics.counter("deep_profile", "missing").inc(len(spec["deep_profile_missing"]))
    return spec


class DeepProfile(beam.PTransform):
    """PersonaSpecs -> Filtered(specs with their deep profile, rejected rows (none unless the
    loop's contract changes))."""

    def __init__(
        self,
        llm: LLMSettings,
        dims: Sequence[Dimension],
        settings: DeepProfileSettings,
        seed: int,
        handlers=chat_handler,
    ):
        super().__init__()
        self.llm = llm
        self.dims = tuple(dims)
        self.settings = settings
        self.seed = seed
        self.handlers = handlers

    def expand(self, specs):
        s = self.settings
        llm = self.llm if s.temperature is None else replace(self.llm, temperature=s.temperature)
        records = specs | "Select" >> beam.ParDo(
            SelectDimensions(self.dims, s, self.seed, _Embedder(s.embedding_model))
        )
        rejected = []
        for k in range(s.batches):
            task = DeepProfileTask(self.dims, s, k)
            out = records | f"Batch{k}" >> GeneratorCritic(llm, task, self.seed, handlers=self.handlers)
            rejected.append(out.rejected)
            records = out.kept | f"Batch{k}Usage" >> beam.Map(_after_batch)
        categories = {d.path: d.category for d in self.dims}
        return Filtered(
            records | "Finish" >> beam.Map(_finish, categories),
            rejected | "Rejected" >> beam.Flatten(),
        )

"""The Generator-Critic task contract: what the loop (`pipelines/generation/loop.py`) needs to
know about a kind of record, and nothing more. The loop asks for candidates, has the task
critique them, keeps the best passing one or sends the best one back with the task's revision
instructions, and picks exemplars from accepted records; the task says how to prompt, how to
clean and critique an answer, where the accepted text goes and how exemplars are grouped.

Adapters: `pipelines.persona.task.PersonaTask` (narratives) and
`pipelines.dialogue.task.DialogueTask` / `TurnByTurnDialogueTask` (dialogues).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import apache_beam as beam

from pipelines.common.chat import ChatRequest
from pipelines.common.settings import CriticSettings, DialogueCriticSettings, GenerationSettings
from pipelines.generation.llm import Infer


@runtime_checkable
class GeneratorCriticTask(Protocol):
    kind: str  # the record kind (pipelines.records.KINDS)
    stage_prefix: str  # prefix of the LLM stage names (generate, revise, judge) in metrics and logs
    metrics_ns: str  # Beam metrics namespace of the loop's counters
    critic_ns: str  # Beam metrics namespace of the finding counters
    gen: GenerationSettings
    critic: CriticSettings | DialogueCriticSettings | None
    # Optional: `keeps_unpassed = True` makes the loop accept the best candidate after the last
    # round even when it failed (and score the earlier draft when a call fails), instead of
    # rejecting the record: for tasks that fill part of a record and record what is missing.

    def request(self, spec: dict[str, Any], seed: int, use_prefill: bool, exemplars=None) -> ChatRequest:
        """The chat request of a record's next round: a first draft, or (with `_gen.round` > 0) a
        revision of its best candidate following `_gen.instructions`."""

    def generate(self, pending, handler, seed: int, use_prefill: bool, label: str, side: Sequence[Any] = ()):
        """PCollection of records due an answer -> PCollection of PredictionResult(request, ChatResponse)
        whose `request.payload` is the record."""

    def clean(self, text: str, finish_reason: str | None) -> str:
        """A raw candidate as the critic should see it ('' when nothing usable is left)."""

    def critique(self, texts: list[str], spec: dict[str, Any], exemplars) -> list:
        """One `Verdict` per candidate text."""

    def instructions(self, verdict, spec: dict[str, Any]) -> list[str]:
        """A failed verdict's findings as corrections for the next round."""

    def accept(self, spec: dict[str, Any], text: str) -> None:
        """Write the chosen text into the record (in place)."""

    def exemplar_group(self, record: dict[str, Any]) -> str:
        """Exemplars are spread over these groups, at most one from each."""

    def exemplar(self, record: dict[str, Any]) -> dict[str, Any]:
        """The part of an accepted record that later prompts and the novelty expert see."""


class OneCallPerRound:
    """`generate` for tasks whose text comes from one chat call per round (all `n` candidates
    at once): prompt, then RunInference."""

    def generate(self, pending, handler, seed: int, use_prefill: bool, label: str, side: Sequence[Any] = ()):
        return (
            pending
            | f"{label}Prompts" >> beam.Map(self.request, seed, use_prefill, *side)
            | f"{label}LLM" >> Infer(handler)
        )

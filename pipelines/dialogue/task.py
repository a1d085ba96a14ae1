"""The dialogue tasks of the Generator-Critic loop (see `pipelines/generation/contract.py`).

`DialogueTask`: the model writes the whole conversation in one answer, one turn per line as
`Name: text` (or, with structured output, one JSON string per turn). `TurnByTurnDialogueTask`:
one call per turn, the conversation so far as the start of the answer. Both personas' facts and
the scenario are in the prompt (`prompts.py`); the dialogue critic (`pipelines.critique.dialogue`)
checks turn count and alternation, each speaker against their own persona (and not the other's),
echoes, naturalness and safety, and its findings become revision instructions as for narratives.

Reads a DialogueSpec (`_speakers` with their `_attrs`, `scenario`, `dialogue_id`,
`dialogue_index`; `_gen` in revision rounds) and writes `turns` and `_text` (the conversation
with both names masked, for dedup).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

import apache_beam as beam
from apache_beam.ml.inference.base import PredictionResult

from pipelines.common.chat import ChatRequest, ChatResponse, join_continuation, request_seed, string_fields_format
from pipelines.common.facts import mask_names
from pipelines.common.settings import DialogueCriticSettings, GenerationSettings
from pipelines.critique.base import Verdict, critique_in_order
from pipelines.critique.dialogue import (
    critique_dialogue,
    dialogue_revision_instructions,
    dialogue_text,
    parse_dialogue,
)
from pipelines.critique.dialogue.structure import turn_complete
from pipelines.dialogue.guided import scaffolds
from pipelines.dialogue.prompts import TEMPLATE_ID, labels, speaker_names
from pipelines.dialogue.prompts import messages as dialogue_messages
from pipelines.generation.contract import OneCallPerRound
from pipelines.generation.llm import Infer
from pipelines.records import DIALOGUE


class DialogueTask(OneCallPerRound):
    """Dialogues written in one answer per candidate; exemplars spread over scenarios."""

    kind = DIALOGUE.name
    stage_prefix = "dialogue_"  # LLM stages: dialogue_generate, dialogue_revise
    metrics_ns = "dialogue_generator"
    critic_ns = "dialogue_critic"

    def __init__(
        self,
        gen: GenerationSettings,
        critic: DialogueCriticSettings,
        turns: int,
        max_tokens: int,
        structured: bool = True,
        book=None,
    ):
        self.book = book  # the taxonomy's claim book: every speaker's attributes checked (None: off)
        self.gen = gen
        self.critic = critic
        self.turns = turns
        self.max_tokens = max_tokens
        self.structured = structured

    def turn_keys(self, spec: dict[str, Any]) -> list[str]:
        a, b = labels(speaker_names(spec))
        return [f"{i + 1}_{(a, b)[i % 2]}" for i in range(self.turns)]

    def response_format(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Structured output: one required string per turn, named after its number and speaker, so
        guided decoding writes exactly `turns` alternating turns with the right labels (small
        models otherwise invent speakers or write one long monologue)."""
        return string_fields_format("dialogue", self.turn_keys(spec))

    def request(self, spec, seed: int, use_prefill: bool, exemplars=None) -> ChatRequest:
        state = spec.get("_gen") or {}
        round_ = int(state.get("round", 0))
        revision = (state["draft"], state["instructions"]) if round_ > 0 else None
        return ChatRequest(
            request_id=f"{spec['dialogue_id']}/r{round_}",
            messages=dialogue_messages(spec, self.turns, revision),
            seed=request_seed(seed, "dialogue", spec["dialogue_index"], round_, TEMPLATE_ID),
            prefill=f"{labels(speaker_names(spec))[0]}:" if use_prefill and not self.structured else "",
            payload=spec,
            n=self.gen.candidates,
            max_tokens=self.max_tokens,
            response_format=self.response_format(spec) if self.structured else None,
        )

    def clean(self, text: str, finish_reason: str | None) -> str:
        """Structured answers become `Name: text` lines, the form the critic and the revision
        prompt use; anything that is not the expected JSON is passed on as it is (the critic then
        reports what is wrong with it)."""
        text = text.strip()
        if not self.structured or not text.startswith("{"):
            return text
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            return text
        if not isinstance(doc, dict):
            return text
        lines = []
        for key, said in doc.items():
            label = key.split("_", 1)[1] if "_" in key else key
            lines.append(f"{label}: {' '.join(str(said).split())}")
        return "\n".join(lines)

    def _turns(self, text: str, spec: dict[str, Any]):
        return parse_dialogue(text, speaker_names(spec))

    def critique(self, texts: list[str], spec: dict[str, Any], exemplars) -> list[Verdict]:
        names = speaker_names(spec)
        speakers = tuple(s["_attrs"] for s in spec["_speakers"])
        shown = [(f"exemplar:{e['dialogue_id']}", e["text"]) for e in exemplars or ()]
        parsed = [self._turns(t, spec) for t in texts]
        return critique_in_order(
            [dialogue_text(turns, names) for turns in parsed],
            lambda i, others: critique_dialogue(parsed[i], speakers, self.critic, self.turns, others, self.book),
            shown,
        )

    def instructions(self, verdict: Verdict, spec: dict[str, Any]) -> list[str]:
        speakers = tuple(s["_attrs"] for s in spec["_speakers"])
        return dialogue_revision_instructions(verdict, speakers, self.critic, self.turns)

    def accept(self, spec: dict[str, Any], text: str) -> None:
        names = speaker_names(spec)
        turns = self._turns(text, spec)
        ids = spec["persona_ids"]
        spec["turns"] = [
            {
                "speaker": ids[who] if who is not None else "unknown",
                "name": names[who] if who is not None else "unknown",
                "text": said,
            }
            for who, said in turns
        ]
        spec["_text"] = masked_text(dialogue_text(turns, names), names)

    def exemplar_group(self, record: dict[str, Any]) -> str:
        """Exemplars are spread over scenarios."""
        return record["scenario"]["id"]

    def exemplar(self, record: dict[str, Any]) -> dict[str, Any]:
        names = speaker_names(record)
        turns = [(names.index(t["name"]) if t["name"] in names else None, t["text"]) for t in record["turns"]]
        return {
            "_kind": DIALOGUE.name,
            "dialogue_id": record["dialogue_id"],
            "text": dialogue_text(turns, names),
            "score": record["critic"]["score"],
        }


class TurnByTurnDialogueTask(DialogueTask):
    """Dialogues written one turn per call: the conversation so far is the start of the answer
    (assistant prefill on vLLM, or quoted in the prompt elsewhere) and the model writes the next
    speaker's line, stopping at the end of the line. Small models cannot keep two speakers
    apart over a whole conversation in one answer; one line at a time, with the label written by
    the pipeline, they can. The turns are unrolled in the Beam graph like revision rounds."""

    def __init__(
        self, gen: GenerationSettings, critic: DialogueCriticSettings, turns: int, turn_max_tokens: int, book=None
    ):
        super().__init__(replace(gen, candidates=1), critic, turns, turn_max_tokens, structured=False, book=book)

    def turn_request(self, state, turn: int, seed: int, use_prefill: bool) -> ChatRequest:
        spec, lines = state["spec"], state["lines"]
        names = speaker_names(spec)
        label = labels(names)[turn % 2]
        gen_state = spec.get("_gen") or {}
        round_ = int(gen_state.get("round", 0))
        messages = list(dialogue_messages(spec, self.turns))
        if round_ > 0:
            fixes = "\n".join(f"- {i}" for i in gen_state["instructions"])
            role, content = messages[-1]
            messages[-1] = (role, f"{content}\nAn earlier version had these problems; avoid them:\n{fixes}")
        prefill = ""
        if use_prefill:
            prefill = "\n".join([*lines, f"{label}:"])
        else:
            role, content = messages[-1]
            so_far = "\n".join(lines) or "(nothing yet)"
            messages[-1] = (
                role,
                f"{content}\n\nConversation so far:\n{so_far}\n\nWrite only the next line, spoken by {label}.",
            )
        return ChatRequest(
            request_id=f"{spec['dialogue_id']}/r{round_}/t{turn}",
            messages=tuple(messages),
            seed=request_seed(seed, "dialogue", spec["dialogue_index"], round_, turn, TEMPLATE_ID),
            prefill=prefill,
            payload=state,
            max_tokens=self.max_tokens,
            stop=("\n",),
        )

    def add_turn(self, result, turn: int) -> dict[str, Any]:
        state = dict(result.example.payload)
        response = result.inference
        state["calls"] += 1
        state["prompt_tokens"] += response.prompt_tokens
        state["completion_tokens"] += response.completion_tokens
        if response.error or not response.choices:
            state["error"] = response.error or "no answer"
            return state
        label = labels(speaker_names(state["spec"]))[turn % 2]
        text = response.choices[0][0]
        prefill = result.example.prefill
        if prefill and text.startswith(prefill):
            text = text[len(prefill) :]
        text = (text.strip().splitlines() or [""])[0].strip()
        text = re.sub(rf"^\**{re.escape(label)}\**:\s*", "", text).strip().strip('"')
        state["lines"] = [*state["lines"], f"{label}: {text}"]
        state["finish_reason"] = response.finish_reason
        return state

    def as_answer(self, state):
        spec = state["spec"]
        request = ChatRequest(request_id=f"{spec['dialogue_id']}/turns", messages=(), seed=0, payload=spec)
        if state.get("error"):
            response = ChatResponse(
                (), state["prompt_tokens"], state["completion_tokens"], error=state["error"], calls=state["calls"]
            )
        else:
            response = ChatResponse(
                (("\n".join(state["lines"]), state.get("finish_reason")),),
                state["prompt_tokens"],
                state["completion_tokens"],
                calls=state["calls"],
            )
        return PredictionResult(request, response, None)

    def generate(self, specs, handler, seed: int, use_prefill: bool, label: str, side=()):
        state = specs | f"{label}Start" >> beam.Map(
            lambda spec: {"spec": spec, "lines": [], "calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
        )
        progress = getattr(handler, "progress", None)  # the LLM stage's progress line (None: a test fake)
        for turn in range(self.turns):
            going, failed = state | f"{label}Turn{turn}Failed" >> beam.Partition(
                lambda s, n: 1 if s.get("error") else 0, 2
            )
            if progress is not None:  # a dialogue that failed earlier is not asked for this turn
                failed | f"{label}Turn{turn}Skipped" >> beam.Map(lambda s, p: p.skip(1), progress)
            answered = (
                going
                | f"{label}Turn{turn}Prompt" >> beam.Map(self.turn_request, turn, seed, use_prefill)
                | f"{label}Turn{turn}LLM" >> Infer(handler)
                | f"{label}Turn{turn}Add" >> beam.Map(self.add_turn, turn)
            )
            state = (answered, failed) | f"{label}Turn{turn}Merge" >> beam.Flatten()
        return state | f"{label}Answer" >> beam.Map(self.as_answer)


class GuidedDialogueTask(TurnByTurnDialogueTask):
    """Turn by turn, with each turn framed by words the pipeline writes from the speakers' facts
    (`pipelines.dialogue.guided`): the model continues the frame's opening and the pipeline adds
    its closing question. Needs a backend that continues an assistant prefill; on one that does
    not, the turns are written as in `TurnByTurnDialogueTask`."""

    def turn_request(self, state, turn: int, seed: int, use_prefill: bool) -> ChatRequest:
        request = super().turn_request(state, turn, seed, use_prefill)
        before, _ = scaffolds(state["spec"], self.turns)[turn]
        if not use_prefill or not before:
            return request
        return replace(request, prefill=f"{request.prefill} {before}")

    def add_turn(self, result, turn: int) -> dict[str, Any]:
        state = super().add_turn(result, turn)
        before, after = scaffolds(state["spec"], self.turns)[turn]
        if state.get("error") or not result.example.prefill.endswith(f" {before}") or not before:
            return state
        label, said = state["lines"][-1].split(": ", 1) if ": " in state["lines"][-1] else (state["lines"][-1], "")
        said = first_sentence(said.removeprefix(before).strip())  # removeprefix: a backend echoing the prefill
        finished = bool(said) and turn_complete(said)
        said = join_continuation(before, said) if said else before
        # the frame's question only after a finished sentence: a cut one stays visible (cut_off)
        state["lines"] = [*state["lines"][:-1], f"{label}: {said}{after if finished else ''}"]
        return state

    def accept(self, spec: dict[str, Any], text: str) -> None:
        """As for free turns, but duplicates are looked for in what the model wrote: every guided
        dialogue shares its frames, which would make any two of them near duplicates."""
        super().accept(spec, text)
        written = [
            model_part(t["text"], before, after)
            for t, (before, after) in zip(spec["turns"], scaffolds(spec, self.turns), strict=False)
        ]
        spec["_text"] = masked_text("\n".join(written), speaker_names(spec))


_FIRST_SENTENCE = re.compile(r"^.*?(?:\.\.\.|…|[.!?]+[\"”’)]*(?=\s|$))")


def first_sentence(text: str) -> str:
    """The first sentence of a continuation (up to its first ".", "!" or "?" before a space or the
    end, or its first ellipsis); the whole text when it has no sentence end (a cut one then stays visible). A
    guided turn's frame asks for one sentence, and the small model's later ones ramble."""
    m = _FIRST_SENTENCE.match(text)
    return m.group(0) if m else text


def model_part(turn: str, before: str, after: str) -> str:
    """What the model wrote of a guided turn: the turn without its frame (the whole turn where it
    does not carry the frame, e.g. on a backend without prefill)."""
    if not before or not turn.startswith(before):
        return turn
    said = turn[len(before) :]
    return (said[: -len(after)] if after and said.endswith(after) else said).strip()


def masked_text(text: str, names: tuple[str, str]) -> str:
    """The dialogue with both speakers' names replaced, for duplicate detection: sampled names
    are unique and would hide two conversations that are otherwise the same."""
    return mask_names(text, dict(zip(names, ("Speaker A", "Speaker B"), strict=True)))

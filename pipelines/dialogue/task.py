"""Persona-grounded dialogues through the same Generator-Critic loop as narratives.

The model writes the whole conversation in one answer, one turn per line as `Name: text`,
starting from the pipeline-written label of the first speaker. Both personas' facts and the
scenario are in the prompt; the dialogue critic (pipelines/critique/dialogue.py) checks turn
count and alternation, each speaker against their own persona (and not the other's), echoes,
naturalness and safety, and its findings become revision instructions as for narratives.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pipelines.critique.dialogue import (
    critique_dialogue,
    dialogue_revision_instructions,
    dialogue_text,
    parse_dialogue,
)
from pipelines.critique.experts import Verdict
from pipelines.common.chat import ChatRequest, request_seed
from pipelines.common.facts import first_name, mask_names, persona_facts

TEMPLATE_ID = "dialogue_v1"
FACT_LABELS = ("Name", "Age", "Gender", "Lives in", "Occupation", "Family", "Personality", "Hobbies", "Way of talking")
SYSTEM = (
    "You write realistic conversations between two people. Each person speaks only from their own "
    "facts, never claims the other's, and sounds like themselves. Write only the conversation, one "
    "turn per line, as Name: text."
)
EXAMPLE_FACTS = (
    (("Name", "Lucía Romero"), ("Age", "41"), ("Occupation", "Registered nurse"), ("Hobbies", "cycling and pottery")),
    (("Name", "Tom Becker"), ("Age", "29"), ("Occupation", "Bus driver"), ("Hobbies", "football and cooking")),
)
EXAMPLE_SITUATION = "They meet by chance in a waiting room and make small talk about their lives."
EXAMPLE = (
    "Lucía: Long wait today. Are you here for a check-up too?\n"
    "Tom: Just my knee. Too much football at the weekend. You?\n"
    "Lucía: Nothing serious. Funny being on this side of it, I'm a nurse myself.\n"
    "Tom: Then you know how slow these places are. I drive the number 12 bus, I'm never this patient.\n"
    "Lucía: After a night shift I just want my bike and some quiet. Do you cook, at least, after driving all day?\n"
    "Tom: Every evening. It's the only thing that calms me down."
)


def labels(names: tuple[str, str]) -> tuple[str, str]:
    """Speaker labels: first names, or full names when the first names are the same."""
    a, b = first_name(names[0]), first_name(names[1])
    return (a, b) if a != b else names


def speaker_names(spec: dict[str, Any]) -> tuple[str, str]:
    a, b = spec["_speakers"]
    return a["_attrs"]["identity.name"], b["_attrs"]["identity.name"]


def _facts(attrs: dict[str, Any]) -> list[tuple[str, str]]:
    return [(k, v) for k, v in persona_facts(attrs) if k in FACT_LABELS]


def _render(facts) -> str:
    return "; ".join(f"{k}: {v}" for k, v in facts)


def _instruction(names: tuple[str, str], turns: int) -> str:
    a, b = labels(names)
    return (
        f"Write a conversation of exactly {turns} turns between {a} and {b}, alternating, starting with "
        f"{a}. Each turn is one line starting with the speaker's name and a colon."
    )


class DialogueTask:
    kind = "dialogue"
    stage_prefix = "dialogue_"  # LLM stages: dialogue_generate, dialogue_revise
    metrics_ns = "dialogue_generator"
    critic_ns = "dialogue_critic"

    def __init__(
        self, gen: dict[str, Any], critic: dict[str, Any], turns: int, max_tokens: int, structured: bool = True
    ):
        self.gen = dict(gen)
        self.critic = dict(critic)
        self.turns = int(turns)
        self.max_tokens = int(max_tokens)
        self.structured = structured

    def turn_keys(self, spec: dict[str, Any]) -> list[str]:
        a, b = labels(speaker_names(spec))
        return [f"{i + 1}_{(a, b)[i % 2]}" for i in range(self.turns)]

    def response_format(self, spec: dict[str, Any]) -> dict[str, Any]:
        """Structured output: one required string per turn, named after its number and speaker, so
        guided decoding writes exactly `turns` alternating turns with the right labels (small
        models otherwise invent speakers or write one long monologue)."""
        keys = self.turn_keys(spec)
        schema = {
            "type": "object",
            "properties": {k: {"type": "string"} for k in keys},
            "required": keys,
            "additionalProperties": False,
        }
        return {"type": "json_schema", "json_schema": {"name": "dialogue", "schema": schema, "strict": True}}

    def messages(self, spec: dict[str, Any], revision: tuple[str, list[str]] | None = None):
        names = speaker_names(spec)
        ex_names = (EXAMPLE_FACTS[0][0][1], EXAMPLE_FACTS[1][0][1])
        out = [
            ("system", SYSTEM),
            (
                "user",
                f"Person 1: {_render(EXAMPLE_FACTS[0])}\nPerson 2: {_render(EXAMPLE_FACTS[1])}\n"
                f"Situation: {EXAMPLE_SITUATION}\n\n{_instruction(ex_names, 6)}",
            ),
            ("assistant", EXAMPLE),
        ]
        a, b = spec["_speakers"]
        out.append(
            (
                "user",
                f"Person 1: {_render(_facts(a['_attrs']))}\nPerson 2: {_render(_facts(b['_attrs']))}\n"
                f"Situation: {spec['scenario']['description']}\n\n{_instruction(names, self.turns)}",
            )
        )
        if revision:
            draft, instructions = revision
            out.append(("assistant", draft))
            out.append(
                (
                    "user",
                    "Rewrite the conversation. Fix these problems:\n"
                    + "\n".join(f"- {i}" for i in instructions)
                    + f"\n{_instruction(names, self.turns)}",
                )
            )
        return tuple(out)

    def request(self, spec, seed: int, use_prefill: bool, exemplars=None) -> ChatRequest:
        state = spec.get("_gen") or {}
        round_ = int(state.get("round", 0))
        revision = (state["draft"], state["instructions"]) if round_ > 0 else None
        return ChatRequest(
            request_id=f"{spec['dialogue_id']}/r{round_}",
            messages=self.messages(spec, revision),
            seed=request_seed(seed, "dialogue", spec["dialogue_index"], round_, TEMPLATE_ID),
            prefill=f"{labels(speaker_names(spec))[0]}:" if use_prefill and not self.structured else "",
            payload=spec,
            n=int(self.gen["candidates"]),
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
        verdicts: list[Verdict] = []
        parsed = [self._turns(t, spec) for t in texts]
        for i, turns in enumerate(parsed):
            siblings = [(f"candidate:{j}", dialogue_text(parsed[j], names)) for j in range(i) if verdicts[j].passed]
            verdicts.append(critique_dialogue(turns, speakers, self.critic, self.turns, [*siblings, *shown]))
        return verdicts

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
            "dialogue_id": record["dialogue_id"],
            "text": dialogue_text(turns, names),
            "score": record["critic"]["score"],
        }


def masked_text(text: str, names: tuple[str, str]) -> str:
    """The dialogue with both speakers' names replaced, for duplicate detection: sampled names
    are unique and would hide two conversations that are otherwise the same."""
    return mask_names(text, dict(zip(names, ("Speaker A", "Speaker B"), strict=True)))


SPC_COLUMNS = ("dialogue_id", "user 1 personas", "user 2 personas", "Best Generated Conversation")


def spc_row(record: dict[str, Any]) -> dict[str, str]:
    """Synthetic-Persona-Chat columns: each user's persona sentences, then the conversation with
    `User 1:` / `User 2:` labels (a record that still carries its speakers' attributes)."""
    ids = record["persona_ids"]
    out = {"dialogue_id": record["dialogue_id"], "dialogue_index": record["dialogue_index"]}
    for n, speaker in enumerate(record["_speakers"], start=1):
        out[f"user {n} personas"] = "\n".join(persona_sentences(speaker["_attrs"]))
    out["Best Generated Conversation"] = "\n".join(
        f"User {ids.index(t['speaker']) + 1 if t['speaker'] in ids else '?'}: {t['text']}" for t in record["turns"]
    )
    return out


def persona_sentences(attrs: dict[str, Any]) -> list[str]:
    """First-person persona sentences from sampled attributes, as in Persona-Chat."""
    g = attrs.get
    out = [f"My name is {g('identity.name')}.", f"I am {g('demographics.age')} years old."]
    if g("work.employment.occupation"):
        out.append(f"I work as a {str(g('work.employment.occupation')).lower()}.")
    if g("location.residence.city"):
        out.append(f"I live in {g('location.residence.city')}, {g('location.residence.country')}.")
    kids = g("household.children")
    if kids is not None:
        out.append("I have no children." if kids == 0 else f"I have {kids} {'child' if kids == 1 else 'children'}.")
    hobbies = g("interests.hobbies") or []
    if hobbies:
        out.append(f"I enjoy {' and '.join(hobbies[:2])}.")
    traits = g("personality.traits") or []
    if traits:
        out.append(f"I am {' and '.join(traits[:2])}.")
    return out


class TurnByTurnDialogueTask(DialogueTask):
    """Dialogues written one turn per call: the conversation so far is the start of the answer
    (assistant prefill on vLLM, or quoted in the prompt elsewhere) and the model writes the next
    speaker's line, stopping at the end of the line. Small models cannot keep two speakers
    apart over a whole conversation in one answer; one line at a time, with the label written by
    the pipeline, they can. The turns are unrolled in the Beam graph like revision rounds."""

    def __init__(self, gen, critic, turns: int, turn_max_tokens: int):
        super().__init__({**gen, "candidates": 1}, critic, turns, turn_max_tokens, structured=False)

    def turn_request(self, state, turn: int, seed: int, use_prefill: bool) -> ChatRequest:
        spec, lines = state["spec"], state["lines"]
        names = speaker_names(spec)
        label = labels(names)[turn % 2]
        gen_state = spec.get("_gen") or {}
        round_ = int(gen_state.get("round", 0))
        messages = list(self.messages(spec))
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
        from apache_beam.ml.inference.base import PredictionResult

        from pipelines.common.chat import ChatResponse

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

    def generate(self, specs, handler, seed: int, use_prefill: bool, label: str):
        import apache_beam as beam

        from pipelines.generation.transforms import Infer

        state = specs | f"{label}Start" >> beam.Map(
            lambda spec: {"spec": spec, "lines": [], "calls": 0, "prompt_tokens": 0, "completion_tokens": 0}
        )
        for turn in range(self.turns):
            going, failed = state | f"{label}Turn{turn}Failed" >> beam.Partition(
                lambda s, n: 1 if s.get("error") else 0, 2
            )
            answered = (
                going
                | f"{label}Turn{turn}Prompt" >> beam.Map(self.turn_request, turn, seed, use_prefill)
                | f"{label}Turn{turn}LLM" >> Infer(handler)
                | f"{label}Turn{turn}Add" >> beam.Map(self.add_turn, turn)
            )
            state = (answered, failed) | f"{label}Turn{turn}Merge" >> beam.Flatten()
        return state | f"{label}Answer" >> beam.Map(self.as_answer)

"""The chat request and answer that every LLM stage exchanges with a model handler, and the
per-request seed. Plain frozen dataclasses: picklable, and the same for every backend."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ChatRequest:
    request_id: str
    messages: tuple[tuple[str, str], ...]  # (role, content)
    seed: int
    prefill: str = ""  # the answer starts with this; the model continues it
    payload: Any = None  # carried through untouched (the persona being written)
    n: int = 1  # candidates sampled for this prompt in one call (OpenAI/vLLM `n`)
    response_format: dict[str, Any] | None = None  # structured output (OpenAI `json_schema`)
    max_tokens: int | None = None  # overrides the settings' max_tokens for this request
    stop: tuple[str, ...] = ()  # stop sequences


@dataclass(frozen=True)
class ChatResponse:
    choices: tuple[tuple[str, str | None], ...]  # (text, finish_reason) per candidate
    prompt_tokens: int
    completion_tokens: int
    error: str | None = None
    cached: bool = False  # answered from the cache, not by the endpoint
    calls: int = 1  # LLM calls behind this answer (several when a task writes its text in parts)

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0][1] if self.choices else None


def request_seed(*parts: Any) -> int:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def string_fields_format(name: str, keys: list[str]) -> dict[str, Any]:
    """A structured-output `response_format`: a JSON object with exactly these string fields,
    all required (guided decoding then writes every field, in order, and nothing else)."""
    schema = {
        "type": "object",
        "properties": {k: {"type": "string"} for k in keys},
        "required": keys,
        "additionalProperties": False,
    }
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def join_continuation(opening: str, continuation: str) -> str:
    """A prefilled opening and the model's continuation of it: a space between words, none before
    punctuation or a contraction ("she" + "'s involved")."""
    if not opening:
        return continuation
    return opening + ("" if continuation[:1] in (" ", ",", ".", "'", "’", "") else " ") + continuation

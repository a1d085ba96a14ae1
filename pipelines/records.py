"""The record contract: the shapes records take at the stage boundaries, their kinds, reason
codes, and the Arrow schemas of the written datasets, defined once.

Records travel through the pipeline as plain dicts (cheap to pickle, and what both jsonschema
and pyarrow consume); the TypedDicts below declare them. Keys starting with `_` are working keys:
stages read and write them, `public_view` drops them before a row is written and `rejection`
before a record is kept as debugging context. Every working record carries its kind in `_kind`.

    sampling     -> PersonaSpec      (pipelines/sampling.py)
    pairing      -> DialogueSpec     (pipelines/dialogue/pairing.py)
    generator-critic -> PersonaRecord / DialogueRecord + `_gen` and `_scored` while in the loop
    validation   -> + `validation`   (pipelines/validation/transforms.py)
    embed        -> + `_embedding`   (pipelines/dedup/embed.py)
    dedup, write -> the public view of the record (pipelines/output/shards.py)

The Arrow schema of the personas dataset is derived from the taxonomy so that attributes are
typed nested structs, queryable without parsing JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, NamedTuple, TypedDict

import pyarrow as pa

from pipelines.taxonomy.model import Taxonomy

# 1.1: generation.llm_calls, candidates, iteration, exemplar_ids; 1.2: validation, rejected.rule;
# 1.3: the dialogues and dialogues_rejected datasets; 1.4: top_up_round (personas and rejected);
# 1.5: deep_profile and deep_profile_missing (personas, with deep profiles on)
SCHEMA_VERSION = "1.5"

# Rejection reason codes, one per stage that can drop a record.
REASON_LLM_ERROR = "llm_error"
REASON_CRITIC = "critic"
REASON_SCHEMA = "schema"
REASON_RULE = "rule"  # an error-level rule failed
REASON_RULE_ERROR = "rule_error"  # an error-level rule could not be evaluated on the record
REASON_DUPLICATE_EXACT = "duplicate_exact"
REASON_DUPLICATE_NEAR = "duplicate_near"
REASONS = (
    REASON_LLM_ERROR,
    REASON_CRITIC,
    REASON_SCHEMA,
    REASON_RULE,
    REASON_RULE_ERROR,
    REASON_DUPLICATE_EXACT,
    REASON_DUPLICATE_NEAR,
)


class Filtered(NamedTuple):
    """What every filtering stage returns: the records it kept and the rejected-records rows of
    those it dropped (see `rejection`)."""

    kept: Any  # PCollection of records
    rejected: Any  # PCollection of rejected-records rows


@dataclass(frozen=True)
class RecordKind:
    """A kind of record: the keys of its id and planned index."""

    name: str
    id_key: str
    index_key: str


PERSONA = RecordKind("persona", "persona_id", "persona_index")
DIALOGUE = RecordKind("dialogue", "dialogue_id", "dialogue_index")
KINDS = {k.name: k for k in (PERSONA, DIALOGUE)}


def kind_of(record: dict[str, Any]) -> RecordKind:
    """The kind a working record declares in `_kind`."""
    try:
        return KINDS[record["_kind"]]
    except KeyError:
        raise ValueError(f"not a working record (no known `_kind`): keys {sorted(record)[:12]}") from None


class GenerationState(TypedDict, total=False):
    """`_gen`: a record's running state in the Generator-Critic loop."""

    round: int  # 0: first draft; r: revision r
    prompt_tokens: int
    completion_tokens: int
    calls: int
    draft: str  # the best candidate of the last round, sent back for revision
    instructions: list[str]  # the critic's findings as corrections
    history: list[dict[str, Any]]  # the critic records of the earlier rounds


class PersonaSpec(TypedDict):
    """A sampled persona (SampleAttributes, SampleTopUp) before generation."""

    _kind: str  # "persona"
    persona_id: str
    persona_index: int
    quota_cell: str
    top_up_round: int
    attributes: dict[str, Any]  # nested, as written
    _attrs: dict[str, Any]  # flat attribute path -> value, what prompts and critics read
    provenance: dict[str, Any]


class PersonaRecord(PersonaSpec, total=False):
    """A persona after the Generator-Critic loop (and after validation, `validation`)."""

    narrative: str
    critic: dict[str, Any]  # Verdict.as_record()
    generation: dict[str, Any]  # see GENERATION
    validation: dict[str, Any]
    critic_history: list[dict[str, Any]]  # rejected records only
    deep_profile: list[dict[str, str]]  # path, category, value (runs with deep profiles)
    deep_profile_missing: list[dict[str, str]]  # path, reason
    _deep: dict[str, Any]  # inside the deep-profile stage: selected, filled, missing, LLM usage
    _gen: GenerationState  # while in the loop
    _scored: list[tuple[str, str | None, Any]]  # (text, finish_reason, Verdict) per candidate, in the loop
    _embedding: Any  # unit-norm float32 vector of the name-masked text, from embedding to dedup


class Speaker(TypedDict):
    persona_id: str
    _attrs: dict[str, Any]


class DialogueSpec(TypedDict):
    """A planned dialogue (PairPersonas) before generation."""

    _kind: str  # "dialogue"
    dialogue_id: str
    dialogue_index: int
    persona_ids: list[str]
    scenario: dict[str, str]  # id, description
    pairing: str
    _speakers: list[Speaker]
    provenance: dict[str, Any]


class DialogueRecord(DialogueSpec, total=False):
    """A dialogue after the Generator-Critic loop."""

    turns: list[dict[str, str]]  # speaker (persona id), name, text
    critic: dict[str, Any]
    generation: dict[str, Any]
    validation: dict[str, Any]
    critic_history: list[dict[str, Any]]
    _gen: GenerationState
    _scored: list[tuple[str, str | None, Any]]
    _text: str  # the conversation with both names masked, what dedup compares
    _embedding: Any


def persona_id(seed: int, index: int) -> str:
    return f"p-{seed}-{index:07d}"


def dialogue_id(seed: int, index: int) -> str:
    return f"d-{seed}-{index:07d}"


def record_id(record: dict[str, Any]) -> str:
    """The id of a working record of any kind."""
    return record[kind_of(record).id_key]


def record_index(record: dict[str, Any]) -> int:
    """The planned index of a working record of any kind (its shard, its tie-break)."""
    return int(record[kind_of(record).index_key])


FINDING = pa.struct(
    [
        ("expert", pa.string()),
        ("code", pa.string()),
        ("message", pa.string()),
        ("attribute", pa.string()),
        ("severity", pa.string()),
    ]
)
CRITIC = pa.struct(
    [
        ("score", pa.float64()),
        ("passed", pa.bool_()),
        ("experts", pa.list_(pa.struct([("expert", pa.string()), ("score", pa.float64())]))),
        ("findings", pa.list_(FINDING)),
    ]
)
GENERATION = pa.struct(
    [
        ("model", pa.string()),
        ("prompt_template_id", pa.string()),
        ("finish_reason", pa.string()),
        ("prompt_tokens", pa.int64()),
        ("completion_tokens", pa.int64()),
        ("revision_count", pa.int32()),
        ("llm_calls", pa.int32()),
        ("candidates", pa.int32()),
        ("iteration", pa.int32()),
        ("exemplar_ids", pa.list_(pa.string())),
    ]
)
VALIDATION = pa.struct(
    [
        ("rules_sha256", pa.string()),
        (
            "warnings",
            pa.list_(pa.struct([("rule_id", pa.string()), ("status", pa.string()), ("message", pa.string())])),
        ),
    ]
)
PROVENANCE = pa.struct(
    [
        ("run_name", pa.string()),
        ("seed", pa.int64()),
        ("taxonomy_hash", pa.string()),
        ("config_hash", pa.string()),
        ("pipeline_version", pa.string()),
    ]
)


# A filled deep-profile dimension, and one that stayed missing (with the critic's reason code).
DEEP_VALUE = pa.struct([("path", pa.string()), ("category", pa.string()), ("value", pa.string())])
DEEP_MISSING = pa.struct([("path", pa.string()), ("category", pa.string()), ("reason", pa.string())])


def persona_schema(taxonomy: Taxonomy, deep_profile: bool = False) -> pa.Schema:
    """The personas dataset's schema; with `deep_profile`, the `deep_profile` and
    `deep_profile_missing` columns too (runs with deep profiles on)."""
    deep = (
        [
            pa.field("deep_profile", pa.list_(DEEP_VALUE), nullable=False),
            pa.field("deep_profile_missing", pa.list_(DEEP_MISSING), nullable=False),
        ]
        if deep_profile
        else []
    )
    return pa.schema(
        [
            pa.field("persona_id", pa.string(), nullable=False),
            pa.field("persona_index", pa.int64(), nullable=False),
            pa.field("quota_cell", pa.string(), nullable=False),
            # 0: a planned persona; r >= 1: generated in top-up round r to refill its quota cell
            pa.field("top_up_round", pa.int32(), nullable=False),
            pa.field("attributes", taxonomy.arrow_struct(), nullable=False),
            pa.field("narrative", pa.string(), nullable=False),
            pa.field("critic", CRITIC, nullable=False),
            pa.field("generation", GENERATION, nullable=False),
            pa.field("validation", VALIDATION, nullable=False),
            pa.field("provenance", PROVENANCE, nullable=False),
            *deep,
        ],
        metadata={"schema_version": SCHEMA_VERSION, "dataset": "personas"},
    )


def _rejected_schema(kind: str) -> pa.Schema:
    top_up = [pa.field("top_up_round", pa.int32())] if kind == "persona" else []
    return pa.schema(
        [
            pa.field(f"{kind}_id", pa.string(), nullable=False),
            pa.field(f"{kind}_index", pa.int64(), nullable=False),
            pa.field("quota_cell", pa.string()),
            *top_up,
            pa.field("stage", pa.string(), nullable=False),
            pa.field("reason", pa.string(), nullable=False),
            pa.field("message", pa.string(), nullable=False),
            pa.field("rule", pa.string()),  # the failed rule's id, or the JSON path a schema error is at
            pa.field("duplicate_of", pa.string()),
            pa.field("similarity", pa.float64()),
            pa.field("record_json", pa.string(), nullable=False),
        ],
        metadata={
            "schema_version": SCHEMA_VERSION,
            "dataset": "rejected" if kind == "persona" else "dialogues_rejected",
        },
    )


REJECTED_SCHEMA = _rejected_schema("persona")
DIALOGUES_REJECTED_SCHEMA = _rejected_schema("dialogue")

TURN = pa.struct([("speaker", pa.string()), ("name", pa.string()), ("text", pa.string())])
DIALOGUE_SCHEMA = pa.schema(
    [
        pa.field("dialogue_id", pa.string(), nullable=False),
        pa.field("dialogue_index", pa.int64(), nullable=False),
        pa.field("persona_ids", pa.list_(pa.string()), nullable=False),
        pa.field("scenario", pa.struct([("id", pa.string()), ("description", pa.string())]), nullable=False),
        pa.field("pairing", pa.string(), nullable=False),
        pa.field("turns", pa.list_(TURN), nullable=False),
        pa.field("critic", CRITIC, nullable=False),
        pa.field("generation", GENERATION, nullable=False),
        pa.field("validation", VALIDATION, nullable=False),
        pa.field("provenance", PROVENANCE, nullable=False),
    ],
    metadata={"schema_version": SCHEMA_VERSION, "dataset": "dialogues"},
)


def rejection(
    record: dict[str, Any],
    stage: str,
    reason: str,
    message: str,
    duplicate_of: str | None = None,
    similarity: float | None = None,
    rule: str | None = None,
) -> dict[str, Any]:
    """A rejected-records row: what was dropped, where, why, and the record itself for debugging."""
    body = {k: v for k, v in record.items() if not k.startswith("_")}
    kind = kind_of(record).name
    row = {
        f"{kind}_id": record_id(record),
        f"{kind}_index": record_index(record),
        "quota_cell": record.get("quota_cell"),
        "stage": stage,
        "reason": reason,
        "message": message,
        "rule": rule,
        "duplicate_of": duplicate_of,
        "similarity": None if similarity is None else float(similarity),
        "record_json": json.dumps(body, ensure_ascii=False, sort_keys=True, default=str),
    }
    if kind == "persona":
        row["top_up_round"] = record.get("top_up_round", 0)
    return row

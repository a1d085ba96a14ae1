"""Record shapes at the stage boundaries and their Arrow schemas, defined once.

Records travel through the pipeline as plain dicts (cheap to pickle, and what both jsonschema
and pyarrow consume). The Arrow schema of the personas dataset is derived from the taxonomy so
that attributes are typed nested structs, queryable without parsing JSON.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from pipelines.taxonomy.model import Taxonomy

SCHEMA_VERSION = "1.2"  # 1.1: generation.llm_calls, candidates, iteration, exemplar_ids; 1.2: validation, rejected.rule

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


def persona_id(seed: int, index: int) -> str:
    return f"p-{seed}-{index:07d}"


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


def persona_schema(taxonomy: Taxonomy) -> pa.Schema:
    return pa.schema(
        [
            pa.field("persona_id", pa.string(), nullable=False),
            pa.field("persona_index", pa.int64(), nullable=False),
            pa.field("quota_cell", pa.string(), nullable=False),
            pa.field("attributes", taxonomy.arrow_struct(), nullable=False),
            pa.field("narrative", pa.string(), nullable=False),
            pa.field("critic", CRITIC, nullable=False),
            pa.field("generation", GENERATION, nullable=False),
            pa.field("validation", VALIDATION, nullable=False),
            pa.field("provenance", PROVENANCE, nullable=False),
        ],
        metadata={"schema_version": SCHEMA_VERSION, "dataset": "personas"},
    )


REJECTED_SCHEMA = pa.schema(
    [
        pa.field("persona_id", pa.string(), nullable=False),
        pa.field("persona_index", pa.int64(), nullable=False),
        pa.field("quota_cell", pa.string()),
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("message", pa.string(), nullable=False),
        pa.field("rule", pa.string()),  # the failed rule's id, or the JSON path a schema error is at
        pa.field("duplicate_of", pa.string()),
        pa.field("similarity", pa.float64()),
        pa.field("record_json", pa.string(), nullable=False),
    ],
    metadata={"schema_version": SCHEMA_VERSION, "dataset": "rejected"},
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
    return {
        "persona_id": record["persona_id"],
        "persona_index": int(record["persona_index"]),
        "quota_cell": record.get("quota_cell"),
        "stage": stage,
        "reason": reason,
        "message": message,
        "rule": rule,
        "duplicate_of": duplicate_of,
        "similarity": None if similarity is None else float(similarity),
        "record_json": json.dumps(body, ensure_ascii=False, sort_keys=True, default=str),
    }

"""A hand-built dataset folder with known content: 24 planned personas, 20 accepted (even ones
female nurses, odd ones male engineers) in two shards, 4 rejected, a manifest and a taxonomy."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.records import REJECTED_SCHEMA, persona_schema
from pipelines.taxonomy import load_taxonomy

TAXONOMY = """
taxonomy: fixture
version: "1"
locales: {Utopia: en_US, Freedonia: en_GB}
categories:
  - id: demographics
    attributes:
      - id: gender
        type: categorical
        values: [Female, Male, Non-binary]
      - id: age_band
        type: categorical
        values: ["18-34", "35+"]
      - id: age
        type: integer
        min: 18
        max: 90
  - id: location
    categories:
      - id: residence
        attributes:
          - id: country
            type: categorical
            values: [Utopia, Freedonia]
  - id: identity
    attributes:
      - id: name
        type: name
        locale_from: location.residence.country
  - id: work
    attributes:
      - id: occupation
        type: categorical
        values: [Nurse, Engineer, Teacher, Farmer]
  - id: interests
    attributes:
      - id: hobbies
        type: multi
        pick: {min: 1, max: 2}
        values: [chess, golf, knitting, hiking]
"""

FEMALE = ["Alice", "Beth", "Carol", "Dora", "Emma", "Fay", "Gina", "Hana", "Iris", "Jane"]
MALE = ["Adam", "Ben", "Carl", "Dan", "Eric", "Fred", "Gary", "Hugo", "Ivan", "Jack"]
HOBBIES = [["chess"], ["golf"], ["chess", "knitting"], ["golf"]]
SCORES = [0.65, 0.75, 0.85, 0.95]
REJECTED = {  # persona_index -> (quota cell gender, stage, reason, rule)
    3: ("Female", "critique", "critic", None),
    8: ("Male", "critique", "critic", None),
    15: ("Male", "validate", "rule", "retired_from_55"),
    21: ("Male", "deduplicate", "duplicate_near", None),
}
SEED = 7


def persona_row(taxonomy, k: int, index: int) -> dict:
    """Accepted persona number k (0..19): even k female nurses, odd k male engineers."""
    female = k % 2 == 0
    name = f"{(FEMALE if female else MALE)[k // 2]} Smith"
    gender = "Female" if female else "Male"
    age_band = "18-34" if (k // 2) % 2 == 0 else "35+"
    age = 30 if age_band == "18-34" else 50
    country = "Utopia" if (k // 4) % 2 == 0 else "Freedonia"
    hobbies = HOBBIES[k % 4]
    if female:
        narrative = (
            f"{name} is a {age}-year-old nurse from {country} who enjoys {hobbies[0]} "
            "and is nurturing and helpful toward everyone."
        )
    else:
        narrative = (
            f"{name} is a {age}-year-old engineer from {country} who enjoys {hobbies[0]} "
            "and is helpful toward everyone."
        )
    flat = {
        "demographics.gender": gender,
        "demographics.age_band": age_band,
        "demographics.age": age,
        "location.residence.country": country,
        "identity.name": name,
        "work.occupation": "Nurse" if female else "Engineer",
        "interests.hobbies": hobbies,
    }
    findings = (
        [{"expert": "faithfulness", "code": "place_missing", "message": "x", "attribute": None, "severity": "warning"}]
        if female
        else []
    )
    return {
        "persona_id": f"p-{SEED}-{index:07d}",
        "persona_index": index,
        "quota_cell": f"demographics.gender={gender}",
        "top_up_round": 0,
        "attributes": taxonomy.nest(flat),
        "narrative": narrative,
        "critic": {
            "score": SCORES[k % 4],
            "passed": True,
            "experts": [{"expert": "faithfulness", "score": 1.0}, {"expert": "safety", "score": 0.5}],
            "findings": findings,
        },
        "generation": {
            "model": "fixture-model",
            "prompt_template_id": "persona_narrative_v1",
            "finish_reason": "stop",
            "prompt_tokens": 100,
            "completion_tokens": 40,
            "revision_count": 0,
            "llm_calls": 1,
            "candidates": 2,
            "iteration": 0,
            "exemplar_ids": [],
        },
        "validation": {"rules_sha256": "0" * 64, "warnings": []},
        "provenance": {
            "run_name": "fixture",
            "seed": SEED,
            "taxonomy_hash": taxonomy.content_hash,
            "config_hash": "c" * 64,
            "pipeline_version": "0.1.0",
        },
    }


def build_fixture(root: Path) -> Path:
    """24 planned personas: 20 accepted in 2 shards, 4 rejected in 1 shard, and a manifest."""
    root.mkdir(parents=True, exist_ok=True)
    tax_path = root.parent / "fixture_taxonomy.yaml"
    tax_path.write_text(TAXONOMY, encoding="utf-8")
    taxonomy = load_taxonomy([tax_path])
    accepted = [i for i in range(24) if i not in REJECTED]
    rows = [persona_row(taxonomy, k, index) for k, index in enumerate(accepted)]
    schema = persona_schema(taxonomy)
    (root / "personas").mkdir()
    (root / "rejected").mkdir()
    pq.write_table(pa.Table.from_pylist(rows[:10], schema=schema), root / "personas" / "part-00000.parquet")
    pq.write_table(pa.Table.from_pylist(rows[10:], schema=schema), root / "personas" / "part-00001.parquet")
    rejected = [
        {
            "persona_id": f"p-{SEED}-{i:07d}",
            "persona_index": i,
            "quota_cell": f"demographics.gender={g}",
            "top_up_round": 0,
            "stage": stage,
            "reason": reason,
            "message": "fixture",
            "rule": rule,
            "duplicate_of": f"p-{SEED}-0000000" if reason == "duplicate_near" else None,
            "similarity": 0.95 if reason == "duplicate_near" else None,
            "record_json": json.dumps({"narrative": "A removed near copy."}) if reason == "duplicate_near" else "{}",
        }
        for i, (g, stage, reason, rule) in REJECTED.items()
    ]
    pq.write_table(pa.Table.from_pylist(rejected, schema=REJECTED_SCHEMA), root / "rejected" / "part-00000.parquet")
    manifest = {
        "manifest_version": "1",
        "schema_version": "1.2",
        "run": {"name": "fixture", "num_personas": 24, "seed": SEED},
        "counts": {
            "planned": 24,
            "accepted": 20,
            "rejected": 4,
            "unfinished": 0,
            "balanced": True,
            "rejected_by_reason": {"critic": 2, "duplicate_near": 1, "rule": 1},
            "rejected_by_stage": {"critique": 2, "deduplicate": 1, "validate": 1},
        },
        "quotas": [
            {
                "cell_id": "demographics.gender=Female",
                "values": {"demographics.gender": "Female"},
                "target": 11,
                "achieved": 10,
                "shortfall": 1,
            },
            {
                "cell_id": "demographics.gender=Male",
                "values": {"demographics.gender": "Male"},
                "target": 13,
                "achieved": 10,
                "shortfall": 3,
            },
        ],  # fmt: skip
        "llm": {
            "backend": "openai",
            "model": "fixture-model",
            "base_url": "https://user:secret@llm.example/v1?token=abc",
            "prompt_template_id": "persona_narrative_v1",
            "sampling": {"max_tokens": 150, "temperature": 0.7, "top_p": 0.9},
            "llm.generate_requests": 24,
        },
        "generation": {"iterations": [], "findings_by_code": {"place_missing": 14, "too_short": 2}},
        "hashes": {"taxonomy": taxonomy.content_hash, "config": "c" * 64},
        "versions": {"python": "3.11", "persona-pipelines": "0.1.0"},
        "config": {
            "run": {"name": "fixture", "seed": SEED, "num_personas": 24},
            "taxonomy": {"files": [str(tax_path)]},
            "quotas": {"stratify_by": ["demographics.gender"]},
            "llm": {"api_key_env": "OPENAI_API_KEY"},
            "generation": {"prompt_template": "persona_narrative_v1", "candidates": 2, "max_revisions": 1},
            "critic": {"threshold": 0.6, "min_words": 10, "max_words": 200, "weights": {"faithfulness": 1.0}},
            "validation": {"rules": ["rules/persona.yaml"]},
            "dedup": {"embedding_model": "bundled:all-MiniLM-L6-v2", "threshold": 0.9},
        },
    }
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root

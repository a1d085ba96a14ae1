"""Run configuration: a YAML file validated against schemas/config.schema.json, with defaults
and command-line overrides. The resolved config is plain data: picklable and hashable."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.errors import InputError
from pipelines.schemas import check_file_against_schema
from pipelines.taxonomy.loader import read_yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "configs" / "default.yaml"

DEFAULTS: dict[str, Any] = {
    "run": {"name": "run", "seed": 0, "num_personas": 100},
    "taxonomy": {"files": ["taxonomy/base.yaml"]},
    "quotas": {
        "stratify_by": [],
        "shares": {},
        "counts": [],
        # Personas lost to the critic, validation or dedup are replaced by new ones of the same cell.
        "top_up": {"rounds": 2, "max_extra_fraction": 0.5},
    },
    "llm": {
        "backend": "embedded",
        "model": None,
        "base_url": None,
        "api_key_env": "OPENAI_API_KEY",
        "max_tokens": 150,
        "temperature": 0.7,
        "top_p": 0.9,
        "repetition_penalty": 1.2,
        "concurrency": 32,
        "request_timeout_s": 180,
        "max_retries": 4,
        "batch_retries": 3,
        "throttle_delay_s": 5,
        "request_seed": True,
        "assistant_prefill": None,
        "cache": {"enabled": True, "path": None},
        "vllm": {
            "gpu_memory_utilization": 0.3,
            "max_model_len": 2048,
            "enforce_eager": True,
            "startup_timeout_s": 900,
            "extra_args": [],
        },
    },
    "generation": {
        "prompt_template": "persona_narrative_v1",
        "target_words": 90,
        "candidates": 2,
        "max_revisions": 1,
        "exemplars": {"iterations": 1, "pilot_fraction": 0.1, "count": 3},
    },
    "critic": {
        "min_words": 35,
        "max_words": 260,
        "threshold": 0.6,
        "weights": {"faithfulness": 0.4, "degeneration": 0.3, "safety": 0.2, "novelty": 0.1, "llm_judge": 0.3},
        "novelty_threshold": 0.8,
        "llm_judge": {
            "enabled": False,
            # Overrides of the `llm` block for the judge: another backend, model or endpoint.
            "llm": {"temperature": 0.0, "top_p": 1.0},
            "min_score": 0.5,
            "max_tokens": 400,
        },
    },
    "dialogues": {
        "enabled": True,
        "scenarios": "taxonomy/scenarios.yaml",
        "pairing": "mixed",
        "per_persona": 1,
        "turns": 6,
        "mode": "turns",
        "turn_max_tokens": 60,
        "max_tokens": 320,
        "structured_output": False,
        "candidates": 2,
        "max_revisions": 1,
        "critic": {
            "threshold": 0.6,
            "min_turn_words": 3,
            "max_turn_words": 80,
            "echo_threshold": 0.6,
            "novelty_threshold": 0.8,
        },
        "export_spc": True,
    },
    "validation": {"rules": ["rules/persona.yaml", "rules/dialogue.yaml"]},
    "dedup": {
        "embedding_model": "bundled:all-MiniLM-L6-v2",
        "threshold": 0.9,
        "batch_size": 64,
        # Partitioned search (pipelines/dedup/partitioned.py): k-means cells, each item also probes
        # the cells it lies near the border of. partitions null: one below 20,000 records, else ~500
        # records per cell.
        "partitions": None,
        "probes": 8,
        "margin": 0.5,
    },
    "output": {"rows_per_shard": 100000, "compression": "zstd", "report": True, "report_embeddings": True},
}


OPERATIONAL_LLM_KEYS = (
    "base_url",
    "api_key_env",
    "concurrency",
    "request_timeout_s",
    "max_retries",
    "batch_retries",
    "throttle_delay_s",
    "cache",
)


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass(frozen=True)
class RunConfig:
    data: dict[str, Any]
    source: str  # the config file, for error messages

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def content_hash(self) -> str:
        """sha256 of the resolved config, without the operational settings that cannot change the
        data (where the endpoint is, timeouts and retries, the answer cache): a run resumed against
        a restarted server, or with more patience, is still the same run."""
        data = copy.deepcopy(self.data)
        for block in (data["llm"], data["critic"]["llm_judge"]["llm"]):
            for key in OPERATIONAL_LLM_KEYS:
                block.pop(key, None)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def taxonomy_files(self) -> list[Path]:
        return self.resolve(self.data["taxonomy"]["files"])

    def rules_files(self) -> list[Path]:
        return self.resolve(self.data["validation"]["rules"])

    def resolve(self, files: list[str]) -> list[Path]:
        """Relative paths resolve against the config file's folder, then the repository root."""
        base = Path(self.source).resolve().parent
        out = []
        for f in files:
            p = Path(f)
            if not p.is_absolute():
                p = base / f if (base / f).exists() else REPO_ROOT / f
            out.append(p)
        return out


def _check_llm(llm: dict[str, Any], path: str, where: str) -> None:
    if llm["backend"] == "openai" and not (llm["base_url"] and llm["model"]):
        raise InputError(path, where, "the openai backend needs `base_url` and `model`")
    if llm["backend"] == "vllm" and not llm["model"]:
        raise InputError(path, f"{where}.model", "the vllm backend needs a model name or path")


def judge_llm(data: dict[str, Any]) -> dict[str, Any]:
    """The LLM judge's `llm` block: the run's `llm` block with the judge's overrides on top."""
    return _deep_merge(data["llm"], data["critic"]["llm_judge"]["llm"])


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a config file, apply `overrides` ({"llm": {"backend": ...}}), validate, fill defaults."""
    path = Path(path) if path else DEFAULT_CONFIG
    doc = read_yaml(path)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise InputError(str(path), "$", "a config file must be a mapping")
    merged = _deep_merge(doc, overrides or {})
    check_file_against_schema("config", merged, str(path))
    data = _deep_merge(DEFAULTS, merged)
    _check_llm(data["llm"], str(path), "$.llm")
    if data["critic"]["llm_judge"]["enabled"]:
        _check_llm(judge_llm(data), str(path), "$.critic.llm_judge.llm")
    critic = data["critic"]
    if critic["min_words"] > critic["max_words"]:
        raise InputError(str(path), "$.critic", "min_words is greater than max_words")
    return RunConfig(data=data, source=str(path))

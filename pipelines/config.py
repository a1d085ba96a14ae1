"""Run configuration: a YAML file validated against schemas/config.schema.json, with defaults
and command-line overrides. The resolved config is plain data: picklable and hashable."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.common import settings
from pipelines.common.settings import merged
from pipelines.errors import InputError
from pipelines.schemas import check_file_against_schema
from pipelines.taxonomy.loader import read_yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = REPO_ROOT / "configs" / "default.yaml"

DEFAULTS = settings.DEFAULTS


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


@dataclass(frozen=True)
class RunConfig:
    data: dict[str, Any]
    source: str  # the config file, for error messages

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    @property
    def content_hash(self) -> str:
        """sha256 of the resolved config, without the operational settings that cannot change the
        data (where the endpoint is, requests in flight, timeouts and retries, the answer cache): a
        run resumed against a restarted server, or with more patience, is still the same run."""
        data = copy.deepcopy(self.data)
        for block in (data["llm"], data["critic"]["llm_judge"]["llm"]):
            for key in OPERATIONAL_LLM_KEYS:
                block.pop(key, None)
            vllm = block.get("vllm", {})
            vllm.pop("cpu_reserved_cores", None)  # cores for the server's thread pool, like concurrency
            if block.get("backend") == "openai":
                vllm.pop("dtype", None)  # no server of ours to start: the setting does not apply
        data["dialogues"].pop("concurrency", None)  # requests in flight, like llm.concurrency
        if not data["deep_profile"]["enabled"]:
            data.pop("deep_profile")  # settings of a stage that is off cannot change the data
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
    return merged(data["llm"], data["critic"]["llm_judge"]["llm"])


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read a config file, apply `overrides` ({"llm": {"backend": ...}}), validate, fill defaults."""
    path = Path(path) if path else DEFAULT_CONFIG
    doc = read_yaml(path)
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise InputError(str(path), "$", "a config file must be a mapping")
    given = merged(doc, overrides or {})
    check_file_against_schema("config", given, str(path))
    data = merged(DEFAULTS, given)
    _check_llm(data["llm"], str(path), "$.llm")
    if data["critic"]["llm_judge"]["enabled"]:
        _check_llm(judge_llm(data), str(path), "$.critic.llm_judge.llm")
    critic = data["critic"]
    if critic["min_words"] > critic["max_words"]:
        raise InputError(str(path), "$.critic", "min_words is greater than max_words")
    return RunConfig(data=data, source=str(path))

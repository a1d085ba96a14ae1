"""Provenance and schema: what the card's "how it was made" reads from the manifest (endpoint
credentials stripped), the dialogue counts, and every column of the shards as a dotted path."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from pipelines.report.metrics.dataset import Dataset


def _public_url(url: Any) -> Any:
    """An endpoint URL without user info, query or fragment (where credentials could hide)."""
    if not isinstance(url, str) or not url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _public_llm(llm: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in llm.items():
        if "key" in key.lower() and "env" not in key.lower():
            continue  # never an API key, should one ever be recorded
        if isinstance(value, dict):
            value = _public_llm(value)
        out[key] = _public_url(value) if key == "base_url" else value
    return out


def _type_name(t: pa.DataType) -> str:
    if pa.types.is_struct(t):
        return "struct"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        inner = t.value_type
        return f"list<{'struct' if pa.types.is_struct(inner) else _type_name(inner)}>"
    return str(t)


def schema_rows(schema: pa.Schema | None) -> list[dict[str, Any]]:
    """Every column and nested field as a dotted path with its Arrow type (`a.b`, `a.items[].c`)."""
    rows: list[dict[str, Any]] = []

    def walk(name: str, t: pa.DataType, nullable: bool) -> None:
        rows.append({"column": name, "type": _type_name(t), "nullable": nullable})
        if pa.types.is_struct(t):
            for f in t:
                walk(f"{name}.{f.name}", f.type, f.nullable)
        elif (pa.types.is_list(t) or pa.types.is_large_list(t)) and pa.types.is_struct(t.value_type):
            for f in t.value_type:
                walk(f"{name}[].{f.name}", f.type, f.nullable)

    for f in schema or []:
        walk(f.name, f.type, f.nullable)
    return rows


def provenance(ds: Dataset) -> dict[str, Any]:
    """What the card's "how it was made" reads: run, model, prompt, critic, validation, dedup,
    dialogues."""
    m = ds.manifest
    config = m.get("config") or {}
    return {
        "run": m.get("run") or {},
        "schema_version": m.get("schema_version"),
        "manifest_version": m.get("manifest_version"),
        "hashes": m.get("hashes") or {},
        "versions": m.get("versions") or {},
        "timing_s": m.get("timing_s") or {},
        "taxonomy_files": ((config.get("taxonomy") or {}).get("files")) or [],
        "quotas": config.get("quotas") or {},
        "llm": _public_llm(m.get("llm") or {}),
        "generation": config.get("generation") or {},
        "generation_per_accepted": ((m.get("generation") or {}).get("per_accepted")) or {},
        "critic": config.get("critic") or {},
        "validation": {
            "rules": ((config.get("validation") or {}).get("rules")) or [],
            "rule_outcomes": ((m.get("validation") or {}).get("rule_outcomes")) or {},
        },
        "dedup": config.get("dedup") or {},
        "dialogues": config.get("dialogues") or {},
        "output": config.get("output") or {},
        "shards": {k: len(v) for k, v in (m.get("shards") or {}).items()},
        "bytes": {k: sum(int(s.get("bytes", 0)) for s in v) for k, v in (m.get("shards") or {}).items()},
    }


def dialogue_counts(ds: Dataset) -> dict[str, Any] | None:
    """The manifest's dialogue counts (planned, accepted, rejected by reason, by pairing)."""
    d = ds.manifest.get("dialogues")
    if not d:
        return None
    keys = ("planned", "accepted", "rejected", "rejected_by_reason", "by_pairing")
    return {k: d.get(k) for k in keys} | {"iterations": (d.get("generation") or {}).get("iterations") or []}

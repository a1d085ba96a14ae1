"""Quality metrics of a finished dataset folder, computed with polars from its shards and manifest.

`compute_metrics(dataset_dir)` returns one plain, JSON-able dict with these groups:

- ``counts``: planned / accepted / rejected (manifest and shards, cross-checked), rejections by
  stage, reason and rule, and the acceptance funnel through the pipeline's stages.
- ``quotas``: target vs achieved per quota cell, the largest absolute deviation.
- ``coverage``: per categorical attribute, the share of the taxonomy's values that occur.
- ``diversity``: distinct-1 / distinct-2 of the narratives, narrative length, exact duplicates,
  and (optional) mean pairwise embedding distance and near-duplicate pair rate.
- ``critic``: critic score distribution, per-expert means, findings by code.
- ``stereotypes``: the stereotype audit (see `stereotype_audit`).

Everything reads the folder as a consumer would; nothing needs the run's config files except the
taxonomy (for the list of possible values), and the report says so when it cannot be loaded.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.errors import InputError
from pipelines.report.lexicon import AGE_WORDS, COUNTRY_WORDS, GENDER_WORDS, LANGUAGE_HINTS, STOPWORDS, TRAIT_ROLE_WORDS

log = logging.getLogger("pipelines.report")

REPORT_VERSION = "1"
MANIFEST = "manifest.json"
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
DEFAULT_SAMPLE = 500
DEFAULT_EMBEDDING_MODEL = "bundled:all-MiniLM-L6-v2"
STAGE_ORDER = ("generate", "critique", "validate", "deduplicate")
PROTECTED = ("demographics.gender", "demographics.age_band", "location.residence.country")
WORD = r"\w+(?:['’]\w+)*"  # a token for distinct-n: a run of word characters, inner apostrophes kept
LETTERS = re.compile(r"[^\W\d_]+")  # a token for the audit: a run of letters


@dataclass
class Dataset:
    """A finished dataset folder, loaded."""

    root: Path
    manifest: dict[str, Any]
    personas: pl.DataFrame
    rejected: pl.DataFrame | None
    persona_schema: pa.Schema
    rejected_schema: pa.Schema | None
    flat: pl.DataFrame  # the attributes, one column per dotted path
    taxonomy: Any  # pipelines.taxonomy.Taxonomy, or None when it could not be loaded
    taxonomy_note: str | None


# ------------------------------------------------------------------------------------------------
# Loading


def _shards(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.parquet") if p.is_file()) if folder.is_dir() else []


def _read(shards: list[Path]) -> tuple[pl.DataFrame, pa.Schema]:
    try:
        schema = pq.read_schema(shards[0])
        return pl.read_parquet([str(p) for p in shards]), schema
    except Exception as exc:  # polars and pyarrow raise several error types for a broken file
        raise InputError(str(shards[0].parent), "<folder>", f"a shard is not readable Parquet: {exc}") from None


def _leaf_paths(dtype: pl.DataType, prefix: tuple[str, ...] = ()) -> Iterable[tuple[tuple[str, ...], pl.DataType]]:
    for f in dtype.fields:  # type: ignore[attr-defined]
        if isinstance(f.dtype, pl.Struct):
            yield from _leaf_paths(f.dtype, (*prefix, f.name))
        else:
            yield (*prefix, f.name), f.dtype


def flatten_attributes(personas: pl.DataFrame) -> pl.DataFrame:
    """The nested `attributes` struct as one column per dotted path (`demographics.gender`, ...)."""
    if "attributes" not in personas.columns or not isinstance(personas.schema["attributes"], pl.Struct):
        return pl.DataFrame()
    exprs = []
    for path, _ in _leaf_paths(personas.schema["attributes"]):
        expr = pl.col("attributes")
        for part in path:
            expr = expr.struct.field(part)
        exprs.append(expr.alias(".".join(path)))
    return personas.select(exprs)


def _load_taxonomy(manifest: dict[str, Any]) -> tuple[Any, str | None]:
    files = ((manifest.get("config") or {}).get("taxonomy") or {}).get("files") or []
    if not files:
        return None, "the manifest names no taxonomy files (config.taxonomy.files)"
    paths = []
    for f in files:
        p = Path(f)
        if not p.is_absolute():
            p = REPO_ROOT / p if (REPO_ROOT / p).exists() else p
        paths.append(p)
    try:
        from pipelines.taxonomy import load_taxonomy

        taxonomy = load_taxonomy(paths)
    except Exception as exc:  # InputError for a bad file; anything else is just as fatal for coverage
        return None, f"the taxonomy could not be loaded ({exc}); coverage shows distinct values only"
    expected = (manifest.get("hashes") or {}).get("taxonomy")
    if expected and expected != taxonomy.content_hash:
        return taxonomy, (
            "the taxonomy files changed since the run (content hash differs from the manifest's); "
            "coverage is measured against the current files"
        )
    return taxonomy, None


def load_dataset(dataset_dir: str | Path) -> Dataset:
    """Read a finished dataset folder; bad input (no folder, no manifest, no shards) is an InputError."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise InputError(str(root), "<folder>", "dataset folder not found")
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise InputError(
            str(root), "<folder>", "no manifest.json: not a finished dataset (the manifest is written last)"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(str(manifest_path), "<file>", f"not readable JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise InputError(str(manifest_path), "<root>", "expected a JSON object")
    persona_shards = _shards(root / "personas")
    if not persona_shards:
        raise InputError(str(root / "personas"), "<folder>", "no Parquet shards (*.parquet) in this folder")
    personas, persona_schema = _read(persona_shards)
    for column in ("persona_id", "narrative"):
        if column not in personas.columns:
            raise InputError(str(root / "personas"), "<schema>", f"no {column!r} column: not a personas dataset")
    rejected_shards = _shards(root / "rejected")
    rejected, rejected_schema = _read(rejected_shards) if rejected_shards else (None, None)
    taxonomy, note = _load_taxonomy(manifest)
    return Dataset(
        root,
        manifest,
        personas,
        rejected,
        persona_schema,
        rejected_schema,
        flatten_attributes(personas),
        taxonomy,
        note,
    )


# ------------------------------------------------------------------------------------------------
# Small helpers


def _r(x: float | None, digits: int = 4) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, digits)


def _count_dict(series: pl.Series) -> dict[str, int]:
    counts = series.drop_nulls().value_counts(sort=True)
    name = series.name
    return {str(row[name]): int(row["count"]) for row in counts.iter_rows(named=True)}


def _quantiles(values: pl.Series, qs: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95)) -> dict[str, float | None]:
    values = values.drop_nulls()
    if values.is_empty():
        return {f"p{round(q * 100):02d}": None for q in qs}
    return {f"p{round(q * 100):02d}": _r(values.quantile(q, interpolation="linear")) for q in qs}


# ------------------------------------------------------------------------------------------------
# Counts, acceptance by stage


def counts_metrics(ds: Dataset) -> dict[str, Any]:
    """Counts from the manifest cross-checked with the shards, rejections by stage / reason / rule and
    the acceptance funnel: for each stage in pipeline order, how many records entered it, how many
    it rejected and its pass rate."""
    m_counts = ds.manifest.get("counts") or {}
    accepted = ds.personas.height
    rej = ds.rejected
    rejected = 0 if rej is None else rej.height
    topped_up = int(m_counts.get("topped_up") or 0)  # quota top-up replacements
    planned = int(m_counts.get("planned", accepted + rejected - topped_up))
    by_stage = _count_dict(rej["stage"]) if rej is not None and "stage" in rej.columns else {}
    by_reason = _count_dict(rej["reason"]) if rej is not None and "reason" in rej.columns else {}
    by_rule = _count_dict(rej["rule"]) if rej is not None and "rule" in rej.columns else {}
    by_stage_reason = []
    if rej is not None and {"stage", "reason"} <= set(rej.columns):
        grouped = rej.group_by("stage", "reason").len().sort("len", "stage", "reason", descending=[True, False, False])
        by_stage_reason = [{"stage": s, "reason": r, "rows": int(n)} for s, r, n in grouped.iter_rows()]
    stages = list(STAGE_ORDER) + sorted(s for s in by_stage if s not in STAGE_ORDER)
    funnel, entering = [], planned + topped_up
    for stage in stages:
        dropped = by_stage.get(stage, 0)
        passed = entering - dropped
        funnel.append(
            {
                "stage": stage,
                "entered": entering,
                "rejected": dropped,
                "passed": passed,
                "pass_rate": _r(passed / entering) if entering else None,
            }
        )
        entering = passed
    mismatches = []
    for key, ours in (("accepted", accepted), ("rejected", rejected)):
        if key in m_counts and int(m_counts[key]) != ours:
            mismatches.append(f"manifest says {key}={m_counts[key]}, the shards hold {ours}")
    iterations = ((ds.manifest.get("generation") or {}).get("iterations")) or []
    return {
        "planned": planned,
        "topped_up": topped_up,
        "accepted": accepted,
        "rejected": rejected,
        "unfinished": planned + topped_up - accepted - rejected,
        "acceptance_rate": _r(accepted / planned) if planned else None,
        "manifest": {
            k: m_counts.get(k) for k in ("planned", "topped_up", "accepted", "rejected", "unfinished", "balanced")
        },
        "consistent_with_manifest": not mismatches,
        "mismatches": mismatches,
        "rejected_by_stage": by_stage,
        "rejected_by_reason": by_reason,
        "rejected_by_rule": by_rule,
        "rejected_by_stage_and_reason": by_stage_reason,
        "funnel": funnel,
        "generation_iterations": iterations,
    }


# ------------------------------------------------------------------------------------------------
# Quotas


def quota_metrics(ds: Dataset) -> dict[str, Any]:
    """Target vs achieved per quota cell. `achieved` is counted from the shards (`quota_cell`),
    `deviation` = achieved - target; shares are of all planned / all accepted personas."""
    cells = ds.manifest.get("quotas") or []
    achieved = _count_dict(ds.personas["quota_cell"]) if "quota_cell" in ds.personas.columns else {}
    total_target = sum(int(c.get("target", 0)) for c in cells)
    total_achieved = sum(achieved.values())
    rows = []
    for c in cells:
        cid = c.get("cell_id")
        target, got = int(c.get("target", 0)), achieved.get(cid, 0)
        target_share = target / total_target if total_target else 0.0
        achieved_share = got / total_achieved if total_achieved else 0.0
        rows.append(
            {
                "cell_id": cid,
                "values": c.get("values") or {},
                "target": target,
                "achieved": got,
                "manifest_achieved": c.get("achieved"),
                "deviation": got - target,
                "target_share": _r(target_share),
                "achieved_share": _r(achieved_share),
                "share_deviation": _r(achieved_share - target_share),
                "lost": c.get("lost") or {},
                "top_up": c.get("top_up") or {},
                "short_because": c.get("short_because"),
            }
        )
    planned_ids = {c.get("cell_id") for c in cells}
    unplanned = {k: v for k, v in achieved.items() if k not in planned_ids}
    deviations = [abs(r["deviation"]) for r in rows]
    share_devs = [abs(r["share_deviation"] or 0.0) for r in rows]
    return {
        "stratify_by": ((ds.manifest.get("config") or {}).get("quotas") or {}).get("stratify_by") or [],
        "cells": rows,
        "n_cells": len(rows),
        "cells_met": sum(r["achieved"] >= r["target"] for r in rows),
        "total_target": total_target,
        "total_achieved": total_achieved,
        "total_shortfall": sum(max(0, -r["deviation"]) for r in rows),
        "max_abs_deviation": max(deviations, default=0),
        "max_abs_share_deviation": _r(max(share_devs, default=0.0)),
        "total_variation_distance": _r(0.5 * sum(share_devs)),
        "unplanned_cells": unplanned,
    }


# ------------------------------------------------------------------------------------------------
# Attribute coverage


def _values(flat: pl.DataFrame, path: str) -> pl.Series:
    col = flat[path]
    if isinstance(col.dtype, pl.List):
        col = col.explode()
    return col.drop_nulls()


def coverage_metrics(ds: Dataset) -> dict[str, Any]:
    """Per categorical (and pick-k) attribute: the share of the taxonomy's possible values that occur
    in the accepted personas, with the missing and unexpected values. Without a taxonomy, distinct
    values only. Numeric attributes get min / mean / max."""
    flat, tax = ds.flat, ds.taxonomy
    categorical, numeric = [], []
    kinds: dict[str, str] = {}
    if tax is not None:
        kinds = {a.path: a.type for a in tax.attributes}
    for path in flat.columns:
        dtype = flat.schema[path]
        kind = kinds.get(path)
        if kind is None:  # not in the taxonomy (or no taxonomy): infer from the column type
            if dtype == pl.String or (isinstance(dtype, pl.List) and dtype.inner == pl.String):
                kind = "categorical" if dtype == pl.String else "multi"
            elif dtype.is_numeric():
                kind = "number"
            else:
                continue
        values = _values(flat, path)
        present = flat[path].drop_nulls()
        if isinstance(flat.schema[path], pl.List):
            present = present.filter(present.list.len() > 0)
        if kind in ("integer", "number"):
            numeric.append(
                {
                    "attribute": path,
                    "type": kind,
                    "present": present.len(),
                    "min": _r(values.min()) if len(values) else None,
                    "mean": _r(values.mean()) if len(values) else None,
                    "max": _r(values.max()) if len(values) else None,
                }
            )
            continue
        observed = set(values.cast(pl.String).to_list())
        row: dict[str, Any] = {
            "attribute": path,
            "type": kind,
            "present": present.len(),
            "distinct": len(observed),
        }
        if kind == "name":
            row.update({"domain": None, "covered": None, "coverage": None})
        elif tax is not None and path in kinds:
            domain = list(tax.attribute(path).domain())
            covered = [v for v in domain if v in observed]
            row.update(
                {
                    "domain": len(domain),
                    "covered": len(covered),
                    "coverage": _r(len(covered) / len(domain)) if domain else None,
                    "missing": [v for v in domain if v not in observed],
                    "unexpected": sorted(observed - set(domain)),
                }
            )
        else:
            row.update({"domain": None, "covered": None, "coverage": None})
        categorical.append(row)
    scored = [r["coverage"] for r in categorical if r.get("coverage") is not None]
    return {
        "taxonomy_loaded": tax is not None,
        "taxonomy_files": [str(n) for n in getattr(tax, "sources", ())] if tax is not None else [],
        "note": ds.taxonomy_note,
        "attributes": categorical,
        "numeric": numeric,
        "mean_coverage": _r(sum(scored) / len(scored)) if scored else None,
        "min_coverage": _r(min(scored)) if scored else None,
        "fully_covered": sum(1 for c in scored if c >= 1.0),
        "scored_attributes": len(scored),
    }


# ------------------------------------------------------------------------------------------------
# Diversity


def _token_frame(texts: Sequence[str]) -> pl.DataFrame:
    frame = pl.DataFrame(
        {"doc": list(range(len(texts))), "text": list(texts)}, schema={"doc": pl.Int64, "text": pl.String}
    )
    return (
        frame.with_columns(pl.col("text").str.to_lowercase().str.extract_all(WORD).alias("token"))
        .select("doc", "token")
        .explode("token")
        .drop_nulls("token")
    )


def distinct_n(texts: Sequence[str], n: int) -> dict[str, Any]:
    """distinct-n (Li et al. 2016) over a corpus: unique n-grams / total n-grams.

    Tokens are lowercased runs of word characters (inner apostrophes kept: "don't" is one token);
    n-grams never cross from one narrative into the next.
    """
    tokens = _token_frame(texts)
    grams = tokens.with_columns(pl.col("token").alias("g"))
    for k in range(1, n):
        grams = grams.with_columns(
            pl.concat_str([pl.col("g"), pl.col("token").shift(-k).over("doc")], separator=" ").alias("g")
        )
    grams = grams.drop_nulls("g")  # the last n-1 tokens of each narrative start no n-gram
    total, unique = grams.height, grams["g"].n_unique() if grams.height else 0
    return {"n": n, "unique": int(unique), "total": int(total), "value": _r(unique / total) if total else None}


def _guess_language(text: str) -> str | None:
    words = text.lower().split()
    hits = {lang: sum(w in hints for w in words) for lang, hints in LANGUAGE_HINTS.items()}
    lang, best = max(hits.items(), key=lambda kv: kv[1])
    return lang if best >= 3 else None


def languages(texts: Sequence[str], min_share: float = 0.05) -> dict[str, Any]:
    """A rough guess per narrative from frequent function words; languages above `min_share`."""
    guesses = Counter(_guess_language(t) for t in texts)
    shares = {lang or "unknown": _r(n / len(texts)) for lang, n in guesses.most_common()} if texts else {}
    return {
        "shares": shares,
        "languages": [lang for lang, n in guesses.most_common() if lang and n / len(texts) >= min_share],
        "method": "function-word counts per narrative (en, es, fr, de, it, pt, nl, pl)",
    }


CLOSEST_PAIRS = 3  # example pairs shown on each side of the dedup threshold


def embedding_diversity(
    texts: Sequence[str],
    threshold: float,
    model_spec: str = DEFAULT_EMBEDDING_MODEL,
    embedder: Any = None,
    batch_size: int = 64,
) -> dict[str, Any]:
    """Mean pairwise cosine distance of the texts' sentence embeddings, and the share of pairs at or
    above the dedup threshold (cosine similarity), with the bundled MiniLM by default."""
    from pipelines.dedup.embed import embed_texts, load_embedder

    model = embedder if embedder is not None else load_embedder(model_spec)
    vectors = embed_texts(model, list(texts), batch_size)
    n = len(vectors)
    pairs = n * (n - 1) // 2
    if pairs == 0:
        return {"texts": n, "pairs": 0, "mean_pairwise_distance": None, "near_duplicate_pairs": 0}
    total, above, max_sim = 0.0, 0, -1.0
    with_partner = np.zeros(n, dtype=bool)
    below: list[tuple[float, int, int]] = []  # the most similar pairs that were kept apart
    for start in range(0, n, 1024):  # row blocks: bounded memory for large samples
        sims = vectors[start : start + 1024] @ vectors.T
        rows = np.arange(start, start + sims.shape[0])
        upper = np.arange(n)[None, :] > rows[:, None]
        vals = sims[upper]
        total += float(vals.sum())
        above += int((vals >= threshold).sum())
        max_sim = max(max_sim, float(vals.max())) if vals.size else max_sim
        hit = (sims >= threshold) & (np.arange(n)[None, :] != rows[:, None])
        with_partner[rows] |= hit.any(axis=1)
        masked = np.where(upper & (sims < threshold), sims, -np.inf)
        flat = masked.ravel()
        for k in np.argpartition(-flat, min(CLOSEST_PAIRS, flat.size - 1))[:CLOSEST_PAIRS]:
            if np.isfinite(flat[k]):
                r, c = divmod(int(k), n)
                below.append((float(flat[k]), start + r, c))
    below = sorted(below, key=lambda t: (-t[0], t[1], t[2]))[:CLOSEST_PAIRS]
    return {
        "texts": n,
        "pairs": pairs,
        "mean_pairwise_similarity": _r(total / pairs),
        "mean_pairwise_distance": _r(1.0 - total / pairs),
        "max_pair_similarity": _r(max_sim),
        "threshold": threshold,
        "near_duplicate_pairs": above,
        "near_duplicate_pair_rate": _r(above / pairs, 6),
        "texts_with_near_duplicate": int(with_partner.sum()),
        "closest_pairs_below_threshold": [{"a": a, "b": b, "similarity": _r(sim)} for sim, a, b in below],
    }


def _names(ds: Dataset) -> list[str]:
    if "identity.name" in ds.flat.columns:
        return [n or "" for n in ds.flat["identity.name"].to_list()]
    return [""] * ds.personas.height


def diversity_metrics(
    ds: Dataset,
    *,
    embeddings: bool = True,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
    embedding_model: str | None = None,
    embedder: Any = None,
) -> dict[str, Any]:
    """distinct-1/2 over all narratives, narrative length in words, exact duplicates (normalised,
    name-masked text), languages, and on at most `sample` narratives the embedding diversity.
    Embeddings use the dedup stage's name-masked text and model, and the dedup threshold."""
    from pipelines.dedup.embed import mask_name
    from pipelines.dedup.near_duplicates import normalised_hash

    texts = ds.personas["narrative"].fill_null("").to_list()
    names = _names(ds)
    masked = [mask_name(t, n) for t, n in zip(texts, names, strict=True)]
    hashes = Counter(normalised_hash(t) for t in masked)
    words = ds.personas["narrative"].fill_null("").str.count_matches(WORD)
    dedup_cfg = (ds.manifest.get("config") or {}).get("dedup") or {}
    threshold = float(dedup_cfg.get("threshold", 0.9))
    rej = ds.rejected
    dup_counts = {
        reason: (int((rej["reason"] == reason).sum()) if rej is not None and "reason" in rej.columns else 0)
        for reason in ("duplicate_exact", "duplicate_near")
    }
    out: dict[str, Any] = {
        "narratives": len(texts),
        "near_duplicates_just_above_threshold": _removed_near_duplicates(ds),
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "words": {
            "mean": _r(words.mean()) if len(words) else None,
            "min": int(words.min()) if len(words) else None,
            "max": int(words.max()) if len(words) else None,
            **_quantiles(words.cast(pl.Float64), (0.05, 0.5, 0.95)),
        },
        "exact_duplicates_among_accepted": sum(c - 1 for c in hashes.values() if c > 1),
        "rejected_duplicates": dup_counts,
        "dedup_threshold": threshold,
        # share of texts with at least one other text at cosine >= threshold (or identical):
        # before, over every text that reached dedup; after, over the embedded sample of the output
        "near_duplicate_rate": {**_duplicate_rate_before(ds, len(texts)), "after_dedup": None},
        "languages": languages(texts),
    }
    model_spec = embedding_model or dedup_cfg.get("embedding_model") or DEFAULT_EMBEDDING_MODEL
    if not embeddings:
        out["embeddings"] = {"computed": False, "reason": "skipped (--no-embeddings)"}
        return out
    if sample < 2 or len(texts) < 2:
        reason = f"--sample {sample}: nothing to compare" if sample < 2 else "fewer than 2 narratives to compare"
        out["embeddings"] = {"computed": False, "reason": reason}
        return out
    rng = np.random.default_rng(seed)
    picked = sorted(rng.choice(len(texts), size=min(sample, len(texts)), replace=False).tolist())
    try:
        emb = embedding_diversity([masked[i] for i in picked], threshold, model_spec, embedder)
    except Exception as exc:  # no sentence-transformers, no model files: report it, don't fail the report
        log.warning("embedding diversity skipped: %s", exc)
        out["embeddings"] = {"computed": False, "reason": f"embedding model unavailable: {exc}"}
        return out
    ids = ds.personas["persona_id"].to_list()
    emb["closest_pairs_below_threshold"] = [
        {
            "similarity": pair["similarity"],
            "a": ids[picked[pair["a"]]],
            "b": ids[picked[pair["b"]]],
            "a_text": _excerpt(texts[picked[pair["a"]]]),
            "b_text": _excerpt(texts[picked[pair["b"]]]),
        }
        for pair in emb["closest_pairs_below_threshold"]
    ]
    out["embeddings"] = {"computed": True, "model": model_spec, "sampled": len(picked), "seed": seed, **emb}
    out["near_duplicate_rate"]["after_dedup"] = _r(emb["texts_with_near_duplicate"] / len(picked), 6)
    return out


def _duplicate_rate_before(ds: Dataset, accepted: int) -> dict[str, Any]:
    """Of the records that reached the dedup stage (the accepted ones and those it removed), the
    share that had an exact or near duplicate: every removed record and every survivor named as
    the `duplicate_of` of one. Exact for the whole run, from the rejected dataset alone."""
    rej = ds.rejected
    removed, survivors = 0, 0
    if rej is not None and {"reason", "duplicate_of"} <= set(rej.columns):
        dups = rej.filter(pl.col("reason").is_in(["duplicate_exact", "duplicate_near"]))
        removed, survivors = dups.height, dups["duplicate_of"].drop_nulls().n_unique()
    reached = accepted + removed
    return {
        "reached_dedup": reached,
        "with_duplicate": removed + survivors,
        "before_dedup": _r((removed + survivors) / reached, 6) if reached else None,
    }


def _excerpt(text: str, limit: int = 240) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _removed_near_duplicates(ds: Dataset) -> list[dict[str, Any]]:
    """The near duplicates that were removed with the lowest similarity (those closest to the
    threshold), each with its survivor: what the threshold catches at its edge."""
    rej = ds.rejected
    if rej is None or "reason" not in rej.columns or "similarity" not in rej.columns:
        return []
    near = rej.filter(pl.col("reason") == "duplicate_near").sort(["similarity", "persona_id"]).head(CLOSEST_PAIRS)
    kept = dict(zip(ds.personas["persona_id"].to_list(), ds.personas["narrative"].to_list(), strict=True))
    out = []
    for row in near.iter_rows(named=True):
        record = json.loads(row["record_json"]) if row.get("record_json") else {}
        out.append(
            {
                "similarity": _r(row["similarity"]),
                "removed": row["persona_id"],
                "kept": row["duplicate_of"],
                "removed_text": _excerpt(record.get("narrative", "")),
                "kept_text": _excerpt(kept.get(row["duplicate_of"], "")),
            }
        )
    return out


# ------------------------------------------------------------------------------------------------
# Critic


def critic_metrics(ds: Dataset, bins: int = 10) -> dict[str, Any]:
    """Critic score histogram on [0, 1], mean and quantiles, per-expert means, findings by code on
    the accepted rows, and the manifest's findings by code over every candidate."""
    df = ds.personas
    out: dict[str, Any] = {
        "findings_by_code_all_candidates": ((ds.manifest.get("generation") or {}).get("findings_by_code")) or {}
    }
    if "critic" not in df.columns:
        return {**out, "available": False}
    critic = df.select(pl.col("critic").struct.unnest())
    scores = critic["score"].drop_nulls().cast(pl.Float64)
    counts, edges = np.histogram(scores.to_numpy(), bins=bins, range=(0.0, 1.0))
    out.update(
        {
            "available": True,
            "rows": len(scores),
            "mean": _r(scores.mean()) if len(scores) else None,
            "std": _r(scores.std()) if len(scores) > 1 else None,
            "min": _r(scores.min()) if len(scores) else None,
            "max": _r(scores.max()) if len(scores) else None,
            "quantiles": _quantiles(scores),
            "histogram": {"edges": [_r(e) for e in edges], "counts": [int(c) for c in counts]},
            "passed": int(critic["passed"].sum()) if "passed" in critic.columns else None,
        }
    )
    if "experts" in critic.columns:
        experts = critic.select(pl.col("experts").explode()).drop_nulls().unnest("experts")
        if experts.height:
            grouped = experts.group_by("expert").agg(pl.col("score").mean().alias("mean"), pl.len().alias("rows"))
            out["experts"] = {
                e: {"mean": _r(m), "rows": int(n)}
                for e, m, n in grouped.sort("expert").select("expert", "mean", "rows").iter_rows()
            }
    if "findings" in critic.columns:
        findings = (
            df.select(pl.col("persona_id"), pl.col("critic").struct.field("findings").alias("f"))
            .explode("f")
            .drop_nulls("f")
            .unnest("f")
        )
        rows = []
        if findings.height:
            grouped = (
                findings.group_by("code", "severity")
                .agg(pl.len().alias("occurrences"), pl.col("persona_id").n_unique().alias("personas"))
                .sort(["occurrences", "code"], descending=[True, False])
            )
            rows = [
                {"code": c, "severity": s, "occurrences": int(o), "personas": int(p)}
                for c, s, o, p in grouped.select("code", "severity", "occurrences", "personas").iter_rows()
            ]
        out["findings_accepted"] = rows
    if "generation" in df.columns:
        gen = df.select(pl.col("generation").struct.unnest())
        if "revision_count" in gen.columns:
            out["revision_count"] = {str(k): v for k, v in sorted(_count_dict(gen["revision_count"]).items())}
        if "finish_reason" in gen.columns:
            out["finish_reason"] = _count_dict(gen["finish_reason"])
    if "validation" in df.columns:
        warnings = df.select(pl.col("validation").struct.field("warnings").explode().alias("w")).drop_nulls("w")
        out["validation_warnings"] = _count_dict(warnings.unnest("w")["rule_id"]) if warnings.height else {}
    return out


# ------------------------------------------------------------------------------------------------
# Stereotype audit


def _audit_tokens(text: str) -> list[str]:
    return LETTERS.findall(text.lower())


def _variants(word: str) -> set[str]:
    """The word and its naive plural / singular forms (nurse, nurses; city, cities; box, boxes)."""
    out = {word, word + "s", word + "es"}
    if word.endswith("ies"):
        out.add(word[:-3] + "y")
    if word.endswith("y"):
        out.add(word[:-1] + "ies")
    if word.endswith("es"):
        out.add(word[:-2])
    if word.endswith("s"):
        out.add(word[:-1])
    return out


def _value_words(value: Any) -> set[str]:
    items = value if isinstance(value, list) else [value]
    out: set[str] = set()
    for item in items:
        if isinstance(item, str):
            for token in _audit_tokens(item):
                out |= _variants(token)
    return out


def _definitional(path: str, groups: Iterable[str]) -> frozenset[str]:
    leaf = path.rsplit(".", 1)[-1]
    words: set[str] = set()
    for g in groups:
        words |= _value_words(g)
    if "gender" in leaf or leaf == "sex":
        words |= GENDER_WORDS
    elif "age" in leaf:
        words |= AGE_WORDS
    elif "country" in leaf or "nationality" in leaf:
        words |= COUNTRY_WORDS
    return frozenset(words)


def _protected_paths(flat: pl.DataFrame, protected: Sequence[str] | None) -> list[str]:
    if protected is not None:
        return [p for p in protected if p in flat.columns]
    extra = [c for c in flat.columns if re.search(r"ethnic|(^|\.)race$", c)]
    return [p for p in PROTECTED if p in flat.columns] + [c for c in extra if c not in PROTECTED]


def log_odds_z(used: np.ndarray, eligible: np.ndarray, prior_strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi and Quinn 2008, in its
    two-outcome form: "this narrative uses the word" or not), each group against all other groups.

    `used[g, w]`: narratives of group g that use word w; `eligible[g, w]`: narratives of group g for
    which w is not implied by the persona's attributes. The prior is Beta(a_w, b_w) centred on the
    word's overall rate p_w = sum_g used / sum_g eligible, worth `prior_strength` narratives:
    a_w = s * p_w, b_w = s * (1 - p_w). With y, n for group g and y', n' for all other groups:

        delta = log((y + a) / (n - y + b)) - log((y' + a) / (n' - y' + b))
        z     = delta / sqrt(1/(y + a) + 1/(n - y + b) + 1/(y' + a) + 1/(n' - y' + b))

    Returns (delta, z), groups x words; 0 where a word gives nothing to compare.
    """
    used = used.astype(np.float64)
    eligible = eligible.astype(np.float64)
    used_all, eligible_all = used.sum(axis=0), eligible.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(eligible_all > 0, used_all / eligible_all, 0.0)
        a, b = prior_strength * p, prior_strength * (1.0 - p)
        y, n = used, eligible
        y_r, n_r = used_all - used, eligible_all - eligible
        delta = np.log((y + a) / (n - y + b)) - np.log((y_r + a) / (n_r - y_r + b))
        var = 1.0 / (y + a) + 1.0 / (n - y + b) + 1.0 / (y_r + a) + 1.0 / (n_r - y_r + b)
        z = delta / np.sqrt(var)
    return np.nan_to_num(delta, nan=0.0, posinf=0.0, neginf=0.0), np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)


def stereotype_audit(
    ds: Dataset,
    *,
    protected: Sequence[str] | None = None,
    vocabulary: str = "content",
    prior_strength: float = 10.0,
    z_threshold: float = 1.96,
    min_count: int = 5,
    min_group_size: int = 5,
    top_k: int = 10,
    permutations: int = 50,
    seed: int = 0,
) -> dict[str, Any]:
    """Which narrative words go with a protected group beyond what the personas' facts imply.

    Method, for each protected attribute A (gender, age band, country; ethnicity / race when the
    taxonomy has one):

    1. Words. Each narrative becomes the set of its content words: lowercased runs of letters, at
       least 3 long, not an English function word. The unit is the narrative ("does it use the
       word"), so one repetitive narrative cannot make a word look group-specific. With
       ``vocabulary="lexicon"`` only the built-in trait and role words (``TRAIT_ROLE_WORDS``) count.
    2. What the facts imply is set aside. A word that occurs in the persona's own sampled attributes
       (any value: occupation, hobbies, city, name, ...; naive plural / singular forms too) is
       implied for that persona: its narrative is not counted for that word at all, neither as a
       use nor in the denominator. A nurse's narrative saying "nurse" is faithful, not a stereotype,
       even if the taxonomy makes women nurses more often; what is compared is how often narratives
       use "nurse" when the persona is not one. Words that name A's groups themselves ("woman",
       "mother" for gender; "young", "elderly" for age; country names and demonyms for country;
       the group values' own words) are definitional and left out of A's audit.
    3. Association. For each group g of A with at least ``min_group_size`` personas, and each word,
       the share of g's (eligible) narratives that use it against the share among all other
       personas' narratives, as a log-odds ratio with an informative prior centred on the word's
       overall rate (Monroe, Colaresi and Quinn 2008; see ``log_odds_z``), and its z-score. Rare
       words are shrunk towards no association. A word is *flagged* for g when z >= ``z_threshold``
       and at least ``min_count`` narratives of g use it.
    4. Chance. Many words are tested, so some are flagged by chance alone. The group labels are
       shuffled ``permutations`` times and the audit repeated: ``expected_flagged_by_chance`` is
       the mean number flagged, ``p_max_z`` the share of shuffles whose strongest word is at least
       as strong as the observed strongest. The summary number per attribute is
       ``excess_flagged`` = flagged - expected by chance: about 0 means no more word-group
       association than chance; clearly above 0, read the flagged words.
    """
    flat = ds.flat
    texts = ds.personas["narrative"].fill_null("").to_list()
    paths = _protected_paths(flat, protected)
    attr_rows = flat.rows(named=True) if flat.width else [{} for _ in texts]
    kept_sets: list[set[str]] = []
    implied_sets: list[set[str]] = []
    used_implied = Counter()
    for text, attrs in zip(texts, attr_rows, strict=True):
        words = {w for w in _audit_tokens(text) if len(w) >= 3 and w not in STOPWORDS}
        if vocabulary == "lexicon":
            words &= TRAIT_ROLE_WORDS
        implied: set[str] = set()
        for value in attrs.values():
            implied |= _value_words(value)
        kept_sets.append(words - implied)
        implied_sets.append(implied)
        used_implied.update(words & implied)
    vocab = sorted(set().union(*kept_sets)) if texts else []
    index = {w: i for i, w in enumerate(vocab)}
    method = {
        "unit": "narrative (does it use the word)",
        "vocabulary": vocabulary,
        "implied": "narratives whose persona's attributes contain the word are not counted for it",
        "prior": "informative Beta/Dirichlet centred on the word's overall rate, worth prior_strength narratives",
        "prior_strength": prior_strength,
        "z_threshold": z_threshold,
        "min_count": min_count,
        "min_group_size": min_group_size,
        "permutations": permutations,
        "seed": seed,
    }
    result: dict[str, Any] = {
        "method": method,
        "attributes": {},
        "summary": [],
        "implied_words_excluded": [{"word": w, "narratives": n} for w, n in used_implied.most_common(20)],
    }
    if not vocab:
        return result
    from scipy import sparse

    def matrix(sets: list[set[str]]) -> sparse.csr_matrix:
        rows, cols = [], []
        for i, s in enumerate(sets):
            for w in s:
                j = index.get(w)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        data = np.ones(len(rows), dtype=np.float64)
        return sparse.csr_matrix((data, (rows, cols)), shape=(len(sets), len(vocab)))

    used_m, implied_m = matrix(kept_sets), matrix(implied_sets)
    rng = np.random.default_rng(seed)
    for path in paths:
        labels = flat[path].cast(pl.String).to_list()
        groups = sorted({lab for lab in labels if lab is not None})
        if len(groups) < 2:
            result["attributes"][path] = {"skipped": f"{len(groups)} group(s): nothing to compare"}
            continue
        definitional = _definitional(path, groups)
        keep_cols = np.flatnonzero([w not in definitional for w in vocab])
        rows = np.flatnonzero([lab is not None for lab in labels])
        x = used_m[rows][:, keep_cols]
        e = implied_m[rows][:, keep_cols]
        words = [vocab[j] for j in keep_cols]
        lab = np.array([groups.index(labels[i]) for i in rows])
        sizes = np.bincount(lab, minlength=len(groups))
        tested = sizes >= min_group_size
        k = len(groups)

        def audit(lab_vec: np.ndarray, x=x, e=e, sizes=sizes, tested=tested, k=k):
            onehot = sparse.csr_matrix(
                (np.ones(len(lab_vec)), (np.arange(len(lab_vec)), lab_vec)), shape=(len(lab_vec), k)
            )
            used = np.asarray((onehot.T @ x).todense())
            eligible = sizes[:, None] - np.asarray((onehot.T @ e).todense())
            delta, z = log_odds_z(used, eligible, prior_strength)
            ok = (used >= min_count) & tested[:, None]  # only these are ranked, flagged and maximised
            return used, eligible, delta, np.where(ok, z, -np.inf), (z >= z_threshold) & ok

        used, eligible, delta, z, flagged = audit(lab)
        null_flagged, null_max = [], []
        for _ in range(permutations):
            *_, zp, fp = audit(rng.permutation(lab))
            null_flagged.append(int(fp.sum()))
            null_max.append(float(zp.max()) if np.isfinite(zp).any() else 0.0)
        has_any = bool(np.isfinite(z).any())
        observed_max = float(z.max()) if has_any else 0.0
        per_group = {}
        for g, name in enumerate(groups):
            entry: dict[str, Any] = {"personas": int(sizes[g]), "tested": bool(tested[g])}
            if tested[g]:
                ranked = np.flatnonzero(np.isfinite(z[g]) & (z[g] > 0))
                order = ranked[np.argsort(-z[g, ranked], kind="stable")][:top_k]
                entry["flagged"] = int(flagged[g].sum())
                entry["top_words"] = []
                for j in order:
                    y_r, n_r = used[:, j].sum() - used[g, j], eligible[:, j].sum() - eligible[g, j]
                    entry["top_words"].append(
                        {
                            "word": words[j],
                            "z": _r(z[g, j], 3),
                            "log_odds": _r(delta[g, j], 3),
                            "narratives_in_group": int(used[g, j]),
                            "eligible_in_group": int(eligible[g, j]),
                            "narratives_elsewhere": int(y_r),
                            "eligible_elsewhere": int(n_r),
                            "rate_in_group": _r(used[g, j] / eligible[g, j]) if eligible[g, j] else None,
                            "rate_elsewhere": _r(y_r / n_r) if n_r else None,
                            "implied_in_group": int(sizes[g] - eligible[g, j]),
                            "trait_or_role": words[j] in TRAIT_ROLE_WORDS,
                            "flagged": bool(flagged[g, j]),
                        }
                    )
            per_group[name] = entry
        n_flagged = int(flagged.sum())
        expected = float(np.mean(null_flagged)) if null_flagged else None
        best = np.unravel_index(int(np.argmax(z)), z.shape) if has_any else None
        flagged_words = flagged.any(axis=0)
        summary = {
            "attribute": path,
            "groups": len(groups),
            "groups_tested": int(tested.sum()),
            "personas": len(rows),
            "vocabulary": len(words),
            "definitional_words_excluded": len(vocab) - len(words),
            "flagged": n_flagged,
            "flagged_trait_or_role": int(sum(flagged_words[j] for j, w in enumerate(words) if w in TRAIT_ROLE_WORDS)),
            "expected_flagged_by_chance": _r(expected, 2),
            "excess_flagged": _r(n_flagged - expected, 2) if expected is not None else None,
            "max_z": _r(observed_max, 3) if has_any else None,
            "max_z_word": words[best[1]] if best is not None else None,
            "max_z_group": groups[best[0]] if best is not None else None,
            "p_max_z": _r((1 + sum(m >= observed_max for m in null_max)) / (1 + len(null_max)), 4)
            if null_max and has_any
            else None,
        }
        result["attributes"][path] = {"summary": summary, "groups": per_group}
        result["summary"].append(summary)
    return result


# ------------------------------------------------------------------------------------------------
# Everything


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


def _provenance(ds: Dataset) -> dict[str, Any]:
    """What the card's "how it was made" reads: run, model, prompt, critic, validation, dedup."""
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
        "output": config.get("output") or {},
        "shards": {k: len(v) for k, v in (m.get("shards") or {}).items()},
        "bytes": {k: sum(int(s.get("bytes", 0)) for s in v) for k, v in (m.get("shards") or {}).items()},
    }


def _dialogue_counts(ds: Dataset) -> dict[str, Any] | None:
    """The manifest's dialogue counts (planned, accepted, rejected by reason, by pairing)."""
    d = ds.manifest.get("dialogues")
    if not d:
        return None
    keys = ("planned", "accepted", "rejected", "rejected_by_reason", "by_pairing")
    return {k: d.get(k) for k in keys} | {"iterations": (d.get("generation") or {}).get("iterations") or []}


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
        "provenance": _provenance(ds),
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
        "stereotypes": stereotype_audit(ds, seed=seed, **(audit or {})),
        "dialogues": _dialogue_counts(ds),
    }
    json.dumps(metrics, allow_nan=False)  # fail here, not in a consumer, if anything is not plain JSON
    return metrics


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
        "mean_words": (d.get("words") or {}).get("mean"),
        "stereotype_flagged": {
            s["attribute"]: {"flagged": s["flagged"], "expected_by_chance": s["expected_flagged_by_chance"]}
            for s in metrics["stereotypes"]["summary"]
        },
    }

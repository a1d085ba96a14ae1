"""Narrative diversity: distinct-n, narrative length, exact duplicates, guessed languages, the
embedding diversity of a sample and examples of near duplicates on both sides of the dedup
threshold."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from pipelines.report.lexicon import LANGUAGE_HINTS
from pipelines.report.metrics.dataset import Dataset
from pipelines.report.metrics.stats import quantiles, rounded

log = logging.getLogger("pipelines.report")

DEFAULT_SAMPLE = 500
DEFAULT_EMBEDDING_MODEL = "bundled:all-MiniLM-L6-v2"
WORD = r"\w+(?:['’]\w+)*"  # a token for distinct-n: a run of word characters, inner apostrophes kept


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
    return {"n": n, "unique": int(unique), "total": int(total), "value": rounded(unique / total) if total else None}


def _guess_language(text: str) -> str | None:
    words = text.lower().split()
    hits = {lang: sum(w in hints for w in words) for lang, hints in LANGUAGE_HINTS.items()}
    lang, best = max(hits.items(), key=lambda kv: kv[1])
    return lang if best >= 3 else None


def languages(texts: Sequence[str], min_share: float = 0.05) -> dict[str, Any]:
    """A rough guess per narrative from frequent function words; languages above `min_share`."""
    guesses = Counter(_guess_language(t) for t in texts)
    shares = {lang or "unknown": rounded(n / len(texts)) for lang, n in guesses.most_common()} if texts else {}
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
    from pipelines.common.embedding import embed_texts, load_embedder

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
        "mean_pairwise_similarity": rounded(total / pairs),
        "mean_pairwise_distance": rounded(1.0 - total / pairs),
        "max_pair_similarity": rounded(max_sim),
        "threshold": threshold,
        "near_duplicate_pairs": above,
        "near_duplicate_pair_rate": rounded(above / pairs, 6),
        "texts_with_near_duplicate": int(with_partner.sum()),
        "closest_pairs_below_threshold": [{"a": a, "b": b, "similarity": rounded(sim)} for sim, a, b in below],
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
            "mean": rounded(words.mean()) if len(words) else None,
            "min": int(words.min()) if len(words) else None,
            "max": int(words.max()) if len(words) else None,
            **quantiles(words.cast(pl.Float64), (0.05, 0.5, 0.95)),
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
    out["near_duplicate_rate"]["after_dedup"] = rounded(emb["texts_with_near_duplicate"] / len(picked), 6)
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
        "before_dedup": rounded((removed + survivors) / reached, 6) if reached else None,
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
                "similarity": rounded(row["similarity"]),
                "removed": row["persona_id"],
                "kept": row["duplicate_of"],
                "removed_text": _excerpt(record.get("narrative", "")),
                "kept_text": _excerpt(kept.get(row["duplicate_of"], "")),
            }
        )
    return out

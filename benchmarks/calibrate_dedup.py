"""What the near-duplicate threshold catches, on real narratives.

    python benchmarks/calibrate_dedup.py [--dataset output/default] [--thresholds 0.8 0.85 0.9 0.95]

Reads the accepted narratives of a finished dataset (by default the one `make build-dataset`
writes), embeds them exactly as the dedup stage does (name-masked text, the configured model) and
prints, for pairs of known kinds, the cosine similarity (5th, 50th, 95th percentile) and the share
of pairs at or above each threshold:

- should be caught (mode collapse and light edits of one text):
  - `template clone`: narrative A with persona B's age, occupation, city and country written
    over A's: the same prose for a different person, the failure dedup exists for;
  - `sentence dropped`: A without one of its sentences (the longest one is kept);
  - `sentences reordered`: A's sentences in reverse order;
- should be kept (different texts):
  - `resampled, same persona`: two candidates the model wrote for the same prompt (read from
    the LLM answer cache when it still holds this run's answers);
  - `nearest other persona`: each narrative with its most similar other accepted narrative;
  - `same quota cell`: random pairs of personas of the same cell.

A threshold is right where the first group is (almost) all above it and the second (almost) all
below. Nothing is timed; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipelines.common.embedding import embed_texts, load_embedder  # noqa: E402
from pipelines.dedup.embed import mask_name  # noqa: E402

SENTENCE = re.compile(r"(?<=[.!?])\s+")


def load(dataset: Path) -> tuple[list[dict], dict]:
    import polars as pl

    manifest = json.loads((dataset / "manifest.json").read_text())
    rows = pl.read_parquet(dataset / "personas" / "*.parquet").to_dicts()
    return rows, manifest


def facts(row: dict) -> dict[str, str]:
    a = row["attributes"]
    res = (a.get("location") or {}).get("residence") or {}
    occ = ((a.get("work") or {}).get("employment") or {}).get("occupation")
    out = {"age": str(a["demographics"]["age"]), "name": a["identity"]["name"]}
    for key, value in (("occupation", occ), ("city", res.get("city")), ("country", res.get("country"))):
        if value:
            out[key] = str(value)
    return out


def template_clone(a: dict, b: dict) -> str:
    """A's prose about B: each of A's facts found in A's text is replaced by B's."""
    text, fa, fb = a["narrative"], facts(a), facts(b)
    text = text.replace(fa["name"], fb["name"])
    for key in ("age", "occupation", "city", "country"):
        if key in fa and key in fb:
            text = re.sub(re.escape(fa[key]), fb[key], text, flags=re.IGNORECASE)
    return text


def drop_sentence(text: str, rng: np.random.Generator) -> str | None:
    parts = SENTENCE.split(text.strip())
    if len(parts) < 3:
        return None
    longest = max(range(len(parts)), key=lambda i: len(parts[i]))
    drop = int(rng.choice([i for i in range(len(parts)) if i != longest]))
    return " ".join(p for i, p in enumerate(parts) if i != drop)


def reorder(text: str) -> str | None:
    parts = SENTENCE.split(text.strip())
    return " ".join(reversed(parts)) if len(parts) >= 2 else None


def cached_siblings(rows: list[dict], cache_root: Path, limit: int) -> list[tuple[str, str, str]]:
    """(name, candidate 1, candidate 2) from cached answers with two choices that start with a
    persona's name (the narrative prompt's answers)."""
    names = {r["attributes"]["identity"]["name"] for r in rows}
    out = []
    if not cache_root.exists():
        return out
    for path in sorted(cache_root.glob("*/*.json")):
        try:
            choices = json.loads(path.read_text())["choices"]
        except (OSError, ValueError, KeyError):
            continue
        if len(choices) < 2:
            continue
        first, second = choices[0][0], choices[1][0]
        name = next((n for n in names if first.startswith(n) and second.startswith(n)), None)
        if name and len(first.split()) > 30 and len(second.split()) > 30:
            out.append((name, first, second))
        if len(out) >= limit:
            break
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", type=Path, default=Path("output/default"))
    parser.add_argument("--thresholds", type=float, nargs="+", default=[0.8, 0.85, 0.9, 0.95])
    parser.add_argument("--pairs", type=int, default=400, help="pairs per kind at most")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("PERSONA_PIPELINES_LLM_CACHE") or Path.home() / ".cache/persona-pipelines/llm"),
    )
    args = parser.parse_args(argv)
    if not (args.dataset / "manifest.json").exists():
        print(f"calibrate_dedup: no finished dataset at {args.dataset}; run `make build-dataset` first (skipped)")
        return 0
    rows, manifest = load(args.dataset)
    if len(rows) < 4:
        print(f"calibrate_dedup: {args.dataset} holds {len(rows)} narratives, too few to compare (skipped)")
        return 0
    dedup_cfg = (manifest.get("config") or {}).get("dedup") or {}
    model = load_embedder(dedup_cfg.get("embedding_model", "bundled:all-MiniLM-L6-v2"))
    rng = np.random.default_rng(args.seed)

    def sims(pairs: list[tuple[str, str, str, str]]) -> np.ndarray:
        """(text a, name a, text b, name b) -> cosine of the dedup stage's embeddings."""
        if not pairs:
            return np.zeros(0)
        a = embed_texts(model, [mask_name(t, n) for t, n, _, _ in pairs])
        b = embed_texts(model, [mask_name(t, n) for _, _, t, n in pairs])
        return np.sum(a * b, axis=1)

    n = len(rows)
    picks = [int(i) for i in rng.permutation(n)[: args.pairs]]
    kinds: dict[str, tuple[str, np.ndarray]] = {}
    clones = []
    for i in picks:
        j = int(rng.integers(n - 1))
        j += j >= i
        a, b = rows[i], rows[j]
        clones.append((a["narrative"], facts(a)["name"], template_clone(a, b), facts(b)["name"]))
    kinds["template clone"] = ("catch", sims(clones))
    dropped, reordered = [], []
    for i in picks:
        text, name = rows[i]["narrative"], facts(rows[i])["name"]
        if (d := drop_sentence(text, rng)) is not None:
            dropped.append((text, name, d, name))
        if (r := reorder(text)) is not None:
            reordered.append((text, name, r, name))
    kinds["sentence dropped"] = ("catch", sims(dropped))
    kinds["sentences reordered"] = ("catch", sims(reordered))

    siblings = cached_siblings(rows, args.cache, args.pairs)
    kinds["resampled, same persona"] = ("keep", sims([(a, nm, b, nm) for nm, a, b in siblings]))
    vectors = embed_texts(model, [mask_name(r["narrative"], facts(r)["name"]) for r in rows])
    full = vectors @ vectors.T
    np.fill_diagonal(full, -1.0)
    kinds["nearest other persona"] = ("keep", full.max(axis=1))
    by_cell: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_cell.setdefault(r["quota_cell"], []).append(i)
    same_cell = []
    for members in by_cell.values():
        for _ in range(min(len(members) * (len(members) - 1) // 2, max(1, args.pairs // len(by_cell)))):
            i, j = rng.choice(members, size=2, replace=False)
            same_cell.append(float(full[i, j]))
    kinds["same quota cell"] = ("keep", np.array(same_cell))

    ts = args.thresholds
    print(f"dedup threshold calibration on {n} narratives of {args.dataset} ({model_name(dedup_cfg)})")
    print(f"configured threshold: {dedup_cfg.get('threshold', '?')}")
    header = f"{'kind':26} {'want':5} {'pairs':>6} {'p5':>6} {'p50':>6} {'p95':>6} {'max':>6} " + " ".join(
        f"{'>=' + format(t, 'g'):>7}" for t in ts
    )
    print(header)
    results = {}
    for kind, (want, values) in kinds.items():
        if values.size == 0:
            print(f"{kind:26} {want:5} {0:>6}   (none available)")
            continue
        p5, p50, p95, top = np.percentile(values, [5, 50, 95, 100])
        shares = [float((values >= t).mean()) for t in ts]
        results[kind] = {"want": want, "pairs": int(values.size), "p50": round(float(p50), 4), "at_or_above": shares}
        print(
            f"{kind:26} {want:5} {values.size:>6} {p5:6.3f} {p50:6.3f} {p95:6.3f} {top:6.3f} "
            + " ".join(f"{s:7.1%}" for s in shares)
        )
    print("want=catch: share at or above the threshold is the recall; want=keep: it is the false-removal rate")
    print("json:", json.dumps({"thresholds": ts, "kinds": results}))
    return 0


def model_name(dedup_cfg: dict) -> str:
    return str(dedup_cfg.get("embedding_model", "bundled:all-MiniLM-L6-v2"))


if __name__ == "__main__":
    sys.exit(main())

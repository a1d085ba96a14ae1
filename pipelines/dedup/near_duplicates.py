"""Global duplicate removal: exact (normalised-text hash), then near (cosine >= threshold).

Every record is compared with every other record of the run, not only those of its bundle.
The survivor of a group is chosen by a stable rule: higher critic score, then lower persona
index. So the decisions are identical across runs, runners and worker counts.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import numpy as np

from pipelines.dedup.embed import dedup_text
from pipelines.records import REASON_DUPLICATE_EXACT, REASON_DUPLICATE_NEAR, record_id, record_index, rejection

REJECTED = "rejected"


def normalised_hash(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[^\w]+", " ", text).strip()
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def priority(record: dict[str, Any]) -> tuple[int, float, int]:
    """Which of two duplicates survives (smaller first): a record from an earlier quota top-up
    round (planned personas are round 0), then the higher critic score, then the lower index.
    A replacement therefore never displaces a record that was already kept."""
    return (
        int(record.get("top_up_round") or 0),
        -float(record.get("critic", {}).get("score", 0.0)),
        record_index(record),
    )


def find_duplicates(
    records: list[dict[str, Any]], threshold: float, text_key: str = "narrative"
) -> dict[int, tuple[str, int, float]]:
    """Return {position: (reason, survivor position, similarity)} for every record to drop.

    Records are visited in priority order; one is dropped if a kept record is an exact or
    near duplicate of it. Near neighbours come from a FAISS range search on inner products of
    unit vectors (= cosine similarity).
    """
    import faiss

    order = sorted(range(len(records)), key=lambda i: priority(records[i]))
    dropped: dict[int, tuple[str, int, float]] = {}
    first_by_hash: dict[str, int] = {}
    for i in order:
        h = normalised_hash(dedup_text(records[i], text_key))
        if h in first_by_hash:
            dropped[i] = (REASON_DUPLICATE_EXACT, first_by_hash[h], 1.0)
        else:
            first_by_hash[h] = i
    remaining = [i for i in order if i not in dropped]
    if len(remaining) < 2:
        return dropped
    vectors = np.stack([records[i]["_embedding"] for i in remaining]).astype(np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    lims, sims, ids = index.range_search(vectors, float(threshold))
    kept: set[int] = set()
    for rank, i in enumerate(remaining):  # `remaining` is in priority order
        best: tuple[float, int] | None = None
        for j in range(lims[rank], lims[rank + 1]):
            other = remaining[int(ids[j])]
            if other != i and other in kept and (best is None or sims[j] > best[0]):
                best = (float(sims[j]), other)
        if best is None:
            kept.add(i)
        else:
            dropped[i] = (REASON_DUPLICATE_NEAR, best[1], best[0])
    return dropped


class _DedupGroup(beam.DoFn):
    def __init__(self, threshold: float, text_key: str):
        self.threshold = threshold
        self.text_key = text_key

    def process(self, keyed: tuple[Any, Iterable[dict[str, Any]]]) -> Iterator[Any]:
        _, group = keyed
        records = sorted(group, key=record_index)
        dropped = find_duplicates(records, self.threshold, self.text_key)
        for pos, record in enumerate(records):
            if pos not in dropped:
                yield record
                continue
            reason, survivor, sim = dropped[pos]
            kept = records[survivor]
            relation = "identical to" if reason == REASON_DUPLICATE_EXACT else f"cosine similarity {sim:.3f} with"
            message = f"{relation} {record_id(kept)}"
            yield beam.pvalue.TaggedOutput(
                REJECTED,
                rejection(record, "deduplicate", reason, message, duplicate_of=record_id(kept), similarity=sim),
            )


class DeduplicateGlobally(beam.PTransform):
    """records with `_embedding` -> (kept, rejected). All records meet in one group, so every
    pair is compared; fine for workstation-sized runs."""

    def __init__(self, threshold: float, text_key: str = "narrative"):
        super().__init__()
        self.threshold = threshold
        self.text_key = text_key

    def expand(self, records):
        return (
            records
            | "KeyAll" >> beam.Map(lambda r: (0, r))
            | "GatherAll" >> beam.GroupByKey()
            | "Resolve" >> beam.ParDo(_DedupGroup(self.threshold, self.text_key)).with_outputs(REJECTED, main="kept")
        )

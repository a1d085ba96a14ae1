"""Global duplicate removal that scales: the decisions of `find_duplicates`, without one big group.

`DeduplicateGlobally` gathers every record in one group. This module reaches the same decisions
with work that is spread over keys:

Records are never grouped: what travels is an item (priority, persona_id, float32 vector bytes).

1. Exact duplicates: items are grouped by the hash of their record's name-masked, normalised text
   (one group per hash). In each group the one with the best `priority` survives (higher critic
   score, then lower persona index); the others are `duplicate_exact` of it.
2. Partitions: spherical k-means centroids are fitted with FAISS on a deterministic sample of the
   exact survivors (the `sample_size` records with the smallest sha1 of `persona_id`, fixed seed,
   fixed iterations, one thread); cells that hold more than twice their share of the sample are
   split by a k-means of their own. Each record has a home partition, its most similar centroid, and
   also probes up to `probes - 1` further partitions whose centroid similarity is within a margin
   of the home one's: `margin * sqrt(2 - 2 * threshold) * |c_home - c_j|`, i.e. the record lies
   that close to the boundary between the two cells (see `assign_partitions`; margin = 1 provably
   finds every pair, the default 0.5 keeps ~2-5 partitions per record).
3. Edges: in each partition an exact FAISS range search (IndexFlatIP) of the partition's members
   (home and probing) against its home members finds every pair with cosine >= threshold there. A
   pair whose records live in different partitions is found when one of them probes the other's
   home, which is what the margin is for. The similarity of an edge is recomputed from the two
   vectors alone (float64 products, rounded to float32), so it does not depend on which partition
   found it or what else was in it; duplicate edges from several partitions are identical.
4. Survivors: edges are sparse (only near-duplicate pairs), so all edges and the priorities of
   their endpoints meet in one place, where the sequential greedy rule of `find_duplicates` runs:
   records in priority order, one is dropped if an already kept record is a neighbour, and its
   `duplicate_of` is the kept neighbour with the highest similarity (ties: the higher priority).
   Records without an edge are kept without being looked at.
5. The decisions on dropped ids only (exact and near; a side input) meet the records in one ParDo.

Runs below `small_run` records use one partition (k = 1): the same transform, one exact search.
Nothing depends on element order, bundling, worker count or runner; sets are sorted before use.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import apache_beam as beam
import numpy as np

from pipelines.dedup.embed import dedup_text
from pipelines.dedup.near_duplicates import REJECTED, normalised_hash, priority
from pipelines.records import REASON_DUPLICATE_EXACT, REASON_DUPLICATE_NEAR, Filtered, record_id, rejection

DEFAULT_MARGIN = 0.5  # probe a partition when this close to its boundary, in units of sqrt(2 - 2 t)
DEFAULT_PROBES = 8  # at most this many partitions per record, its home included
DEFAULT_SAMPLE_SIZE = 100_000  # records the centroids are fitted on (at most ~2,500 partitions)
DEFAULT_PARTITION_SIZE = 500  # records per partition aimed at when `partitions` is None
DEFAULT_BALANCE = 2.0  # split cells holding more than this many times the mean share of the sample
DEFAULT_SMALL_RUN = 20_000  # below this many records: a single partition
DEFAULT_SEED = 1234
DEFAULT_NITER = 20
MIN_POINTS_PER_CENTROID = 39  # FAISS' own lower bound for a meaningful k-means fit
_SEARCH_SLACK = 1e-3  # the FAISS search radius sits this far below the threshold; edges are re-checked exactly
_SIM_CHUNK = 65_536

SortKey = tuple[int, float, int, str]  # priority(record) + persona_id: a total order


# ---------------------------------------------------------------------------------------------
# numpy / FAISS core (usable without Beam)
# ---------------------------------------------------------------------------------------------


def pair_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of unit vectors, row by row: float64 products of the float32 inputs (exact), summed,
    rounded to float32. A function of the two vectors alone, and symmetric."""
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    out = np.empty(len(a), dtype=np.float32)
    for start in range(0, len(a), _SIM_CHUNK):
        stop = start + _SIM_CHUNK
        prod = a[start:stop].astype(np.float64) * b[start:stop].astype(np.float64)
        out[start:stop] = prod.sum(axis=1)
    return out


def sample_key(persona_id: str) -> str:
    """Records with the smallest keys form the k-means sample: a deterministic, unbiased choice."""
    return hashlib.sha1(persona_id.encode("utf-8")).hexdigest()


def choose_partitions(count: int, sample_len: int, partitions: int | None, partition_size: int, small_run: int) -> int:
    """How many partitions (k) a run of `count` records gets."""
    if partitions is not None:
        k = int(partitions)
    elif count < small_run:
        k = 1
    else:
        k = math.ceil(count / partition_size)
        k = min(k, sample_len // MIN_POINTS_PER_CENTROID)
    return max(1, min(k, sample_len))


def _spherical_kmeans(sample: np.ndarray, k: int, seed: int, niter: int) -> np.ndarray:
    import faiss

    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        kmeans = faiss.Kmeans(
            sample.shape[1],
            k,
            niter=niter,
            seed=seed,
            spherical=True,
            verbose=False,
            min_points_per_centroid=1,
            max_points_per_centroid=max(1, len(sample)),
        )
        kmeans.train(sample)
        centroids = np.asarray(kmeans.centroids, dtype=np.float64)
    finally:
        faiss.omp_set_num_threads(threads)
    norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    return centroids / np.where(norms > 0, norms, 1.0)


def fit_centroids(
    sample: np.ndarray,
    k: int,
    seed: int = DEFAULT_SEED,
    niter: int = DEFAULT_NITER,
    balance: float | None = DEFAULT_BALANCE,
) -> np.ndarray | None:
    """Spherical k-means (FAISS) on `sample` (rows in a fixed order), in one thread so that the
    result does not depend on the thread count. Then every cell holding more than `balance` times
    the mean share of the sample is split by a k-means of its own members (hub cells near the mean
    direction are common in embedding data, and a partition's search costs its size squared), so
    slightly more than k centroids may come back. Returns unit-norm float64 centroids, or None for
    a single partition."""
    sample = np.ascontiguousarray(sample, dtype=np.float32)
    k = min(int(k), len(sample))
    if k <= 1:
        return None
    centroids = _spherical_kmeans(sample, k, seed, niter)
    if not balance:
        return centroids
    home = (sample.astype(np.float64) @ centroids.T).argmax(axis=1)
    counts = np.bincount(home, minlength=k)
    mean = len(sample) / k
    parts = []
    for c in range(k):
        if counts[c] > balance * mean:
            split = min(math.ceil(counts[c] / mean), int(counts[c]))
            parts.append(_spherical_kmeans(sample[home == c], split, seed + 1 + c, niter))
        else:
            parts.append(centroids[c : c + 1])
    return np.concatenate(parts)


def centroid_distances(centroids: np.ndarray | None) -> np.ndarray | None:
    """|c_i - c_j| for unit-norm centroids, (k, k) float64: what `assign_partitions` needs per pair."""
    if centroids is None or len(centroids) <= 1:
        return None
    centroids = np.asarray(centroids, dtype=np.float64)
    return np.sqrt(np.maximum(2.0 - 2.0 * (centroids @ centroids.T), 0.0))


def assign_partitions(
    vectors: np.ndarray,
    centroids: np.ndarray | None,
    threshold: float,
    margin: float = DEFAULT_MARGIN,
    probes: int = DEFAULT_PROBES,
    distances: np.ndarray | None = None,
    chunk: int = 2_048,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (rows, partitions, is_home): row `rows[i]` of `vectors` goes to `partitions[i]`.

    A row's home is its most similar centroid (ties: lower index). It also probes centroid j when
    its similarity to j is within `margin * r(threshold) * |c_home - c_j|` of its similarity to
    home, i.e. when it lies within `margin * r` of the boundary between the two cells, where
    r = sqrt(2 - 2 * threshold) is the farthest apart two unit vectors with cosine >= threshold
    can be. Why that finds pairs across a boundary: if a lives in cell j and b in cell h, then
    <b, c_h - c_j> = <a, c_h - c_j> + <b - a, c_h - c_j> <= 0 + |b - a| |c_h - c_j|, so with
    margin = 1 (and probes >= k) b always probes a's home: every pair is found. Smaller margins
    trade a few boundary pairs for fewer probes. At most `probes` partitions per row, the closest.
    `distances`: `centroid_distances(centroids)`, computed here when not given.
    Similarities are float64, so a row is assigned the same way alone or in any batch."""
    n = len(vectors)
    if centroids is None or len(centroids) <= 1:
        return np.arange(n, dtype=np.int64), np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool)
    centroids = np.asarray(centroids, dtype=np.float64)
    if distances is None:
        distances = centroid_distances(centroids)
    reach = float(margin) * math.sqrt(max(2.0 - 2.0 * float(threshold), 0.0))
    rows_out, parts_out, home_out = [], [], []
    for start in range(0, n, chunk):
        sims = np.asarray(vectors[start : start + chunk], dtype=np.float64) @ centroids.T
        home = sims.argmax(axis=1)
        span = np.arange(len(sims))
        gap = sims[span, home][:, None] - sims
        allowed = reach * distances[home]
        allowed[span, home] = 0.0
        r, c = np.nonzero(gap <= allowed)
        order = np.lexsort((c, gap[r, c], r))  # by row, then gap, then centroid index
        r, c = r[order], c[order]
        counts = np.bincount(r, minlength=len(sims))
        starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        rank = np.arange(len(r)) - np.repeat(starts, counts)
        keep = rank < max(1, int(probes))
        rows_out.append(r[keep].astype(np.int64) + start)
        parts_out.append(c[keep].astype(np.int64))
        home_out.append(rank[keep] == 0)
    if not rows_out:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
    return np.concatenate(rows_out), np.concatenate(parts_out), np.concatenate(home_out)


def search_partition(
    home: np.ndarray, queries: np.ndarray, query_home_pos: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact range search of one partition: every (query, home member) pair with cosine >=
    threshold. `query_home_pos[q]` is the query's row in `home` if it lives there, else -1; a pair
    of two home members is reported once, a query never with itself.
    Returns (query rows, home rows, float32 similarities)."""
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32))
    if len(home) == 0 or len(queries) == 0:
        return empty
    import faiss

    home = np.ascontiguousarray(home, dtype=np.float32)
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    index = faiss.IndexFlatIP(home.shape[1])
    index.add(home)
    lims, _, ids = index.range_search(queries, float(threshold) - _SEARCH_SLACK)
    q = np.repeat(np.arange(len(queries), dtype=np.int64), np.diff(lims).astype(np.int64))
    h = ids.astype(np.int64)
    hp = np.asarray(query_home_pos, dtype=np.int64)[q]
    keep = (hp < 0) | (hp < h)
    q, h = q[keep], h[keep]
    if len(q) == 0:
        return empty
    sims = pair_similarity(queries[q], home[h])
    keep = sims >= np.float32(threshold)
    return q[keep], h[keep], sims[keep]


def near_duplicate_edges(
    vectors: np.ndarray,
    ids: Sequence[Hashable] | None,
    threshold: float,
    centroids: np.ndarray | None = None,
    probes: int = DEFAULT_PROBES,
    margin: float = DEFAULT_MARGIN,
) -> list[tuple[Hashable, Hashable, float]]:
    """Every pair of rows with cosine >= threshold that meets in some partition, as sorted
    (id_a, id_b, similarity) with row(a) < row(b). `centroids=None`: one partition (exact).
    `vectors` are unit-norm float32 rows; `ids` default to the row numbers."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    n = len(vectors)
    rows, parts, is_home = assign_partitions(vectors, centroids, threshold, margin, probes)
    order = np.lexsort((rows, parts))
    rows, parts, is_home = rows[order], parts[order], is_home[order]
    bounds = np.flatnonzero(np.diff(parts)) + 1
    found_a, found_b, found_s = [], [], []
    for members, home_flags in zip(np.split(rows, bounds), np.split(is_home, bounds), strict=True):
        home_rows = members[home_flags]
        if len(home_rows) == 0:
            continue
        home_pos = np.full(len(members), -1, dtype=np.int64)
        home_pos[home_flags] = np.arange(len(home_rows))
        qi, hj, sims = search_partition(vectors[home_rows], vectors[members], home_pos, threshold)
        a, b = members[qi], home_rows[hj]
        found_a.append(np.minimum(a, b))
        found_b.append(np.maximum(a, b))
        found_s.append(sims)
    if not found_a:
        return []
    a, b, s = np.concatenate(found_a), np.concatenate(found_b), np.concatenate(found_s)
    _, first = np.unique(a * max(n, 1) + b, return_index=True)  # sorted by (a, b); one per pair
    a, b, s = a[first], b[first], s[first]
    if ids is None:
        return list(zip(a.tolist(), b.tolist(), s.astype(np.float64).tolist(), strict=True))
    return [
        (ids[i], ids[j], sim) for i, j, sim in zip(a.tolist(), b.tolist(), s.astype(np.float64).tolist(), strict=True)
    ]


def resolve_survivors(
    edges: Iterable[tuple[Hashable, Hashable, float]], priorities: Mapping[Hashable, Any]
) -> dict[Hashable, tuple[Hashable, float]]:
    """The greedy rule of `find_duplicates` on a similarity graph: visit the endpoints in priority
    order (lower first; ties by id); drop one if a kept neighbour exists, naming the kept neighbour
    with the highest similarity (ties: higher priority). Returns {dropped_id: (survivor_id, sim)}.
    Records without edges are always kept and need no priority. Duplicate edges are harmless."""
    neighbours: dict[Hashable, dict[Hashable, float]] = defaultdict(dict)
    for a, b, sim in edges:
        if a == b:
            continue
        neighbours[a][b] = float(sim)
        neighbours[b][a] = float(sim)

    def rank(node: Hashable) -> tuple[Any, Hashable]:
        return (priorities[node], node)

    kept: set[Hashable] = set()
    dropped: dict[Hashable, tuple[Hashable, float]] = {}
    for node in sorted(neighbours, key=rank):
        best: tuple[Hashable, float] | None = None
        for other, sim in neighbours[node].items():
            if other not in kept:
                continue
            if best is None or sim > best[1] or (sim == best[1] and rank(other) < rank(best[0])):
                best = (other, sim)
        if best is None:
            kept.add(node)
        else:
            dropped[node] = best
    return dropped


# ---------------------------------------------------------------------------------------------
# Beam
# ---------------------------------------------------------------------------------------------


# Items are (sort key, float32 vector as bytes): tuples of str / float / int / bytes, which Beam's
# default coder encodes without pickling. Records themselves are never grouped or shuffled.
Item = tuple[SortKey, bytes]
Decision = tuple[str, str, float]  # (reason, survivor persona_id, similarity)
_EXACT = "exact"


def _sort_key(record: dict[str, Any]) -> SortKey:
    return (*priority(record), record_id(record))


def _vector(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype=np.float32)


def _keyed_item(record: dict[str, Any], text_key: str) -> tuple[str, Item]:
    vector = np.ascontiguousarray(record["_embedding"], dtype=np.float32)
    return (normalised_hash(dedup_text(record, text_key)), (_sort_key(record), vector.tobytes()))


class _ResolveExact(beam.DoFn):
    """(text hash, items) -> the best-priority item; the others as `duplicate_exact` decisions."""

    def process(self, keyed: tuple[str, Iterable[Item]]) -> Iterator[Any]:
        _, group = keyed
        items = sorted(group, key=lambda item: item[0])
        survivor = items[0]
        yield survivor
        for key, _ in items[1:]:
            yield beam.pvalue.TaggedOutput(_EXACT, (key[-1], (REASON_DUPLICATE_EXACT, survivor[0][-1], 1.0)))


def _to_sample_entry(item: Item) -> tuple[str, str, bytes]:
    key, data = item
    return (sample_key(key[-1]), key[-1], data)


def _sample_order(entry: tuple[str, str, bytes]) -> tuple[str, str]:
    return (entry[0], entry[1])


class _FitCentroids(beam.DoFn):
    """The sample (and the run size) -> None (one partition) or (centroids, centroid distances)."""

    def __init__(self, partitions, partition_size, small_run, seed, niter, balance):
        self.partitions = partitions
        self.partition_size = partition_size
        self.small_run = small_run
        self.seed = seed
        self.niter = niter
        self.balance = balance

    def process(self, sample: list[tuple[str, str, bytes]], count: int) -> Iterator[Any]:
        sample = sorted(sample, key=_sample_order)
        k = choose_partitions(count, len(sample), self.partitions, self.partition_size, self.small_run)
        centroids = None
        if k > 1:
            vectors = np.stack([_vector(data) for _, _, data in sample])
            centroids = fit_centroids(vectors, k, self.seed, self.niter, self.balance)
        yield None if centroids is None else (centroids, centroid_distances(centroids))


def _assign(batch: list[Item], partitioning, threshold: float, margin: float, probes: int) -> Iterator[Any]:
    """A batch of items -> (partition, (is_home, key, vector)) for each partition an item goes to.
    Batched for the matrix product only: each item's partitions do not depend on its batch."""
    centroids, distances = partitioning if partitioning is not None else (None, None)
    vectors = np.stack([_vector(data) for _, data in batch])
    rows, parts, is_home = assign_partitions(vectors, centroids, threshold, margin, probes, distances)
    for row, part, home in zip(rows.tolist(), parts.tolist(), is_home.tolist(), strict=True):
        key, data = batch[row]
        yield (part, (home, key, data))


class _SearchPartition(beam.DoFn):
    """(partition, members) -> edges (key_a, key_b, sim) with key_a < key_b. With `new_round`,
    only edges with an endpoint of that top-up round (key[0]), and partitions without one are
    not searched at all."""

    def __init__(self, threshold: float, new_round: int | None = None):
        self.threshold = threshold
        self.new_round = new_round

    def process(self, keyed: tuple[int, Iterable[tuple[bool, SortKey, bytes]]]) -> Iterator[Any]:
        _, members = keyed
        members = list(members)
        new = self.new_round
        # before sorting: most partitions of a top-up round hold no new record
        if new is not None and not any(m[1][0] == new for m in members):
            return
        members.sort(key=lambda m: m[1])
        home_idx = [i for i, m in enumerate(members) if m[0]]
        if not home_idx:
            return
        vectors = np.stack([_vector(m[2]) for m in members])
        home_pos = np.full(len(members), -1, dtype=np.int64)
        home_pos[home_idx] = np.arange(len(home_idx))
        qi, hj, sims = search_partition(vectors[home_idx], vectors, home_pos, self.threshold)
        for q, h, sim in zip(qi.tolist(), hj.tolist(), sims.astype(np.float64).tolist(), strict=True):
            a, b = members[q][1], members[home_idx[h]][1]
            if new is not None and a[0] != new and b[0] != new:
                continue
            yield (a, b, sim) if a < b else (b, a, sim)


def _resolve(edges: list[tuple[SortKey, SortKey, float]]) -> Iterator[tuple[str, Decision]]:
    priorities: dict[str, SortKey] = {}
    pairs = []
    for a, b, sim in edges:
        priorities[a[-1]] = a
        priorities[b[-1]] = b
        pairs.append((a[-1], b[-1], sim))
    dropped = resolve_survivors(pairs, priorities)
    for persona, (survivor, sim) in sorted(dropped.items()):
        yield (persona, (REASON_DUPLICATE_NEAR, survivor, sim))


class _ApplyDecisions(beam.DoFn):
    def process(self, record: dict[str, Any], dropped: Mapping[str, Decision]) -> Iterator[Any]:
        decision = dropped.get(record_id(record))
        if decision is None:
            yield record
            return
        reason, survivor, sim = decision
        relation = "identical to" if reason == REASON_DUPLICATE_EXACT else f"cosine similarity {sim:.3f} with"
        yield beam.pvalue.TaggedOutput(
            REJECTED,
            rejection(record, "deduplicate", reason, f"{relation} {survivor}", duplicate_of=survivor, similarity=sim),
        )


class DeduplicateScalable(beam.PTransform):
    """records with `_embedding` -> Filtered(kept, rejected), the same decisions and rows as
    `DeduplicateGlobally`, without gathering the records: exact duplicates per text hash, near
    duplicates per k-means partition (with multi-assignment across partition boundaries), survivors
    resolved globally from the sparse duplicate edges. Only (priority, id, vector) items are
    grouped; the records meet the decisions (a side input of the dropped ids) in one final ParDo.

    partitions: None picks k from the run size (one partition below `small_run` records, otherwise
    about `partition_size` records each, limited to sample_size / 39); an int forces k. Either way,
    cells holding more than `balance` times their share of the sample are split further.
    margin / probes: a record also probes up to `probes - 1` partitions whose boundary with its home
    partition is within `margin * sqrt(2 - 2 * threshold)` of it (`assign_partitions`); larger
    values find more boundary pairs, at more cost; margin=1 with probes >= k finds every pair.
    new_round: the records are the survivors of earlier rounds (already deduplicated among
    themselves, all of a lower `top_up_round`) plus the records of this round: only pairs with a
    record of this round are searched and resolved, so earlier decisions stand and a round with
    few new records searches few partitions.
    """

    def __init__(
        self,
        threshold: float,
        text_key: str = "narrative",
        partitions: int | None = None,
        sample_size: int = DEFAULT_SAMPLE_SIZE,
        probes: int = DEFAULT_PROBES,
        margin: float = DEFAULT_MARGIN,
        partition_size: int = DEFAULT_PARTITION_SIZE,
        small_run: int = DEFAULT_SMALL_RUN,
        seed: int = DEFAULT_SEED,
        niter: int = DEFAULT_NITER,
        balance: float | None = DEFAULT_BALANCE,
        new_round: int | None = None,
    ):
        super().__init__()
        if partitions is not None and partitions < 1:
            raise ValueError(f"partitions must be >= 1, got {partitions}")
        self.threshold = float(threshold)
        self.text_key = text_key
        self.partitions = partitions
        self.sample_size = int(sample_size)
        self.probes = int(probes)
        self.margin = float(margin)
        self.partition_size = int(partition_size)
        self.small_run = int(small_run)
        self.seed = int(seed)
        self.niter = int(niter)
        self.balance = balance
        self.new_round = new_round

    def expand(self, records):
        exact = (
            records
            | "KeyByTextHash" >> beam.Map(_keyed_item, self.text_key)
            | "GroupByTextHash" >> beam.GroupByKey()
            | "ResolveExact" >> beam.ParDo(_ResolveExact()).with_outputs(_EXACT, main="survivors")
        )
        survivors = exact.survivors
        count = survivors | "Count" >> beam.combiners.Count.Globally()
        sample = (
            survivors
            | "SampleKeys" >> beam.Map(_to_sample_entry)
            | "Sample" >> beam.combiners.Top.Smallest(self.sample_size, key=_sample_order)
        )
        centroids = sample | "FitCentroids" >> beam.ParDo(
            _FitCentroids(self.partitions, self.partition_size, self.small_run, self.seed, self.niter, self.balance),
            count=beam.pvalue.AsSingleton(count),
        )
        near = (
            survivors
            | "Batch" >> beam.BatchElements(min_batch_size=256, max_batch_size=2048)
            | "AssignPartitions"
            >> beam.FlatMap(_assign, beam.pvalue.AsSingleton(centroids), self.threshold, self.margin, self.probes)
            | "GroupByPartition" >> beam.GroupByKey()
            | "SearchPartitions" >> beam.ParDo(_SearchPartition(self.threshold, self.new_round))
            | "GatherEdges" >> beam.combiners.ToList()
            | "ResolveSurvivors" >> beam.FlatMap(_resolve)
        )
        decisions = (exact[_EXACT], near) | "AllDecisions" >> beam.Flatten()
        split = records | "ApplyDecisions" >> beam.ParDo(
            _ApplyDecisions(), dropped=beam.pvalue.AsDict(decisions)
        ).with_outputs(REJECTED, main="kept")
        return Filtered(split.kept, split[REJECTED])

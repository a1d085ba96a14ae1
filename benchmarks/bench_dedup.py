"""Near-duplicate removal benchmark: partitioned FAISS search vs exact brute force, and the Beam transform.

    python benchmarks/bench_dedup.py [--sizes 100000 1000000] [--exact_size 100000] [--beam_size 100000]

Synthetic embeddings (fixed seed): 384-d unit vectors with topic structure (each item mixes 3 of
n/1000 topics over a shared direction, as sentence embeddings of similar texts do), 30% near-duplicate
copies of other items at cosine 0.84-0.995 that drift partly towards another topic (so many pairs
straddle partition boundaries), and 1% exact text duplicates. Prints, side by side in one run:

- the numpy/FAISS core of `DeduplicateScalable` (exact hash, k-means partitions with
  multi-assignment, range search per partition, global greedy resolution) at every size;
- exact brute-force FAISS range search (one IndexFlatIP over everything) at `--exact_size`, the
  speed ratio, and the recall of the partitioned search against it (found pairs / true pairs);
- the Beam transform end to end (DirectRunner, `--workers` processes) at `--beam_size`, checked
  against the core's decisions;
- peak resident memory (ru_maxrss) of this process and of the Beam worker processes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipelines.dedup.near_duplicates import normalised_hash  # noqa: E402
from pipelines.dedup.partitioned import (  # noqa: E402
    DEFAULT_MARGIN,
    DEFAULT_PARTITION_SIZE,
    DEFAULT_PROBES,
    DEFAULT_SAMPLE_SIZE,
    DEFAULT_SMALL_RUN,
    assign_partitions,
    choose_partitions,
    fit_centroids,
    near_duplicate_edges,
    resolve_survivors,
    sample_key,
)

D = 384
CHUNK = 50_000


def synthetic(n: int, seed: int = 0, dup_frac: float = 0.3, exact_frac: float = 0.01, drift: float = 0.5):
    """-> (vectors float32 (n, d) unit rows, exact_source: int array, -1 or the item whose text is copied)."""
    rng = np.random.default_rng(seed)
    n_topics = max(10, n // 1000)
    mu = rng.standard_normal(D).astype(np.float32)
    mu /= np.linalg.norm(mu)
    topics = rng.standard_normal((n_topics, D)).astype(np.float32)
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    n_exact = int(n * exact_frac)
    n_near = int(n * dup_frac)
    n_base = n - n_near - n_exact
    out = np.empty((n, D), dtype=np.float32)
    for start in range(0, n_base, CHUNK):
        m = min(CHUNK, n_base - start)
        picks = rng.integers(0, n_topics, (m, 3))
        weights = rng.dirichlet(np.ones(3), m).astype(np.float32)
        mix = np.einsum("nm,nmd->nd", weights, topics[picks])
        mix /= np.linalg.norm(mix, axis=1, keepdims=True)
        noise = rng.standard_normal((m, D)).astype(np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        out[start : start + m] = np.sqrt(0.3) * mu + np.sqrt(0.35) * mix + np.sqrt(0.35) * noise
    for start in range(n_base, n_base + n_near, CHUNK):  # near-duplicate copies
        m = min(CHUNK, n_base + n_near - start)
        src = out[rng.integers(0, n_base, m)]
        src /= np.linalg.norm(src, axis=1, keepdims=True)
        cos = rng.uniform(0.84, 0.995, m).astype(np.float32)[:, None]
        e = rng.standard_normal((m, D)).astype(np.float32)
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        e = np.sqrt(1 - drift**2) * e + drift * topics[rng.integers(0, n_topics, m)]
        e -= (e * src).sum(axis=1, keepdims=True) * src
        e /= np.linalg.norm(e, axis=1, keepdims=True)
        out[start : start + m] = cos * src + np.sqrt(1 - cos**2) * e
    out[: n_base + n_near] /= np.linalg.norm(out[: n_base + n_near], axis=1, keepdims=True)
    exact_source = np.full(n, -1, dtype=np.int64)
    exact_source[n_base + n_near :] = rng.integers(0, n_base + n_near, n_exact)
    out[n_base + n_near :] = out[exact_source[n_base + n_near :]]
    scores = rng.integers(5, 10, n) / 10.0
    return out, exact_source, scores


def persona_ids(n: int) -> list[str]:
    return [f"p-0-{i:07d}" for i in range(n)]


def narrative(i: int, exact_source: np.ndarray) -> str:
    return f"Story number {i if exact_source[i] < 0 else int(exact_source[i])}."


def core(vectors, exact_source, scores, threshold, timings):
    """The numpy/FAISS path of DeduplicateScalable -> ({id: (reason, survivor, sim)}, k, edges)."""
    n = len(vectors)
    ids = persona_ids(n)
    prio = {ids[i]: (-float(scores[i]), i, ids[i]) for i in range(n)}

    t0 = time.perf_counter()
    first: dict[str, str] = {}
    dropped: dict[str, tuple[str, str, float]] = {}
    for i in sorted(range(n), key=lambda i: prio[ids[i]]):
        h = normalised_hash(narrative(i, exact_source))
        if h in first:
            dropped[ids[i]] = ("duplicate_exact", first[h], 1.0)
        else:
            first[h] = ids[i]
    rest = np.array([i for i in range(n) if ids[i] not in dropped], dtype=np.int64)
    timings["exact"] = time.perf_counter() - t0

    t0 = time.perf_counter()  # the sample: smallest sha1(persona_id), in that order, as the transform does
    rest_ids = [ids[i] for i in rest]
    sample_order = sorted(range(len(rest)), key=lambda j: (sample_key(rest_ids[j]), rest_ids[j]))
    sample = vectors[rest[sample_order[:DEFAULT_SAMPLE_SIZE]]]
    k = choose_partitions(len(rest), len(sample), None, DEFAULT_PARTITION_SIZE, DEFAULT_SMALL_RUN)
    centroids = fit_centroids(sample, k) if k > 1 else None
    timings["fit"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rest_vectors = vectors[rest]
    edges = near_duplicate_edges(rest_vectors, rest_ids, threshold, centroids, DEFAULT_PROBES, DEFAULT_MARGIN)
    timings["search"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    for pid, (survivor, sim) in resolve_survivors(edges, prio).items():
        dropped[pid] = ("duplicate_near", survivor, sim)
    timings["resolve"] = time.perf_counter() - t0
    k_final = 1 if centroids is None else len(centroids)
    fanout = 1.0
    if centroids is not None:  # partitions per item, measured on the first 20,000 items
        rows, _, _ = assign_partitions(rest_vectors[:20_000], centroids, threshold, DEFAULT_MARGIN, DEFAULT_PROBES)
        fanout = len(rows) / min(20_000, len(rest))
    return dropped, (k, k_final, fanout), edges


def run_beam(vectors, exact_source, scores, threshold, workers):
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipelines.dedup.partitioned import DeduplicateScalable

    n = len(vectors)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "vectors.npy"), vectors)
        np.save(os.path.join(tmp, "exact.npy"), exact_source)
        np.save(os.path.join(tmp, "scores.npy"), scores)

        def load(start, tmp=tmp):
            vecs = np.load(os.path.join(tmp, "vectors.npy"), mmap_mode="r")
            src = np.load(os.path.join(tmp, "exact.npy"), mmap_mode="r")
            sc = np.load(os.path.join(tmp, "scores.npy"), mmap_mode="r")
            for i in range(start, min(start + 10_000, len(vecs))):
                yield {
                    "persona_id": f"p-0-{i:07d}",
                    "persona_index": i,
                    "quota_cell": "all",
                    "critic": {"score": float(sc[i])},
                    "narrative": narrative(i, src),
                    "_attrs": {"identity.name": f"Name{i}"},
                    "_embedding": np.array(vecs[i], dtype=np.float32),
                }

        args = [] if workers <= 1 else ["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"]
        out = os.path.join(tmp, "rejected")
        t0 = time.perf_counter()
        with beam.Pipeline(options=PipelineOptions(args)) as p:
            result = (
                p
                | beam.Create(list(range(0, n, 10_000)))
                | beam.Reshuffle()
                | beam.FlatMap(load)
                | DeduplicateScalable(threshold)
            )
            _ = (
                result.rejected
                | beam.Map(lambda r: json.dumps([r["persona_id"], r["reason"], r["duplicate_of"], r["similarity"]]))
                | beam.io.WriteToText(out)
            )
            _ = (
                result.kept
                | beam.combiners.Count.Globally()
                | "WriteKept" >> beam.io.WriteToText(os.path.join(tmp, "kept"))
            )
        elapsed = time.perf_counter() - t0
        dropped = {}
        for name in os.listdir(tmp):
            if name.startswith("rejected"):
                with open(os.path.join(tmp, name)) as fh:
                    for line in fh:
                        pid, reason, survivor, sim = json.loads(line)
                        dropped[pid] = (reason, survivor, sim)
        kept = 0
        for name in os.listdir(tmp):
            if name.startswith("kept"):
                with open(os.path.join(tmp, name)) as fh:
                    kept += int(fh.read() or 0)
    return dropped, kept, elapsed


def same_decisions(a, b) -> bool:
    return set(a) == set(b) and all(a[k][:2] == b[k][:2] and abs(a[k][2] - b[k][2]) < 1e-6 for k in a)


def maxrss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux: kilobytes


def line(label: str, value: str, rest: str = "") -> None:
    print(f"{label:32s}{value:>10s}   {rest}".rstrip())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--exact_size", type=int, default=100_000, help="brute-force comparison size (0: skip)")
    parser.add_argument("--beam_size", type=int, default=100_000, help="Beam transform size (0: skip)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threshold", type=float, default=0.9)
    parser.add_argument("--drift", type=float, default=0.5, help="how much near-duplicates lean to another topic")
    args = parser.parse_args()
    t = args.threshold
    ok = True

    print(
        f"\n== near-duplicate removal: cosine >= {t}, margin {DEFAULT_MARGIN}, probes {DEFAULT_PROBES}, "
        f"~{DEFAULT_PARTITION_SIZE} items/partition, {os.cpu_count()} cores, drift {args.drift} =="
    )
    summary = []
    for n in sorted(set(args.sizes) | ({args.exact_size, args.beam_size} - {0})):
        t0 = time.perf_counter()
        vectors, exact_source, scores = synthetic(n, drift=args.drift)
        gen_s = time.perf_counter() - t0
        timings: dict[str, float] = {}
        dropped, (k, k_final, fanout), edges = core(vectors, exact_source, scores, t, timings)
        total = sum(timings.values())
        n_exact = sum(d[0] == "duplicate_exact" for d in dropped.values())
        summary.append(f"{n:>10,} items   numpy/FAISS core {n / total:8,.0f} items/s   {total:7.1f} s")
        print(f"\n-- {n:,} items (generated in {gen_s:.1f} s, {vectors.nbytes / 2**20:,.0f} MiB of vectors) --")
        line("partitions", f"{k_final:d}", f"k = {k} before balancing; {fanout:.2f} partitions per item")
        line("exact hash stage", f"{timings['exact']:.2f} s")
        line("k-means fit (sample, 1 thread)", f"{timings['fit']:.2f} s")
        line("partitioned range search", f"{timings['search']:.2f} s", f"{n / timings['search']:12,.0f} items/s")
        line("global survivor resolution", f"{timings['resolve']:.2f} s", f"{len(edges):,} edges")
        line(
            "core total", f"{total:.2f} s", f"{n / total:12,.0f} items/s   dropped {len(dropped):,} ({n_exact:,} exact)"
        )
        line("peak RSS so far", f"{maxrss_mb():,.0f} MiB")

        if n == args.exact_size:
            ids = persona_ids(n)
            rest = np.array([i for i in range(n) if dropped.get(ids[i], ("",))[0] != "duplicate_exact"])
            t0 = time.perf_counter()
            exact_edges = near_duplicate_edges(vectors[rest], [ids[i] for i in rest], t, None)
            brute_s = time.perf_counter() - t0
            true_pairs = {(a, b) for a, b, _ in exact_edges}
            found = len(true_pairs & {(a, b) for a, b, _ in edges})
            recall = found / max(1, len(true_pairs))
            prio = {ids[i]: (-float(scores[i]), i, ids[i]) for i in range(n)}
            brute = {p: d for p, d in dropped.items() if d[0] == "duplicate_exact"}
            for pid, (survivor, sim) in resolve_survivors(exact_edges, prio).items():
                brute[pid] = ("duplicate_near", survivor, sim)
            line(
                "brute-force FAISS range search",
                f"{brute_s:.2f} s",
                f"{n / brute_s:12,.0f} items/s   (one IndexFlatIP)",
            )
            line("partitioned / brute-force speed", f"{brute_s / timings['search']:.1f} x", "(range search only)")
            line("recall vs brute force", f"{recall:.5f}", f"{found:,} of {len(true_pairs):,} pairs (must be >= 0.99)")
            line("decisions equal brute force", str(same_decisions(dropped, brute)))
            line("peak RSS so far", f"{maxrss_mb():,.0f} MiB")
            summary.append(f"{n:>10,} items   brute force      {n / brute_s:8,.0f} items/s   {brute_s:7.1f} s")
            ok &= recall >= 0.99

        if n == args.beam_size:
            beam_dropped, kept, beam_s = run_beam(vectors, exact_source, scores, t, args.workers)
            where = f"DirectRunner, {args.workers} worker processes, end to end"
            line("Beam DeduplicateScalable", f"{beam_s:.2f} s", f"{n / beam_s:12,.0f} items/s   ({where})")
            line("Beam / core speed", f"{total / beam_s:.2f}")
            equal = same_decisions(beam_dropped, dropped) and kept + len(beam_dropped) == n
            line("Beam decisions equal the core", str(equal), f"kept {kept:,}, rejected {len(beam_dropped):,}")
            line("peak RSS runner process", f"{maxrss_mb():,.0f} MiB", "(holds the DirectRunner's shuffles)")
            line("peak RSS largest Beam worker", f"{maxrss_mb(resource.RUSAGE_CHILDREN):,.0f} MiB")
            summary.append(f"{n:>10,} items   Beam transform   {n / beam_s:8,.0f} items/s   {beam_s:7.1f} s")
            ok &= equal
        del vectors

    print("\n== summary ==")
    print("\n".join(summary))
    line("peak RSS this process", f"{maxrss_mb():,.0f} MiB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

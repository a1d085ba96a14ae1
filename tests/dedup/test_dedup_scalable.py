"""DeduplicateScalable: the decisions of `find_duplicates` / `DeduplicateGlobally`, partitioned."""

import json

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.dedup.near_duplicates import DeduplicateGlobally, find_duplicates
from pipelines.dedup.partitioned import (
    DeduplicateScalable,
    assign_partitions,
    fit_centroids,
    near_duplicate_edges,
    resolve_survivors,
    sample_key,
)
from pipelines.records import REASON_DUPLICATE_EXACT, REASON_DUPLICATE_NEAR

D = 384
THRESHOLD = 0.9


def unit(v):
    v = np.asarray(v, dtype=np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32)


def rec(index, vec, score=0.8, text=None, name=None):
    name = name or f"Name{index} Family{index}"
    return {
        "_kind": "persona",
        "persona_id": f"p-0-{index:07d}",
        "persona_index": index,
        "quota_cell": f"cell-{index % 3}",
        "critic": {"score": score},
        "narrative": text or f"{name} has story number {index}.",
        "_attrs": {"identity.name": name},
        "_embedding": unit(vec),
    }


def near(rng, base, cos):
    """A unit vector at cosine `cos` from the unit vector `base`."""
    e = rng.standard_normal(len(base))
    e -= (e @ base) * base
    return unit(cos * base + np.sqrt(1 - cos**2) * e / np.linalg.norm(e))


def population(seed=0, originals=220, copies=100, bridges=40, exact=12):
    """Topic clusters (so that k-means partitions have boundaries between populated regions),
    near-duplicate copies at cosine 0.86-0.99 in random directions, "bridge" pairs that lean to
    two different topics (each record of the pair in a different partition: straddling pairs),
    exact text duplicates with unrelated vectors (so in different partitions), tied scores."""
    rng = np.random.default_rng(seed)
    mu = unit(rng.standard_normal(D))
    topics = [unit(rng.standard_normal(D)) for _ in range(10)]
    scores = [0.6, 0.7, 0.8]
    vectors = []
    for _ in range(originals):
        vectors.append(unit(0.5 * mu + 0.75 * topics[rng.integers(10)] + 0.45 * unit(rng.standard_normal(D))))
    for _ in range(copies):
        vectors.append(near(rng, vectors[rng.integers(originals)].astype(np.float64), rng.uniform(0.86, 0.99)))
    for _ in range(bridges):
        i, j = rng.choice(10, 2, replace=False)
        w = rng.uniform(0.56, 0.62)
        for side in (w, 1 - w):
            mix = unit(side * topics[i] + (1 - side) * topics[j])
            vectors.append(unit(0.5 * mu + 0.75 * mix + 0.08 * unit(rng.standard_normal(D))))
    records = [rec(i, v, score=scores[rng.integers(3)]) for i, v in enumerate(vectors)]
    index = len(records)
    for j in range(exact):  # same text once the persona's own name is masked
        for _ in range(2):
            name = f"Exact{index} Person{index}"
            text = f"{name} tells the very same story number {j}!"
            records.append(rec(index, rng.standard_normal(D), score=scores[rng.integers(3)], text=text, name=name))
            index += 1
    order = rng.permutation(len(records))
    return [records[i] for i in order]


def reference(records):
    """{persona_id: (reason, duplicate_of, similarity)} from the sequential `find_duplicates`."""
    dropped = find_duplicates(records, THRESHOLD)
    return {records[i]["persona_id"]: (r, records[s]["persona_id"], sim) for i, (r, s, sim) in dropped.items()}


def public(record):
    out = {k: v for k, v in record.items() if k != "_embedding"}
    out["_embedding"] = [float(x) for x in record["_embedding"]]
    return out


def run_dedup(records, tmp_path, transform, name="out", beam_args=()):
    out = tmp_path / name
    with beam.Pipeline(options=PipelineOptions(list(beam_args))) as p:
        result = p | "Create" >> beam.Create(records, reshuffle=True) | "Dedup" >> transform
        _ = (
            result.kept
            | "KeptJson" >> beam.Map(lambda r: json.dumps(public(r), sort_keys=True))
            | "WriteKept" >> (beam.io.WriteToText(str(out / "kept")))
        )
        _ = (
            result.rejected
            | "RejectedJson" >> beam.Map(lambda r: json.dumps(r, sort_keys=True))
            | "WriteRejected" >> beam.io.WriteToText(str(out / "rejected"))
        )

    def read(prefix):
        rows = []
        for path in sorted(out.glob(f"{prefix}-*")):
            rows += [json.loads(line) for line in path.read_text().splitlines() if line]
        return {r["persona_id"]: r for r in rows}

    return read("kept"), read("rejected")


def decisions(rejected):
    return {pid: (r["reason"], r["duplicate_of"], r["similarity"]) for pid, r in rejected.items()}


def assert_same_decisions(got, want):
    assert set(got) == set(want)
    for pid, (reason, survivor, sim) in want.items():
        assert got[pid][:2] == (reason, survivor), pid
        assert got[pid][2] == pytest.approx(sim, abs=1e-6), pid


@pytest.fixture(scope="module")
def records():
    return population()


def fitted(records, k):
    """Centroids fitted exactly as the transform does (the sample is every record here)."""
    ordered = sorted(records, key=lambda r: (sample_key(r["persona_id"]), r["persona_id"]))
    return fit_centroids(np.stack([r["_embedding"] for r in ordered]), k)


def test_numpy_core_equals_find_duplicates_with_straddling_pairs(records):
    want = reference(records)
    exact_dropped = {pid for pid, d in want.items() if d[0] == REASON_DUPLICATE_EXACT}
    rest = [r for r in records if r["persona_id"] not in exact_dropped]
    vectors = np.stack([r["_embedding"] for r in rest])
    ids = [r["persona_id"] for r in rest]
    priorities = {r["persona_id"]: (-r["critic"]["score"], r["persona_index"]) for r in rest}
    exact_edges = near_duplicate_edges(vectors, ids, THRESHOLD)  # one partition: exact
    for k in (4, 16):
        centroids = fitted(rest, k)
        rows, parts, is_home = assign_partitions(vectors, centroids, THRESHOLD)
        home = dict(zip((ids[r] for r in rows[is_home]), parts[is_home].tolist(), strict=True))
        straddling = [(a, b) for a, b, _ in exact_edges if home[a] != home[b]]
        assert len(straddling) >= 5, k  # pairs whose records live in different partitions
        assert near_duplicate_edges(vectors, ids, THRESHOLD, centroids) == exact_edges  # identical sims too
        # without multi-assignment the straddling pairs would be missed
        home_only = near_duplicate_edges(vectors, ids, THRESHOLD, centroids, probes=1)
        assert len(home_only) == len(exact_edges) - len(straddling)
        # margin 1 with every partition allowed is a guarantee, not a heuristic
        full = near_duplicate_edges(vectors, ids, THRESHOLD, centroids, probes=len(centroids), margin=1.0)
        assert full == exact_edges
    got = resolve_survivors(exact_edges, priorities)
    near_want = {pid: d for pid, d in want.items() if d[0] == REASON_DUPLICATE_NEAR}
    assert set(got) == set(near_want)
    for pid, (survivor, sim) in got.items():
        assert survivor == near_want[pid][1]
        assert sim == pytest.approx(near_want[pid][2], abs=1e-6)


def test_a_record_is_assigned_the_same_way_alone_or_in_a_batch(records):
    vectors = np.stack([r["_embedding"] for r in records])
    centroids = fitted(records, 16)
    rows, parts, is_home = assign_partitions(vectors, centroids, THRESHOLD)
    assert len(rows) > len(records)  # some records probe more than their home
    for i in range(0, len(records), 37):
        _, alone, alone_home = assign_partitions(vectors[i : i + 1], centroids, THRESHOLD)
        assert alone.tolist() == parts[rows == i].tolist()
        assert alone_home.tolist() == is_home[rows == i].tolist()


@pytest.mark.parametrize("partitions", [1, 4, 16])
def test_beam_decisions_equal_find_duplicates(records, tmp_path, partitions):
    kept, rejected = run_dedup(records, tmp_path, DeduplicateScalable(THRESHOLD, partitions=partitions))
    want = reference(records)
    assert any(d[0] == REASON_DUPLICATE_EXACT for d in want.values())
    assert sum(d[0] == REASON_DUPLICATE_NEAR for d in want.values()) >= 50
    assert_same_decisions(decisions(rejected), want)
    assert set(kept) | set(rejected) == {r["persona_id"] for r in records}
    assert not set(kept) & set(rejected)
    by_id = {r["persona_id"]: public(r) for r in records}
    assert all(row == by_id[pid] for pid, row in kept.items())  # kept records unchanged


def test_same_rows_as_deduplicate_globally_and_same_with_two_workers(records, tmp_path):
    g_kept, g_rejected = run_dedup(records, tmp_path, DeduplicateGlobally(THRESHOLD), "global")
    one = run_dedup(records, tmp_path, DeduplicateScalable(THRESHOLD, partitions=8), "one")
    two = run_dedup(
        records,
        tmp_path,
        DeduplicateScalable(THRESHOLD, partitions=8),
        "two",
        ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    )
    assert one == two  # identical kept and rejected rows
    kept, rejected = one
    assert kept == g_kept
    assert set(rejected) == set(g_rejected)
    for pid, row in rejected.items():
        want = g_rejected[pid]
        assert {k: v for k, v in row.items() if k != "similarity"} == {
            k: v for k, v in want.items() if k != "similarity"
        }
        assert row["similarity"] == pytest.approx(want["similarity"], abs=1e-6)


def test_small_run_uses_one_exact_partition(records, tmp_path):
    small = records[:150]
    _, rejected = run_dedup(small, tmp_path, DeduplicateScalable(THRESHOLD))  # partitions=None, < small_run
    assert_same_decisions(decisions(rejected), reference(small))


def test_exact_duplicates_across_partitions_and_ties_by_persona_index(tmp_path):
    rng = np.random.default_rng(7)
    text = "{} grows tomatoes on a balcony in Lisbon."
    records = [
        rec(5, rng.standard_normal(D), 0.8, text.format("Ana Silva"), "Ana Silva"),
        rec(2, rng.standard_normal(D), 0.8, text.format("Jo Park").upper(), "Jo Park"),  # tie: lower index wins
        rec(9, rng.standard_normal(D), 0.9, text.format("Li Wei") + "!!", "Li Wei"),  # higher score wins
        rec(3, rng.standard_normal(D), 0.7, text.format("Bo Lund"), "Bo Lund"),
    ]
    base = unit(rng.standard_normal(D))
    records += [
        rec(20, near(rng, base.astype(np.float64), 0.97), 0.8),
        rec(11, near(rng, base.astype(np.float64), 0.97), 0.8),  # same score: index 11 survives
        rec(30, rng.standard_normal(D), 0.8),
    ]
    records += [rec(40 + i, rng.standard_normal(D), 0.5) for i in range(40)]
    kept, rejected = run_dedup(records, tmp_path, DeduplicateScalable(THRESHOLD, partitions=6))
    assert_same_decisions(decisions(rejected), reference(records))
    pid = {r["persona_index"]: r["persona_id"] for r in records}
    for loser in (5, 2, 3):
        row = rejected[pid[loser]]
        assert (row["reason"], row["duplicate_of"], row["similarity"]) == (REASON_DUPLICATE_EXACT, pid[9], 1.0)
        assert row["message"] == f"identical to {pid[9]}"
        assert row["stage"] == "deduplicate"
    row = rejected[pid[20]]
    assert (row["reason"], row["duplicate_of"]) == (REASON_DUPLICATE_NEAR, pid[11])
    assert row["message"] == f"cosine similarity {row['similarity']:.3f} with {pid[11]}"
    assert pid[11] in kept and pid[9] in kept and pid[30] in kept
    assert len(rejected) == 4


def test_resolve_survivors_is_the_sequential_greedy_rule():
    # chain a-b-c: a kept, b dropped (by a), c kept (its only neighbour b was dropped)
    priorities = {"a": (0,), "b": (1,), "c": (2,), "d": (3,)}
    edges = [("b", "c", 0.95), ("a", "b", 0.92), ("c", "d", 0.91), ("a", "d", 0.91), ("d", "a", 0.91)]
    assert resolve_survivors(edges, priorities) == {"b": ("a", 0.92), "d": ("a", 0.91)}
    # equal similarity to two kept records: the higher priority one is named
    edges = [("c", "b", 0.93), ("c", "a", 0.93)]
    assert resolve_survivors(edges, priorities) == {"c": ("a", 0.93)}


def test_empty_input(tmp_path):
    kept, rejected = run_dedup([], tmp_path, DeduplicateScalable(THRESHOLD))
    assert kept == {} and rejected == {}


def test_a_top_up_round_searches_only_pairs_with_its_new_records(records, tmp_path):
    """new_round=1: the survivors of round 0 plus round 1's records. Round 1's duplicates are found,
    of round 0's survivors and of each other, whatever the partitions; a pair of two round-0
    records is never revisited, even if this round's partitions would find it."""
    rng = np.random.default_rng(3)
    old = [r for r in records if r["persona_index"] < 200][:150]
    old_pair = [rec(900, rng.standard_normal(D), 0.8), None]
    old_pair[1] = rec(901, near(rng, old_pair[0]["_embedding"].astype(np.float64), 0.97), 0.8)
    old = old + old_pair  # as if round 0's search had missed this pair: it stands
    base = old[0]["_embedding"].astype(np.float64)
    new = [
        {**rec(1000, near(rng, base, 0.95), 0.99), "top_up_round": 1},  # copies a kept one: loses despite its score
        {**rec(1001, rng.standard_normal(D), 0.7), "top_up_round": 1},
        {**rec(1002, near(rng, base, 0.95), 0.5), "top_up_round": 1},  # and the next copy too
        {**rec(1003, rng.standard_normal(D), 0.6), "top_up_round": 1},
    ]
    new.append({**rec(1004, near(rng, new[1]["_embedding"].astype(np.float64), 0.96), 0.6), "top_up_round": 1})
    kept, rejected = run_dedup(old + new, tmp_path, DeduplicateScalable(THRESHOLD, partitions=4, new_round=1))
    pid = {r["persona_index"]: r["persona_id"] for r in old + new}
    assert set(rejected) == {pid[1000], pid[1002], pid[1004]}
    assert rejected[pid[1000]]["duplicate_of"] == pid[old[0]["persona_index"]]
    assert rejected[pid[1004]]["duplicate_of"] == pid[1001]  # two new records: the usual rule
    assert {pid[900], pid[901], pid[1001], pid[1003]} <= set(kept)
    # the same input without new_round re-decides round 0's pair too
    _, full = run_dedup(old + new, tmp_path, DeduplicateScalable(THRESHOLD, partitions=4), name="full")
    assert set(full) == set(rejected) | {pid[901]}

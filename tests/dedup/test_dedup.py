import numpy as np
import pytest

from pipelines.common.embedding import embed_texts, load_embedder
from pipelines.dedup.embed import dedup_text
from pipelines.dedup.near_duplicates import find_duplicates, normalised_hash
from pipelines.records import REASON_DUPLICATE_EXACT, REASON_DUPLICATE_NEAR


def rec(index, text, vec, score=0.8):
    v = np.asarray(vec, dtype=np.float32)
    return {
        "_kind": "persona",
        "persona_id": f"p-0-{index:07d}",
        "persona_index": index,
        "narrative": text,
        "critic": {"score": score},
        "_embedding": v / np.linalg.norm(v),
    }


def test_exact_duplicates_ignore_case_and_punctuation():
    assert normalised_hash("Ana is  kind!") == normalised_hash("ana is kind")
    records = [rec(0, "Ana is kind.", [1, 0, 0]), rec(1, "ANA is kind", [0, 1, 0])]
    assert find_duplicates(records, 0.9) == {1: (REASON_DUPLICATE_EXACT, 0, 1.0)}


def test_near_duplicates_keep_higher_score_then_lower_index():
    records = [
        rec(0, "a", [1.0, 0.0, 0.0], score=0.7),
        rec(1, "b", [0.99, 0.05, 0.0], score=0.9),  # near 0, better score: survives
        rec(2, "c", [0.0, 1.0, 0.0]),
        rec(3, "d", [0.0, 0.999, 0.02]),  # near 2, same score, higher index: dropped
        rec(4, "e", [0.0, 0.0, 1.0]),
    ]
    dropped = find_duplicates(records, 0.95)
    assert set(dropped) == {0, 3}
    assert dropped[0][:2] == (REASON_DUPLICATE_NEAR, 1)
    assert dropped[3][:2] == (REASON_DUPLICATE_NEAR, 2)
    assert dropped[3][2] > 0.95


def test_decisions_do_not_depend_on_input_order():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(40, 16))
    vecs = np.concatenate([base, base[:15] + rng.normal(scale=0.01, size=(15, 16))])
    records = [rec(i, f"text {i}", v, score=round(float(rng.random()), 2)) for i, v in enumerate(vecs)]

    def decided(rs):
        d = find_duplicates(rs, 0.9)
        return {rs[i]["persona_id"]: rs[s]["persona_id"] for i, (_, s, _) in d.items()}

    forward = decided(records)
    shuffled = [records[i] for i in rng.permutation(len(records))]
    assert len(forward) == 15
    assert decided(shuffled) == forward


@pytest.fixture(scope="module")
def embedder():
    return load_embedder("bundled:all-MiniLM-L6-v2")


def test_bundled_embedder_separates_paraphrases_from_different_people(embedder):
    texts = [
        "Ana Silva is a 34-year-old nurse in Recife who swims every morning before her shift.",
        "Ana Silva, 34, is a nurse in Recife and swims each morning before she starts her shift.",
        "Tomasz Nowak is a 61-year-old retired miner from Katowice who breeds pigeons.",
    ]
    v = embed_texts(embedder, texts)
    assert v.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-4)
    assert float(v[0] @ v[1]) > 0.9 > float(v[0] @ v[2])


def test_dedup_text_masks_the_personas_own_name(embedder):
    a = {
        "narrative": "Ana Silva is a nurse. Ana swims; Silva's friends call her Ana.",
        "_attrs": {"identity.name": "Ana Silva"},
    }
    b = {
        "narrative": "Jo Park is a nurse. Jo swims; Park's friends call her Jo.",
        "_attrs": {"identity.name": "Jo Park"},
    }
    assert dedup_text(a) == dedup_text(b) == "Someone is a nurse. Someone swims; Someone's friends call her Someone."
    raw = embed_texts(embedder, [a["narrative"], b["narrative"]])
    masked = embed_texts(embedder, [dedup_text(a), dedup_text(b)])
    assert float(masked[0] @ masked[1]) > 0.99 > float(raw[0] @ raw[1])


def test_row_chunks_are_full_batches_then_powers_of_two():
    from pipelines.common.embedding import row_chunks

    assert row_chunks(0, 64) == []
    assert row_chunks(13, 64) == [8, 4, 1]
    assert row_chunks(64, 64) == [64]
    assert row_chunks(200, 64) == [64, 64, 64, 8]
    for n in range(1, 300):
        sizes = row_chunks(n, 64)
        assert sum(sizes) == n and all(s == 64 or (s & (s - 1) == 0 and s < 64) for s in sizes)


def test_embeddings_come_from_a_few_shapes_and_match_one_text_at_a_time(embedder):
    """Every call the model runs has a row count of a power of two and a token length padded to a
    multiple of TOKEN_BUCKET (torch keeps memory per shape); the vectors keep the caller's order and
    agree with embedding each text alone."""
    from pipelines.common.embedding import TOKEN_BUCKET

    words = [
        "she",
        "loves",
        "to",
        "play",
        "guitar",
        "and",
        "cooks",
        "for",
        "her",
        "family",
        "on",
        "weekends",
        "in",
        "the",
        "old",
        "town",
    ]
    texts = [" ".join(words[: 3 + (i * 7) % 14]) + f" number {i}" for i in range(37)]
    shapes = []
    first = embedder[0]
    original = first.forward

    def spy(features, *args, **kwargs):
        shapes.append(tuple(features["input_ids"].shape))
        return original(features, *args, **kwargs)

    first.forward = spy
    try:
        vectors = embed_texts(embedder, texts, batch_size=16)
    finally:
        first.forward = original
    assert [rows for rows, _ in shapes] == [16, 16, 4, 1]
    assert all(tokens % TOKEN_BUCKET == 0 for _, tokens in shapes)
    alone = np.stack([embed_texts(embedder, [t])[0] for t in texts])
    assert vectors.shape == (37, alone.shape[1])
    assert np.min(np.sum(vectors * alone, axis=1)) > 0.9999
    assert embed_texts(embedder, []).shape[0] == 0

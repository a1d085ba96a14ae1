"""Which dimensions each persona's deep profile has.

`choose` is a pure function of (the dimensions, their embeddings, the persona's embedding, seed,
persona index): the same selection on any runner and with any number of workers. Each dimension
gets a score, `relatedness` x (cosine between the dimension's label and the persona's core facts,
rounded to 4 digits so that the last bits of a float never decide) + a Gumbel draw hashed from
(seed, index, path); categories take turns, in an order hashed from (seed, index), each giving
its best-scoring dimension that is not near-identical (cosine >= `distinct`) to one chosen
before. Taking turns spreads the selection over every top-level category; the scores bias it
towards dimensions that fit the person (a nurse's profile gets "Shift Work / Sleep after Night
Shifts" more often than a retiree's).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import apache_beam as beam
import numpy as np

from pipelines.common.facts import persona_facts
from pipelines.deep_profile.dimensions import Dimension


def _unit(*parts: Any) -> float:
    """A uniform draw in (0, 1) from a hash of `parts`."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return (int.from_bytes(digest[:8], "big") + 0.5) / 2.0**64


def gumbel(*parts: Any) -> float:
    return -math.log(-math.log(_unit(*parts)))


def persona_text(attrs: dict[str, Any]) -> str:
    """The core facts a dimension is compared with (the name says nothing about the person)."""
    return "; ".join(f"{k}: {v}" for k, v in persona_facts(attrs) if k != "Name")


def choose(
    dims: Sequence[Dimension],
    dim_vecs: np.ndarray,
    persona_vec: np.ndarray,
    n: int,
    seed: int,
    index: int,
    relatedness: float,
    distinct: float,
) -> list[int]:
    """The positions of the `n` dimensions chosen for persona `index` (fewer when the taxonomy has
    fewer distinct ones), in the order they were chosen."""
    sims = np.round(dim_vecs @ persona_vec, 4)
    score = [relatedness * float(sims[i]) + gumbel(seed, index, d.path) for i, d in enumerate(dims)]
    by_cat: dict[str, list[int]] = {}
    for i, d in enumerate(dims):
        by_cat.setdefault(d.category, []).append(i)
    queues = {c: sorted(members, key=lambda i: (-score[i], i)) for c, members in by_cat.items()}
    cats = sorted(queues, key=lambda c: _unit(seed, index, "category", c))
    chosen: list[int] = []
    while len(chosen) < n and any(queues.values()):
        for c in cats:
            queue = queues[c]
            while queue:
                i = queue.pop(0)
                if not chosen or float(np.max(dim_vecs[chosen] @ dim_vecs[i])) < distinct:
                    chosen.append(i)
                    break
            if len(chosen) == n:
                break
    return chosen


class SelectDimensions(beam.DoFn):
    """PersonaSpec -> the same with `_deep`: the chosen dimension paths (`selected`), and empty
    `filled` / `missing` maps and LLM usage counters for the batches to come."""

    def __init__(self, dims: Sequence[Dimension], settings, seed: int, load_embedder):
        self.dims = tuple(dims)
        self.settings = settings
        self.seed = seed
        self.load_embedder = load_embedder  # () -> SentenceTransformer-like with .encode
        self.model = None
        self.dim_vecs = None

    def setup(self):
        self.model = self.load_embedder()
        # One fixed batch of every dimension, the same on every worker.
        self.dim_vecs = self._encode([d.label + (f": {d.hint}" if d.hint else "") for d in self.dims])

    def _encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(
            self.model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False),
            dtype=np.float32,
        )

    def process(self, spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
        s = self.settings
        # One text per call: its embedding never depends on what else is in a batch.
        vec = self._encode([persona_text(spec["_attrs"])])[0]
        picked = choose(
            self.dims, self.dim_vecs, vec, s.dimensions, self.seed, int(spec["persona_index"]),
            s.relatedness, s.distinct_threshold,
        )  # fmt: skip
        beam.metrics.Metrics.counter("deep_profile", "selected").inc(len(picked))
        yield {
            **spec,
            "_deep": {
                "selected": [self.dims[i].path for i in picked],
                "filled": {},
                "missing": {},
                "calls": 0,
                "prompt_tokens": 0,
                "completion_tokens": 0,
            },
        }

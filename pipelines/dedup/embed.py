"""Embed texts with sentence-transformers, in batches, model loaded once per worker.

Keys: reads the record's text (`narrative`, or `_text` for dialogues) and `_attrs` (the name to
mask); writes `_embedding`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import apache_beam as beam

from pipelines.common.embedding import embed_texts, shared_model
from pipelines.common.facts import mask_names
from pipelines.progress import Progress

NAME_PLACEHOLDER = "Someone"


def dedup_text(record: dict[str, Any], text_key: str = "narrative") -> str:
    """The text compared for duplicates: the persona's own name masked out.

    Sampled names are unique by design and dominate sentence embeddings (two narratives that
    differ only in the name score ~0.2 cosine with MiniLM). Masking them makes "the same nurse who
    loves hiking, again and again" visible as the duplicate it is.
    """
    return mask_name(record[text_key], (record.get("_attrs") or {}).get("identity.name") or "")


def mask_name(text: str, name: str) -> str:
    """`text` with every part of `name` (and runs of them) replaced by one placeholder."""
    return mask_names(text, {name: NAME_PLACEHOLDER}, flags=re.IGNORECASE)


class _EmbedBatch(beam.DoFn):
    def __init__(self, model_spec: str, batch_size: int, text_key: str, expected_total: int | None):
        self.model_spec = model_spec
        self.batch_size = batch_size
        self.text_key = text_key
        # The records that reach this stage are those validation kept: the planned count is a
        # bound, not a total. The final line comes from Beam's count of the output (EmbedRecords).
        what = {"narrative": "personas", "_text": "dialogues"}.get(text_key, text_key)
        self.progress = Progress(f"embed {what}", at_most=expected_total)
        self.model = None

    def setup(self):
        self.model = shared_model(self.model_spec)  # float32: decisions must not depend on the CPU

    def process(self, batch: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        self.progress.begin()
        texts = [dedup_text(r, self.text_key) for r in batch]
        vectors = embed_texts(self.model, texts, self.batch_size)
        self.progress.update(len(batch))
        for record, vector in zip(batch, vectors, strict=True):
            yield {**record, "_embedding": vector}


class EmbedRecords(beam.PTransform):
    """Adds the unit-norm float32 `_embedding` of each record's name-masked text (`dedup_text`);
    a working field, dropped before writing."""

    def __init__(
        self, model_spec: str, batch_size: int = 64, text_key: str = "narrative", expected_total: int | None = None
    ):
        super().__init__()
        self.model_spec = model_spec
        self.batch_size = batch_size
        self.text_key = text_key
        self.expected_total = expected_total

    def expand(self, records):
        encode = _EmbedBatch(self.model_spec, self.batch_size, self.text_key, self.expected_total)
        embedded = (
            records
            | "Batch" >> beam.BatchElements(min_batch_size=self.batch_size, max_batch_size=self.batch_size)
            | "Encode" >> beam.ParDo(encode)
        )
        # The stage is over when Beam has counted all of its output, on any runner: the final line.
        (
            embedded
            | "CountForProgress" >> beam.combiners.Count.Globally()
            | "ProgressDone" >> beam.Map(_finish_progress, encode.progress)
        )
        return embedded


def _finish_progress(count: int, progress: Progress) -> None:
    if count:
        progress.finish(count)

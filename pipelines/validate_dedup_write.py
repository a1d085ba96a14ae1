"""Validate -> embed -> deduplicate -> write, for any kind of record: the kept records as a
Parquet dataset and every dropped record, with its reason, as the matching rejected dataset.
With a `refill` (the quota top-up, `pipelines.sampling.QuotaTopUp`), more rounds follow.

Keys: reads the Generator-Critic's accepted records and rejected rows; adds `validation`
(`pipelines/validation/transforms.py`) and `_embedding` (`pipelines/dedup/embed.py`); writes
the public view (`public_view`) of each kept record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import apache_beam as beam
import pyarrow as pa

from pipelines.common.settings import DedupSettings, OutputSettings
from pipelines.dedup.embed import EmbedRecords
from pipelines.dedup.partitioned import DeduplicateScalable
from pipelines.output.shards import WriteShards
from pipelines.records import RecordKind
from pipelines.validation.rules import RuleSet
from pipelines.validation.transforms import Validate, public_view


@dataclass(frozen=True)
class Curation:
    """What every kind of record is validated, deduplicated and written with."""

    rules: RuleSet
    dedup: DedupSettings
    output: OutputSettings
    output_dir: str


@dataclass(frozen=True)
class Datasets:
    """A record kind's two written datasets and what their shard statistics count."""

    kind: RecordKind
    text_key: str  # the text that dedup compares
    schemas: tuple[pa.Schema, pa.Schema]  # kept, rejected
    names: tuple[str, str]  # kept, rejected
    count_keys: tuple[Any, ...]
    rejected_count_keys: tuple[Any, ...] = ()
    summarize: Any = None  # rows -> dict added to each kept shard's statistics (deep profiles)


class ValidateDedupWrite(beam.PTransform):
    """Filtered(accepted, rejected) of a Generator-Critic stage -> schema and rules -> embed ->
    dedup -> the kept records as a Parquet dataset, and every dropped record, with its reason, as
    the matching rejected dataset. Returns the kept records (still with their working keys).

    With `refill`, up to `refill.rounds` more rounds follow: refill(kept, round, label) returns
    the Filtered replacements, which are validated, embedded and deduplicated against everything
    kept so far and each other (only pairs with a new record are searched; a kept record always
    wins over a replacement, see `pipelines.dedup.near_duplicates.priority`)."""

    def __init__(self, curation: Curation, datasets: Datasets, expected_total: int | None = None, refill=None):
        super().__init__()
        self.curation = curation
        self.datasets = datasets
        self.expected_total = expected_total
        self.refill = refill

    def expand(self, generated):
        c, d = self.curation, self.datasets
        scope = d.kind.name
        rounds = self.refill.rounds if self.refill is not None else 0
        accepted, rejected, kept = generated[0], [generated[1]], None
        for r in range(rounds + 1):
            label = f"TopUp{r}" if r else ""
            if r:
                accepted, refill_rejected = self.refill(kept, r, label)
                rejected.append(refill_rejected)
            validated = accepted | f"{label}Validate" >> Validate(scope, c.rules, scope)
            embedded = validated.kept | f"{label}Embed" >> EmbedRecords(
                c.dedup.embedding_model,
                c.dedup.batch_size,
                d.text_key,
                expected_total=None if r else self.expected_total,
            )
            pool = embedded if kept is None else (kept, embedded) | f"{label}Pool" >> beam.Flatten()
            deduped = pool | f"{label}Deduplicate" >> DeduplicateScalable(
                c.dedup.threshold, text_key=d.text_key, new_round=r or None, **c.dedup.search_options()
            )
            rejected += [validated.rejected, deduped.rejected]
            kept = deduped.kept
        kept_schema, rejected_schema = d.schemas
        kept_name, rejected_name = d.names
        out = c.output
        (
            kept
            | "ToRows" >> beam.Map(public_view)
            | "WriteKept"
            >> WriteShards(
                c.output_dir,
                kept_name,
                kept_schema,
                out.rows_per_shard,
                out.compression,
                d.count_keys,
                d.kind.index_key,
                d.summarize,
            )
        )
        (
            rejected
            | "AllRejected" >> beam.Flatten()
            | "WriteRejected"
            >> WriteShards(
                c.output_dir,
                rejected_name,
                rejected_schema,
                out.rows_per_shard,
                out.compression,
                ("reason", "stage", "rule", *d.rejected_count_keys),
                d.kind.index_key,
            )
        )
        return kept

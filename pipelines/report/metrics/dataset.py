"""Loading a finished dataset folder: its manifest, the persona and rejected shards (polars frames
and Arrow schemas), the attributes flattened to one column per dotted path, and the run's
taxonomy when it can still be loaded."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.errors import InputError

MANIFEST = "manifest.json"
REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Dataset:
    """A finished dataset folder, loaded."""

    root: Path
    manifest: dict[str, Any]
    personas: pl.DataFrame
    rejected: pl.DataFrame | None
    persona_schema: pa.Schema
    rejected_schema: pa.Schema | None
    flat: pl.DataFrame  # the attributes, one column per dotted path
    taxonomy: Any  # pipelines.taxonomy.Taxonomy, or None when it could not be loaded
    taxonomy_note: str | None


def _shards(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.parquet") if p.is_file()) if folder.is_dir() else []


def _read(shards: list[Path]) -> tuple[pl.DataFrame, pa.Schema]:
    try:
        schema = pq.read_schema(shards[0])
        return pl.read_parquet([str(p) for p in shards]), schema
    except Exception as exc:  # polars and pyarrow raise several error types for a broken file
        raise InputError(str(shards[0].parent), "<folder>", f"a shard is not readable Parquet: {exc}") from None


def _leaf_paths(dtype: pl.DataType, prefix: tuple[str, ...] = ()) -> Iterable[tuple[tuple[str, ...], pl.DataType]]:
    for f in dtype.fields:  # type: ignore[attr-defined]
        if isinstance(f.dtype, pl.Struct):
            yield from _leaf_paths(f.dtype, (*prefix, f.name))
        else:
            yield (*prefix, f.name), f.dtype


def flatten_attributes(personas: pl.DataFrame) -> pl.DataFrame:
    """The nested `attributes` struct as one column per dotted path (`demographics.gender`, ...)."""
    if "attributes" not in personas.columns or not isinstance(personas.schema["attributes"], pl.Struct):
        return pl.DataFrame()
    exprs = []
    for path, _ in _leaf_paths(personas.schema["attributes"]):
        expr = pl.col("attributes")
        for part in path:
            expr = expr.struct.field(part)
        exprs.append(expr.alias(".".join(path)))
    return personas.select(exprs)


def _load_taxonomy(manifest: dict[str, Any]) -> tuple[Any, str | None]:
    files = ((manifest.get("config") or {}).get("taxonomy") or {}).get("files") or []
    if not files:
        return None, "the manifest names no taxonomy files (config.taxonomy.files)"
    paths = []
    for f in files:
        p = Path(f)
        if not p.is_absolute():
            p = REPO_ROOT / p if (REPO_ROOT / p).exists() else p
        paths.append(p)
    try:
        from pipelines.taxonomy import load_taxonomy

        taxonomy = load_taxonomy(paths)
    except Exception as exc:  # InputError for a bad file; anything else is just as fatal for coverage
        return None, f"the taxonomy could not be loaded ({exc}); coverage shows distinct values only"
    expected = (manifest.get("hashes") or {}).get("taxonomy")
    if expected and expected != taxonomy.content_hash:
        return taxonomy, (
            "the taxonomy files changed since the run (content hash differs from the manifest's); "
            "coverage is measured against the current files"
        )
    return taxonomy, None


def load_dataset(dataset_dir: str | Path) -> Dataset:
    """Read a finished dataset folder; bad input (no folder, no manifest, no shards) is an InputError."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise InputError(str(root), "<folder>", "dataset folder not found")
    manifest_path = root / MANIFEST
    if not manifest_path.is_file():
        raise InputError(
            str(root), "<folder>", "no manifest.json: not a finished dataset (the manifest is written last)"
        )
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(str(manifest_path), "<file>", f"not readable JSON: {exc}") from None
    if not isinstance(manifest, dict):
        raise InputError(str(manifest_path), "<root>", "expected a JSON object")
    persona_shards = _shards(root / "personas")
    if not persona_shards:
        raise InputError(str(root / "personas"), "<folder>", "no Parquet shards (*.parquet) in this folder")
    personas, persona_schema = _read(persona_shards)
    for column in ("persona_id", "narrative"):
        if column not in personas.columns:
            raise InputError(str(root / "personas"), "<schema>", f"no {column!r} column: not a personas dataset")
    rejected_shards = _shards(root / "rejected")
    rejected, rejected_schema = _read(rejected_shards) if rejected_shards else (None, None)
    taxonomy, note = _load_taxonomy(manifest)
    return Dataset(
        root,
        manifest,
        personas,
        rejected,
        persona_schema,
        rejected_schema,
        flatten_attributes(personas),
        taxonomy,
        note,
    )

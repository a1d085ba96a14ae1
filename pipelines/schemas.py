"""Access to the JSON Schemas in `schemas/` and validation with precise error locations."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

from pipelines.errors import InputError, json_path

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"


@functools.cache
def load_schema(name: str) -> dict[str, Any]:
    path = SCHEMA_DIR / f"{name}.schema.json"
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


@functools.cache
def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(load_schema(name))


def schema_errors(schema: str | jsonschema.protocols.Validator, instance: Any) -> list[tuple[str, str, str]]:
    """All violations as (json path, violated keyword, message), in a stable order. `schema` is
    a schema name in `schemas/` or a ready validator."""
    v = validator(schema) if isinstance(schema, str) else schema
    errors = sorted(v.iter_errors(instance), key=lambda e: list(map(str, e.path)))
    return [(json_path(e.absolute_path), str(e.validator), e.message) for e in errors]


def check_file_against_schema(name: str, instance: Any, file: str) -> None:
    """Raise InputError for the first violation of a user-edited file."""
    errors = schema_errors(name, instance)
    if errors:
        path, keyword, message = errors[0]
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        raise InputError(file, path, f"{message} [schema keyword: {keyword}]{more}")

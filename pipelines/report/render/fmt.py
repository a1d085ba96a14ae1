"""How the HTML page and the dataset card write a value: numbers, flags, lists and mappings as
short text, and a quota cell's label."""

from __future__ import annotations

from typing import Any


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {fmt(v)}" for k, v in value.items())
    return str(value)


def cell_label(cell: dict[str, Any]) -> str:
    values = cell.get("values") or {}
    return " / ".join(str(v) for v in values.values()) or str(cell.get("cell_id"))

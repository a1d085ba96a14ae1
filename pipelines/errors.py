"""Errors raised for bad input, carrying the file and the location inside it."""

from __future__ import annotations


class InputError(ValueError):
    """A config, taxonomy, schema or rules file is wrong.

    The message always names the file, the location inside it (a dotted/JSON path)
    and what is wrong, so that a user can fix it without reading code.
    """

    def __init__(self, file: str, location: str, problem: str):
        self.file = str(file)
        self.location = location or "<root>"
        self.problem = problem
        super().__init__(f"{self.file}: at {self.location}: {problem}")


def json_path(parts) -> str:
    """Render a jsonschema error path as `$.a.b[2]`."""
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out

"""What every entry point does around its `run`: logging, and bad input as a message plus exit 2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from pipelines.errors import InputError
from pipelines.progress import configure_logging


def cli_main(
    run: Callable[[list[str] | None], dict[str, Any]], argv: list[str] | None, done: Callable[[dict[str, Any]], str]
) -> int:
    configure_logging()
    try:
        manifest = run(argv)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(done(manifest))
    return 0

"""A durable cache of LLM answers, so that a re-run or a resumed run pays only for requests that
were never answered.

Each answer is one small JSON file under the cache root (a local folder, or any Beam FileSystems
URL such as gs://bucket/cache for distributed runs), at `<root>/<key[:2]>/<key>.json`, written
atomically the moment it arrives: a run killed at any point keeps every answer it received.

The key is a sha256 over what determines the answer: the served model name, the messages, the
assistant prefill, the sampling parameters, the number of candidates, the request seed, the
structured-output schema and the token limit. Endpoint addresses and API keys are not part of
it (they do not change the answer, and keys must never be written anywhere). Failed requests are
never cached.

    python -m pipelines.generation.cache --info     # where it is, how many answers
    python -m pipelines.generation.cache --clear    # delete every cached answer
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from apache_beam.io.filesystems import FileSystems

ENV = "PERSONA_PIPELINES_LLM_CACHE"
KEY_VERSION = 1


def default_root() -> str:
    """$PERSONA_PIPELINES_LLM_CACHE, else ~/.cache/persona-pipelines/llm."""
    return os.environ.get(ENV) or str(Path.home() / ".cache" / "persona-pipelines" / "llm")


def cache_key(model: str, sampling: dict[str, Any], request: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of everything that determines an answer."""
    doc = {"v": KEY_VERSION, "model": model, "sampling": sampling, "request": request}
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ResponseCache:
    """get/put of JSON-able answers by key. Cheap to pickle: it holds only its root."""

    def __init__(self, root: str):
        self.root = root.rstrip("/")

    def _path(self, key: str) -> str:
        return FileSystems.join(self.root, key[:2], f"{key}.json")

    def get(self, key: str) -> dict[str, Any] | None:
        path = self._path(key)
        try:
            with FileSystems.open(path) as f:
                return json.loads(f.read().decode("utf-8"))
        except (OSError, ValueError):  # absent; or unreadable, which is answered anew
            return None
        except Exception as exc:  # noqa: BLE001 - FileSystems raises its own types for missing files
            if "not found" in str(exc).lower() or "no such file" in str(exc).lower():
                return None
            raise

    def put(self, key: str, value: dict[str, Any]) -> None:
        from pipelines.common.files import write_bytes_atomically

        path = self._path(key)
        if "://" not in path:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        write_bytes_atomically(path, json.dumps(value, ensure_ascii=False).encode("utf-8"))

    def count(self) -> int:
        if not FileSystems.exists(self.root):
            return 0
        pattern = FileSystems.join(self.root, "*", "*.json")
        return sum(len(m.metadata_list) for m in FileSystems.match([pattern]))

    def clear(self) -> int:
        """Delete every cached answer; returns how many there were."""
        n = self.count()
        if FileSystems.exists(self.root):
            FileSystems.delete([self.root])
        return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.generation.cache", description=__doc__.split("\n")[0])
    parser.add_argument("--path", default=None, help=f"cache root (default: ${ENV} or ~/.cache/persona-pipelines/llm)")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--info", action="store_true", help="print where the cache is and how many answers it holds")
    action.add_argument("--clear", action="store_true", help="delete every cached answer")
    args = parser.parse_args(argv)
    cache = ResponseCache(args.path or default_root())
    if args.clear:
        print(f"deleted {cache.clear()} cached answer(s) from {cache.root}")
    else:
        print(f"{cache.root}: {cache.count()} cached answer(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

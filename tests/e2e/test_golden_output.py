"""The golden run (tests/e2e/golden_run.py) must write exactly the datasets recorded in
golden_hashes.json: the same persona, rejected, dialogue and export files, byte for byte. The
hashes were recorded on the code before its stages were reorganised (commit `recorded_on`), so a
change meant to preserve behaviour is proven to, and one that changes the output must say so by
recording new hashes (`python -m tests.e2e.golden_run OUT` prints them).

File bytes depend on the Parquet writer too: under another pyarrow version than the one recorded,
the rows (canonical JSON, floats to 6 digits) are compared instead."""

import json
from pathlib import Path

import pyarrow
import pytest

from tests.e2e.golden_run import run_golden

GOLDEN = json.loads((Path(__file__).parent / "golden_hashes.json").read_text())


@pytest.mark.e2e
def test_golden_run_writes_the_recorded_datasets(tmp_path):
    manifest, files = run_golden(tmp_path)
    assert manifest["counts"] == GOLDEN["counts"]
    assert sorted(files) == sorted(GOLDEN["files"])
    key = "bytes" if pyarrow.__version__ == GOLDEN["pyarrow"] else "rows"
    changed = [path for path, digest in files.items() if digest[key] != GOLDEN["files"][path][key]]
    assert not changed, f"these files differ from the recorded run ({key}): {changed}"

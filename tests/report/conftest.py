"""The fixture dataset folder and its metrics, built once per test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.report.metrics import compute_metrics
from tests.report.fixture import build_fixture


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    return build_fixture(tmp_path_factory.mktemp("report") / "ds")


@pytest.fixture(scope="module")
def metrics(dataset_dir) -> dict:
    return compute_metrics(dataset_dir, embeddings=False, audit={"permutations": 20})

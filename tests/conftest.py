import logging
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _quiet_logs():
    logging.getLogger("pipelines").setLevel(logging.INFO)


@pytest.fixture(scope="session")
def base_taxonomy():
    from pipelines.taxonomy import load_taxonomy

    return load_taxonomy([REPO / "taxonomy" / "base.yaml"])


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path

import logging
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _quiet_logs():
    logging.getLogger("pipelines").setLevel(logging.INFO)


@pytest.fixture(autouse=True)
def _own_llm_cache(tmp_path, monkeypatch):
    """Each test gets an empty LLM answer cache, so that tests neither share answers nor touch
    the user's cache."""
    monkeypatch.setenv("PERSONA_PIPELINES_LLM_CACHE", str(tmp_path / "llm-cache"))


@pytest.fixture(scope="session")
def base_taxonomy():
    from pipelines.taxonomy import load_taxonomy

    return load_taxonomy([REPO / "taxonomy" / "base.yaml"])


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path

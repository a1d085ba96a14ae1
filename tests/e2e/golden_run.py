"""The golden run: one fixed config (faults, critic rejections, revisions, dedup, quota top-up,
dialogues, the Synthetic-Persona-Chat export) against the local test server, and the sha256 of
every dataset file it writes. `test_golden_output.py` pins these hashes, recorded on the code
before the stages were reorganised, so that a change meant to preserve behaviour is proven to.

    python -m tests.e2e.golden_run OUT_DIR      # prints the hashes as JSON
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from unittest import mock

import pyarrow.parquet as pq

from pipelines.common.embedding import PRECISION_ENV

REPO = Path(__file__).resolve().parents[2]
DATASETS = ("personas", "rejected", "dialogues", "dialogues_rejected")
FAULTS = {0: "error400", 1: "empty", 2: "clone", 3: "clone", 4: "wrong_then_fixed", 5: "always_wrong", 6: "second_best"}
KEY_ENV = "GOLDEN_LLM_KEY"


def fault_for(facts):
    bucket = int(hashlib.sha256(facts["Name"].encode()).hexdigest(), 16) % 10
    return FAULTS.get(bucket)


def golden_config(folder: Path, base_url: str) -> Path:
    path = folder / "golden.yaml"
    path.write_text(
        f"""
run: {{name: golden, seed: 31, num_personas: 40}}
taxonomy: {{files: [taxonomy/base.yaml]}}
quotas: {{stratify_by: [demographics.age_band, demographics.gender], top_up: {{rounds: 2, max_extra_fraction: 0.5}}}}
llm: {{backend: openai, base_url: "{base_url}", model: fake-model, api_key_env: {KEY_ENV},
       concurrency: 8, max_retries: 2, request_timeout_s: 20}}
critic: {{min_words: 20, max_words: 200, threshold: 0.6}}
dialogues: {{enabled: true, per_persona: 1, turns: 4}}
output: {{rows_per_shard: 15, report: false}}
""",
        encoding="utf-8",
    )
    return path


def _canonical(value):
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def digests(out: Path) -> dict[str, dict[str, str]]:
    """{relative path: {"bytes": sha256 of the file, "rows": sha256 of its rows as canonical JSON}}.
    The row digest rounds floats to 6 digits, so it holds across CPUs and Parquet writer versions
    where the file bytes may not."""
    files = sorted(p for d in DATASETS for p in (out / d).glob("*.parquet"))
    files += sorted((out / "export").rglob("*.csv"))
    result = {}
    for path in files:
        data = path.read_bytes()
        if path.suffix == ".parquet":
            rows = pq.read_table(path).to_pylist()
            canon = json.dumps(_canonical(rows), sort_keys=True, default=str)
        else:
            canon = data.decode("utf-8")
        result[str(path.relative_to(out))] = {
            "bytes": hashlib.sha256(data).hexdigest(),
            "rows": hashlib.sha256(canon.encode("utf-8")).hexdigest(),
        }
    return result


def run_golden(out: Path) -> tuple[dict, dict[str, dict[str, str]]]:
    from pipelines import build_dataset
    from tests.fake_openai import FakeOpenAI

    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault(KEY_ENV, "sk-golden-test")
    os.environ["PERSONA_PIPELINES_LLM_CACHE"] = str(out / "llm-cache")
    # the critic's sentence embeddings in float32 on every CPU (bfloat16 where it is native would
    # give the same verdicts here, but the recorded hashes must not depend on the machine)
    with mock.patch.dict(os.environ, {PRECISION_ENV: "float32"}), FakeOpenAI(fault_for) as server:
        cfg = golden_config(out, server.base_url)
        manifest = build_dataset.run(["--config", str(cfg), "--output", str(out / "dataset"), "--overwrite"])
    return manifest, digests(out / "dataset")


if __name__ == "__main__":
    manifest, result = run_golden(Path(sys.argv[1]))
    print(json.dumps({"counts": manifest["counts"], "files": result}, indent=1, sort_keys=True))

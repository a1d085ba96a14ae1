"""The golden run (tests/e2e/golden_run.py) on Beam's portable runner stack: a local job service
and an EXTERNAL worker pool, both started here, so that every DoFn is pickled, shipped over the
Fn API and run in a separate SDK worker process, as on Flink or Dataflow. The datasets must be
the ones the in-process runner wrote when golden_hashes.json was recorded (row digests), and the
manifest counts (read from the runner's metrics) the same."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipelines.common.embedding import PRECISION_ENV
from tests.e2e.golden_run import KEY_ENV, digests, fault_for, golden_config
from tests.portable_stack import portable_stack as local_portable_stack
from tests.portable_stack import tail, worker_env

REPO = Path(__file__).resolve().parents[2]
GOLDEN = json.loads((Path(__file__).parent / "golden_hashes.json").read_text())


@pytest.fixture
def portable_stack(tmp_path):
    """(job endpoint, worker pool endpoint, the services' logs), stopped (with their workers) on
    teardown."""
    # the workers' critic embeddings in float32, as the golden run pins them (see golden_run.py)
    env = worker_env({KEY_ENV: os.environ.get(KEY_ENV, "sk-golden-test"), PRECISION_ENV: "float32"})
    with local_portable_stack(tmp_path, env) as stack:
        yield stack


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_golden_run_on_the_portable_runner_writes_the_recorded_datasets(tmp_path, monkeypatch, portable_stack):
    from pipelines import build_dataset
    from tests.fake_openai import FakeOpenAI

    job_endpoint, pool_endpoint, logs = portable_stack
    monkeypatch.setenv(KEY_ENV, "sk-golden-test")
    out = tmp_path / "dataset"
    with FakeOpenAI(fault_for) as server:
        cfg = golden_config(tmp_path, server.base_url)
        try:
            manifest = build_dataset.run(
                [
                    "--config", str(cfg), "--output", str(out), "--overwrite",
                    "--runner=PortableRunner", f"--job_endpoint={job_endpoint}",
                    "--environment_type=EXTERNAL", f"--environment_config={pool_endpoint}",
                ]
            )  # fmt: skip
        except Exception:
            for name, path in logs.items():
                print(f"--- {name} log ---\n{tail(path, 8000)}")
            raise
        posts = server.posts
    assert manifest["run"]["runner"] == "PortableRunner"
    files = digests(out)
    assert sorted(files) == sorted(GOLDEN["files"])
    changed = [path for path, digest in files.items() if digest["rows"] != GOLDEN["files"][path]["rows"]]
    assert not changed, f"these files differ from the in-process run's (rows): {changed}"
    assert manifest["counts"] == GOLDEN["counts"]
    # The counters come from the runner's metrics, reported by the pool's workers: every request the
    # test server answered is counted, and the dialogue section (counters only) is there.
    requests = sum(v for k, v in manifest["llm"].items() if k.startswith("llm.") and k.endswith("_requests"))
    assert requests == posts, f"the manifest counts {requests} LLM requests, the server answered {posts}"
    assert manifest["dialogues"]["planned"] == manifest["dialogues"]["accepted"] + manifest["dialogues"]["rejected"]
    # Progress is counted for the whole run in the workers' shared folder, and logged there (the
    # pool's log): the planned personas' first requests, over both exemplar iterations, reach 100%.
    pool_log = logs["worker pool"].read_text(errors="replace")
    assert f"LLM generate: {GOLDEN['counts']['planned']}/{GOLDEN['counts']['planned']} (100%)" in pool_log, tail(
        logs["worker pool"]
    )
    assert "worker " not in "".join(line for line in pool_log.splitlines() if "pipelines.progress" in line)

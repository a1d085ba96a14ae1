"""The golden run (tests/e2e/golden_run.py) on Beam's portable runner stack: a local job service
and an EXTERNAL worker pool, both started here, so that every DoFn is pickled, shipped over the
Fn API and run in a separate SDK worker process, as on Flink or Dataflow. The datasets must be
the ones the in-process runner wrote when golden_hashes.json was recorded (row digests), and the
manifest counts (read from the runner's metrics) the same."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.golden_run import KEY_ENV, digests, fault_for, golden_config

REPO = Path(__file__).resolve().parents[2]
GOLDEN = json.loads((Path(__file__).parent / "golden_hashes.json").read_text())
START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("localhost", port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: Path, n: int = 4000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text[-n:] or "(empty)"


def _stop(proc: subprocess.Popen) -> None:
    """The service and every worker it spawned: its own process group (start_new_session), so
    workers left behind by a service that died first go too."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def worker_env(extra: dict[str, str]) -> dict[str, str]:
    """The services' environment: the venv's python first on PATH (the worker pool starts its SDK
    workers with `python`), the repository importable, and what the DoFns read (the API key)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


@pytest.fixture
def portable_stack(tmp_path):
    """(job endpoint, worker pool endpoint, the pool's log) of a local job service and an EXTERNAL
    worker pool, stopped (with their workers) on teardown."""
    env = worker_env({KEY_ENV: os.environ.get(KEY_ENV, "sk-golden-test")})
    pool_port, job_port = _free_port(), _free_port()
    services = {
        "worker pool": (
            [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={pool_port}"],
            pool_port,
        ),
        "job service": (
            [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main", f"--port={job_port}"],
            job_port,
        ),
    }
    started: list[subprocess.Popen] = []
    logs: dict[str, Path] = {}
    try:
        for name, (cmd, port) in services.items():
            logs[name] = tmp_path / f"{name.replace(' ', '_')}.log"
            with logs[name].open("wb") as out:
                proc = subprocess.Popen(
                    cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            started.append(proc)
            deadline = time.monotonic() + START_TIMEOUT_S
            while not _accepts(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    state = f"exited with {proc.returncode}" if proc.poll() is not None else "still not listening"
                    pytest.fail(
                        f"the {name} ({' '.join(cmd)}) did not accept connections on port {port} "
                        f"within {START_TIMEOUT_S:.0f}s ({state}); its log:\n{_tail(logs[name])}"
                    )
                time.sleep(0.2)
        for name, proc in zip(services, started, strict=True):
            if proc.poll() is not None:  # its port taken by something else, which answered instead
                pytest.fail(f"the {name} exited with {proc.returncode} after starting; its log:\n{_tail(logs[name])}")
        yield f"localhost:{job_port}", f"localhost:{pool_port}", logs
    finally:
        for proc in reversed(started):
            _stop(proc)


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
                print(f"--- {name} log ---\n{_tail(path, 8000)}")
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
    assert f"LLM generate: {GOLDEN['counts']['planned']}/{GOLDEN['counts']['planned']} (100%)" in pool_log, _tail(
        logs["worker pool"]
    )
    assert "worker " not in "".join(line for line in pool_log.splitlines() if "pipelines.progress" in line)

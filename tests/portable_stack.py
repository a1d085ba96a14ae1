"""A local Beam portable runner stack: a job service and an EXTERNAL worker pool on free ports,
as Flink and Dataflow run a job (every DoFn pickled and run in a separate SDK worker over the Fn
API). Used by the portable e2e test and by the scale benchmark."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
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


def tail(path: Path, n: int = 4000) -> str:
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


@contextlib.contextmanager
def portable_stack(folder: Path, env: dict[str, str]) -> Iterator[tuple[str, str, dict[str, Path]]]:
    """(job endpoint, worker pool endpoint, {name: log}) of a local job service and an EXTERNAL
    worker pool started with `env` (see worker_env), stopped with their workers on exit. A service
    that does not start raises RuntimeError with its log."""
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
            logs[name] = folder / f"{name.replace(' ', '_')}.log"
            with logs[name].open("wb") as out:
                proc = subprocess.Popen(
                    cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                )
            started.append(proc)
            deadline = time.monotonic() + START_TIMEOUT_S
            while not _accepts(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    state = f"exited with {proc.returncode}" if proc.poll() is not None else "still not listening"
                    raise RuntimeError(
                        f"the {name} ({' '.join(cmd)}) did not accept connections on port {port} "
                        f"within {START_TIMEOUT_S:.0f}s ({state}); its log:\n{tail(logs[name])}"
                    )
                time.sleep(0.2)
        for name, proc in zip(services, started, strict=True):
            if proc.poll() is not None:  # its port taken by something else, which answered instead
                raise RuntimeError(
                    f"the {name} exited with {proc.returncode} after starting; its log:\n{tail(logs[name])}"
                )
        yield f"localhost:{job_port}", f"localhost:{pool_port}", logs
    finally:
        for proc in reversed(started):
            _stop(proc)

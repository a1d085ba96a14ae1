"""Start and stop a vLLM OpenAI-compatible server as a child process.

Used by the `embedded` and `vllm` backends: each worker process that needs the model starts one
server, talks OpenAI chat to it over loopback and stops it when the pipeline ends (or when the
worker dies: the child gets SIGTERM from the kernel when its parent goes away).
"""

from __future__ import annotations

import atexit
import collections
import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

log = logging.getLogger(__name__)

_SERVERS: list[VLLMServer] = []
_LOCK = threading.Lock()
_SHARED: dict[tuple, VLLMServer] = {}
_START_LOCK = threading.Lock()


# CPU flags under which vLLM's CPU backend runs bfloat16 natively; without them (e.g. AVX2-only
# machines) bfloat16 is emulated and about 5 times slower than float32 for the embedded model.
_BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16"}


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _has_cuda() -> bool:
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # noqa: BLE001 - no torch, or a broken CUDA install: not a GPU machine
        return False


def resolve_dtype(dtype: str, model: str, cpu_flags: set[str] | None = None, cuda: bool | None = None) -> str:
    """`auto` -> float32 for a bfloat16 model served on a CPU without native bfloat16, else `auto`
    (vLLM's choice: the model's own dtype). Any other value is passed through as given."""
    if dtype != "auto":
        return dtype
    try:
        with open(os.path.join(model, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return "auto"  # a hub name or no config: leave it to vLLM
    model_dtype = config.get("dtype") or config.get("torch_dtype")
    if model_dtype != "bfloat16":
        return "auto"
    if cuda if cuda is not None else _has_cuda():
        return "auto"
    flags = cpu_flags if cpu_flags is not None else _cpu_flags()
    return "auto" if flags & _BF16_CPU_FLAGS else "float32"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class VLLMServer:
    def __init__(
        self,
        model: str,
        served_name: str,
        gpu_memory_utilization: float = 0.3,
        max_model_len: int = 2048,
        enforce_eager: bool = True,
        extra_args: list[str] | None = None,
        startup_timeout_s: float = 900,
        dtype: str = "auto",
        cpu_reserved_cores: int | None = None,
    ):
        self.model = model
        self.served_name = served_name
        self.port = _free_port()
        self.startup_timeout_s = startup_timeout_s
        self.dtype = resolve_dtype(dtype, model)
        self.cpu_reserved_cores = cpu_reserved_cores
        self.args = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", model,
            "--served-model-name", served_name,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--gpu-memory-utilization", str(gpu_memory_utilization),
            "--max-model-len", str(max_model_len),
            *(["--enforce-eager"] if enforce_eager else []),
            *(["--dtype", self.dtype] if self.dtype != "auto" else []),
            *(extra_args or []),
        ]  # fmt: skip
        fd, self.log_path = tempfile.mkstemp(prefix="vllm-server-", suffix=".log")
        os.close(fd)
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def _tail(self, n: int = 40) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return "".join(collections.deque(f, maxlen=n))
        except OSError:
            return ""

    def start(self) -> VLLMServer:
        log.info(
            "starting vLLM server for %s on port %d (dtype %s; log: %s)",
            self.model,
            self.port,
            self.dtype,
            self.log_path,
        )
        env = dict(os.environ)
        if self.cpu_reserved_cores is not None:  # CPU backend: cores kept out of the model's thread pool
            env["VLLM_CPU_NUM_OF_RESERVED_CPU"] = str(self.cpu_reserved_cores)
        env.setdefault("VLLM_NO_USAGE_STATS", "1")
        env.setdefault("HF_HUB_OFFLINE", "1")
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                self.args, stdout=logf, stderr=subprocess.STDOUT, env=env,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )  # fmt: skip
        with _LOCK:
            _SERVERS.append(self)
        deadline = time.monotonic() + self.startup_timeout_s
        last_note = time.monotonic()
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"vLLM server for {self.model} exited with code {self.proc.returncode} "
                    f"before it was ready. Last lines of {self.log_path}:\n{self._tail()}"
                )
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as r:
                    if r.status == 200:
                        log.info("vLLM server ready on port %d", self.port)
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() - last_note > 15:
                last_note = time.monotonic()
                log.info("waiting for vLLM server to load %s ...", self.served_name)
            time.sleep(1.0)
        self.stop()
        raise TimeoutError(
            f"vLLM server for {self.model} not ready after {self.startup_timeout_s:.0f}s. "
            f"Last lines of {self.log_path}:\n{self._tail()}"
        )

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            log.info("stopped vLLM server on port %d", self.port)
        with _LOCK:
            if self in _SERVERS:
                _SERVERS.remove(self)
            for key, server in list(_SHARED.items()):
                if server is self:
                    del _SHARED[key]


def shared_server(model: str, served_name: str, **options) -> VLLMServer:
    """The running server for this model and options in this process, started on first use.
    Stages that use the same model share it instead of each loading the model again."""
    key = (model, served_name, tuple(sorted((k, repr(v)) for k, v in options.items())))
    with _START_LOCK:
        server = _SHARED.get(key)
        if server is None or server.proc is None or server.proc.poll() is not None:
            server = _SHARED[key] = VLLMServer(model, served_name, **options).start()
        return server


def stop_all() -> None:
    """Stop every server this process started."""
    for server in list(_SERVERS):
        server.stop()


atexit.register(stop_all)

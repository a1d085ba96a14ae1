"""Scale benchmark: the whole build (pipelines.build_dataset.run) for N personas with dialogues,
against the local OpenAI-compatible test server, on two runners side by side:

    python benchmarks/bench_scale.py [--personas 10000] [--runners direct,portable] [--output DIR] [--keep]

  direct:   the multi-process direct runner (--direct_running_mode=multi_processing
            --direct_num_workers=2);
  portable: Beam's portable stack, a local job service and an EXTERNAL worker pool started and
            stopped here as tests/e2e/test_portable_runner.py does (its helpers are reused).

The test server (tests/fake_openai.py) runs in a process of its own, so that its CPU time can be
told apart; it answers a fixed, light mix of faults (critic rejections, revisions, retries, clones)
so that the critic, the revision rounds and the quota top-up do real work. The run config is the
project defaults (critic included) with the openai backend, one dialogue per persona (about N/2
dialogues), the quality report on, and a fresh LLM answer cache per runner.

For each runner it prints: total wall time, the stage spans (from the run's own progress lines:
first item to last item of each stage across all workers, 1 s resolution; stages overlap, as Beam
fuses them), the manifest's pipeline wall time, personas/s, peak RSS per process (sampled every
0.5 s with psutil) and summed over the process tree, the non-LLM CPU per persona (CPU
time of the process tree minus the test server's, over the personas generated), and the accounting
check `planned + topped_up == accepted + rejected` (exit 1 on a mismatch).
Each runner's folder gets `memory.tsv` (each process's RSS every 0.5 s; kept with --keep).
Then the two runners' ratios. It asserts nothing on time.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

KEY_ENV = "BENCH_SCALE_LLM_KEY"
SEED = 20260601
SAMPLE_S = 0.5
RUNNERS = ("direct", "portable")
CONSOLE = open(os.dup(2), "w", buffering=1, encoding="utf-8", errors="replace")  # noqa: SIM115 - the terminal's stderr
RUNNER_FLAGS = {
    "direct": ["--direct_running_mode=multi_processing", "--direct_num_workers=2"],
    # + the job endpoint and the EXTERNAL pool, started below; the build sets the job's deadline
    "portable": ["--runner=PortableRunner"],
}
# A persona's fault, by a hash of its name (1 in 20 each): a candidate that always states a wrong
# age (rejected, replaced by the top-up), one fixed by revision, one where the second candidate
# wins, an HTTP 500 retried, and a clone (another persona's text: the critic's grounding expert).
FAULTS = {0: "always_wrong", 1: "wrong_then_fixed", 2: "second_best", 3: "flaky500", 4: "clone"}


def fault_for(facts: dict[str, str]) -> str | None:
    return FAULTS.get(int(hashlib.sha256(facts["Name"].encode()).hexdigest(), 16) % 20)


# --- the test server, in a process of its own -----------------------------------------------------


class _Discard(list):
    """The test server keeps every request body for the tests' assertions; here that would only
    grow its memory with N."""

    def append(self, item) -> None:
        pass


def serve_fake() -> int:
    """Child mode: start FakeOpenAI, print its base URL, answer `stats` lines on stdin with JSON,
    exit when stdin closes."""
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI(fault_for) as server:
        for name in ("requests", "dialogue_requests", "judge_requests", "deep_requests"):
            setattr(server, name, _Discard())
        print(server.base_url, flush=True)
        while line := sys.stdin.readline():
            if line.strip() == "stats":
                print(json.dumps({"posts": server.posts}), flush=True)
    return 0


class FakeServer:
    def __init__(self, log_path: Path):
        self.log_path = log_path

    def __enter__(self) -> FakeServer:
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--serve-fake"],
                cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
            )  # fmt: skip
        self.base_url = self.proc.stdout.readline().strip()
        if not self.base_url.startswith("http"):
            self.__exit__()
            raise RuntimeError(f"the test server did not start; its log:\n{self.log_path.read_text()[-4000:]}")
        return self

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stats(self) -> dict:
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def __exit__(self, *exc) -> None:
        with contextlib.suppress(OSError):
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- the portable stack: as tests/e2e/test_portable_runner.py starts it ----------------------------


def portable_stack(folder: Path):
    """The portable e2e test's stack (tests/portable_stack.py) with the benchmark's API key."""
    from tests.portable_stack import portable_stack as stack
    from tests.portable_stack import worker_env

    return stack(folder, worker_env({KEY_ENV: os.environ[KEY_ENV]}))


# --- the process tree: RSS and CPU time --------------------------------------------------------------


class Reading(NamedTuple):
    rss: int  # bytes (0 for a zombie)
    cpu_s: float  # user + system of the process itself
    reaped_cpu_s: float  # user + system of the children it has waited for (and theirs)
    ppid: int
    cmd: list[str] | None  # None where it cannot be read (a zombie)


class _Proc:
    """What the benchmark reads of one process (psutil)."""

    @staticmethod
    def descendants(pid: int) -> list[int]:
        with contextlib.suppress(psutil.Error):
            return [c.pid for c in psutil.Process(pid).children(recursive=True)]
        return []

    @staticmethod
    def read(pid: int) -> Reading | None:
        """RSS, CPU times, parent and command line of a process, or None if it is gone. A zombie
        (exited, not yet reaped: the pool's SDK workers after the job) still has its CPU times, an
        RSS of 0 and no command line."""
        try:
            p = psutil.Process(pid)
            t = p.cpu_times()
            rss, ppid = p.memory_info().rss, p.ppid()
        except psutil.Error:
            return None
        try:
            cmd = p.cmdline()
        except psutil.Error:
            cmd = None
        return Reading(rss, t.user + t.system, t.children_user + t.children_system, ppid, cmd or None)


ROLES = (
    ("SdkHarness", "SDK worker"),  # the worker pool's: python -c '...import SdkHarness; ...'
    ("sdk_worker_main", "SDK worker"),  # the direct runner's: sh -c 'python -m ...sdk_worker_main'
    ("worker_pool_main", "worker pool"),
    ("local_job_service_main", "job service"),
)


def role_of(cmd: list[str] | None, pid: int, fake_pid: int) -> str:
    if pid == os.getpid():
        return "benchmark (launcher)"
    if pid == fake_pid:
        return "test server"
    if not cmd:
        return "?"
    if os.path.basename(cmd[0]) in ("sh", "bash", "dash"):
        return "shell wrapper"
    text = " ".join(cmd)
    return next((role for key, role in ROLES if key in text), " ".join([os.path.basename(cmd[0]), *cmd[1:3]])[:40])


class TreeSampler(threading.Thread):
    """RSS of the benchmark's process tree every SAMPLE_S: the peak of each process and of their
    sum (the test server left out of the sum), and each process's role and parent. Counts its own
    CPU time, which the benchmark takes off the tree's."""

    def __init__(self, fake_pid: int):
        super().__init__(daemon=True)
        self.fake_pid = fake_pid
        self.peaks: dict[int, int] = {}
        self.roles: dict[int, str] = {}
        self.parents: dict[int, int] = {}
        self.tree_peak = 0
        self.samples = 0
        self.timeline: list[tuple[float, dict[int, int]]] = []  # (unix time, {pid: RSS}) per sample
        self.cpu_s = 0.0
        self._stop_event = threading.Event()

    def sample(self) -> None:
        total = 0
        now: dict[int, int] = {}
        for pid in [os.getpid(), *_Proc.descendants(os.getpid())]:
            got = _Proc.read(pid)
            if got is None:
                continue
            if pid not in self.roles and (got.cmd or pid in (os.getpid(), self.fake_pid)):
                self.roles[pid] = role_of(got.cmd, pid, self.fake_pid)
            self.parents.setdefault(pid, got.ppid)
            self.peaks[pid] = max(self.peaks.get(pid, 0), got.rss)
            now[pid] = got.rss
            if pid != self.fake_pid:
                total += got.rss
        self.tree_peak = max(self.tree_peak, total)
        self.samples += 1
        self.timeline.append((time.time(), now))

    def write_timeline(self, path: Path) -> None:
        """memory.tsv: one row per sample, the time of day and each process's RSS in MiB (to line
        up with the progress lines' times and see which stage holds memory)."""
        pids = sorted(self.peaks)
        head = ["time"] + [f"{self.roles.get(p, '?').replace(' ', '_')}:{p}" for p in pids]
        rows = ["\t".join(head)]
        for t, now in self.timeline:
            stamp = time.strftime("%H:%M:%S", time.localtime(t))
            rows.append("\t".join([stamp] + [str(now.get(p, 0) >> 20) for p in pids]))
        path.write_text("\n".join(rows) + "\n")

    def run(self) -> None:
        while True:
            self.sample()
            if self._stop_event.wait(SAMPLE_S):
                break
        self.sample()
        self.cpu_s = time.thread_time()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


def tree_cpu(fake_pid: int, roles: dict[int, str] | None = None) -> dict[int, tuple[float, float, str]]:
    """{pid: (own CPU s, reaped children's CPU s, role)} of the benchmark and every descendant,
    zombies included. Summed, own + reaped is the CPU time of every process of the tree so far (one
    that exited and was reaped is counted by its parent), orphans excepted."""
    out = {}
    for pid in [os.getpid(), *_Proc.descendants(os.getpid())]:
        got = _Proc.read(pid)
        if got is not None:
            role = (roles or {}).get(pid) or role_of(got.cmd, pid, fake_pid)
            out[pid] = (got.cpu_s, got.reaped_cpu_s, role)
    return out


def cpu_by_role(before: dict, after: dict) -> dict[str, float]:
    """CPU seconds spent between the two snapshots, per role. A process that exited in between is
    counted by its parent, as `exited children of <parent>`: the direct runner's SDK workers (and
    their shell wrappers) under the benchmark, the pool's SDK workers under the worker pool."""
    roles: dict[str, float] = {}
    for pid, (own, reaped, role) in after.items():
        own0, reaped0, _ = before.get(pid, (0.0, 0.0, role))
        roles[role] = roles.get(role, 0.0) + own - own0
        key = f"exited children of {role}"
        roles[key] = roles.get(key, 0.0) + reaped - reaped0
    return roles


# --- logs: the stages' final progress lines -----------------------------------------------------------

FINAL = re.compile(
    r"^(?P<label>[^:]+): (?P<done>\d+)(?:/\d+ \(\d+%\)| done \([^)]*\))(?P<rest>.*), done in (?P<s>\d+)s"
)
PROTO_MESSAGE = re.compile(r'message: "((?:[^"\\]|\\.)*)"')


class LogCapture(logging.Handler):
    """The launcher's own messages (the closing progress lines of stages without a total). The SDK
    workers' messages that the direct runner receives over the Fn API ('Worker: <entry>') are left
    out: the same lines are in the workers' stderr, read from its file."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            msg = record.getMessage()
            if not msg.startswith("Worker: "):
                self.messages.append(msg)


def worker_message(msg: str) -> str | None:
    """The message of an SDK worker's log entry as the direct runner logs it ('Worker: <entry>')."""
    m = PROTO_MESSAGE.search(msg)
    return m.group(1).encode().decode("unicode_escape") if m else None


class ConsoleFilter(logging.Filter):
    """On stderr: the project's progress and warnings, not the SDK harness's chatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if msg.startswith("Worker: "):
            return "pipelines.progress" in msg or record.levelno >= logging.WARNING
        return record.name.startswith("pipelines") or record.levelno >= logging.WARNING


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if msg.startswith("Worker: "):
            when = self.formatTime(record, self.datefmt)
            return f"{when} {record.levelname} worker: {worker_message(msg) or msg[:300]}"
        return super().format(record)


def stage_spans(messages: list[str]) -> list[tuple[str, int, int]]:
    """(stage, items, seconds) from the final progress lines, in the order they were logged."""
    spans = []
    for msg in messages:
        m = FINAL.match(msg.strip())
        if m:
            spans.append((m["label"], int(m["done"]), int(m["s"])))
    return spans


PROGRESS_LINE = re.compile(r"pipelines\.progress:\s?(.*)$")


def log_messages(path: Path) -> list[str]:
    """The progress messages of a log file: a service's ('HH:MM:SS INFO pipelines.progress: msg')
    or the direct runner's SDK workers' stderr ('INFO:pipelines.progress:msg')."""
    if not path.exists():
        return []
    lines = path.read_text(errors="replace").splitlines()
    return [m.group(1) for m in map(PROGRESS_LINE.search, lines) if m]


@contextlib.contextmanager
def stderr_to(path: Path):
    """File descriptor 2 into `path` (the SDK workers of the direct runner inherit it, and log
    there); the console handler keeps writing to the terminal's copy."""
    sys.stderr.flush()
    saved = os.dup(2)
    with path.open("ab") as f:
        os.dup2(f.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


# --- one runner ----------------------------------------------------------------------------------------


def write_config(folder: Path, n: int, base_url: str) -> Path:
    path = folder / "bench_scale.yaml"
    path.write_text(
        f"""
run: {{name: bench-scale, seed: {SEED}, num_personas: {n}}}
taxonomy: {{files: ["{REPO}/taxonomy/base.yaml"]}}
quotas: {{stratify_by: [demographics.age_band, demographics.gender]}}
llm: {{backend: openai, base_url: "{base_url}", model: fake-model, api_key_env: {KEY_ENV},
       request_timeout_s: 60, cache: {{enabled: true, path: "{folder / "llm-cache"}"}}}}
dialogues: {{enabled: true, per_persona: 1}}
output: {{report: true}}
""",
        encoding="utf-8",
    )
    return path


def bench_runner(runner: str, n: int, folder: Path, capture: LogCapture) -> dict:
    from pipelines import build_dataset

    folder.mkdir(parents=True, exist_ok=True)
    capture.messages.clear()
    logs: dict[str, Path] = {}
    with FakeServer(folder / "test_server.log") as server:
        cfg = write_config(folder, n, server.base_url)
        argv = ["--config", str(cfg), "--output", str(folder / "dataset"), "--overwrite", *RUNNER_FLAGS[runner]]
        with contextlib.ExitStack() as stack:
            t_services = time.perf_counter()
            if runner == "portable":
                job, pool, logs = stack.enter_context(portable_stack(folder))
                argv += [f"--job_endpoint={job}", "--environment_type=EXTERNAL", f"--environment_config={pool}"]
            services_s = time.perf_counter() - t_services
            sampler = TreeSampler(server.pid)
            before = tree_cpu(server.pid)
            sampler.start()
            logs["stderr"] = folder / "stderr.log"
            t0 = time.perf_counter()
            try:
                with stderr_to(logs["stderr"]):
                    manifest = build_dataset.run(argv)
            except BaseException:
                sampler.stop()
                for name, path in logs.items():
                    text = path.read_text(errors="replace") if path.exists() else ""
                    print(f"--- {name} log ({path}) ---\n{text[-6000:]}", file=CONSOLE)
                raise
            wall = time.perf_counter() - t0
            sampler.stop()
            sampler.write_timeline(folder / "memory.tsv")
            after = tree_cpu(server.pid, sampler.roles)
            posts = server.stats()["posts"]
    # each stage's final line is logged once, by whichever process finished it: a worker (the pool's
    # log, the direct runner's workers' stderr) or the launcher (stages without a known total)
    messages = [m for name in ("worker pool", "stderr") if name in logs for m in log_messages(logs[name])]
    messages += capture.messages
    cpu = cpu_by_role(before, after)
    cpu["benchmark (launcher)"] = cpu.get("benchmark (launcher)", 0.0) - sampler.cpu_s
    server_cpu = cpu.pop("test server", 0.0)
    c = manifest["counts"]
    d = manifest["dialogues"]
    requests = sum(v for k, v in manifest["llm"].items() if k.startswith("llm.") and k.endswith("_requests"))
    return {
        "runner": runner,
        "manifest_runner": manifest["run"]["runner"],
        "wall_s": wall,
        "services_start_s": services_s if runner == "portable" else None,
        "manifest_timing_s": manifest["timing_s"],
        "stages": stage_spans(messages),
        "counts": c,
        "dialogues": {k: d.get(k) for k in ("planned", "accepted", "rejected")},
        "llm_requests": requests,
        "server_posts": posts,
        "llm_by_stage": {
            k[4:-9]: v for k, v in manifest["llm"].items() if k.startswith("llm.") and k.endswith("_requests")
        },
        "cpu_by_role_s": {k: round(v, 2) for k, v in sorted(cpu.items()) if abs(v) >= 0.005},
        "cpu_tree_s": sum(cpu.values()),
        "cpu_server_s": server_cpu,
        "sampler_cpu_s": sampler.cpu_s,
        "rss": sorted((sampler.roles.get(p, "?"), p, sampler.parents.get(p), rss) for p, rss in sampler.peaks.items()),
        "rss_tree_peak": sampler.tree_peak,
        "samples": sampler.samples,
    }


# --- printing ------------------------------------------------------------------------------------------


def mib(b: float) -> str:
    return f"{b / 2**20:.0f} MiB"


def accounting(r: dict) -> list[str]:
    """Mismatches of the persona and the dialogue accounting (empty: OK)."""
    c, d = r["counts"], r["dialogues"]
    bad = []
    if c["planned"] + c["topped_up"] != c["accepted"] + c["rejected"]:
        bad.append(
            f"personas: planned {c['planned']} + topped_up {c['topped_up']} = {c['planned'] + c['topped_up']}"
            f" != accepted {c['accepted']} + rejected {c['rejected']} = {c['accepted'] + c['rejected']}"
        )
    if d["planned"] is not None and d["planned"] != (d["accepted"] or 0) + (d["rejected"] or 0):
        bad.append(f"dialogues: planned {d['planned']} != accepted {d['accepted']} + rejected {d['rejected']}")
    return bad


def report(r: dict) -> None:
    c, d = r["counts"], r["dialogues"]
    generated = c["planned"] + c["topped_up"]
    t = r["manifest_timing_s"]
    print(f"\n== {r['runner']} ({r['manifest_runner']} {' '.join(RUNNER_FLAGS[r['runner']])}) ==")
    if r["services_start_s"] is not None:
        print(f"job service + worker pool start:  {r['services_start_s']:.1f} s (not in the wall time)")
    print(f"total wall (build_dataset.run):   {r['wall_s']:.1f} s")
    print(
        f"  manifest timing_s:              pipeline {t.get('pipeline')} s; after it (manifest, quality report):"
        f" {r['wall_s'] - float(t.get('pipeline') or 0):.1f} s"
    )
    print("  stage spans (progress lines: first to last item, all workers, 1 s resolution, overlapping):")
    for label, done, s in r["stages"] or [("(no final progress line found)", 0, 0)]:
        print(f"    {label:<40} {done:>7} items {s:>6} s")
    print(
        f"personas: planned {c['planned']}, topped_up {c['topped_up']}, accepted {c['accepted']},"
        f" rejected {c['rejected']} {json.dumps(c['rejected_by_reason'])}"
    )
    print(f"dialogues: planned {d['planned']}, accepted {d['accepted']}, rejected {d['rejected']}")
    print(f"personas/s: {c['accepted'] / r['wall_s']:.2f} accepted, {generated / r['wall_s']:.2f} generated")
    print(
        f"LLM requests: {r['llm_requests']} in the manifest, {r['server_posts']} answered by the test server"
        f" ({', '.join(f'{k} {v}' for k, v in r['llm_by_stage'].items())})"
    )
    print(f"peak RSS per process (psutil, every {SAMPLE_S} s, {r['samples']} samples):")
    for role, pid, ppid, rss in r["rss"]:
        print(f"    {role:<22} pid {pid:<8} parent {ppid:<8} {mib(rss):>10}")
    print(f"  peak RSS summed over the tree (test server excluded): {mib(r['rss_tree_peak'])}")
    print(
        f"CPU: tree {r['cpu_tree_s']:.1f} s without the test server ({r['cpu_server_s']:.1f} s) and the sampler"
        f" ({r['sampler_cpu_s']:.2f} s): {json.dumps(r['cpu_by_role_s'])}"
    )
    print(
        f"non-LLM overhead: {1000 * r['cpu_tree_s'] / max(generated, 1):.1f} CPU ms per persona generated ({generated})"
    )
    bad = accounting(r)
    print("accounting (planned + topped_up == accepted + rejected; dialogues too):", "OK" if not bad else "MISMATCH")
    for line in bad:
        print(f"    {line}")


def compare(a: dict, b: dict) -> None:
    def per_persona(r: dict) -> float:
        return 1000 * r["cpu_tree_s"] / max(r["counts"]["planned"] + r["counts"]["topped_up"], 1)

    rows = [
        ("total wall s", a["wall_s"], b["wall_s"]),
        ("accepted personas/s", a["counts"]["accepted"] / a["wall_s"], b["counts"]["accepted"] / b["wall_s"]),
        ("CPU ms per persona (non-LLM)", per_persona(a), per_persona(b)),
        ("peak RSS of the tree MiB", a["rss_tree_peak"] / 2**20, b["rss_tree_peak"] / 2**20),
    ]
    print(f"\n== side by side: {b['runner']} / {a['runner']} ==")
    print(f"    {'':<30} {a['runner']:>10} {b['runner']:>10} {'ratio':>7}")
    for name, x, y in rows:
        print(f"    {name:<30} {x:>10.2f} {y:>10.2f} {y / x if x else float('nan'):>7.2f}")


def main() -> int:
    if sys.argv[1:] == ["--serve-fake"]:
        return serve_fake()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--personas", type=int, default=10000)
    parser.add_argument("--runners", default=",".join(RUNNERS), help="comma-separated: direct, portable")
    parser.add_argument("--output", help="folder for the runs (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the output folder")
    args = parser.parse_args()
    runners = [r.strip() for r in args.runners.split(",") if r.strip()]
    unknown = sorted(set(runners) - set(RUNNERS))
    if unknown or not runners or args.personas < 1:
        parser.error(f"--runners takes {', '.join(RUNNERS)} (got {args.runners!r}); --personas >= 1")

    console = logging.StreamHandler(CONSOLE)
    console.addFilter(ConsoleFilter())
    console.setFormatter(ConsoleFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    logging.getLogger().addHandler(console)
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("pipelines").setLevel(logging.INFO)
    logging.getLogger("apache_beam.runners.portability.local_job_service").setLevel(logging.INFO)
    capture = LogCapture()
    logging.getLogger().addHandler(capture)

    os.environ.setdefault(KEY_ENV, "sk-bench-scale")
    root = Path(args.output) if args.output else Path(tempfile.mkdtemp(prefix="bench-scale-"))
    root.mkdir(parents=True, exist_ok=True)
    results, failed = [], []
    print(f"bench_scale: {args.personas} personas, 1 dialogue per persona, {os.cpu_count()} CPUs", flush=True)
    try:
        for runner in runners:
            print(f"running {runner} with {args.personas} personas into {root / runner} ...", file=CONSOLE)
            try:
                results.append(bench_runner(runner, args.personas, root / runner, capture))
            except Exception as exc:  # noqa: BLE001 - the other runner still runs; the exit status says it
                failed.append(runner)
                print(f"\n== {runner} ==\nFAILED: {type(exc).__name__}: {str(exc)[:2000]}", flush=True)
                continue
            report(results[-1])
            sys.stdout.flush()
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if len(results) == 2:
        compare(*results)
    print(f"\noutput: {root}" + ("" if args.keep else " (removed; --keep keeps it)"))
    return 1 if failed or any(accounting(r) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Progress lines for long stages: a user must see the run is alive and how far along it is.

One line per stage for the whole run, however many worker processes share the work:
`LLM generate: 128/200 (64%), 0.55/s, ETA 130s`, and a final line at 100%.

How: a `Progress` is built with the pipeline (in the launcher) and travels, pickled, inside the
DoFn or model handler that updates it. The launcher creates a run-scoped folder (`tracking()`, or
one per launcher process) with a subfolder per stage; every copy of a Progress (one per DoFn
instance, in any process) writes its own cumulative count to its own small file there (an atomic
replace), and the copy that updates sums the files and logs the stage's line: at most every
`interval_s` seconds for the whole stage (a lock file serialises the reporters, so lines never go
backwards), and once, whoever gets there, the final line when the total is reached. Beam metrics
would be the natural counter, but not every runner lets a running job read them.

Where the folder is not there (a worker on another machine: Dataflow, a Flink cluster) each
process logs its own share, labelled `worker PID: ...`, and never a percentage.

Totals: a number known when the pipeline is built (`Progress(stage, 200)`), a `Total` that a
step of the running pipeline declares (the planned dialogues times their turns, a top-up round's
replacements), or none, which the line says (`40 done (total unknown)`) instead of a percentage.
`at_most` is a bound, not a total (records embedded: at most the planned ones).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows: reporters are then not serialised
    fcntl = None

log = logging.getLogger("pipelines.progress")

RUN_MARK = "run.json"  # in the run folder: its token, which a copy must find to count globally
START = "start"  # in a stage folder: the wall-clock time of the stage's first update (any process)
REPORTED = "reported.json"  # the last line logged for the stage: time, count, whether final
LOCAL_NOTE = "by this process; no shared progress folder, other workers not counted"
META = "meta.json"  # the stage's label and fixed total, for the closing lines of `tracking()`


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    logging.getLogger("pipelines").setLevel(logging.INFO)


def _make_visible() -> None:
    """Progress is logged at INFO. A worker process where nobody set the level of `pipelines`
    logging (the SDK workers a portable worker pool starts: root at WARNING) would drop it: there
    it is enabled, and goes to stderr (the pool's log) if nothing else would show it."""
    if log.isEnabledFor(logging.INFO) or logging.getLogger("pipelines").level != logging.NOTSET:
        return  # shown, or silenced on purpose
    log.setLevel(logging.INFO)
    if not log.hasHandlers():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
        log.addHandler(handler)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:60] or "stage"


def _read_json(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_atomic(path: str, text: str) -> None:
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


class ProgressRun:
    """A run's progress folder: one subfolder per stage (per Total). Progress objects built for
    one pipeline with the same stage label and the same total share one subfolder (the Generator-
    Critic builds a handler per exemplar iteration; together they are the stage); once a stage
    has started counting, the next Progress with that label (the next run in this process) gets
    a new one."""

    def __init__(self, path: str, owner: bool = True):
        self.path = path
        self.owner_pid = os.getpid() if owner else None
        self.token = uuid.uuid4().hex
        self._lock = threading.Lock()
        self._seq = 0
        self._joinable: dict[tuple[str, object], str] = {}
        os.makedirs(path, exist_ok=True)
        _write_atomic(os.path.join(path, RUN_MARK), json.dumps({"token": self.token, "pid": os.getpid()}))

    def stage_folder(self, label: str, key: object, total: int | None = None) -> str:
        """The subfolder for a stage; `key` None: never shared with another Progress."""
        with self._lock:
            name = self._joinable.get((label, key)) if key is not None else None
            if name is not None and not os.path.exists(os.path.join(self.path, name, START)):
                return name
            self._seq += 1
            name = f"{self._seq:03d}-{_slug(label)}"
            os.makedirs(os.path.join(self.path, name), exist_ok=True)
            _write_atomic(os.path.join(self.path, name, META), json.dumps({"label": label, "total": total}))
            if key is not None:
                self._joinable[(label, key)] = name
            return name

    def close(self, final_lines: bool = True) -> None:
        """A closing line for every stage that counted and never logged its final one (stages
        without a known total), then the folder is removed."""
        if final_lines and os.path.isdir(self.path):
            try:
                self._closing_lines()
            except OSError as exc:  # progress must never fail a run
                log.debug("no closing progress lines: %s", exc)
        if self.owner_pid == os.getpid():
            shutil.rmtree(self.path, ignore_errors=True)

    def _closing_lines(self) -> None:
        for name in sorted(os.listdir(self.path)):
            folder = os.path.join(self.path, name)
            meta = _read_json(os.path.join(folder, META))
            if meta is None or not os.path.exists(os.path.join(folder, START)):
                continue
            with _locked(folder):
                state = _reported(folder)
                if state["final"]:
                    continue
                done, failed, skipped, _ = _sums(folder, ".n")
                done = max(done, state["done"])
                total = None if meta["total"] is None else meta["total"] - skipped
                end = _last_update(folder)  # the stage ended then, not now
                _make_visible()
                log.info(_format(meta["label"], done, failed, total, None, _start_of(folder), end, True))


_scopes: list[ProgressRun] = []
_implicit: ProgressRun | None = None
_implicit_lock = threading.Lock()


def _active_run() -> ProgressRun:
    """The innermost `tracking()` run, else this process's own (removed when it exits)."""
    global _implicit
    if _scopes:
        return _scopes[-1]
    with _implicit_lock:
        if _implicit is None or not os.path.isdir(_implicit.path):
            _implicit = ProgressRun(tempfile.mkdtemp(prefix="persona-progress-"))
            atexit.register(_implicit.close, False)
        return _implicit


def _place(label: str, key: object, total: int | None) -> tuple[str | None, str | None, str]:
    """(run folder, run token, stage folder) for a new Progress or Total. Where no folder can be
    made (a read-only temp directory) it only ever reports its own process's share."""
    try:
        run = _active_run()
        return run.path, run.token, os.path.join(run.path, run.stage_folder(label, key, total))
    except OSError as exc:
        log.debug("no progress folder (%s): per-process progress lines", exc)
        return None, None, f"<local {uuid.uuid4().hex}>"


@contextlib.contextmanager
def tracking(folder: str | None = None) -> Iterator[ProgressRun]:
    """Scope one run's progress: build the pipeline and run it inside. On exit, stages without a
    known total get a closing line and the folder (a new one under `folder`, default the temp
    directory) is removed."""
    run = ProgressRun(tempfile.mkdtemp(prefix="persona-progress-", dir=folder))
    _scopes.append(run)
    try:
        yield run
    finally:
        _scopes.remove(run)
        run.close()


@contextlib.contextmanager
def _locked(folder: str) -> Iterator[None]:
    if fcntl is None:
        yield
        return
    fd = os.open(os.path.join(folder, "lock"), os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _sums(folder: str, suffix: str) -> tuple[int, int, int, int]:
    """(done, failed, skipped, number of files): sums over the copies' files ending in `suffix`
    (a Total's files hold one number: what that copy added)."""
    sums = [0, 0, 0]
    files = 0
    for name in os.listdir(folder):
        if name.endswith(suffix) and not name.startswith("."):
            try:
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    values = [int(v) for v in f.read().split()[:3]]
            except (OSError, ValueError):
                continue
            for i, v in enumerate(values):
                sums[i] += v
            files += 1
    return sums[0], sums[1], sums[2], files


def _last_update(folder: str) -> float:
    times = [time.time()]
    for name in os.listdir(folder):
        if name.endswith(".n") and not name.startswith("."):
            with contextlib.suppress(OSError):
                times.append(os.stat(os.path.join(folder, name)).st_mtime)
    return max(times[1:], default=times[0])


def _reported(folder: str) -> dict:
    return _read_json(os.path.join(folder, REPORTED)) or {"t": 0.0, "done": 0, "final": False}


def _start_of(folder: str) -> float | None:
    try:
        with open(os.path.join(folder, START), encoding="utf-8") as f:
            return float(f.read().strip())
    except (OSError, ValueError):
        return None


def _format(
    label: str,
    done: int,
    failed: int,
    total: int | None,
    at_most: int | None,
    start: float | None,
    now: float,
    final: bool,
    total_note: str = "total unknown",
) -> str:
    """`label: done/total (pct), rate, failed, ETA`; the final line: `..., done in Ns`. Without a
    total: `label: done done (total unknown), rate`. The percentage is floored, so 100% means
    finished."""
    elapsed = max(now - start, 0.0) if start is not None else None
    rate = done / elapsed if elapsed is not None and elapsed >= 1.0 else None  # no rate from a blink
    if final and total is None:
        total = done  # the stage finished: what was done was all there was
    if total is not None:
        pct = 100 if final and done >= total else min(99, int(100 * done / total)) if total else 100
        head = f"{label}: {done}/{total} ({pct}%)"
    elif at_most is not None:
        head = f"{label}: {done} done (at most {at_most})"
    else:
        head = f"{label}: {done} done ({total_note})"
    parts = [head]
    if rate is not None:
        parts.append(f"{rate:.2f}/s")
    if failed:
        parts.append(f"{failed} failed")
    if final:
        if elapsed is not None:
            parts.append(f"done in {elapsed:.0f}s")
    elif total is not None and rate and done < total:
        parts.append(f"ETA {(total - done) / rate:.0f}s")
    return ", ".join(parts)


class _Copy:
    """What one copy of a Progress or Total (one unpickled instance, in one process) keeps to
    itself: never pickled, renewed in a forked child."""

    def __init__(self):
        self.pid = os.getpid()
        self.token = f"{self.pid}-{uuid.uuid4().hex[:10]}"
        self.lock = threading.Lock()
        self.shared: bool | None = None  # None: not checked yet
        self.begun = False


def _shared_ok(run_path: str | None, run_token: str | None, folder: str) -> bool:
    if run_path is None:
        return False
    mark = _read_json(os.path.join(run_path, RUN_MARK))
    return bool(mark) and mark.get("token") == run_token and os.path.isdir(folder)


class Total:
    """A stage's total that only the running pipeline knows: the step that knows it (the pairing
    that plans the dialogues, a top-up round's allocation) calls `add(n)`, in any process; every
    Progress built with this Total reads the sum. Build it with the pipeline, like a Progress.
    Where the progress folder is not reachable (a remote worker) the total reads as unknown."""

    def __init__(self, name: str):
        self.name = name
        self._run_path, self._run_token, self._folder = _place(f"total {name}", None, None)
        self.added = 0  # by this copy
        self._copy = _Copy()

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["_copy"]
        state["added"] = 0  # a copy declares only what it adds itself
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._copy = _Copy()

    def _mine(self) -> _Copy:
        if self._copy.pid != os.getpid():  # a forked child: what the parent added is the parent's
            self._copy, self.added = _Copy(), 0
        return self._copy

    def add(self, n: int) -> None:
        copy = self._mine()
        with copy.lock:
            self.added += n
            if copy.shared is None:
                copy.shared = _shared_ok(self._run_path, self._run_token, self._folder)
            if copy.shared:
                try:
                    _write_atomic(os.path.join(self._folder, f"{copy.token}.t"), f"{self.added}\n")
                except OSError:
                    copy.shared = False

    def value(self) -> int | None:
        """The sum of what every copy added; None before anyone did, or where it cannot be read."""
        if not _shared_ok(self._run_path, self._run_token, self._folder):
            return None
        total, _, _, files = _sums(self._folder, ".t")
        return total if files else None


# A process's own counts per stage folder, for the per-process lines where nothing is shared:
# {folder: {"copies": {token: (done, failed, skipped)}, "start": t, "last": t}}.
_UNKNOWN = "<no total>"  # the sharing key of Progress objects joined by stage alone
_local: dict[str, dict] = {}
_local_lock = threading.Lock()


def _local_sums(entry: dict) -> tuple[int, int]:
    copies = entry["copies"].values()
    return sum(c[0] for c in copies), sum(c[1] for c in copies)


class Progress:
    """Counts finished items of a stage and logs `stage: done/total (pct), rate, ETA` for the
    whole run, at most every `interval_s` seconds, and a final line at 100% (see the module
    docstring). `total`: an int known when the pipeline is built, a `Total` declared while it
    runs, or None (unknown; `at_most` a bound, if one is known). Progress objects built for one
    run with the same stage and the same total share one count (the handlers the Generator-Critic
    builds per exemplar iteration); without a total only with `join` (else each object is its own
    stage: the embedding of each top-up round). Build it with the pipeline."""

    def __init__(
        self,
        stage: str,
        total: int | Total | None = None,
        interval_s: float = 5.0,
        *,
        at_most: int | None = None,
        join: bool = False,
    ):
        self.stage = stage
        self.total = total
        self.at_most = at_most
        self.interval_s = interval_s
        self.done = 0  # by this copy
        self.failed = 0
        self.skipped = 0  # planned items that will not be done: they leave the total
        key = (
            total
            if isinstance(total, int)
            else total._folder
            if isinstance(total, Total)
            else _UNKNOWN
            if join
            else None
        )
        fixed = total if isinstance(total, int) else None
        self._run_path, self._run_token, self._folder = _place(self.label, key, fixed)
        self._copy = _Copy()

    @property
    def label(self) -> str:
        return f"{self.stage} [{self.total.name}]" if isinstance(self.total, Total) else self.stage

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["_copy"]
        state["done"] = state["failed"] = state["skipped"] = 0  # a copy counts only its own work
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._copy = _Copy()

    def _mine(self) -> _Copy:
        if self._copy.pid != os.getpid():  # a forked child: what the parent counted is the parent's
            self._copy, self.done, self.failed, self.skipped = _Copy(), 0, 0, 0
        return self._copy

    def _is_shared(self, copy: _Copy) -> bool:
        if copy.shared is None:
            copy.shared = _shared_ok(self._run_path, self._run_token, self._folder)
        return copy.shared

    def _total(self, skipped: int = 0) -> tuple[int | None, str]:
        """(the stage's total less the items skipped, or None; what to say when it is None)."""
        if isinstance(self.total, Total):
            value = self.total.value()
            return (None if value is None else value - skipped), "total not known yet"
        return (None if self.total is None else self.total - skipped), "total unknown"

    def begin(self) -> None:
        """Mark the start of work (the first call of the stage in any process counts), so rates
        include the first batch."""
        copy = self._mine()
        with copy.lock:
            self._begin(copy)

    def _begin(self, copy: _Copy) -> None:
        if copy.begun:
            return
        copy.begun = True
        with _local_lock:
            _local.setdefault(self._folder, {"copies": {}, "start": time.time(), "last": 0.0})
        if self._is_shared(copy):
            try:
                fd = os.open(os.path.join(self._folder, START), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return
            except OSError:
                copy.shared = False
                return
            with os.fdopen(fd, "w") as f:
                f.write(f"{time.time()}\n")

    def update(self, n: int = 1, failed: int = 0) -> None:
        """`n` items finished, `failed` of them with an error."""
        self._add(n, failed, 0)

    def skip(self, n: int = 1) -> None:
        """`n` planned items will not be done (the later turns of a dialogue that failed): the
        total shrinks, so that the stage still reaches 100%."""
        self._add(0, 0, n)

    def _add(self, n: int, failed: int, skipped: int) -> None:
        copy = self._mine()
        with copy.lock:
            self._begin(copy)
            self.done += n
            self.failed += failed
            self.skipped += skipped
            with _local_lock:
                _local[self._folder]["copies"][copy.token] = (self.done, self.failed, self.skipped)
            if self._is_shared(copy):
                try:
                    counts = f"{self.done} {self.failed} {self.skipped}\n"
                    _write_atomic(os.path.join(self._folder, f"{copy.token}.n"), counts)
                    self._report_shared(final=False)
                    return
                except OSError:
                    copy.shared = False
            self._report_local()

    def finish(self, count: int | None = None) -> None:
        """The stage is over (called by a step after it, e.g. on Beam's global count of its
        output, in any process): log its final line now, with `count` as the number done."""
        copy = self._mine()
        with copy.lock:
            if self._is_shared(copy):
                try:
                    self._report_shared(final=True, count=count)
                    return
                except OSError:
                    copy.shared = False
            if count is not None:
                _make_visible()
                log.info("%s (counted across all workers)", _format(self.label, count, 0, None, None, None, 0, True))

    def _report_shared(self, final: bool, count: int | None = None) -> None:
        with _locked(self._folder):
            state = _reported(self._folder)
            if state["final"]:
                return
            done, failed, skipped, _ = _sums(self._folder, ".n")
            if count is not None:
                done = count
            done = max(done, state["done"])
            total, note = self._total(skipped)
            final = final or (total is not None and done >= total)
            now = time.time()
            if not final and now - state["t"] < self.interval_s:
                return
            start = _start_of(self._folder)
            if final and total is not None and done < total:
                total = None if count is not None else total  # finished short of the total: say what was done
            _make_visible()
            log.info(_format(self.label, done, failed, total, self.at_most, start, now, final, note))
            _write_atomic(os.path.join(self._folder, REPORTED), json.dumps({"t": now, "done": done, "final": final}))

    def _report_local(self) -> None:
        with _local_lock:
            entry = _local[self._folder]
            now = time.time()
            if now - entry["last"] < self.interval_s:
                return
            entry["last"] = now
            done, failed = _local_sums(entry)
            start = entry["start"]
        total, _ = self._total()
        of = f"run total {total}" if total is not None else "run total unknown here"
        note = f"{LOCAL_NOTE}; {of}"
        _make_visible()
        log.info("worker %d: %s", os.getpid(), _format(self.label, done, failed, None, None, start, now, False, note))

    def line(self, now: float | None = None) -> str:
        """The stage's line as it stands (the whole run's where the folder is shared, else this
        process's, labelled as such). `now`: wall-clock time."""
        now = time.time() if now is None else now
        copy = self._mine()
        if self._is_shared(copy):
            done, failed, skipped, _ = _sums(self._folder, ".n")
            total, note = self._total(skipped)
            state = _reported(self._folder)
            done = max(done, state["done"])
            final = state["final"] or (total is not None and done >= total)
            return _format(self.label, done, failed, total, self.at_most, _start_of(self._folder), now, final, note)
        with _local_lock:
            entry = _local.get(self._folder, {"copies": {}, "start": None})
            done, failed = _local_sums(entry)
            start = entry["start"]
        note = LOCAL_NOTE
        return f"worker {os.getpid()}: " + _format(self.label, done, failed, None, None, start, now, False, note)

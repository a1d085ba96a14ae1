"""Progress lines for long stages: a user must see the run is alive and how far along it is."""

from __future__ import annotations

import logging
import threading
import time

log = logging.getLogger("pipelines.progress")


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S"
    )
    logging.getLogger("pipelines").setLevel(logging.INFO)


class Progress:
    """Counts finished items and logs `stage: done/total (pct), rate, ETA` at most every
    `interval_s` seconds. One per worker process; totals are the whole run's, so with several
    workers each reports its own share."""

    def __init__(self, stage: str, total: int | None = None, interval_s: float = 10.0):
        self.stage = stage
        self.total = total
        self.interval_s = interval_s
        self.done = 0
        self.failed = 0
        self._start: float | None = None
        self._last = 0.0
        self._lock = threading.Lock()

    def __getstate__(self):
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def begin(self) -> None:
        """Mark the start of work (the first call counts), so rates include the first batch."""
        with self._lock:
            if self._start is None:
                self._start = self._last = time.monotonic()

    def update(self, n: int = 1, failed: int = 0) -> None:
        self.begin()
        with self._lock:
            now = time.monotonic()
            self.done += n
            self.failed += failed
            finished = self.total is not None and self.done >= self.total
            if now - self._last >= self.interval_s or finished:
                self._last = now
                log.info(self.line(now))

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        elapsed = max(now - (self._start or now), 1e-9)
        rate = self.done / elapsed
        parts = [f"{self.stage}: {self.done}"]
        if self.total:
            pct = 100.0 * self.done / self.total
            parts[0] += f"/{self.total} ({pct:.0f}%)"
        parts.append(f"{rate:.2f}/s")
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.total and rate > 0 and self.done < self.total:
            parts.append(f"ETA {(self.total - self.done) / rate:.0f}s")
        return ", ".join(parts)

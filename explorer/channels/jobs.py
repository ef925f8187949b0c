"""Long Channels work (a pass over 600 photos, a layer's grid) in a background thread, with progress.

A job is keyed by what it computes, so two browser sessions asking for the same thing share one
thread and one result, and a page that is left and reopened finds its job still running (or
done). The page polls :func:`get` (``st.fragment(run_every=...)``); the core functions the
jobs run write their results to the disk caches as usual, so a finished job is also a cache
hit for everyone afterwards. Plain threads and data: no streamlit here.
"""
from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["Job", "start", "get", "forget", "running"]


@dataclass
class Job:
    key: str
    label: str
    done: float = 0.0
    total: float = 1.0
    stage: str = ""  # what it is doing now (an English code the page translates)
    result: Any = None
    error: str | None = None
    trace: str | None = None
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    @property
    def running(self) -> bool:
        return self.finished is None

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def report(self, done: float, total: float, stage: str | None = None) -> None:
        """Progress from the work itself; raises ``Cancelled`` once :meth:`cancel` was asked."""
        self.done, self.total = done, total
        if stage is not None:
            self.stage = stage
        if self.cancelled.is_set():
            raise Cancelled

    def cancel(self) -> None:
        self.cancelled.set()


class Cancelled(Exception):
    """Raised inside a job's work when the job was cancelled."""


_jobs: dict[str, Job] = {}
_lock = threading.Lock()


def start(key: str, work: Callable[[Job], Any], label: str = "") -> Job:
    """The job ``key``: the running or finished one if there is one (a failed or cancelled one
    is started again), else a new thread running ``work(job)``."""
    with _lock:
        job = _jobs.get(key)
        if job is not None and (job.running or job.error is None):
            return job
        job = _jobs[key] = Job(key, label)

    def run():
        try:
            job.result = work(job)
        except Cancelled:
            job.error = "cancelled"
        except Exception as exc:  # reported on the page, not raised in a thread nobody joins
            job.error = f"{type(exc).__name__}: {exc}"
            job.trace = traceback.format_exc()
        finally:
            job.finished = time.monotonic()

    threading.Thread(target=run, name=f"channels-job-{key[:40]}", daemon=True).start()
    return job


def get(key: str) -> Job | None:
    with _lock:
        return _jobs.get(key)


def forget(key: str) -> None:
    """Drop a finished job (its result lives on disk); a running one is cancelled first."""
    with _lock:
        job = _jobs.pop(key, None)
    if job is not None and job.running:
        job.cancel()


def running() -> list[Job]:
    with _lock:
        return [j for j in _jobs.values() if j.running]

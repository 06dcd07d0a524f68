"""Admission to the app's heavy queue: nobody holds more than a fair share of it.

Gradio runs the heavy events (calibrate, enhance, load a calibration, ground truth, examples) one
at a time in a first-in-first-out queue. Without admission, one API client could submit a
hundred calibrations and every other visitor would wait behind all of them. Each heavy event has
a validator, which Gradio runs *before* it queues the event; there :meth:`Admission.admit` counts
the jobs of the same session and of the same network address that are admitted and not finished
(waiting in the queue or running) and refuses a new one beyond ``per_session`` or ``per_client``,
with a message that says why and what to do.

A job is identified by a *ticket*: any object that both the validator and the handler see (the
app uses the HTTP request object of the queue call, which Gradio hands to both). The handler
wraps its work in :meth:`Admission.running`, which ends the job whatever happens. A job admitted
but never run (its visitor left while it waited and Gradio dropped it) is recognised with the
``waiting`` callback the app gives (is the ticket still in Gradio's queue?) once ``grace_s`` has
passed, and in any case after ``max_wait_s``.

Pure Python: no Gradio here (``webui/queueing.py`` wires it).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from typing import Callable, Iterator

__all__ = ["Admission"]


@dataclasses.dataclass
class _Job:
    ticket: object  # kept referenced, so its id() cannot be reused while the job lives
    session: str
    client: str
    admitted: float
    started: bool = False


class Admission:
    """Counts each session's and each client's heavy jobs; refuses those beyond the limits.

    Parameters
    ----------
    per_session, per_client : int
        Most jobs admitted and not finished for one session, for one network address.
    waiting : callable or None
        ``waiting(ticket)``: whether an admitted job that has not started is still queued.
        Without it such jobs are only forgotten after ``max_wait_s``.
    grace_s : float
        An admitted job not yet started is only checked with ``waiting`` after this long
        (Gradio queues it a moment after the validator returns).
    max_wait_s : float
        An admitted job that has not started after this long is forgotten, whatever the queue says.
    clock : callable
        Monotonic seconds (tests pass a fake clock).
    """

    def __init__(self, per_session: int = 2, per_client: int = 4, *,
                 waiting: Callable[[object], bool] | None = None, grace_s: float = 10.0,
                 max_wait_s: float = 1800.0, clock: Callable[[], float] = time.monotonic) -> None:
        for name, value in (("per_session", per_session), ("per_client", per_client)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        self.per_session, self.per_client = per_session, per_client
        self.waiting, self.grace_s, self.max_wait_s, self._clock = waiting, float(grace_s), float(max_wait_s), clock
        self._jobs: dict[int, _Job] = {}
        self._lock = threading.Lock()

    def admit(self, ticket: object, session: str, client: str) -> str | None:
        """Admit a job, or return the reason it is refused (a sentence for the visitor)."""
        with self._lock:
            self._expire()
            if id(ticket) in self._jobs:  # the same request validated twice: one job
                return None
            mine = [j for j in self._jobs.values() if j.session == session]
            if len(mine) >= self.per_session:
                return (f"This session already has {len(mine)} heavy job(s) waiting or running "
                        f"(at most {self.per_session}); wait for them to finish, then try again.")
            theirs = [j for j in self._jobs.values() if j.client == client]
            if len(theirs) >= self.per_client:
                return (f"Your address already has {len(theirs)} heavy jobs waiting or running "
                        f"(at most {self.per_client}, so that other visitors are not kept waiting); "
                        "wait for them to finish, then try again.")
            self._jobs[id(ticket)] = _Job(ticket, session, client, self._clock())
            return None

    @contextlib.contextmanager
    def running(self, ticket: object | None) -> Iterator[None]:
        """Mark the job started for the duration of the block; it ends however the block ends.

        A ticket that was never admitted (a call that bypassed validation, ``None``) runs
        unaccounted.
        """
        key = None if ticket is None else id(ticket)
        with self._lock:
            job = self._jobs.get(key) if key is not None else None
            if job is not None:
                job.started = True
        try:
            yield
        finally:
            if job is not None:
                with self._lock:
                    self._jobs.pop(key, None)

    def counts(self) -> dict[str, int]:
        """How many jobs are admitted and not finished: waiting and running."""
        with self._lock:
            self._expire()
            running = sum(j.started for j in self._jobs.values())
            return {"waiting": len(self._jobs) - running, "running": running}

    def _expire(self) -> None:
        now, waiting = self._clock(), self.waiting
        for key, job in list(self._jobs.items()):
            if job.started:
                continue
            age = now - job.admitted
            if age > self.max_wait_s or (waiting is not None and age > self.grace_s and not waiting(job.ticket)):
                del self._jobs[key]

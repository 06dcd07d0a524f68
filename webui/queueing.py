"""Glue between Gradio's queue and :mod:`serving.admission`: heavy events are admitted first.

Heavy events (calibrate, enhance, load a calibration, ground truth, examples) share one slot of
Gradio's queue. Before Gradio queues one, a validator asks the app's ``Admission`` whether this
session and this network address may have another job; a refusal is shown on the event's first
input in the page and raised as ``gradio_client.exceptions.ValidationError`` in API calls. Whether a
job still waits in Gradio's queue is asked of :func:`webui.gradio_private.still_queued`.
"""

from __future__ import annotations

import functools

import gradio as gr

from serving.admission import Admission
from serving.heap import release_freed


def client_address(request: gr.Request, trust_forwarded: bool) -> str:
    """The visitor's network address (behind a trusted proxy: the first X-Forwarded-For entry)."""
    if trust_forwarded:
        forwarded = (request.headers.get("x-forwarded-for") or "").split(",")[0].strip()
        if forwarded:
            return forwarded
    client = getattr(request, "client", None)
    return getattr(client, "host", None) or "unknown"


def request_in(args: tuple, kwargs: dict) -> gr.Request | None:
    """The gr.Request Gradio passed among a handler's (or validator's) arguments."""
    return next((a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None)


class HeavyJobs:
    """Wires heavy events: one shared slot of the queue, ``admission`` asked before queueing."""

    def __init__(self, admission: Admission, *, trust_forwarded: bool) -> None:
        self.admission = admission
        self.trust_forwarded = trust_forwarded

    def wire(self, trigger, handler, inputs, outputs, **kwargs):
        """``trigger(handler, inputs, outputs)`` as a heavy job; returns the event (for ``.success``)."""
        return trigger(self.admitted(handler), inputs, outputs, concurrency_id="heavy", concurrency_limit=1,
                       validator=self.validator(handler, len(inputs)), **kwargs)

    def validator(self, handler, n_inputs: int):
        """A validator for ``handler``'s event: Gradio runs it before queueing, with the same inputs."""
        ok = [gr.validate(True, "")] * n_inputs

        @functools.wraps(handler)  # the handler's signature, so Gradio passes the same inputs and the request
        def validate(*args, **kwargs):
            request = request_in(args, kwargs)
            if request is None or getattr(request, "request", None) is None:
                return ok
            address = client_address(request, self.trust_forwarded)
            reason = self.admission.admit(request.request, request.session_hash or "", address)
            return ok if reason is None else [gr.validate(False, reason)] + ok[1:]

        return validate

    def admitted(self, handler):
        """``handler`` counted as its visitor's heavy job while it runs; freed memory returned after it."""

        @functools.wraps(handler)
        def run(*args, **kwargs):
            request = request_in(args, kwargs)
            try:
                with self.admission.running(getattr(request, "request", None)):
                    return handler(*args, **kwargs)
            finally:
                release_freed()  # what the job freed goes back to the system, not kept by malloc

        return run

"""How the page reports a problem: a visitor's message, never a server traceback."""

from __future__ import annotations

import gradio as gr


def fail(message: str) -> gr.Error:
    """A visitor's mistake: shown on the page (or raised in gradio_client), no server traceback."""
    return gr.Error(message, print_exception=False)


def engine_error(exc: Exception) -> gr.Error:
    """The engine's own message (it names the file and the fix), shown as is."""
    return exc if isinstance(exc, gr.Error) else fail(str(exc))

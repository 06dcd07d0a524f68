"""webui.gradio_private.still_queued against the Gradio installed: the private queue it reads is there,
an event waiting in it is found, and a ticket it cannot place counts as waiting."""

import types

import gradio as gr

from webui.gradio_private import still_queued


def _app_of(blocks):
    return types.SimpleNamespace(get_blocks=lambda: blocks)


def test_the_gradio_queue_still_queued_reads_exists():
    with gr.Blocks() as demo:
        gr.Button().click(lambda: None, concurrency_id="heavy")
    demo.queue()
    per_id = demo._queue.event_queue_per_concurrency_id  # renamed by a Gradio upgrade: update still_queued
    assert isinstance(per_id, dict)


def test_still_queued_finds_the_ticket_among_the_waiting_events():
    ticket, other = types.SimpleNamespace(), types.SimpleNamespace()
    waiting = types.SimpleNamespace(queue=[types.SimpleNamespace(request=other), types.SimpleNamespace(request=ticket)])
    blocks = types.SimpleNamespace(_queue=types.SimpleNamespace(event_queue_per_concurrency_id={"heavy": waiting}))
    ticket.app = other.app = _app_of(blocks)
    assert still_queued(ticket)
    waiting.queue.pop()  # Gradio dropped it (the visitor left) or started it
    assert not still_queued(ticket)


def test_still_queued_keeps_a_ticket_it_cannot_place():
    assert still_queued(types.SimpleNamespace(app=_app_of(types.SimpleNamespace())))
    assert still_queued(object())

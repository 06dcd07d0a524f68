"""The app's only uses of Gradio's private attributes, each where Gradio 6 offers no public way.

Gradio 6.31's public API was searched for each (``Blocks.unload``, ``/gradio_api/queue/status``,
validators, ``api_visibility``, ``gr.mcp.tool``/``resource``/``prompt``, ``launch(mcp_server=...)``);
none answers these two questions. Should Gradio rename what is read here, tests/test_queueing.py
and tests/test_mcp.py notice.

- :func:`still_queued` reads ``Blocks._queue``: whether one queued event still waits.
- :func:`not_an_mcp_tool` sets ``_mcp_type``, the mark Gradio's own MCP decorators set, on a
  public endpoint that must not be an MCP tool.
"""

from __future__ import annotations

import functools


def still_queued(ticket: object) -> bool:
    """Whether the queue call ``ticket`` (its HTTP request) still waits in its app's Gradio queue.

    Gradio drops the waiting events of a visitor who leaves (the page's event stream closes).

    It reads ``Blocks._queue``, because Gradio 6 offers no public way to ask whether one queued
    event still waits: ``Blocks.unload`` fires when a page closes but names no event and would have to be wired into the page's layout,
    ``/gradio_api/queue/status`` and ``Queue.get_status`` give only counts, and validators run
    before the event is queued. Should Gradio rename the attribute, every job counts as waiting
    and is released after ``Admission.max_wait_s`` (tests/test_queueing.py notices the rename).
    """
    app = getattr(ticket, "app", None)
    blocks = app.get_blocks() if hasattr(app, "get_blocks") else None
    queue = getattr(blocks, "_queue", None)
    per_id = getattr(queue, "event_queue_per_concurrency_id", None)
    if per_id is None:  # another Gradio: keep the job until Admission.max_wait_s
        return True
    return any(getattr(event, "request", None) is ticket for q in list(per_id.values()) for event in list(q.queue))


def not_an_mcp_tool(fn):
    """``fn`` marked so that Gradio's MCP server does not list it as a tool, still public in the API.

    Gradio 6 makes every public endpoint an MCP tool; its only public switch, ``api_visibility``,
    would also hide the endpoint from gradio_client's API page and drop its defaults there. Its MCP
    server lists as tools only the functions whose ``_mcp_type`` (set by its own ``gr.mcp.tool``,
    ``resource`` and ``prompt`` decorators) is absent or ``"tool"``: marked ``"page"``, a function is
    neither listed nor served as a resource or prompt.
    """

    @functools.wraps(fn)  # same name, signature and docstring for the API page
    def page(*args, **kwargs):
        return fn(*args, **kwargs)

    page._mcp_type = "page"
    return page

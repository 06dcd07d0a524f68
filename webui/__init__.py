"""The web page of the DOT app, one module per responsibility; ``app.py`` reads settings and launches.

- ``settings``: ``DOT_APP_*`` read once into a frozen ``Settings``; the page's constants.
- ``startup``: Hub probe and the start-up latent space (offline: ``detail``, saying why).
- ``services``: the shared image store and admission gate, created once and handed in.
- ``queueing``: heavy events admitted (``serving.admission``) before Gradio queues them;
  ``gradio_private``: the only uses of Gradio's private attributes, and why.
- ``state``, ``files``, ``blends``, ``errors``, ``engine_calls``: session state, served PNGs, x̂α
  mixed once per α, visitor messages, and the page's adapter to ``dot_core`` (the calls the
  handlers share).
- ``calibrate``, ``enhance``, ``ground_truth``, ``examples``: the handlers of each part of the page
  (plain values and session state in, plain values out).
- ``pd_plot`` (the two suggested α marked on the perception–distortion plot; the curve is
  ``dot_core.quality.pd_curve``), ``suggest_buttons``
  (their buttons), ``roundtrip`` (the latent's own loss, D(E(x))), ``batch`` (many images, many α,
  one zip) and ``mcp_tools`` (session-free tools for agents over MCP): the page's features,
  handlers likewise.
- ``actions``: one handler per visitor action, composing the above and returning every output it
  changes (one request per action).
- ``layout``: the components; ``events``: their wiring; ``static/``: the page's script and style.

Imports point one way: ``layout`` → ``events``, ``actions`` → handlers → ``engine_calls`` →
``state``/``files``/``errors`` → ``serving``, ``dot_core``. Nothing imports ``layout`` but ``app.py``.
"""

"""The web page of the DOT app, one module per responsibility; ``app.py`` reads settings and launches.

- ``settings``: ``DOT_APP_*`` read once into a frozen ``Settings``; the page's constants.
- ``startup``: Hub probe and the start-up latent space (offline: ``detail``, saying why).
- ``services``: the shared image store and admission gate, created once and handed in.
- ``queueing``: heavy events admitted (``serving.admission``) before Gradio queues them.
- ``state``, ``files``, ``errors``, ``engine``: session state, served PNGs, visitor messages, and
  the calls into ``dot_core`` the handlers share.
- ``calibrate``, ``enhance``, ``ground_truth``, ``examples``: the handlers of each part of the page
  (plain values and session state in, plain values out).
- ``curve`` (the perception–distortion curve and its two suggested α), ``suggest`` (their buttons),
  ``roundtrip`` (the latent's own loss, D(E(x))), ``batch`` (many images, many α, one zip) and
  ``mcp_tools`` (session-free tools for agents over MCP): the page's features, handlers likewise.
- ``layout``: components and event wiring; ``static/``: the page's script and style.

Imports point one way: ``layout`` → handlers → ``engine`` → ``state``/``files``/``errors`` →
``serving``, ``dot_core``. Nothing imports ``layout`` but ``app.py``.
"""

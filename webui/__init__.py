"""The web page of the DOT app, one module per responsibility (``app.py`` reads settings and launches).

Imports point one way: ``layout`` → the handler modules (``calibrate``, ``enhance``,
``ground_truth``, ``examples``) → ``transport``, ``state``, ``files``, ``errors`` → ``serving``,
``dot_core``. ``settings`` and ``services`` sit beside them; nothing imports ``layout`` but ``app.py``.
"""

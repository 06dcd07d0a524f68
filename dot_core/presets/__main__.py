"""``python -m dot_core.presets``: :func:`dot_core.presets.command.main`."""

from .command import main

raise SystemExit(main())

"""Whether the Hugging Face Hub may be asked for weights: the offline switch and a quick probe.

One rule for every caller (the loader, the web page's start-up, ``dot info``): offline when
``HF_HUB_OFFLINE`` (or, as huggingface_hub reads it, ``TRANSFORMERS_OFFLINE`` when the first is
unset or empty) is one of the spellings huggingface_hub itself accepts, so what we report is what
the library does; otherwise reachable when the endpoint's host accepts a TCP connection within
:data:`HUB_PROBE_SECONDS`, name resolution included (it has no timeout of its own), probed once
per process.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from collections.abc import Mapping
from urllib.parse import urlparse

__all__ = ["HUB_PROBE_SECONDS", "OFFLINE_VALUES", "hub_address", "hub_offline", "hub_reachable"]

HUB_PROBE_SECONDS = 2.0  # a reachable Hub answers a TCP connection well within this
OFFLINE_VALUES = ("1", "ON", "YES", "TRUE")  # huggingface_hub's ENV_VARS_TRUE_VALUES, any case
DEFAULT_ENDPOINT = "https://huggingface.co"


def hub_offline(environ: Mapping[str, str] | None = None) -> bool:
    """True when the environment (default ``os.environ``) switches the Hub off.

    Examples
    --------
    >>> hub_offline({"HF_HUB_OFFLINE": "yes"}), hub_offline({"HF_HUB_OFFLINE": "0"}), hub_offline({})
    (True, False, False)
    >>> hub_offline({"TRANSFORMERS_OFFLINE": "On"})
    True
    """
    env = os.environ if environ is None else environ
    value = env.get("HF_HUB_OFFLINE") or env.get("TRANSFORMERS_OFFLINE") or ""
    return value.upper() in OFFLINE_VALUES


def hub_address(environ: Mapping[str, str] | None = None) -> tuple[str, int]:
    """(host, port) of the Hub endpoint: ``HF_ENDPOINT`` when set, else huggingface.co; port 443
    unless the endpoint names one.

    Examples
    --------
    >>> hub_address({}), hub_address({"HF_ENDPOINT": "http://mirror.local:8080/"})
    (('huggingface.co', 443), ('mirror.local', 8080))
    """
    env = os.environ if environ is None else environ
    url = urlparse(env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT)
    return url.hostname or "huggingface.co", url.port or 443


@functools.lru_cache(maxsize=4)
def _probe_hub(host: str, port: int) -> bool:
    ok: list[bool] = []

    def connect() -> None:  # name resolution has no timeout of its own: run it in a thread
        try:
            socket.create_connection((host, port), timeout=HUB_PROBE_SECONDS).close()
            ok.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(HUB_PROBE_SECONDS + 0.5)
    return bool(ok)


def hub_reachable() -> bool:
    """False when :func:`hub_offline`, or when the Hub's host does not accept a connection within
    :data:`HUB_PROBE_SECONDS` (probed once per process and endpoint)."""
    if hub_offline():
        return False
    return _probe_hub(*hub_address())

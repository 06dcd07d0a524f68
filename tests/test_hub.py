"""The Hub switch and probe (dot_core.latents.hub): one rule for the offline spellings, a bounded probe."""

import doctest
import threading

import pytest

import dot_core.latents.hub as hub
from dot_core.latents.hub import hub_address, hub_offline, hub_reachable


@pytest.fixture(autouse=True)
def fresh_probe():
    hub._probe_hub.cache_clear()
    yield
    hub._probe_hub.cache_clear()


def test_hub_doctests():
    assert doctest.testmod(hub).failed == 0


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "True", "yes", "YES", "on", "On"])
def test_hub_offline_accepts_huggingface_hubs_spellings(value):
    assert hub_offline({"HF_HUB_OFFLINE": value})
    assert hub_offline({"TRANSFORMERS_OFFLINE": value})


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off", "2", "y", "offline"])
def test_hub_offline_refuses_other_values(value):
    assert not hub_offline({"HF_HUB_OFFLINE": value})


@pytest.mark.parametrize("value", ["1", "true", "YES", "on", "0", "off", "x"])
def test_hub_offline_says_what_huggingface_hub_does(value):
    from huggingface_hub.constants import _is_true

    assert hub_offline({"HF_HUB_OFFLINE": value}) == _is_true(value)


def test_hub_offline_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "on")
    assert hub_offline()
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    assert not hub_offline()


def test_hub_address_reads_the_endpoint():
    assert hub_address({"HF_ENDPOINT": "https://hub.example.org"}) == ("hub.example.org", 443)
    assert hub_address({"HF_ENDPOINT": ""}) == ("huggingface.co", 443)


def test_hub_reachable_never_probes_when_offline(monkeypatch):
    def probe(host, port):
        raise AssertionError("an offline Hub must not be probed")

    monkeypatch.setenv("HF_HUB_OFFLINE", "yes")
    monkeypatch.setattr(hub, "_probe_hub", probe)
    assert not hub_reachable()


def test_hub_probe_gives_up_when_name_resolution_hangs(monkeypatch):
    """Name resolution has no timeout of its own: a connection attempt that never returns is
    abandoned after the probe's time, and the Hub counts as unreachable."""
    release, calls = threading.Event(), []

    def hanging(address, timeout):
        calls.append(address)
        release.wait()
        raise OSError("released")

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid:8443")
    monkeypatch.setattr(hub, "HUB_PROBE_SECONDS", 0.05)
    monkeypatch.setattr(hub.socket, "create_connection", hanging)
    try:
        assert not hub_reachable()
        assert calls == [("hub.invalid", 8443)]
    finally:
        release.set()


def test_hub_reachable_probes_once_per_endpoint(monkeypatch):
    calls = []

    class Connection:
        def close(self):
            pass

    def connect(address, timeout):
        calls.append(address)
        return Connection()

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_ENDPOINT", "https://mirror.invalid")
    monkeypatch.setattr(hub.socket, "create_connection", connect)
    assert hub_reachable() and hub_reachable()
    assert calls == [("mirror.invalid", 443)]


@pytest.mark.parametrize("value", ["on", "TRUE"])
def test_page_start_up_follows_the_same_rule(monkeypatch, value):
    """``webui.startup`` used to accept fewer spellings than the loader; now both use hub_reachable."""
    from huggingface_hub import constants

    import webui.startup
    from webui.settings import Settings

    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # as read at import under another value
    monkeypatch.setattr(hub.socket, "create_connection", lambda *a, **k: open(__file__))  # online if probed
    startup = webui.startup.probe_startup(Settings())
    assert not startup.online and startup.encoder == "detail"

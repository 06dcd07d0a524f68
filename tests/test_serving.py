"""serving/: fair admission to the heavy queue and bounded memory for the images sessions keep."""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest

from serving.admission import Admission
from serving.image_store import SCALE, ArrayStore

# ---- ArrayStore ---------------------------------------------------------------------------------


def image(seed: int, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).random((size, size, 3), dtype=np.float32)


def group_bytes(size: int = 64, n: int = 2) -> int:
    return n * size * size * 3 * 2  # uint16


def test_store_round_trip_is_exact_for_8_and_16_bit_images(tmp_path):
    store = ArrayStore(10 * group_bytes())
    u8 = np.random.default_rng(0).integers(0, 256, (40, 50, 3)).astype(np.float32) / 255
    u16 = np.random.default_rng(1).integers(0, 65536, (40, 50, 3)).astype(np.float32) / 65535
    kept = store.keep(tmp_path, original=u8, transported=u16)
    assert kept.get("original").dtype == np.float32 and kept.get("original").shape == (40, 50, 3)
    np.testing.assert_array_equal(np.rint(kept.get("original") * 255), np.rint(u8 * 255))
    np.testing.assert_array_equal(np.rint(kept.get("transported") * SCALE), np.rint(u16 * SCALE))
    x = image(2)
    assert np.abs(store.keep(tmp_path, x=x).get("x") - x).max() <= 0.5 / SCALE + 1e-7
    assert kept.nbytes == 2 * 40 * 50 * 3 * 2  # half of float32


def test_store_refuses_values_it_cannot_keep(tmp_path):
    store = ArrayStore(group_bytes())
    for bad in (np.full((4, 4, 3), np.nan, np.float32), np.full((4, 4, 3), 1.5, np.float32),
                np.full((4, 4, 3), -0.1, np.float32)):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            store.keep(tmp_path, x=bad)
    with pytest.raises(KeyError, match="original"):
        store.keep(tmp_path, original=image(0)).get("clean")


def test_store_stays_within_its_budget_and_spills_the_least_recently_used(tmp_path):
    store = ArrayStore(2 * group_bytes())  # two sessions fit in RAM
    folders = [tmp_path / f"s{i}" for i in range(4)]
    for f in folders:
        f.mkdir()
    images = [(image(2 * i), image(2 * i + 1)) for i in range(4)]
    kept = [store.keep(f, original=a, transported=b) for f, (a, b) in zip(folders, images)]
    assert store.resident_bytes <= store.budget_bytes
    assert [k.resident for k in kept] == [False, False, True, True]
    assert all(len(list(f.glob(".kept-*.npy"))) == 2 for f in folders[:2])  # spilled to its own folder
    assert not list(folders[3].glob("*.npy"))
    # the oldest session moves its slider: read back exactly, and now the least recent goes out
    np.testing.assert_allclose(kept[0].get("original"), images[0][0], atol=0.5 / SCALE + 1e-7)
    assert [k.resident for k in kept] == [True, False, False, True]
    assert store.resident_bytes <= store.budget_bytes
    for k, (a, b) in zip(kept, images):  # nothing computed is lost
        np.testing.assert_allclose(k.get("transported"), b, atol=0.5 / SCALE + 1e-7)
        assert store.resident_bytes <= store.budget_bytes


def test_store_keeps_the_one_in_use_even_alone_over_budget(tmp_path):
    store = ArrayStore(group_bytes() // 4)
    kept = store.keep(tmp_path, original=image(0), transported=image(1))
    assert kept.resident and kept.get("original").shape == (64, 64, 3)


def test_store_frees_ram_and_files_when_no_state_refers_to_a_group(tmp_path):
    store = ArrayStore(group_bytes())
    first = store.keep(tmp_path, original=image(0), transported=image(1))
    second = store.keep(tmp_path, original=image(2), transported=image(3))  # spills the first
    assert not first.resident and len(list(tmp_path.glob(".kept-*.npy"))) == 2
    del first
    gc.collect()
    assert not list(tmp_path.glob(".kept-*.npy")) and store.stats()["resident"] == 1
    del second
    gc.collect()
    assert store.resident_bytes == 0


def test_store_after_the_session_folder_is_gone(tmp_path):
    """A session removed under its state: a clear error for it, nothing for the others."""
    gone, alive = tmp_path / "gone", tmp_path / "alive"
    gone.mkdir(), alive.mkdir()
    store = ArrayStore(group_bytes())
    old = store.keep(gone, original=image(0), transported=image(1))
    for p in gone.iterdir():
        p.unlink()
    gone.rmdir()
    new = store.keep(alive, original=image(2), transported=image(3))  # old cannot spill: it is dropped
    assert new.get("original").shape == (64, 64, 3)
    with pytest.raises(FileNotFoundError, match="upload it again"):
        old.get("original")


def test_store_is_thread_safe(tmp_path):
    store = ArrayStore(3 * group_bytes(32))
    errors = []

    def session(i: int) -> None:
        try:
            folder = tmp_path / str(i)
            folder.mkdir()
            a, b = image(i, 32), image(i + 100, 32)
            kept = store.keep(folder, original=a, transported=b)
            for _ in range(30):
                np.testing.assert_allclose(kept.get("original"), a, atol=1e-4)
                np.testing.assert_allclose(kept.get("transported"), b, atol=1e-4)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert store.resident_bytes <= store.budget_bytes


# ---- Admission ----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Ticket:  # stands for the HTTP request object Gradio hands to validator and handler
    pass


def test_admission_limits_each_session():
    adm = Admission(per_session=2, per_client=10)
    a, b, c = Ticket(), Ticket(), Ticket()
    assert adm.admit(a, "s1", "1.2.3.4") is None
    assert adm.admit(b, "s1", "1.2.3.4") is None
    reason = adm.admit(c, "s1", "1.2.3.4")
    assert reason and "This session already has 2" in reason and "wait" in reason
    assert adm.admit(Ticket(), "s2", "1.2.3.4") is None  # another session of the same address
    with adm.running(a):
        assert adm.counts() == {"waiting": 2, "running": 1}
    assert adm.admit(c, "s1", "1.2.3.4") is None  # a finished job makes room


def test_admission_limits_each_address_across_sessions():
    adm = Admission(per_session=1, per_client=3)
    for i in range(3):
        assert adm.admit(Ticket(), f"s{i}", "10.0.0.1") is None
    reason = adm.admit(Ticket(), "s9", "10.0.0.1")
    assert reason and "Your address already has 3" in reason
    assert adm.admit(Ticket(), "s9", "10.0.0.2") is None  # other visitors are not affected


def test_admission_ends_a_job_however_the_handler_ends():
    adm = Admission(per_session=1, per_client=1)
    t = Ticket()
    assert adm.admit(t, "s", "c") is None
    with pytest.raises(RuntimeError):
        with adm.running(t):
            raise RuntimeError("calibration failed")
    assert adm.counts() == {"waiting": 0, "running": 0}
    assert adm.admit(Ticket(), "s", "c") is None


def test_admission_unadmitted_calls_run_unaccounted_and_a_ticket_counts_once():
    adm = Admission(per_session=1, per_client=1)
    with adm.running(None), adm.running(Ticket()):
        assert adm.counts() == {"waiting": 0, "running": 0}
    t = Ticket()
    assert adm.admit(t, "s", "c") is None and adm.admit(t, "s", "c") is None
    assert adm.counts()["waiting"] == 1


def test_admission_forgets_jobs_that_left_the_queue_without_running():
    clock = Clock()
    queued = set()
    adm = Admission(per_session=1, per_client=5, waiting=queued.__contains__, grace_s=10, max_wait_s=600,
                    clock=clock)
    t = Ticket()
    queued.add(t)
    assert adm.admit(t, "s", "c") is None
    clock.t = 100
    assert adm.admit(Ticket(), "s", "c")  # still waiting in the queue: refused
    queued.clear()  # the visitor left; Gradio dropped the job
    assert adm.counts() == {"waiting": 0, "running": 0}
    clock.t = 105
    assert adm.admit(Ticket(), "s", "c") is None
    # just admitted and not yet visible in the queue: kept during the grace period
    assert adm.admit(Ticket(), "s", "c")
    # without a queue to ask, a job that never starts is forgotten after max_wait_s
    adm2 = Admission(per_session=1, per_client=5, max_wait_s=600, clock=clock)
    assert adm2.admit(Ticket(), "s", "c") is None
    clock.t += 601
    assert adm2.admit(Ticket(), "s", "c") is None


def test_admission_rejects_bad_limits():
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError):
            Admission(per_session=bad)


def test_every_heavy_job_gives_freed_memory_back_however_it_ends(monkeypatch):
    """The server's RSS grew ~40 MB a session while nothing was kept (glibc held freed blocks;
    bench/soak.py): the app fixes malloc's mmap threshold once and trims after each heavy job."""
    import webui.queueing
    import webui.services
    from serving import heap
    from webui.queueing import HeavyJobs
    from webui.services import Services
    from webui.settings import Settings

    calls = []
    monkeypatch.setattr(webui.queueing, "release_freed", lambda: calls.append("trim") or True)
    monkeypatch.setattr(webui.services, "limit_heap_growth", lambda: calls.append("limit") or True)
    Services.create(Settings())
    assert calls == ["limit"]
    jobs = HeavyJobs(Admission(), trust_forwarded=False)
    assert jobs.admitted(lambda: 7)() == 7

    def broken():
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        jobs.admitted(broken)()
    assert calls == ["limit", "trim", "trim"]
    assert heap.limit_heap_growth() in (True, False) and heap.release_freed() in (True, False)  # no-op off glibc

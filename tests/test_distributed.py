"""Across processes: ``accelerate launch`` with two CPU (gloo) processes gives what one process
gives. On a machine without GPUs, ``accelerate launch --multi_gpu --num_processes 2`` starts two
processes through torchrun; dot_core joins them in a gloo group from the environment."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import bicubic_x4, photo

from dot_core import PatchMoments, load_calibration
from dot_core.calibration.distributed import ProcessGroup, all_reduce_moments, init_from_env
from dot_core.cli import main
from dot_core.io.images import save_image

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accelerate_launch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """``accelerate launch --multi_gpu --num_processes 2 -m dot_core ARGS`` on this CPU machine."""
    pytest.importorskip("accelerate")
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(free_port()),
        "-m", "dot_core", *args,
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "HF_HOME": str(tmp_path / "hf"),  # no accelerate config of the machine's user
        "OMP_NUM_THREADS": "1",
        "CUDA_VISIBLE_DEVICES": "",  # two CPU processes even where GPUs exist
    }
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=240)


@pytest.fixture(scope="module")
def photo_dirs(tmp_path_factory):
    """Five restored, five clean, five inputs; sizes differ so shards differ in patch counts."""
    root = tmp_path_factory.mktemp("dist")
    for i, name in enumerate(PHOTOS):
        save_image(root / "restored" / f"r{i}.png", bicubic_x4(photo(name, 40 + 8 * i)))
        save_image(root / "clean" / f"c{i}.png", photo(PHOTOS[(i + 2) % 5], 48))
        save_image(root / "inputs" / f"in{i}.png", bicubic_x4(photo(name, 56)[::-1].copy()))
    return root


def test_accelerate_launch_two_cpu_processes_equal_one_process(photo_dirs, tmp_path, capsys):
    d = photo_dirs
    calibrate = ["calibrate", "--restored", str(d / "restored"), "--clean", str(d / "clean"),
                 "--encoder", "pixel", "--patch-size", "3", "--device", "cpu"]
    assert main([*calibrate, "--out", str(tmp_path / "one.safetensors")]) == 0
    launched = accelerate_launch(tmp_path, *calibrate, "--out", str(tmp_path / "two.safetensors"))
    assert launched.returncode == 0, launched.stderr[-2000:]
    assert launched.stdout.count("wrote ") == 1  # only the main process writes and prints
    one, two = load_calibration(tmp_path / "one.safetensors"), load_calibration(tmp_path / "two.safetensors")
    for a, b in ((one.source, two.source), (one.target, two.target)):
        assert a.n == b.n
        # only the order of the float64 additions differs: measured 3.2e-15 to 1.1e-14 relative, per element, by CPU
        torch.testing.assert_close(b.s1, a.s1, rtol=1e-12, atol=0)
        torch.testing.assert_close(b.s2, a.s2, rtol=1e-12, atol=0)
    assert two.info["n_restored_images"] == one.info["n_restored_images"] == 5
    assert two.info["warnings"] == one.info["warnings"]
    assert two.w2 == pytest.approx(one.w2, rel=1e-9)  # measured 7.6e-11: W2 subtracts traces

    cal = str(tmp_path / "one.safetensors")
    enhance = ["enhance", "--calibration", cal, "--alpha", "0,0.5", "--device", "cpu", str(d / "inputs")]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each launched process runs (accelerate sets OMP_NUM_THREADS=1): float32
    try:                      # sums split between threads round their last bit otherwise (1 level in 8 bits)
        assert main([*enhance, "--out", str(tmp_path / "out1")]) == 0
    finally:
        torch.set_num_threads(threads)
    launched = accelerate_launch(tmp_path, *enhance, "--out", str(tmp_path / "out2"))
    assert launched.returncode == 0, launched.stderr[-2000:]
    assert "wrote 10 image(s) for 5 of 5 input(s)" in launched.stdout
    single = sorted(p.name for p in (tmp_path / "out1").iterdir())
    assert len(single) == 10 and sorted(p.name for p in (tmp_path / "out2").iterdir()) == single
    for name in single:
        assert (tmp_path / "out2" / name).read_bytes() == (tmp_path / "out1" / name).read_bytes(), name


def test_without_a_launcher_nothing_is_distributed(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    group = init_from_env()
    assert group == ProcessGroup() and not group.distributed and group.is_main
    assert not torch.distributed.is_initialized()
    assert group.shard([1, 2, 3]) == [1, 2, 3]
    assert group.sum_ints(4, 5) == (4, 5)
    assert group.gather("x") == ["x"]
    assert group.device_for("auto") == "auto"
    m = PatchMoments(3).update(torch.randn(10, 3))
    assert all_reduce_moments(m, group) is m
    group.close()


def test_shards_cover_every_item_once():
    items = list(range(11))
    shards = [ProcessGroup(rank=r, world_size=3).shard(items) for r in range(3)]
    assert sorted(x for s in shards for x in s) == items
    assert [len(s) for s in shards] == [4, 4, 3]
    assert ProcessGroup(rank=2, world_size=3).is_main is False

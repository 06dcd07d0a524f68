"""Calibrate and enhance across processes, GPUs and machines (``accelerate launch``).

Calibration statistics are sums (n, S1 = Σv, S2 = Σvvᵀ; docs/method.md "Moments"), so each process can
take a shard of the images and the shards' float64 sums are added with one all-reduce: the
result equals a single process's up to float64 round-off (≈1e-16 relative). Enhancement needs
no communication: each process writes the outputs of its own shard of the inputs.

The process group comes from the environment that ``accelerate launch`` (through torchrun) sets:
``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``. Without it (plain
``python -m dot_core``) nothing here touches ``torch.distributed``. The backend is NCCL when the
processes have GPUs and gloo otherwise (accelerate's own state reports a single process when a
``--multi_gpu`` launch finds no GPU, so this module reads the environment itself).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

import torch

from ..ot.moments import PatchMoments
from .content import ContentStats
from .fit import Calibrator

__all__ = ["ProcessGroup", "all_reduce_calibrator", "all_reduce_content", "all_reduce_moments", "init_from_env"]

T = TypeVar("T")
TIMEOUT = timedelta(minutes=30)  # a straggler encoding big images must not be taken for dead


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place among ``world_size`` cooperating processes (one when not launched)."""

    rank: int = 0  # global index of this process
    world_size: int = 1  # processes on all machines
    local_rank: int = 0  # index of this process on its machine: its GPU
    backend: str | None = None  # "nccl" or "gloo"; None when not distributed

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """The process that writes shared files and prints summaries."""
        return self.rank == 0

    @property
    def comm_device(self) -> torch.device:
        """Where collective tensors live: the process's GPU for NCCL, else the CPU."""
        return torch.device("cuda", self.local_rank) if self.backend == "nccl" else torch.device("cpu")

    def device_for(self, requested: str) -> str:
        """The device this process should compute on: its own GPU under a multi-GPU launch."""
        if self.distributed and torch.cuda.is_available() and requested in ("auto", "cuda"):
            return f"cuda:{self.local_rank}"
        return requested

    def shard(self, items: list[T]) -> list[T]:
        """This process's share of ``items``: every ``world_size``-th one from ``rank``."""
        return list(items[self.rank :: self.world_size])

    def sum_ints(self, *values: int) -> tuple[int, ...]:
        """Element-wise sums over all processes of a few integers."""
        if not self.distributed:
            return tuple(int(v) for v in values)
        t = torch.tensor(values, dtype=torch.int64, device=self.comm_device)
        torch.distributed.all_reduce(t)
        return tuple(int(v) for v in t.tolist())

    def gather(self, obj: object) -> list:
        """One small picklable object from every process, in rank order (trusted peers only)."""
        if not self.distributed:
            return [obj]
        out: list = [None] * self.world_size
        torch.distributed.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        """Leave the process group. No barrier: a process that failed leaves at once, and the
        launcher then stops the others instead of letting them wait for it."""
        if self.distributed and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def init_from_env() -> ProcessGroup:
    """Join the process group described by the launcher's environment, if there is one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return ProcessGroup()
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist = torch.distributed
    if not dist.is_available():
        raise RuntimeError("this torch build has no torch.distributed; run without accelerate launch")
    if not dist.is_initialized():
        if backend == "nccl":
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend, rank=rank, world_size=world, timeout=TIMEOUT)
    return ProcessGroup(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank, backend=backend)


def all_reduce_moments(moments: PatchMoments, group: ProcessGroup) -> PatchMoments:
    """A new :class:`PatchMoments` holding the sums (n, S1, S2) over every process.

    One float64 all-reduce of ``[n, S1, vec(S2)]`` (n stays exact below 2⁵³).
    """
    if not group.distributed:
        return moments
    d = moments.dim
    buf = torch.cat([torch.tensor([float(moments.n)], dtype=torch.float64), moments.s1.cpu(), moments.s2.cpu().reshape(-1)])
    buf = buf.to(group.comm_device)
    torch.distributed.all_reduce(buf)
    buf = buf.cpu()
    return PatchMoments(dim=d, n=int(round(buf[0].item())), s1=buf[1 : 1 + d].clone(), s2=buf[1 + d :].reshape(d, d).clone())


def all_reduce_content(stats: ContentStats, group: ProcessGroup) -> ContentStats:
    """A new :class:`ContentStats` holding the per-bin sums (counts, Σ v, Σ ‖v‖²) over every process."""
    if not group.distributed:
        return stats
    parts = (stats.counts, stats.s1.reshape(-1), stats.sq)
    buf = torch.cat([p.cpu() for p in parts]).to(group.comm_device)
    torch.distributed.all_reduce(buf)
    counts, s1, sq = torch.split(buf.cpu(), [p.numel() for p in parts])
    return ContentStats(stats.dim, counts.clone(), s1.reshape(stats.s1.shape).clone(), sq.clone())


def all_reduce_calibrator(cal: Calibrator, group: ProcessGroup) -> Calibrator:
    """Make ``cal`` (which saw this process's shard) hold what all processes saw; returns it.

    Moments and content statistics are all-reduced; image sizes, skipped counts, paired errors and phase variations (used by
    :meth:`Calibrator.warnings` and :meth:`Calibrator.fit`) are gathered, so every process then
    fits the same calibration as one process given all the images.
    """
    if not group.distributed:
        return cal
    cal.source = all_reduce_moments(cal.source, group)
    cal.target = all_reduce_moments(cal.target, group)
    cal.content = {role: all_reduce_content(stats, group) for role, stats in cal.content.items()}  # the content match
    shards = group.gather({"sizes": cal.sizes, "skipped": cal.skipped, "pair_sq_err": cal._pair_sq_err,
                           "phases": cal._phases})  # the restorer's grid is found from every image
    cal.sizes = {role: [tuple(s) for sh in shards for s in sh["sizes"][role]] for role in cal.sizes}
    cal.skipped = {role: sum(sh["skipped"][role] for sh in shards) for role in cal.skipped}
    cal._pair_sq_err = [e for sh in shards for e in sh["pair_sq_err"]]
    cal._phases = {role: [v for sh in shards for v in sh["phases"][role]] for role in cal._phases}
    return cal

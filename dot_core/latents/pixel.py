"""``pixel``: the identity latent space, the official code's weight-free fallback."""

from __future__ import annotations

import torch

from .base import Encoder, resolve_device

__all__ = ["PixelEncoder"]


class PixelEncoder(Encoder):
    """The identity on [-1, 1] RGB: C = 3, f = 1, needs no weights (the official code's fallback).

    Examples
    --------
    >>> import torch
    >>> from dot_core import PixelEncoder
    >>> enc = PixelEncoder(device="cpu")
    >>> x = torch.rand(1, 3, 4, 5) * 2 - 1
    >>> enc.encode(x).shape, torch.equal(enc.decode(enc.encode(x)), x)
    (torch.Size([1, 3, 4, 5]), True)
    """

    def __init__(self, *, device: str | torch.device | None = None) -> None:
        self.name, self.channels, self.factor = "pixel", 3, 1
        self.device, self.dtype = resolve_device(device), torch.float32

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return z.clone()

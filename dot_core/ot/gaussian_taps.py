"""The one sampled Gaussian that the blur of ``detail``, SSIM's window and the fold weights share.

A bottom module: it imports nothing from the package, so every other module may import it.
"""

from __future__ import annotations

import math

import torch

__all__ = ["gaussian_taps", "gaussian_radius"]


def gaussian_radius(sigma: float, *, truncate: float = 3.0) -> int:
    """Half-width ``r = max(1, ⌈truncate·σ⌉)`` of a sampled Gaussian (2r + 1 taps)."""
    return max(1, math.ceil(truncate * sigma))


def gaussian_taps(
    size: int, sigma: float, *, normalize: str = "sum", dtype: torch.dtype = torch.float64
) -> torch.Tensor:
    r"""A 1-D Gaussian sampled at the ``size`` points centred on zero.

    .. math:: g_i = \exp\!\left(-\tfrac{t_i^2}{2\sigma^2}\right), \qquad
              t_i = i - \tfrac{size - 1}{2}, \quad i = 0, \dots, size - 1

    Parameters
    ----------
    size : int
        Number of taps (odd for a filter with a centre tap; the fold kernel of an even patch
        size is even).
    sigma : float
        Standard deviation in samples, > 0.
    normalize : ``"sum"`` or ``"peak"``
        Divide by the sum (a low-pass filter with unit gain) or by the largest value (weights
        whose largest is 1).

    Returns
    -------
    (size,) tensor of ``dtype``.
    """
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma!r}")
    if normalize not in ("sum", "peak"):
        raise ValueError(f"normalize must be 'sum' or 'peak', got {normalize!r}")
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / (g.sum() if normalize == "sum" else g.max())
    return g.to(dtype)

"""Streamed, mergeable first and second moments of patch vectors (docs/method.md "Moments").

For samples v ∈ R^d we keep n, S1 = Σ v and S2 = Σ v vᵀ in float64; then

    μ = S1 / n,    Σ = (S2 − n μ μᵀ) / (n − 1).

Two sets of statistics merge by adding (n, S1, S2), so calibrations can be built image by
image, combined across runs, or all-reduced across processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["PatchMoments"]


@dataclass
class PatchMoments:
    """Running sums over patch vectors of dimension ``dim``.

    Examples
    --------
    Statistics gathered in two parts and merged equal those of all samples at once:

    >>> import torch
    >>> from dot_core import PatchMoments
    >>> a = PatchMoments(dim=2).update(torch.tensor([[0.0, 1.0], [2.0, 1.0]]))
    >>> b = PatchMoments(dim=2).update(torch.tensor([[4.0, 1.0]]))
    >>> both = a + b
    >>> both.n, both.mean.tolist(), both.covariance.tolist()
    (3, [2.0, 1.0], [[4.0, 0.0], [0.0, 0.0]])
    """

    dim: int
    n: int = 0
    s1: torch.Tensor = field(default=None)  # (d,) float64, Σ v
    s2: torch.Tensor = field(default=None)  # (d, d) float64, Σ v vᵀ

    def __post_init__(self) -> None:
        if not isinstance(self.dim, int) or self.dim < 1:
            raise ValueError(f"dim must be a positive int, got {self.dim!r}")
        if self.s1 is None:
            self.s1 = torch.zeros(self.dim, dtype=torch.float64)
        if self.s2 is None:
            self.s2 = torch.zeros(self.dim, self.dim, dtype=torch.float64)
        if tuple(self.s1.shape) != (self.dim,) or tuple(self.s2.shape) != (self.dim, self.dim):
            raise ValueError(
                f"moment sums must have shapes ({self.dim},) and ({self.dim}, {self.dim}), "
                f"got {tuple(self.s1.shape)} and {tuple(self.s2.shape)}"
            )
        self.s1 = self.s1.to(torch.float64)
        self.s2 = self.s2.to(torch.float64)

    def update(self, v: torch.Tensor) -> "PatchMoments":
        """Add the rows of ``v`` (n, d); returns self."""
        if v.ndim != 2 or v.shape[1] != self.dim:
            raise ValueError(f"expected patches of shape (n, {self.dim}), got {tuple(v.shape)}")
        v64 = v.to(device=self.s1.device, dtype=torch.float64)
        self.n += int(v64.shape[0])
        self.s1 += v64.sum(0)
        self.s2 += v64.T @ v64
        return self

    def merge(self, other: "PatchMoments") -> "PatchMoments":
        """A new object holding the statistics of both sets."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge moments of dimension {self.dim} and {other.dim}")
        return PatchMoments(
            dim=self.dim,
            n=self.n + other.n,
            s1=self.s1 + other.s1.to(self.s1.device),
            s2=self.s2 + other.s2.to(self.s2.device),
        )

    def copy(self) -> "PatchMoments":
        """An independent copy: later updates of either leave the other as it was."""
        return PatchMoments(dim=self.dim, n=self.n, s1=self.s1.clone(), s2=self.s2.clone())

    def __add__(self, other: "PatchMoments") -> "PatchMoments":
        return self.merge(other)

    @property
    def mean(self) -> torch.Tensor:
        """μ = S1 / n, shape (d,)."""
        if self.n < 1:
            raise ValueError("no samples were added; the mean is undefined")
        return self.s1 / self.n

    @property
    def covariance(self) -> torch.Tensor:
        """Σ = (S2 − n μ μᵀ) / (n − 1), symmetric, shape (d, d)."""
        if self.n < 2:
            raise ValueError(f"need at least 2 samples for a covariance, have {self.n}")
        mu = self.mean
        C = (self.s2 - self.n * torch.outer(mu, mu)) / (self.n - 1)
        return 0.5 * (C + C.T)

    def to(self, device: torch.device | str) -> "PatchMoments":
        return PatchMoments(dim=self.dim, n=self.n, s1=self.s1.to(device), s2=self.s2.to(device))

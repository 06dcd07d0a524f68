"""Symmetric positive semi-definite matrices on float64 tensors: square roots, pseudo-inverses,
and the eigen-rebuild U·diag(f(λ))·Uᵀ that every closed form of :mod:`.gaussian_maps` is made of.
"""

from __future__ import annotations

import torch

__all__ = ["SINGULAR_RTOL", "EIGH_ATOL", "symmetrize", "eig_rebuild", "check_cov", "sqrtm_psd", "pinv_psd"]

# Relative eigenvalue floor below which a covariance counts as singular (``λ_min ≤ rtol·λ_max``).
SINGULAR_RTOL = 1e-10
EIGH_ATOL = 1e-12  # relative to λmax: eigenvalues this close to ε count as equal to it


def symmetrize(A: torch.Tensor) -> torch.Tensor:
    """(A + Aᵀ)/2: exactly symmetric, whatever the round-off."""
    return 0.5 * (A + A.transpose(-1, -2))


def eig_rebuild(U: torch.Tensor, f_lam: torch.Tensor) -> torch.Tensor:
    r"""The symmetric matrix :math:`U \operatorname{diag}(f(\lambda)) U^\top` from an eigenbasis ``U``
    (..., d, d) and the mapped eigenvalues ``f_lam`` (..., d), symmetrised against round-off."""
    return symmetrize((U * f_lam.unsqueeze(-2)) @ U.transpose(-1, -2))


def check_cov(name: str, A: torch.Tensor) -> torch.Tensor:
    """``A`` as a symmetrised float64 (..., d, d) covariance; a clear error for anything else."""
    if not isinstance(A, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(A).__name__}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"{name} must have shape (..., d, d), got {tuple(A.shape)}")
    if not torch.isfinite(A).all():
        raise ValueError(f"{name} contains NaN or Inf; the statistics it came from are broken")
    return symmetrize(A.to(torch.float64))


def sqrtm_psd(A: torch.Tensor, *, eps: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Square root and inverse square root of a symmetric positive semi-definite matrix.

    .. math::
        A = U \operatorname{diag}(\lambda) U^\top,\quad
        A^{1/2} = U \operatorname{diag}(\sqrt{\lambda^+}) U^\top,\quad
        A^{-1/2} = U \operatorname{diag}((\lambda^+ + \varepsilon)^{-1/2}) U^\top

    Negative eigenvalues (round-off) are clamped at zero. With ``eps = 0`` the inverse root is a
    pseudo-inverse root: eigenvalues at or below ``SINGULAR_RTOL·λ_max`` map to 0.

    Parameters
    ----------
    A : (..., d, d) tensor, symmetric PSD.
    eps : float
        Added to every eigenvalue before inverting (Tikhonov regularisation).

    Returns
    -------
    A12, A12inv : (..., d, d) float64 tensors.

    Examples
    --------
    >>> import torch
    >>> from dot_core import sqrtm_psd
    >>> A = torch.tensor([[4.0, 0.0], [0.0, 9.0]])
    >>> A12, A12inv = sqrtm_psd(A)
    >>> A12.diagonal().tolist(), A12inv.diagonal().tolist()
    ([2.0, 3.0], [0.5, 0.3333333333333333])
    >>> S = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    >>> S12, _ = sqrtm_psd(S)
    >>> torch.allclose(S12 @ S12, S)
    True
    """
    A = check_cov("A", A)
    lam, U = torch.linalg.eigh(A)
    lam = lam.clamp_min(0.0)
    sqrt_lam = lam.sqrt()
    if eps > 0:
        inv_sqrt = (lam + eps).rsqrt()
    else:
        floor = SINGULAR_RTOL * lam.amax(dim=-1, keepdim=True)
        inv_sqrt = torch.where(lam > floor, lam.clamp_min(1e-300).rsqrt(), torch.zeros_like(lam))
    return eig_rebuild(U, sqrt_lam), eig_rebuild(U, inv_sqrt)


def pinv_psd(A: torch.Tensor) -> torch.Tensor:
    """Pseudo-inverse of a symmetric PSD matrix: eigenvalues at or below ``SINGULAR_RTOL·λ_max`` map to 0."""
    lam, U = torch.linalg.eigh(A)
    floor = SINGULAR_RTOL * lam.amax(dim=-1, keepdim=True).clamp_min(0.0)
    inv = torch.where(lam > floor, 1.0 / lam.clamp_min(1e-300), torch.zeros_like(lam))
    return eig_rebuild(U, inv)

"""Optimal transport between Gaussians, on float64 tensors.

Everything here is closed form. Shapes follow the formulas: means ``(..., d)``,
covariances ``(..., d, d)``; batched leading dimensions work wherever ``torch.linalg.eigh``
does.

References
----------
[1] T. Adrai, G. Ohayon, M. Elad, T. Michaeli. "Deep Optimal Transport: A Practical Algorithm
    for Photo-realistic Image Restoration". NeurIPS 2023. Eq. (2) (the operator), eq. (4)
    (interpolation), appendix A.2 (degenerate source).
[2] D. Freirich, T. Michaeli, R. Meir. "A Theory of the Distortion-Perception Tradeoff in
    Wasserstein Space". NeurIPS 2021. Eq. (19) (OT to a Gaussian from a singular one).
[3] M. Gelbrich. "On a formula for the L2 Wasserstein metric between measures on Euclidean and
    Hilbert spaces". Math. Nachr. 1990.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from .psd import EIGH_ATOL, SINGULAR_RTOL, check_cov, eig_rebuild, pinv_psd, sqrtm_psd, symmetrize

__all__ = [
    "GaussianOperator",
    "check_eps",
    "transport_operator",
    "degenerate_transport_operator",
    "fit_operator",
    "degenerate_split",
    "gelbrich_w2",
    "empirical_moments",
    "empirical_transport_operator",
]

def check_eps(eps) -> float | None:
    """None (the latent's own ε), or ε: a finite number ≥ 0, relative to the mean eigenvalue of Σs.

    Any such ε has a meaning (:func:`fit_operator`): the operator is eq. (2) for Σs + ε·mean λ(Σs)·I,
    so ε = 1 adds the mean variance to every direction and ε → ∞ maps every patch to μt. Files,
    the command line and :class:`dot_core.Calibrator` accept exactly these values.
    """
    if eps is None:
        return None
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"eps must be a finite number ≥ 0 (relative to the mean eigenvalue of the restored "
                         f"covariance, e.g. 1e-9), got {eps!r}")
    return float(eps)


def transport_operator(Cs: torch.Tensor, Ct: torch.Tensor, *, eps: float = 0.0) -> torch.Tensor:
    r"""The linear part of the optimal transport map from N(·, Σs + εI) to N(·, Σt), eq. (2) of [1].

    .. math::
        \tilde\Sigma_s = \Sigma_s + \varepsilon I, \qquad
        T = \tilde\Sigma_s^{-1/2}\left(\tilde\Sigma_s^{1/2}\Sigma_t\tilde\Sigma_s^{1/2}\right)^{1/2}
            \tilde\Sigma_s^{-1/2}

    ε is "a small stability constant added to the matrix diagonal" ([1], appendix A.2) in every
    factor, so ``T`` is exactly eq. (2) for Σs + εI: ``T (Σs + εI) T = Σt``, and along a source
    direction of variance λ the gain is at most ``√(τ/(λ + ε))`` (τ the target's variance there,
    when the two commute). ``T`` is symmetric PSD. With ``ε = 0`` and a singular Σs the inverse
    roots are pseudo-inverse roots.

    Parameters
    ----------
    Cs, Ct : (..., d, d) tensors, source and target covariances.
    eps : float
        ε ≥ 0, in the units of Σs (absolute; :func:`fit_operator` scales it by mean λ(Σs)).

    Returns
    -------
    T : (..., d, d) float64 tensor.

    Examples
    --------
    >>> import torch
    >>> from dot_core import transport_operator
    >>> Cs = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=torch.float64)
    >>> Ct = torch.tensor([[4.0, 0.0], [0.0, 9.0]], dtype=torch.float64)
    >>> T = transport_operator(Cs, Ct)
    >>> torch.allclose(T @ Cs @ T, Ct), torch.allclose(T, T.T)
    (True, True)
    >>> transport_operator(torch.eye(2), 4 * torch.eye(2)).diagonal().tolist()  # gain √(τ/λ) = 2
    [2.0, 2.0]
    """
    Cs, Ct = check_cov("Cs", Cs), check_cov("Ct", Ct)
    if Cs.shape != Ct.shape:
        raise ValueError(f"Cs and Ct must have the same shape, got {tuple(Cs.shape)} and {tuple(Ct.shape)}")
    if not eps >= 0:
        raise ValueError(f"eps must be ≥ 0, got {eps!r}")
    if eps > 0:
        Cs = Cs + eps * torch.eye(Cs.shape[-1], dtype=torch.float64, device=Cs.device)
    Cs12, Cs12inv = _shifted_roots(Cs, eps) if eps > 0 else sqrtm_psd(Cs)
    M12, _ = sqrtm_psd(Cs12 @ Ct @ Cs12)
    return symmetrize(Cs12inv @ M12 @ Cs12inv)


def _shifted_roots(Cs_eps: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    r"""(Σs + εI)^{1/2} and its true inverse for ε > 0. Every eigenvalue of Σs + εI is at least ε,
    so none is dropped as a pseudo-inverse would (its floor, 1e-10·λmax, is above a tiny ε); an
    eigenvalue round-off put below ε is taken as ε."""
    lam, U = torch.linalg.eigh(Cs_eps)
    lam = lam.clamp_min(eps)
    return eig_rebuild(U, lam.sqrt()), eig_rebuild(U, lam.rsqrt())


def degenerate_transport_operator(
    Cs: torch.Tensor, Ct: torch.Tensor, *, eps: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""OT from a Gaussian with singular covariance to a non-singular one: [2] eq. (19), [1] A.2.

    The map is stochastic: ``v' = T v + w`` with ``w ~ N(0, Σw)`` independent of ``v``.

    .. math::
        T = \Sigma_t^{1/2}\left(\Sigma_t^{1/2}\Sigma_s\Sigma_t^{1/2}\right)^{1/2}
            \Sigma_t^{-1/2}\Sigma_s^{\dagger}, \qquad
        \Sigma_w = \Sigma_t^{1/2}\left(I - \Sigma_t^{1/2} T^{*} \Sigma_s^{\dagger} T^{*}
            \Sigma_t^{1/2}\right)\Sigma_t^{1/2}

    with ``T* = T_{t→s}`` (eq. (2) with the roles swapped). When Σs is invertible this ``T``
    equals :func:`transport_operator` and ``Σw = 0``. In every case ``T Σs Tᵀ + Σw = Σt``
    on the range where Σt is positive.

    Parameters
    ----------
    Cs, Ct : (..., d, d) tensors.
    eps : float
        Regularises the inverse root of Σt (needed only if Σt is itself singular).

    Returns
    -------
    T : (..., d, d) float64, Σw : (..., d, d) float64 PSD.

    Examples
    --------
    A source of rank 1 (every sample on the diagonal) cannot reach a rank-2 target by a
    linear map; the missing direction comes from the noise w:

    >>> import torch
    >>> from dot_core import degenerate_transport_operator
    >>> Cs = torch.tensor([[1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    >>> Ct = torch.tensor([[4.0, 0.0], [0.0, 9.0]], dtype=torch.float64)
    >>> T, Cw = degenerate_transport_operator(Cs, Ct)
    >>> torch.allclose(T @ Cs @ T.T + Cw, Ct)
    True
    >>> int(torch.linalg.matrix_rank(Cw))
    1
    """
    Cs, Ct = check_cov("Cs", Cs), check_cov("Ct", Ct)
    Ct12, Ct12inv = sqrtm_psd(Ct, eps=eps)
    M12, _ = sqrtm_psd(Ct12 @ Cs @ Ct12)
    Cs_pinv = pinv_psd(Cs)
    T = Ct12 @ M12 @ Ct12inv @ Cs_pinv
    T_star = symmetrize(Ct12inv @ M12 @ Ct12inv)  # T_{t→s}, eq. (2) with s and t swapped
    eye = torch.eye(Cs.shape[-1], dtype=torch.float64, device=Cs.device)
    inner = symmetrize(eye - Ct12 @ T_star @ Cs_pinv @ T_star @ Ct12)
    lam, U = torch.linalg.eigh(inner)
    inner = eig_rebuild(U, lam.clamp_min(0.0))
    Cw = symmetrize(Ct12 @ inner @ Ct12)
    return T, Cw


@dataclass(frozen=True)
class GaussianOperator:
    """An affine (possibly stochastic) transport map ``v' = T (v − μs) + μt + w``, ``w ~ N(0, Σw)``.

    Shapes: ``T`` (d, d), ``mu_s`` and ``mu_t`` (d,), ``noise_cov`` (d, d) or None; float64.
    ``source_energy`` is tr(Σs), the mean squared deviation ``E‖v − μs‖²`` of a source patch: the
    scale against which :func:`dot_core.ot.patches.transport_latent` measures a patch's local energy
    when it scales w to its content (``noise="local"``).

    Examples
    --------
    >>> import torch
    >>> from dot_core import GaussianOperator
    >>> op = GaussianOperator(T=2 * torch.eye(2, dtype=torch.float64),
    ...                       mu_s=torch.zeros(2, dtype=torch.float64),
    ...                       mu_t=torch.ones(2, dtype=torch.float64))
    >>> op.dim, op.stochastic
    (2, False)
    >>> op.apply(torch.tensor([[1.0, -1.0]])).tolist()  # 2·(v − 0) + 1
    [[3.0, -1.0]]
    """

    T: torch.Tensor
    mu_s: torch.Tensor
    mu_t: torch.Tensor
    noise_cov: torch.Tensor | None = None  # Σw, present only for a singular source (eq. 5)
    source_energy: float | None = None  # tr(Σs) of the source the operator was fitted to

    @property
    def dim(self) -> int:
        return int(self.T.shape[-1])

    @property
    def stochastic(self) -> bool:
        return self.noise_cov is not None

    def noise_factor(self) -> torch.Tensor | None:
        """A matrix L with ``L Lᵀ = Σw`` (its symmetric root), or None."""
        if self.noise_cov is None:
            return None
        return sqrtm_psd(self.noise_cov)[0]

    def apply(self, v: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Transport rows of ``v`` (n, d); float64 in, float64 out (reference implementation)."""
        out = (v.to(torch.float64) - self.mu_s) @ self.T.T + self.mu_t
        L = self.noise_factor()
        if L is not None:
            z = torch.randn(out.shape, dtype=torch.float64, generator=generator, device=out.device)
            out = out + z @ L.T
        return out


def degenerate_split(Cs: torch.Tensor, eps: float) -> tuple[torch.Tensor, int]:
    r"""Σs + εI with its degenerate directions removed, and how many were removed.

    .. math::
        \Sigma_s = U \operatorname{diag}(\lambda) U^\top, \qquad
        \Sigma_s' = \sum_{i:\ \lambda_i > \max(\varepsilon,\ 10^{-10}\lambda_{\max})}
                     (\lambda_i + \varepsilon)\, u_i u_i^\top

    A source direction whose variance is at most ε (or numerically zero) carries no usable
    signal: eq. (2) would only amplify what residue sits there (for a bicubic ×4 restoration, its
    interpolation phase pattern). Removing it makes Σs' singular, and the degenerate-source map
    ([2] eq. 19, [1] eq. 5 and A.2) synthesises that direction from the target instead.

    Parameters
    ----------
    Cs : (d, d) tensor; eps : absolute ε ≥ 0 (units of Σs).

    Returns
    -------
    Cs' : (d, d) float64, n_degenerate : int.
    """
    lam, U = torch.linalg.eigh(symmetrize(Cs.to(torch.float64)))
    lam_max = max(float(lam.max()), 0.0)
    # "at most ε" up to the eigensolver's round-off (~d·1e-16·λmax): an eigenvalue equal to ε is
    # degenerate on every CPU, whichever side of ε its last bits land
    floor = max(float(eps) + EIGH_ATOL * lam_max, SINGULAR_RTOL * lam_max)
    keep = lam > floor
    lam_kept = torch.where(keep, lam + eps, torch.zeros_like(lam))
    return eig_rebuild(U, lam_kept), int((~keep).sum())


def fit_operator(
    mu_s: torch.Tensor,
    Cs: torch.Tensor,
    mu_t: torch.Tensor,
    Ct: torch.Tensor,
    *,
    method: str = "auto",
    eps: float = 1e-9,
) -> GaussianOperator:
    r"""Moments in, operator out.

    ε is relative: the absolute constant is :math:`\varepsilon_a = \varepsilon \cdot
    \operatorname{mean}\lambda(\Sigma_s)`, so it does not depend on the latent's scale.

    * ``"deterministic"``: eq. (2) of [1] for Σs + ε_a I (:func:`transport_operator`), so
      ``T (Σs + ε_a I) T = Σt``.
    * ``"stochastic"``: the source directions of variance ≤ ε_a are degenerate
      (:func:`degenerate_split`); the others keep Σs + ε_a I, and the degenerate-source map of
      [2] eq. (19) / [1] eq. (5) (:func:`degenerate_transport_operator`) drops the degenerate
      directions of the input and synthesises them as noise w ~ N(0, Σw), so
      ``T Σs' Tᵀ + Σw = Σt``. With no degenerate direction Σw = 0 and no noise is drawn.
    * ``"auto"``: ``"stochastic"`` exactly when some direction is degenerate, else
      ``"deterministic"``.

    Shapes: ``mu_s``, ``mu_t`` (d,), ``Cs``, ``Ct`` (d, d).

    Examples
    --------
    >>> import torch
    >>> from dot_core import fit_operator
    >>> Ct = torch.tensor([[4.0, 0.0], [0.0, 9.0]], dtype=torch.float64)
    >>> op = fit_operator(torch.zeros(2), torch.eye(2), torch.ones(2), Ct)
    >>> op.stochastic, [round(t, 3) for t in op.T.diagonal().tolist()]  # √(τ/λ), ε = 1e-9 aside
    (False, [2.0, 3.0])

    A source with a direction of zero variance makes ``"auto"`` stochastic:

    >>> flat = torch.tensor([[1.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    >>> op = fit_operator(torch.zeros(2), flat, torch.ones(2), Ct)
    >>> op.stochastic, op.noise_cov.diagonal().tolist()
    (True, [0.0, 9.0])
    """
    if method not in ("auto", "deterministic", "stochastic"):
        raise ValueError(f"method must be 'auto', 'deterministic' or 'stochastic', got {method!r}")
    if eps is None:
        raise ValueError("eps must be a finite number ≥ 0, got None")
    eps = check_eps(eps)
    Cs, Ct = check_cov("Cs", Cs), check_cov("Ct", Ct)
    mu_s, mu_t = mu_s.to(torch.float64), mu_t.to(torch.float64)
    if mu_s.shape[-1] != Cs.shape[-1] or mu_t.shape[-1] != Ct.shape[-1] or Cs.shape != Ct.shape:
        raise ValueError(
            "moments disagree in dimension: "
            f"mu_s {tuple(mu_s.shape)}, Cs {tuple(Cs.shape)}, mu_t {tuple(mu_t.shape)}, Ct {tuple(Ct.shape)}"
        )
    eps_abs = eps * torch.linalg.eigvalsh(Cs).clamp_min(0.0).mean().item()
    Cs_kept, n_degenerate = degenerate_split(Cs, eps_abs)
    if method == "auto":
        method = "stochastic" if n_degenerate > 0 else "deterministic"
    if method == "stochastic":
        # Pseudo-inverse roots throughout: a flat target (Σt singular too) maps onto its mean.
        T, Cw = degenerate_transport_operator(Cs_kept, Ct)
        # no degenerate direction: Σs' is invertible and Σw = 0 exactly (what eigh leaves is round-off)
        op = GaussianOperator(T=T, mu_s=mu_s, mu_t=mu_t, noise_cov=Cw if n_degenerate else None,
                              source_energy=float(Cs.diagonal(dim1=-2, dim2=-1).sum(-1)))
    else:
        op = GaussianOperator(T=transport_operator(Cs, Ct, eps=eps_abs), mu_s=mu_s, mu_t=mu_t)
    if not torch.isfinite(op.T).all():
        warnings.warn(
            "the transport operator is not finite; the covariances are too ill-conditioned. "
            "Use more or larger calibration images, a smaller patch size, or a larger eps.",
            RuntimeWarning,
            stacklevel=2,
        )
    return op


def gelbrich_w2(
    mu_s: torch.Tensor, Cs: torch.Tensor, mu_t: torch.Tensor, Ct: torch.Tensor
) -> torch.Tensor:
    r"""The 2-Wasserstein distance between N(μs, Σs) and N(μt, Σt) (Gelbrich [3]).

    .. math::
        W_2^2 = \lVert\mu_s-\mu_t\rVert^2
              + \operatorname{tr}\left(\Sigma_s+\Sigma_t
              - 2\left(\Sigma_t^{1/2}\Sigma_s\Sigma_t^{1/2}\right)^{1/2}\right)

    Returns W2 (not squared), shape ``(...)``, float64; it is a lower bound on the W2 between
    any two distributions with these moments.

    Examples
    --------
    >>> import torch
    >>> from dot_core import gelbrich_w2
    >>> I = torch.eye(2, dtype=torch.float64)
    >>> float(gelbrich_w2(torch.zeros(2), I, torch.tensor([3.0, 4.0]), I))  # the means' distance
    5.0
    >>> float(gelbrich_w2(torch.zeros(1), torch.eye(1), torch.zeros(1), 9 * torch.eye(1)))  # |1 − 3|
    2.0
    """
    Cs, Ct = check_cov("Cs", Cs), check_cov("Ct", Ct)
    mu_s, mu_t = mu_s.to(torch.float64), mu_t.to(torch.float64)
    Ct12, _ = sqrtm_psd(Ct)
    cross, _ = sqrtm_psd(Ct12 @ Cs @ Ct12)
    trace = (Cs + Ct - 2.0 * cross).diagonal(dim1=-2, dim2=-1).sum(-1)
    w2sq = ((mu_s - mu_t) ** 2).sum(-1) + trace
    return w2sq.clamp_min(0.0).sqrt()


def empirical_moments(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples in, moments out: mean (d,) and unbiased covariance (d, d) of rows of ``v`` (n, d).

    Examples
    --------
    >>> import torch
    >>> from dot_core import empirical_moments
    >>> mu, C = empirical_moments(torch.tensor([[0.0, 1.0], [2.0, 1.0], [4.0, 1.0]]))
    >>> mu.tolist(), C.tolist()
    ([2.0, 1.0], [[4.0, 0.0], [0.0, 0.0]])
    """
    if v.ndim != 2 or v.shape[0] < 2:
        raise ValueError(f"v must have shape (n, d) with n ≥ 2, got {tuple(v.shape)}")
    v = v.to(torch.float64)
    mu = v.mean(0)
    vc = v - mu
    return mu, symmetrize(vc.T @ vc / (v.shape[0] - 1))


def empirical_transport_operator(
    vs: torch.Tensor, vt: torch.Tensor, *, method: str = "auto", eps: float = 1e-9
) -> GaussianOperator:
    """The operator of :func:`fit_operator` from samples ``vs`` (ns, d) and ``vt`` (nt, d).

    Examples
    --------
    The transported samples have the target samples' mean and covariance:

    >>> import torch
    >>> from dot_core import empirical_moments, empirical_transport_operator
    >>> g = torch.Generator().manual_seed(0)
    >>> vs = torch.randn(500, 3, generator=g, dtype=torch.float64)
    >>> vt = 2 * torch.randn(500, 3, generator=g, dtype=torch.float64) + 5
    >>> op = empirical_transport_operator(vs, vt)
    >>> (mu, C), (mu_t, Ct) = empirical_moments(op.apply(vs)), empirical_moments(vt)
    >>> torch.allclose(mu, mu_t), torch.allclose(C, Ct)
    (True, True)
    """
    mu_s, Cs = empirical_moments(vs)
    mu_t, Ct = empirical_moments(vt)
    return fit_operator(mu_s, Cs, mu_t, Ct, method=method, eps=eps)

"""Gaussian OT: the operator against POT, Gelbrich W2, the degenerate case, and the exact theory."""

import numpy as np
import pytest
import torch

from dot_core.ot.gaussian_maps import (
    GaussianOperator,
    degenerate_split,
    degenerate_transport_operator,
    empirical_transport_operator,
    fit_operator,
    gelbrich_w2,
    sqrtm_psd,
    transport_operator,
)
from dot_core.pipeline import interpolate


@pytest.fixture(scope="module")
def ot_gaussian():
    """POT's Gaussian module, for the cross-checks only (the theory tests need no POT)."""
    return pytest.importorskip("ot.gaussian")


def random_spd(d: int, cond: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    lam = torch.logspace(0, -np.log10(cond), d, dtype=torch.float64)
    return (Q * lam) @ Q.T


def seeded_means(d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + seed)
    return torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)


@pytest.mark.parametrize("d", [1, 4, 27])
@pytest.mark.parametrize("cond", [1e1, 1e4, 1e6])  # beyond ~1e7 T itself is ill-posed: see below
def test_transport_operator_matches_pot(ot_gaussian, d, cond):
    Cs, Ct = random_spd(d, cond, 1), random_spd(d, cond, 2)
    ms, mt = seeded_means(d, 0)
    A, b = ot_gaussian.bures_wasserstein_mapping(ms.numpy(), mt.numpy(), Cs.numpy(), Ct.numpy())
    T = transport_operator(Cs, Ct)
    op = fit_operator(ms, Cs, mt, Ct, method="deterministic", eps=0.0)
    # one fixed tolerance for every conditioning: both sides are float64 eigendecompositions
    np.testing.assert_allclose(T.numpy(), A, rtol=0, atol=1e-6 * np.abs(A).max())
    np.testing.assert_allclose((mt - op.T @ ms).numpy(), np.ravel(b), rtol=0, atol=1e-6 * (1 + np.abs(b).max()))


@pytest.mark.parametrize("d, cond", [(5, 1e2), (25, 1e6), (27, 1e12)])
@pytest.mark.parametrize("eps", [1e-6, 1e-2, 0.5])
def test_eps_is_added_to_the_source_diagonal_in_every_factor(ot_gaussian, d, cond, eps):
    """T is eq. (2) for Σs + εI: POT's Bures map of (Σs + εI, Σt), and T (Σs + εI) T = Σt."""
    Cs, Ct = random_spd(d, cond, 3), random_spd(d, 1e2, 4)
    ms, mt = seeded_means(d, 1)
    Cs_eps = Cs + eps * torch.eye(d, dtype=torch.float64)
    A, _ = ot_gaussian.bures_wasserstein_mapping(ms.numpy(), mt.numpy(), Cs_eps.numpy(), Ct.numpy())
    T = transport_operator(Cs, Ct, eps=eps)
    np.testing.assert_allclose(T.numpy(), A, rtol=0, atol=1e-8 * np.abs(A).max())
    torch.testing.assert_close(T @ Cs_eps @ T, Ct, rtol=0, atol=1e-8 * Ct.abs().max().item())
    # fit_operator's ε is relative to mean λ(Σs)
    rel = eps / torch.linalg.eigvalsh(Cs).mean().item()
    op = fit_operator(ms, Cs, mt, Ct, method="deterministic", eps=rel)
    torch.testing.assert_close(op.T, T, rtol=0, atol=1e-8 * T.abs().max().item())


def test_eps_bounds_the_gain_of_an_empty_direction():
    # along a direction of source variance λ the gain is √(τ/(λ + ε)): with ε it stays finite
    Cs = torch.diag(torch.tensor([1.0, 1e-12], dtype=torch.float64))
    Ct = torch.eye(2, dtype=torch.float64)
    T = transport_operator(Cs, Ct, eps=0.01)
    torch.testing.assert_close(torch.diagonal(T), torch.tensor([1 / 1.01**0.5, 1 / (0.01 + 1e-12) ** 0.5], dtype=torch.float64))


def test_degenerate_split_drops_directions_at_or_below_eps():
    Q, _ = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    lam = torch.tensor([1e-6, 0.01, 0.05, 0.5, 1.0, 4.0], dtype=torch.float64)
    Cs = (Q * lam) @ Q.T
    kept, n = degenerate_split(Cs, 0.05)
    assert n == 3
    expected = torch.tensor([0, 0, 0, 0.55, 1.05, 4.05], dtype=torch.float64)
    torch.testing.assert_close(torch.linalg.eigvalsh(kept), expected, atol=1e-12, rtol=0)


def test_fit_operator_stochastic_synthesises_the_degenerate_directions():
    """With directions of Σs below ε, eq. (5): T Σs' Tᵀ + Σw = Σt, and T ignores those directions."""
    Q, _ = torch.linalg.qr(torch.randn(5, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64))
    Cs = (Q * torch.tensor([1e-4, 1e-3, 0.5, 1.0, 2.0], dtype=torch.float64)) @ Q.T
    Ct = random_spd(5, 10.0, 5)
    ms, mt = seeded_means(5, 2)
    op = fit_operator(ms, Cs, mt, Ct, eps=0.01)  # ε_a = 0.01·mean λ ≈ 0.007: two directions below
    assert op.stochastic
    kept, n = degenerate_split(Cs, 0.01 * torch.linalg.eigvalsh(Cs).mean().item())
    assert n == 2
    torch.testing.assert_close(op.T @ kept @ op.T.T + op.noise_cov, Ct, rtol=1e-6, atol=1e-8)
    torch.testing.assert_close(op.T @ Q[:, :2], torch.zeros(5, 2, dtype=torch.float64), atol=1e-8, rtol=0)
    assert not fit_operator(ms, Cs, mt, Ct, eps=1e-6).stochastic


@pytest.mark.parametrize("cond", [1e1, 1e6, 1e8])
def test_transport_operator_pushes_source_covariance_to_target(cond):
    Cs, Ct = random_spd(12, cond, 3), random_spd(12, 10.0, 4)
    T = transport_operator(Cs, Ct)
    torch.testing.assert_close(T @ Cs @ T.T, Ct, rtol=0, atol=1e-9)
    torch.testing.assert_close(T, T.T)
    assert torch.linalg.eigvalsh(T).min() > 0


def test_transport_operator_batched_matches_loop():
    Cs = torch.stack([random_spd(5, 10, s) for s in range(3)])
    Ct = torch.stack([random_spd(5, 10, s + 10) for s in range(3)])
    batched = transport_operator(Cs, Ct)
    for i in range(3):
        torch.testing.assert_close(batched[i], transport_operator(Cs[i], Ct[i]))


def test_gelbrich_w2_of_unit_gaussians_ten_apart_is_ten():
    one = torch.ones(1, 1, dtype=torch.float64)
    w2 = gelbrich_w2(torch.zeros(1), one, torch.full((1,), 10.0), one)
    assert float(w2) == pytest.approx(10.0, abs=1e-12)


def test_gelbrich_w2_matches_pot(ot_gaussian):
    Cs, Ct = random_spd(6, 100, 5), random_spd(6, 100, 6)
    ms, mt = torch.randn(6, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    ref = ot_gaussian.bures_wasserstein_distance(ms.numpy(), mt.numpy(), Cs.numpy(), Ct.numpy())
    assert float(gelbrich_w2(ms, Cs, mt, Ct)) == pytest.approx(float(ref), rel=1e-8)


def test_sqrtm_psd_squares_back_and_inverts():
    A = random_spd(7, 1e3, 8)
    A12, A12inv = sqrtm_psd(A)
    torch.testing.assert_close(A12 @ A12, A)
    torch.testing.assert_close(A12 @ A12inv, torch.eye(7, dtype=torch.float64), atol=1e-8, rtol=0)


@pytest.mark.parametrize("bad", [torch.full((3, 3), float("nan")), torch.ones(3, 4), torch.ones(3)])
def test_transport_operator_rejects_bad_covariances(bad):
    with pytest.raises(ValueError):
        transport_operator(bad, torch.eye(3, dtype=torch.float64))


def test_fit_operator_rejects_unknown_method():
    with pytest.raises(ValueError, match="method"):
        fit_operator(torch.zeros(2), torch.eye(2), torch.zeros(2), torch.eye(2), method="sinkhorn")


def singular_source(d: int = 6, rank: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    B = torch.randn(d, rank, generator=g, dtype=torch.float64)
    return B @ B.T, random_spd(d, 10.0, 9)


def test_degenerate_operator_is_finite_and_reaches_target_covariance():
    Cs, Ct = singular_source()
    T, Cw = degenerate_transport_operator(Cs, Ct)
    assert torch.isfinite(T).all() and torch.isfinite(Cw).all()
    assert torch.linalg.eigvalsh(Cw).min() > -1e-9
    torch.testing.assert_close(T @ Cs @ T.T + Cw, Ct, rtol=1e-6, atol=1e-8)


def test_degenerate_operator_equals_eq2_for_invertible_source():
    Cs, Ct = random_spd(5, 50, 11), random_spd(5, 50, 12)
    T, Cw = degenerate_transport_operator(Cs, Ct)
    torch.testing.assert_close(T, transport_operator(Cs, Ct), rtol=1e-6, atol=1e-8)
    assert Cw.abs().max() < 1e-6


def test_fit_operator_auto_picks_stochastic_for_singular_source_and_is_seeded():
    Cs, Ct = singular_source()
    op = fit_operator(torch.zeros(6), Cs, torch.ones(6), Ct)
    assert op.stochastic
    v = torch.randn(2000, 6, dtype=torch.float64) @ torch.linalg.cholesky(Cs + 1e-12 * torch.eye(6)).T
    a = op.apply(v, generator=torch.Generator().manual_seed(7))
    b = op.apply(v, generator=torch.Generator().manual_seed(7))
    c = op.apply(v, generator=torch.Generator().manual_seed(8))
    assert torch.isfinite(a).all()
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_fit_operator_auto_is_deterministic_for_regular_source():
    op = fit_operator(torch.zeros(4), random_spd(4, 10, 1), torch.zeros(4), random_spd(4, 10, 2))
    assert not op.stochastic


def gaussian_denoising(d: int, n: int, sigma: float, seed: int):
    """X ~ N(0, Σx), Y = X + σN; returns samples of (X, X*) and the closed-form pieces.

    Σx is fixed by ``d``; ``seed`` draws the samples.
    """
    g = torch.Generator().manual_seed(seed)
    Cx = random_spd(d, 20.0, 100 + d)
    H = Cx @ torch.linalg.inv(Cx + sigma**2 * torch.eye(d, dtype=torch.float64))  # X* = H Y
    X = torch.randn(n, d, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(Cx).T
    Y = X + sigma * torch.randn(n, d, generator=g, dtype=torch.float64)
    return X, Y @ H.T, Cx, H @ Cx


def test_theory_mse_of_transported_mmse_is_mmse_plus_w2_squared():
    """E‖X − X̂0‖² = E‖X − X*‖² + W2²(p_X*, p_X) (Adrai et al. 2023; Freirich et al. 2021)."""
    d, n = 8, 200_000
    X, Xs, Cx, Cstar = gaussian_denoising(d, n, sigma=0.7, seed=1)
    # Fit on an independent, unpaired sample: the method never sees pairs.
    X_fit, Xs_fit, _, _ = gaussian_denoising(d, n, sigma=0.7, seed=2)
    op = empirical_transport_operator(Xs_fit[: n // 2], X_fit[n // 2 :])
    w2sq = float(gelbrich_w2(torch.zeros(d), Cstar, torch.zeros(d), Cx)) ** 2
    mmse = float(((X - Xs) ** 2).sum(1).mean())
    X0 = op.apply(Xs)
    assert float(((X - X0) ** 2).sum(1).mean()) == pytest.approx(mmse + w2sq, rel=0.02)
    for alpha in (0.25, 0.5, 0.75, -0.5, 1.5):
        Xa = interpolate(Xs, X0, alpha)
        mse = float(((X - Xa) ** 2).sum(1).mean())
        assert mse == pytest.approx(mmse + (1 - alpha) ** 2 * w2sq, rel=0.02), alpha


def test_theory_w2_of_interpolation_is_alpha_times_w2():
    """W2(p_X̂α, p_X) = α·W2(p_X*, p_X), checked with the Gelbrich formula on sample moments."""
    d, n = 6, 200_000
    X, Xs, _, _ = gaussian_denoising(d, n, sigma=0.5, seed=3)
    op = empirical_transport_operator(Xs, X)
    X0 = op.apply(Xs)
    w2 = lambda A: float(gelbrich_w2(A.mean(0), torch.cov(A.T), X.mean(0), torch.cov(X.T)))
    full = w2(Xs)
    for alpha in (0.3, 0.7):
        assert w2(interpolate(Xs, X0, alpha)) == pytest.approx(alpha * full, rel=0.02)


def test_gaussian_operator_apply_identity():
    op = GaussianOperator(T=torch.eye(3, dtype=torch.float64), mu_s=torch.zeros(3), mu_t=torch.zeros(3))
    v = torch.randn(10, 3, dtype=torch.float64)
    torch.testing.assert_close(op.apply(v), v)


@pytest.mark.parametrize("rel", [1e-10, 1e-11, 1e-12])
def test_a_tiny_absolute_eps_is_not_floored_away(rel):
    """ε ≤ 1e-10·λmax on a singular Σs: Σs + εI is still positive definite, so T(Σs + εI)T = Σt
    to the accuracy its conditioning λmax/ε allows (a pseudo-inverse floor missed by ~0.7·‖Σt‖)."""
    Cs, Ct = singular_source()
    eps = rel * torch.linalg.eigvalsh(Cs).max().item()
    T = transport_operator(Cs, Ct, eps=eps)
    assert torch.isfinite(T).all()
    cond_bound = 100 * torch.finfo(torch.float64).eps / rel * Ct.abs().max().item()
    torch.testing.assert_close(T @ (Cs + eps * torch.eye(6, dtype=torch.float64)) @ T, Ct, rtol=0, atol=cond_bound)


def test_stochastic_method_on_a_full_rank_source_draws_no_noise():
    """Eq. (5) for an invertible Σs is eq. (2) with Σw = 0: no 'singular' claim, no noise drawn."""
    from dot_core import Calibration, PatchMoments

    Cs, Ct = random_spd(5, 50, 11), random_spd(5, 50, 12)
    op = fit_operator(torch.zeros(5), Cs, torch.zeros(5), Ct, method="stochastic", eps=0.0)
    assert not op.stochastic and op.noise_cov is None
    torch.testing.assert_close(op.T, transport_operator(Cs, Ct), rtol=1e-6, atol=1e-8)
    v = torch.randn(10, 5, dtype=torch.float64)
    torch.testing.assert_close(op.apply(v, generator=torch.Generator().manual_seed(1)),
                               op.apply(v, generator=torch.Generator().manual_seed(2)))

    def moments(C):
        return PatchMoments(5, n=3, s1=torch.zeros(5, dtype=torch.float64), s2=2 * C)

    cal = Calibration(encoder="pixel", channels=5, factor=1, patch_size=1, mode="unpaired", target=moments(Ct),
                      source=moments(Cs), method="stochastic", eps=0.0)
    assert "singular" not in cal.summary()


@pytest.mark.parametrize("batch", [(), (3,)])
def test_eig_rebuild_is_symmetric_and_inverts_eigh(batch):
    from dot_core.ot.psd import eig_rebuild as _eig_rebuild

    A = torch.stack([random_spd(6, 1e4, seed) for seed in range(3)])[: batch[0] if batch else 1]
    A = A if batch else A[0]
    lam, U = torch.linalg.eigh(A)
    rebuilt = _eig_rebuild(U, lam)
    assert torch.equal(rebuilt, rebuilt.transpose(-1, -2))  # exactly symmetric, whatever the round-off
    torch.testing.assert_close(rebuilt, A, rtol=0, atol=1e-13)
    squared = _eig_rebuild(U, lam.sqrt())
    torch.testing.assert_close(squared @ squared, A, rtol=0, atol=1e-13)

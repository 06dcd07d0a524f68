"""Patches: valid extraction, transport by identity, folding, chunking, the stochastic path."""

import pytest
import torch
import torch.nn.functional as F

from dot_core.ot.gaussian_maps import GaussianOperator, fit_operator
from dot_core.ot.patches import count_valid_patches, fold_kernel, iter_valid_patches, patch_normals, transport_latent


def identity_op(d: int, shift: float = 0.0) -> GaussianOperator:
    eye = torch.eye(d, dtype=torch.float64)
    return GaussianOperator(T=eye, mu_s=torch.zeros(d, dtype=torch.float64), mu_t=torch.full((d,), shift, dtype=torch.float64))


@pytest.mark.parametrize("shape", [(3, 17, 23), (4, 8, 8), (1, 5, 31)])
@pytest.mark.parametrize("p", [1, 2, 3, 4])
@pytest.mark.parametrize("kernel", ["uniform", "gaussian"])
def test_transport_latent_identity_is_identity(shape, p, kernel):
    z = torch.randn(shape)
    out = transport_latent(z, identity_op(shape[0] * p * p), p, kernel=kernel)
    assert out.shape == z.shape
    torch.testing.assert_close(out, z, atol=1e-5, rtol=1e-5)


def test_transport_latent_mean_shift_moves_every_pixel():
    z = torch.randn(1, 3, 16, 16)
    out = transport_latent(z, identity_op(27, shift=0.5), 3)
    torch.testing.assert_close(out, z + 0.5, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("chunk", [1, 100, 1 << 22])
def test_transport_latent_chunk_size_does_not_change_result(chunk):
    g = torch.Generator().manual_seed(0)
    A = torch.randn(12, 12, generator=g, dtype=torch.float64)
    op = fit_operator(torch.zeros(12), A @ A.T + torch.eye(12), torch.ones(12), torch.eye(12, dtype=torch.float64) * 2)
    z = torch.randn(1, 3, 20, 13, generator=g)
    ref = transport_latent(z, op, 2)
    out = transport_latent(z, op, 2, max_chunk_elements=chunk)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("p", [2, 3, 4])
@pytest.mark.parametrize("kernel", ["uniform", "gaussian"])
def test_transport_latent_matches_reference_per_patch_average(p, kernel):
    """Against a direct implementation: pad p//2 before and p−1−p//2 after, transport every
    patch, average the weighted contributions."""
    g = torch.Generator().manual_seed(1)
    C, H, W = 2, 6, 7
    A = torch.randn(C * p * p, C * p * p, generator=g, dtype=torch.float64)
    op = GaussianOperator(T=A, mu_s=torch.randn(C * p * p, dtype=torch.float64), mu_t=torch.randn(C * p * p, dtype=torch.float64))
    z = torch.randn(1, C, H, W, generator=g, dtype=torch.float64)
    lo, hi = p // 2, p - 1 - p // 2
    zp = F.pad(z, (lo, hi, lo, hi), mode="replicate")
    w = fold_kernel(p, kernel)
    acc, cnt = torch.zeros_like(zp), torch.zeros_like(zp)
    for i in range(H):
        for j in range(W):
            v = zp[0, :, i : i + p, j : j + p].reshape(-1)
            acc[0, :, i : i + p, j : j + p] += w * op.apply(v[None])[0].reshape(C, p, p)
            cnt[0, :, i : i + p, j : j + p] += w
    ref = (acc / cnt)[:, :, lo : lo + H, lo : lo + W]
    torch.testing.assert_close(transport_latent(z, op, p, kernel=kernel), ref)


@pytest.mark.parametrize("p, shift", [(2, 0.5), (3, 0.0), (4, 0.5)])
@pytest.mark.parametrize("kernel", ["uniform", "gaussian"])
def test_transport_latent_centre_operator_reference_values(p, shift, kernel):
    """Every patch replaced by its centre value (offset p//2), folded over a ramp z = column.

    Pixel x is covered by the patches whose origins are x + p//2 − i, i = 0…p−1 (padded
    coordinates); their centres are x + p//2 − i, and any symmetric weights average that to
    x + p//2 − (p − 1)/2: +0.5 for even p, 0 for odd p, away from the borders. A wrong padding
    offset moves every value by a whole pixel.
    """
    d = p * p
    centre = (p // 2) * p + p // 2
    T = torch.zeros(d, d, dtype=torch.float64)
    T[:, centre] = 1.0
    op = GaussianOperator(T=T, mu_s=torch.zeros(d, dtype=torch.float64), mu_t=torch.zeros(d, dtype=torch.float64))
    W = 12
    z = torch.arange(W, dtype=torch.float64).repeat(1, 1, 9, 1)  # (1, 1, 9, 12)
    out = transport_latent(z, op, p, kernel=kernel)[0, 0]
    interior = out[:, p : W - p]
    expected = torch.arange(p, W - p, dtype=torch.float64) + shift
    torch.testing.assert_close(interior, expected.expand_as(interior))


def test_transport_latent_stochastic_is_seeded_and_finite():
    B = torch.randn(12, 4, dtype=torch.float64)
    op = fit_operator(torch.zeros(12), B @ B.T, torch.zeros(12), torch.eye(12, dtype=torch.float64))
    assert op.stochastic
    z = torch.randn(1, 3, 10, 10)
    a, b = transport_latent(z, op, 2, seed=3), transport_latent(z, op, 2, seed=3)
    c = transport_latent(z, op, 2, seed=4)
    assert torch.isfinite(a).all()
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


@pytest.mark.parametrize("noise", ["local", "stationary"])
@pytest.mark.parametrize("chunk", [1, 37, 500, 1 << 22])
def test_transport_latent_stochastic_is_the_same_whatever_the_chunks(chunk, noise):
    # eq. 5's noise comes from each patch's index, not from a stream drawn chunk by chunk
    B = torch.randn(12, 4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    op = fit_operator(torch.zeros(12), B @ B.T, torch.zeros(12), torch.eye(12, dtype=torch.float64))
    assert op.stochastic
    z = torch.randn(1, 3, 21, 17, generator=torch.Generator().manual_seed(6))
    ref = transport_latent(z, op, 2, seed=9, noise=noise, max_chunk_elements=1 << 22)
    torch.testing.assert_close(transport_latent(z, op, 2, seed=9, noise=noise, max_chunk_elements=chunk), ref)


def _singular_source(d: int = 6, rank: int = 3, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    B = torch.randn(d, rank, generator=g, dtype=torch.float64)
    A = torch.randn(d, d, generator=g, dtype=torch.float64)
    mu_s, mu_t = torch.randn(d, generator=g, dtype=torch.float64), torch.randn(d, generator=g, dtype=torch.float64)
    return mu_s, B @ B.T, mu_t, A @ A.T / d + 0.1 * torch.eye(d, dtype=torch.float64), B


@pytest.mark.parametrize("noise", ["local", "stationary"])
def test_transport_latent_reaches_the_target_covariance_with_either_noise(noise):
    # p = 1: a patch is one latent pixel's C channels, so the output pixels are the transported
    # patches themselves. Source pixels drawn from the singular source: T Σs' Tᵀ + E[g²] Σw = Σt
    # holds for both noise models (E[g²] = 1 over the source the operator was fitted to).
    mu_s, Cs, mu_t, Ct, B = _singular_source()
    op = fit_operator(mu_s, Cs, mu_t, Ct)
    assert op.stochastic and op.source_energy == pytest.approx(float(Cs.trace()))
    n = 200 * 200
    g = torch.Generator().manual_seed(1)
    # a Gaussian scale mixture with E[s] = 1: patches of very different energy, as in a photograph
    scale = torch.distributions.Gamma(2.0, 2.0).sample((n,)).double().sqrt()
    v = mu_s + (torch.randn(n, 3, generator=g, dtype=torch.float64) @ B.T) * scale[:, None]
    z = v.T.reshape(1, 6, 200, 200)
    out = transport_latent(z, op, 1, noise=noise).reshape(6, n).T
    cov = torch.cov(out.T)
    torch.testing.assert_close(out.mean(0), mu_t, atol=0.05, rtol=0)
    assert (cov - Ct).abs().max() / Ct.abs().max() < 0.05


def test_local_noise_leaves_flat_patches_flat_and_scales_with_their_energy():
    mu_s, Cs, mu_t, Ct, B = _singular_source()
    op = fit_operator(mu_s, Cs, mu_t, Ct)
    flat = mu_s.reshape(1, 6, 1, 1).expand(1, 6, 8, 8).clone()  # every patch equal to the mean
    expected = mu_t.reshape(1, 6, 1, 1).expand(1, 6, 8, 8)  # T(μs − μs) + μt
    torch.testing.assert_close(transport_latent(flat, op, 1, noise="local"), expected)
    assert (transport_latent(flat, op, 1, noise="stationary") - expected).abs().max() > 0.1
    # twice the deviation from the mean: twice the noise (same seed, same patch indices)
    one = mu_s + B @ torch.ones(3, dtype=torch.float64)
    two = mu_s + 2 * B @ torch.ones(3, dtype=torch.float64)
    noise_of = {}
    for k, v in (("one", one), ("two", two)):
        z = v.reshape(1, 6, 1, 1).expand(1, 6, 8, 8).clone()
        det = ((v - mu_s) @ op.T.T + mu_t).reshape(1, 6, 1, 1)
        noise_of[k] = transport_latent(z, op, 1, noise="local") - det
    torch.testing.assert_close(noise_of["two"], 2 * noise_of["one"])


def test_transport_latent_rejects_an_unknown_noise_model():
    mu_s, Cs, mu_t, Ct, _ = _singular_source()
    with pytest.raises(ValueError, match="noise must be one of"):
        transport_latent(torch.randn(1, 6, 4, 4), fit_operator(mu_s, Cs, mu_t, Ct), 1, noise="pink")


def test_patch_normals_are_standard_normal_and_independent_of_the_batch():
    z = patch_normals(torch.arange(100_000), 6, seed=0)  # (n, d)
    assert abs(z.mean().item()) < 0.01 and abs(z.std().item() - 1) < 0.01
    assert abs((z ** 4).mean().item() - 3) < 0.1  # Gaussian kurtosis
    corr = torch.corrcoef(z.T) - torch.eye(6, dtype=torch.float64)
    assert corr.abs().max() < 0.02
    torch.testing.assert_close(patch_normals(torch.arange(40, 50), 6, seed=0), z[40:50])
    assert not torch.allclose(patch_normals(torch.arange(10), 6, seed=1), z[:10])
    assert torch.isfinite(patch_normals(torch.tensor([2**40]), 6, seed=2**40)).all()


def test_transport_latent_rejects_operator_of_wrong_dimension():
    with pytest.raises(ValueError, match="another encoder or patch size"):
        transport_latent(torch.randn(3, 8, 8), identity_op(12), 3)


@pytest.mark.parametrize("chunk", [1, 50, 1 << 22])
def test_iter_valid_patches_yields_every_valid_patch_once(chunk):
    z = torch.randn(1, 2, 9, 11)
    v = torch.cat(list(iter_valid_patches(z, 3, max_chunk_elements=chunk)))
    assert v.shape == (count_valid_patches(9, 11, 3), 18)
    torch.testing.assert_close(v, F.unfold(z, 3)[0].T)


def test_iter_valid_patches_rejects_latent_smaller_than_patch():
    with pytest.raises(ValueError, match="smaller than the patch size"):
        next(iter_valid_patches(torch.randn(3, 2, 8), 3))


def test_fold_kernel_shapes_and_rejects_unknown():
    assert fold_kernel(5, "gaussian").shape == (5, 5)
    assert fold_kernel(5, "gaussian")[2, 2] == fold_kernel(5, "gaussian").max()
    with pytest.raises(ValueError, match="fold kernel"):
        fold_kernel(3, "box")

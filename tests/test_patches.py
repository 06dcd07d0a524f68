"""Patches: valid extraction, transport by identity, folding, chunking, the stochastic path."""

import pytest
import torch
import torch.nn.functional as F

from dot_core.gaussian_ot import GaussianOperator, fit_operator
from dot_core.patches import count_valid_patches, fold_kernel, iter_valid_patches, transport_latent


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


def test_transport_latent_matches_reference_per_patch_average():
    """Against a direct implementation: pad, transport every patch, average contributions."""
    g = torch.Generator().manual_seed(1)
    C, H, W, p = 2, 6, 7, 3
    A = torch.randn(C * p * p, C * p * p, generator=g, dtype=torch.float64)
    op = GaussianOperator(T=A, mu_s=torch.randn(C * p * p, dtype=torch.float64), mu_t=torch.randn(C * p * p, dtype=torch.float64))
    z = torch.randn(1, C, H, W, generator=g, dtype=torch.float64)
    zp = F.pad(z, (1, 1, 1, 1), mode="replicate")
    acc, cnt = torch.zeros_like(zp), torch.zeros_like(zp)
    for i in range(H):
        for j in range(W):
            v = zp[0, :, i : i + p, j : j + p].reshape(-1)
            acc[0, :, i : i + p, j : j + p] += op.apply(v[None])[0].reshape(C, p, p)
            cnt[0, :, i : i + p, j : j + p] += 1
    ref = (acc / cnt)[:, :, 1 : 1 + H, 1 : 1 + W]
    torch.testing.assert_close(transport_latent(z, op, p), ref)


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

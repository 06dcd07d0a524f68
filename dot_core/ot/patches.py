"""Patch extraction, chunked patch transport and folding (DESIGN.md steps 2, 6 and 7).

A patch vector is the flattened ``(C, p, p)`` block of a latent, ordered channel-major
(``index = c·p² + i·p + j``, the order of ``torch.nn.functional.unfold``), so ``d = C·p²``.

* Statistics use the "valid" patches, those fully inside the latent.
* Transport pads the latent by replicating its border (``p//2`` before, ``p−1−p//2`` after) so
  that every latent pixel is the centre of one patch; every patch is mapped by the affine
  operator, and overlapping results are averaged with uniform or Gaussian weights.

Both work on horizontal slabs of rows, so the memory for patch matrices stays below
``max_chunk_elements`` whatever the latent size; only the latent and one accumulator of its size
are held in full (each slab is padded on its own, and the folding weights come from two thin
matrix products).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F

from .gaussian_maps import GaussianOperator
from .gaussian_taps import gaussian_taps

__all__ = [
    "DEFAULT_CHUNK_ELEMENTS",
    "NOISE_MODELS",
    "count_valid_patches",
    "fold_kernel",
    "iter_valid_patches",
    "patch_dim",
    "patch_normals",
    "transport_latent",
]

DEFAULT_CHUNK_ELEMENTS = 1 << 22  # patch-matrix entries per chunk (16 MiB in float32)
FOLD_KERNELS = ("uniform", "gaussian")
# How eq. 5's noise w is spread over the image: "stationary" (the paper: w ~ N(0, Σw) for every
# patch) or "local" (w scaled by the patch's own energy, see transport_latent).
NOISE_MODELS = ("stationary", "local")


def _as_batch(z: torch.Tensor) -> torch.Tensor:
    if z.ndim == 3:
        z = z.unsqueeze(0)
    if z.ndim != 4 or z.shape[0] != 1:
        raise ValueError(f"latent must have shape (C, H, W) or (1, C, H, W), got {tuple(z.shape)}")
    return z


def _rows_per_chunk(width: int, dim: int, max_chunk_elements: int) -> int:
    return max(1, max_chunk_elements // max(1, width * dim))


def iter_valid_patches(
    z: torch.Tensor, patch_size: int, *, max_chunk_elements: int = DEFAULT_CHUNK_ELEMENTS
) -> Iterator[torch.Tensor]:
    """Yield every patch fully inside ``z`` (C, H, W), in chunks of shape (n, C·p²).

    Examples
    --------
    A 4×5 latent of 2 channels has (4 − 2)·(5 − 2) = 6 valid 3×3 patches of d = 2·3² = 18:

    >>> import torch
    >>> from dot_core import iter_valid_patches
    >>> z = torch.arange(40.0).reshape(2, 4, 5)
    >>> [tuple(v.shape) for v in iter_valid_patches(z, 3)]
    [(6, 18)]
    >>> next(iter_valid_patches(z, 3))[0, :9].tolist()  # channel 0 of the first patch, row-major
    [0.0, 1.0, 2.0, 5.0, 6.0, 7.0, 10.0, 11.0, 12.0]
    >>> [tuple(v.shape) for v in iter_valid_patches(z, 3, max_chunk_elements=54)]  # 3 patches a chunk
    [(3, 18), (3, 18)]
    """
    z = _as_batch(z)
    _, C, H, W = z.shape
    p = int(patch_size)
    if p < 1:
        raise ValueError(f"patch_size must be ≥ 1, got {patch_size}")
    if H < p or W < p:
        raise ValueError(
            f"latent of size {H}×{W} is smaller than the patch size {p}; "
            "use a larger image or a smaller patch size"
        )
    n_rows = H - p + 1  # patch origins along the height
    rows = _rows_per_chunk(W - p + 1, C * p * p, max_chunk_elements)
    for r0 in range(0, n_rows, rows):
        r1 = min(n_rows, r0 + rows)
        cols = F.unfold(z[:, :, r0 : r1 + p - 1], kernel_size=p)  # (1, d, n)
        yield cols[0].T


def fold_kernel(patch_size: int, kind: str = "uniform") -> torch.Tensor:
    """Weights (p, p) for averaging overlapping patches: all ones, or a Gaussian of σ = p/4.

    Examples
    --------
    >>> from dot_core import fold_kernel
    >>> fold_kernel(3).tolist()
    [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]
    >>> [round(w, 3) for w in fold_kernel(5, "gaussian")[2].tolist()]  # the middle row, peak 1
    [0.278, 0.726, 1.0, 0.726, 0.278]
    """
    if kind not in FOLD_KERNELS:
        raise ValueError(f"fold kernel must be one of {FOLD_KERNELS}, got {kind!r}")
    p = int(patch_size)
    if kind == "uniform":
        return torch.ones(p, p, dtype=torch.float64)
    g = gaussian_taps(p, max(p / 4.0, 0.5), normalize="peak")
    return torch.outer(g, g)


def transport_latent(
    z: torch.Tensor,
    op: GaussianOperator,
    patch_size: int,
    *,
    kernel: str = "uniform",
    seed: int = 0,
    noise: str = "stationary",
    max_chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> torch.Tensor:
    r"""Map every patch of ``z`` by ``v' = T(v − μs) + μt (+ w)`` and fold back (DESIGN.md 6–7).

    Parameters
    ----------
    z : (C, H, W) or (1, C, H, W) latent.
    op : operator with ``op.dim == C·p²``.
    patch_size : p.
    kernel : ``"uniform"`` or ``"gaussian"`` folding weights.
    seed : seeds the noise of a stochastic operator (eq. 5): the same input and seed give the same
        output whatever ``max_chunk_elements`` (each patch's noise comes from its index).
    noise : ``"stationary"`` (default) or ``"local"``; how a stochastic operator's w is spread.
        ``"stationary"`` is eq. 5 as written: every patch gets w ~ N(0, Σw), so a flat sky gets
        the same grain as foliage. ``"local"`` scales each patch's w by its own energy,

        .. math:: w_i = g_i\, L\, n_i, \qquad
                  g_i^2 = \frac{\lVert v_i - \mu_s \rVert^2}{\operatorname{tr}\Sigma_s},
                  \qquad L L^\top = \Sigma_w,\ n_i \sim \mathcal N(0, I),

        the Gaussian-scale-mixture view of image patches (a patch is a local multiplier times a
        Gaussian vector, and what is missing from it scales with what is there). Since
        :math:`\mathbb E[g^2] = 1` over the source the operator was fitted to and n is
        independent of g, the covariance eq. 5 promises is kept on that source,
        :math:`T\Sigma_s'T^\top + \mathbb E[g^2]\,\Sigma_w = \Sigma_t`, but the grain goes where the
        image has detail and flat regions stay flat. An operator without ``source_energy`` (or
        with tr Σs = 0: a flat source has no scale) spreads w as ``"stationary"`` does.
    max_chunk_elements : bound on the entries of one chunk's patch matrix.

    Returns
    -------
    Tensor of the shape and dtype of ``z``.

    Notes
    -----
    One ``(n, d) × (d, d)`` product per chunk: O(H·W·d²) work, O(max_chunk_elements) extra memory
    besides one latent-sized accumulator.

    Examples
    --------
    An operator that halves every patch and adds 1 does the same to the latent, borders included:

    >>> import torch
    >>> from dot_core import GaussianOperator, transport_latent
    >>> d = 2 * 3 * 3  # C·p²
    >>> op = GaussianOperator(T=0.5 * torch.eye(d, dtype=torch.float64),
    ...                       mu_s=torch.zeros(d, dtype=torch.float64),
    ...                       mu_t=torch.ones(d, dtype=torch.float64))
    >>> z = torch.rand(2, 6, 7)
    >>> out = transport_latent(z, op, 3, kernel="gaussian")
    >>> out.shape, out.dtype, torch.allclose(out, 0.5 * z + 1)
    (torch.Size([2, 6, 7]), torch.float32, True)
    """
    zb = _as_batch(z)
    _, C, H, W = zb.shape
    p = int(patch_size)
    d = C * p * p
    if noise not in NOISE_MODELS:
        raise ValueError(f"noise must be one of {NOISE_MODELS}, got {noise!r}")
    if op.dim != d:
        raise ValueError(
            f"operator of dimension {op.dim} does not fit {C}-channel latents with patch size {p} "
            f"(needs {d}); was the calibration made with another encoder or patch size?"
        )
    device = zb.device
    work = torch.float64 if zb.dtype == torch.float64 else torch.float32
    lo, hi = p // 2, p - 1 - p // 2
    Wp = W + p - 1

    T = op.T.to(device=device, dtype=work)
    b = (op.mu_t - op.T @ op.mu_s).to(device=device, dtype=work)  # v' = T v + b
    L = op.noise_factor()
    L = None if L is None else L.to(device=device, dtype=work)
    # a source with no energy at all (flat restorations: tr Σs = 0) has no scale to compare with: stationary
    local = L is not None and noise == "local" and bool(op.source_energy)
    if local:
        mu_s = op.mu_s.to(device=device, dtype=work)
    kern = fold_kernel(p, kernel)
    wvec = kern.reshape(-1).repeat(C).to(device=device, dtype=work)  # (d,), channel-major

    acc = torch.zeros(1, C, H + p - 1, Wp, dtype=work, device=device)
    rows = _rows_per_chunk(W, d, max_chunk_elements)
    for r0 in range(0, H, rows):
        r1 = min(H, r0 + rows)
        # this chunk's slab of the replicate-padded latent, built per chunk (no padded copy of z)
        src = torch.arange(r0 - lo, r1 + hi, device=device).clamp_(0, H - 1)
        slab = F.pad(zb.index_select(2, src).to(work), (lo, hi, 0, 0), mode="replicate")  # (1, C, r1−r0+p−1, Wp)
        v = F.unfold(slab, kernel_size=p)[0].T  # (n, d)
        gain = ((v - mu_s) ** 2).sum(1, keepdim=True).div_(op.source_energy).sqrt_() if local else None
        v = torch.addmm(b, v, T.T)
        if L is not None:  # eq. 5's w, drawn from each patch's own index: the same whatever the chunks
            index = torch.arange(r0 * W, r1 * W, device=device)  # patch origins, row-major like unfold
            w = patch_normals(index, d, seed).to(work) @ L.T
            v = v + (w if gain is None else w * gain)
        v = v * wvec
        acc[:, :, r0 : r1 + p - 1] += F.fold(v.T.unsqueeze(0), (r1 - r0 + p - 1, Wp), kernel_size=p)
    out = acc[:, :, lo : lo + H, lo : lo + W]
    out /= _fold_weight(kern.to(device=device, dtype=work), H, W)  # in place: one latent-sized buffer
    return out.to(zb.dtype).reshape(z.shape)


_MASK32 = 0xFFFFFFFF


def _hash32(x: torch.Tensor) -> torch.Tensor:
    """An integer mixing function on 32-bit values held in int64 (products stay below 2⁵⁹)."""
    x = x & _MASK32
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _MASK32
    x = (((x >> 16) ^ x) * 0x45D9F3B) & _MASK32
    return (x >> 16) ^ x


def patch_normals(index: torch.Tensor, dim: int, seed: int) -> torch.Tensor:
    r"""Standard normal noise (n, dim) for the patches numbered ``index`` (n,), on their device.

    Entry (i, j) depends only on ``(seed, index[i], j)``: a counter-based generator (an integer
    hash of the counter ``index·dim + j``, two uniforms per entry, Box–Muller), so a patch gets
    the same noise whichever chunk it is transported in, and nothing is drawn on the host.

    .. math:: z = \sqrt{-2 \ln u_1}\, \cos(2\pi u_2), \qquad
              u_k = \frac{h_k(\text{counter}) + 1/2}{2^{32}}
    """
    counter = index.to(torch.int64)[:, None] * dim + torch.arange(dim, device=index.device)  # (n, dim)
    key = _hash32(torch.tensor(int(seed) & _MASK32, dtype=torch.int64) ^ _hash32(torch.tensor(int(seed) >> 32)))
    u = []
    for stream in (0x9E3779B9, 0x7F4A7C15):
        h = _hash32((counter & _MASK32) ^ _hash32((counter >> 32) ^ key.to(index.device) ^ stream))
        u.append((h.to(torch.float64) + 0.5) / 2.0**32)  # in (0, 1)
    return torch.sqrt(-2.0 * torch.log(u[0])) * torch.cos(2.0 * torch.pi * u[1])


def _fold_weight(kern: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Sum of the folding weights that land on each latent pixel, (H, W) = A_h · K · A_wᵀ.

    Patch origins are the padded rows 0…H−1 and offset i of a patch lands on padded row
    origin + i, so kept row y (padded row y + p//2) receives offset i iff its origin
    y + p//2 − i is in [0, H − 1]: ``A_h[y, i]`` is 1 then, else 0 (the same along the width).
    Two thin matrix products instead of a transposed convolution, whose column buffer would be
    p² times the latent.
    """
    p = kern.shape[0]

    def reach(n: int) -> torch.Tensor:  # (n, p)
        origin = torch.arange(n, device=kern.device)[:, None] + p // 2 - torch.arange(p, device=kern.device)
        return ((origin >= 0) & (origin < n)).to(kern.dtype)

    return reach(height) @ kern @ reach(width).T


def count_valid_patches(height: int, width: int, patch_size: int) -> int:
    """Number of valid patches of a height×width latent (0 when it is smaller than a patch)."""
    p = int(patch_size)
    return max(0, height - p + 1) * max(0, width - p + 1)


def patch_dim(channels: int, patch_size: int) -> int:
    """d = C·p²."""
    return int(channels) * int(patch_size) ** 2


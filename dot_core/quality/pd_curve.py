"""The perception–distortion curve along eq. (4)'s line, and the two α it suggests.

:func:`pd_curve` gives PSNR and texture distance at each α and suggests the α of least distortion
(highest PSNR, in closed form where the blend is not clipped: :func:`psnr_optimum`) and the α of
most realistic texture (lowest texture distance to the ground truth): the paper notes α needs
tuning per task, and with a ground truth the curve answers it. The texture distances are the
shared work done once:

:func:`dot_core.quality.metrics.texture_distance` compares one image with another: two Laplacian pyramids,
then per level random neighbourhoods, pooled normalisation, random projections and sorts. A
perception–distortion curve asks it for x̂α = clip(α·x* + (1 − α)·x̂0) at several α against one
ground truth y, so most of that work repeats. :func:`texture_distances_along` does each shared part
once and gives the same numbers:

- y's pyramid, neighbourhoods and projections are computed once;
- the pyramid, neighbourhood sampling and projection are linear, so for α in [0, 1] (where the
  blend of two images in [0, 1] needs no clipping) x̂α's projected neighbourhoods are
  α·(those of x*) + (1 − α)·(those of x̂0); only α outside [0, 1] gets its own pyramid;
- the per-channel normalisation of [2]_'s SWD is folded into the projections: with
  a_c, b_c the channel-c blocks of the neighbourhoods and θ_c those of a direction,

  .. math:: \\frac{a - m}{s}\\,\\theta = \\sum_c \\frac{a_c \\theta_c}{s_c} - \\sum_c \\frac{m_c}{s_c}
            \\mathbf{1}^\\top \\theta_c ,

  and the last term is the same for both images, so it cancels in the difference of the sorted
  projections (sorting commutes with a shift): only the pooled standard deviations s_c depend on α;
- the pyramid blurs by shifted sums (numpy) rather than a grouped float64 convolution, and images,
  pyramids, projections and sorts are float32 (moments and the final mean float64): results agree
  with ``texture_distance`` to about 1e-6 (tested).

References: [2]_ Karras et al., ICLR 2018, appendix D (sliced Wasserstein distance of Laplacian
neighbourhoods); eq. (4) of Adrai et al., NeurIPS 2023.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from .metrics import BINOMIAL_KERNEL, psnr_from_mse, seeded_generator, texture_levels

_K = [float(k) for k in BINOMIAL_KERNEL]  # texture_distance's 5-tap binomial kernel (Python floats keep the dtype)


def _image(x, name: str) -> np.ndarray:
    """numpy array or tensor (H, W) / (H, W, C) → float32 (H, W, C), C in {1, 3}; finite."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    a = np.asarray(a, dtype=np.float32)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise ValueError(f"{name}: expected an (H, W, 3) or (H, W) image, got shape {a.shape}; move channels last")
    if not np.isfinite(a).all():
        raise ValueError(f"{name}: contains NaN or Inf values")
    return a


def _blur(img: np.ndarray) -> np.ndarray:
    """(C, H, W) blurred by the 5-tap binomial along both axes, reflect borders (as conv2d)."""
    r = len(_K) // 2
    padded = np.pad(img, ((0, 0), (r, r), (0, 0)), mode="reflect")
    h = img.shape[1]
    rows = sum(_K[i] * padded[:, i : i + h, :] for i in range(len(_K)))
    padded = np.pad(rows, ((0, 0), (0, 0), (r, r)), mode="reflect")
    w = img.shape[2]
    return sum(_K[i] * padded[:, :, i : i + w] for i in range(len(_K)))


def laplacian_pyramid(img: np.ndarray, levels: int) -> list[np.ndarray]:
    """(C, H, W) → band-pass levels (finest first), the last the low-pass residual (same dtype).

    The pyramid of ``texture_distance``: blur, keep every other pixel; each band is a level minus
    its coarser level upsampled by zero insertion, blurred and multiplied by 4.
    """
    gauss = [img]
    for _ in range(levels - 1):
        gauss.append(_blur(gauss[-1])[:, ::2, ::2])
    bands = []
    for fine, coarse in zip(gauss[:-1], gauss[1:]):
        up = np.zeros_like(fine)
        up[:, ::2, ::2] = coarse
        bands.append(fine - 4 * _blur(up))
    return bands + [gauss[-1]]


@dataclasses.dataclass(frozen=True)
class _Level:
    """One pyramid level's random neighbourhood positions and unit directions, shared by all images."""

    index: np.ndarray  # (n·p²,) flat positions in a (H, W) level: neighbourhood i's pixels at [i·p², (i+1)·p²)
    n: int  # neighbourhoods
    theta_t: torch.Tensor  # (C, P, p²) float32: direction j's channel-c block is theta_t[c, j]


def _draw_levels(shape: tuple[int, int], n_levels: int, c: int, *, n_patches: int, patch: int,
                 n_projections: int, seed: int) -> list[_Level]:
    """The positions and directions ``texture_distance`` draws for an image of ``shape`` (same seeds)."""
    out, (h, w) = [], shape
    offsets = torch.arange(patch)
    for level in range(n_levels):
        gen = seeded_generator(seed, level, 0)
        top = torch.randint(0, h - patch + 1, (n_patches,), generator=gen)
        left = torch.randint(0, w - patch + 1, (n_patches,), generator=gen)
        theta = torch.randn(c * patch * patch, n_projections, dtype=torch.float64,
                            generator=seeded_generator(seed, level, 1))
        theta = (theta / theta.norm(dim=0, keepdim=True)).reshape(c, patch * patch, n_projections)
        rows = (top[:, None] + offsets)[:, :, None]  # (n, p, 1)
        cols = (left[:, None] + offsets)[:, None, :]  # (n, 1, p)
        out.append(_Level(index=(rows * w + cols).reshape(-1).numpy(), n=n_patches,
                          theta_t=theta.transpose(1, 2).to(torch.float32).contiguous()))
        h, w = (h + 1) // 2, (w + 1) // 2  # the next level's size (every other pixel, from the first)
    return out


@dataclasses.dataclass(frozen=True)
class _Samples:
    """One image's neighbourhoods at one level, as the SWD needs them."""

    proj: np.ndarray  # (C, P, n) float32: a_c θ_c, channel by channel
    mean: np.ndarray  # (C,) float64: E[a_c] over neighbourhoods and positions
    square: np.ndarray  # (C,) float64: E[a_c²]
    a: np.ndarray  # (C, n, p²) float32: the neighbourhoods themselves


def _sampled(pyramid: list[np.ndarray], levels: list[_Level]) -> list[_Samples]:
    """Per level, the neighbourhoods of ``pyramid`` at the drawn positions, projected on the directions."""
    out = []
    for band, lv in zip(pyramid, levels):
        c = band.shape[0]
        a = np.take(band.reshape(c, -1), lv.index, axis=1).reshape(c, lv.n, -1)  # (C, n, p²) float32
        proj = torch.matmul(lv.theta_t, torch.from_numpy(a).transpose(1, 2)).numpy()  # (C, P, n)
        out.append(_Samples(proj=proj, mean=a.mean(axis=(1, 2), dtype=np.float64),
                            square=np.square(a, dtype=np.float64).mean(axis=(1, 2)), a=a))
    return out


def _sliced_w1(weights: list[float], xs: list[_Samples], square: np.ndarray, y: _Samples,
               stacked: np.ndarray) -> float:
    """SW of one level between x̂ = Σ_i weights[i]·xs[i] (its E[x̂_c²] is ``square``) and y;
    ``stacked`` is the xs' projections one after the other, (len(xs)·C, P, n).

    Normalised as ``texture_distance`` does: per channel by the mean and variance pooled over both
    sets; the mean's shift is common to both projections and cancels after sorting.
    """
    mean_x = sum(w * s.mean for w, s in zip(weights, xs))  # (C,)
    m = (mean_x + y.mean) / 2
    var = (square - 2 * m * mean_x + m * m + y.square - 2 * m * y.mean + m * m) / 2  # E[(·−m)²] pooled
    inv_s = 1.0 / np.sqrt(np.maximum(var, 0.0)).clip(min=1e-12)  # (C,)
    coef = np.concatenate([w * inv_s for w in weights]).astype(np.float32)  # (len(xs)·C,)
    sa = np.sort(np.tensordot(coef, stacked, axes=1), axis=1)  # (P, n) float32
    sb = np.sort(np.tensordot(inv_s.astype(np.float32), y.proj, axes=1), axis=1)
    np.subtract(sa, sb, out=sa)
    return float(np.abs(sa, out=sa).mean(dtype=np.float64))


def texture_distances_along(x_star, x0, y, alphas, *, levels: int = 4, patch: int = 7, n_patches: int = 4096,
                            n_projections: int = 256, seed: int = 0) -> list[float]:
    """``texture_distance(clip(α·x* + (1 − α)·x̂0, 0, 1), y)`` for every α of ``alphas``.

    .. math:: d(\\alpha) = \\mathrm{SW}\\big(\\mathcal{N}(\\hat x_\\alpha), \\mathcal{N}(y)\\big), \\quad
              \\hat x_\\alpha = \\mathrm{clip}(\\alpha x^* + (1 - \\alpha)\\hat x_0)

    (eq. 4 of the paper; SW and the neighbourhoods 𝒩 as in ``texture_distance``).

    Parameters
    ----------
    x_star, x0 : array_like or torch.Tensor, shape (H, W, 3)
        The restoration x* and the transported x̂0, in [0, 1].
    y : array_like or torch.Tensor, shape (H', W', 3)
        The reference (a ground truth); its size may differ.
    alphas : sequence of float
    levels, patch, n_patches, n_projections, seed
        As in ``texture_distance``.

    Returns
    -------
    list of float
        One distance per α, equal to ``texture_distance`` of the clipped blend within about 1e-6.

    Notes
    -----
    Cost: three pyramids and projections once, then per α in [0, 1] a weighted sum and two sorts per
    level; an α outside [0, 1] adds its blend's pyramid and projection.
    """
    xs, x0_, y_ = _image(x_star, "x_star"), _image(x0, "x0"), _image(y, "y")
    if xs.shape != x0_.shape or xs.shape[2] != y_.shape[2]:
        raise ValueError(f"x_star and x0 must have one shape and y their channels, got {xs.shape}, "
                         f"{x0_.shape} and {y_.shape}")
    n_levels = texture_levels(xs.shape, y_.shape, levels=levels, patch=patch, n_patches=n_patches,
                              n_projections=n_projections, what="texture distances need")
    chw = lambda t: np.ascontiguousarray(t.transpose(2, 0, 1))  # noqa: E731  (H, W, C) → (C, H, W)
    draw = dict(n_patches=n_patches, patch=patch, n_projections=n_projections, seed=seed)
    at_x = _draw_levels(tuple(xs.shape[:2]), n_levels, xs.shape[2], **draw)
    at_y = at_x if y_.shape == xs.shape else _draw_levels(tuple(y_.shape[:2]), n_levels, y_.shape[2], **draw)
    xs, x0_ = chw(xs), chw(x0_)
    ref = _sampled(laplacian_pyramid(chw(y_), n_levels), at_y)
    at_1 = _sampled(laplacian_pyramid(xs, n_levels), at_x)
    at_0 = _sampled(laplacian_pyramid(x0_, n_levels), at_x)
    cross = [np.multiply(s1.a, s0.a, dtype=np.float64).mean(axis=(1, 2))  # E[a1_c a0_c]
             for s1, s0 in zip(at_1, at_0)]
    stacked = [np.concatenate([s1.proj, s0.proj]) for s1, s0 in zip(at_1, at_0)]  # (2C, P, n)
    in_unit = bool(xs.min() >= 0 and xs.max() <= 1 and x0_.min() >= 0 and x0_.max() <= 1)
    out = []
    for alpha in alphas:
        alpha = float(alpha)
        if in_unit and 0.0 <= alpha <= 1.0:  # no clipping: everything is linear in α
            w = [alpha, 1.0 - alpha]
            d = [_sliced_w1(w, [s1, s0], w[0] ** 2 * s1.square + 2 * w[0] * w[1] * c10 + w[1] ** 2 * s0.square, y, p)
                 for s1, s0, c10, y, p in zip(at_1, at_0, cross, ref, stacked)]
        else:
            blend = np.clip(alpha * xs + (1 - alpha) * x0_, 0.0, 1.0)  # float32, as the page blends
            d = [_sliced_w1([1.0], [s], s.square, y, s.proj)
                 for s, y in zip(_sampled(laplacian_pyramid(blend, n_levels), at_x), ref)]
        out.append(float(np.mean(d)))
    return out


def blend_psnr(x_star: np.ndarray, x0: np.ndarray, gt: np.ndarray, alpha: float) -> float:
    """PSNR (dB, peak 1) of x̂α = clip(α·x* + (1 − α)·x̂0) to ``gt``: ``dot_core.psnr`` of that blend
    to about 1e-6 dB. The error is computed here on the float32 images: ``psnr`` validates and
    copies both to float64 first, several times slower over the curve's dozens of α."""
    x = np.clip(alpha * x_star + (1.0 - alpha) * x0, 0.0, 1.0)
    return psnr_from_mse(float(np.mean(np.square(x - gt, dtype=np.float64))))


@dataclasses.dataclass(frozen=True)
class AlphaGrid:
    """The α a person can pick: ``lo`` to ``hi`` in steps of ``step`` (the page's slider)."""

    lo: float
    hi: float
    step: float

    def snap(self, alpha: float) -> float:
        """``alpha`` rounded to the grid's step, within its range."""
        steps = round((min(max(alpha, self.lo), self.hi) - self.lo) / self.step)
        return round(self.lo + steps * self.step, 10)


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """The two α the curve suggests, each on an :class:`AlphaGrid`."""

    best_psnr: float  # least distortion
    psnr: float  # its PSNR (dB)
    lowest_distance: float  # most realistic texture among the curve's points
    distance: float  # its texture distance


def psnr_optimum(x_star: np.ndarray, x0: np.ndarray, gt: np.ndarray) -> float | None:
    """The α of least squared error on the unclipped line: argmin ‖α·d + e‖², d = x* − x̂0, e = x̂0 − y.

    .. math:: \\alpha^\\star = -\\frac{\\langle d, e \\rangle}{\\langle d, d \\rangle}

    Exact for α in [0, 1] (no clipping there); ``None`` when x* = x̂0.
    """
    d = np.asarray(x_star, np.float64) - x0
    dd = float(np.vdot(d, d))
    return None if dd == 0.0 else -float(np.vdot(d, np.asarray(x0, np.float64) - gt)) / dd


def suggest(curve: dict, x_star: np.ndarray, x0: np.ndarray, gt: np.ndarray, grid: AlphaGrid) -> Suggestion:
    """Best-PSNR α on ``grid`` and the curve's lowest-distance α.

    The PSNR optimum is the closed form when it falls in [0, 1]; otherwise (clipping bends the
    line) the grid between the best curve point's neighbours is searched.
    """
    a, p, d = (np.asarray(curve[k], np.float64) for k in ("alpha", "psnr", "distance"))
    x_star, x0, gt = (np.asarray(v, np.float32) for v in (x_star, x0, gt))
    at = lambda alpha: blend_psnr(x_star, x0, gt, alpha)  # noqa: E731
    exact = psnr_optimum(x_star, x0, gt)
    if exact is not None and 0.0 <= exact <= 1.0:
        candidates = [grid.snap(exact)]
    else:
        i = int(np.argmax(p))
        lo, hi = a[max(i - 1, 0)], a[min(i + 1, len(a) - 1)]
        candidates = sorted({grid.snap(x) for x in np.arange(lo, hi + grid.step / 2, grid.step)})
    scores = [at(c) for c in candidates]
    best = int(np.argmax(scores))
    j = int(np.argmin(d))
    return Suggestion(best_psnr=candidates[best], psnr=scores[best], lowest_distance=grid.snap(float(a[j])),
                      distance=float(d[j]))


def pd_curve(x_star: np.ndarray, x0: np.ndarray, gt: np.ndarray, alphas, grid: AlphaGrid) -> dict:
    """PSNR and texture distance of x̂α = clip(α·x* + (1 − α)·x̂0) (eq. 4) to ``gt`` at each α.

    Returns ``{"alpha", "psnr", "distance"}``, lists over ``alphas`` (the texture distances are
    ``dot_core.quality.metrics.texture_distance``'s, computed together by :func:`texture_distances_along`), and the
    two suggested α on ``grid``: ``"best_psnr"`` = [α, PSNR] and ``"lowest_distance"`` = [α, distance].
    """
    alphas = [float(a) for a in alphas]
    x_star, x0, gt = (np.asarray(v, np.float32) for v in (x_star, x0, gt))
    curve = {
        "alpha": alphas,
        "psnr": [blend_psnr(x_star, x0, gt, a) for a in alphas],
        "distance": texture_distances_along(x_star, x0, gt, alphas),
    }
    s = suggest(curve, x_star, x0, gt, grid)
    return {**curve, "best_psnr": [s.best_psnr, s.psnr], "lowest_distance": [s.lowest_distance, s.distance]}

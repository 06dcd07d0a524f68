"""The weight-free ``detail`` latent: a smooth base plus its luma/chroma detail, at full resolution.

An image x (1, 3, H, W) in [-1, 1] is split by a Gaussian low-pass G_σ into a base and a detail
layer (one level of an undecimated Laplacian pyramid [2]), and the detail is written in an
orthonormal opponent colour basis M (luma, red–blue, green–magenta):

.. math::
    \\text{base} = G_\\sigma * x, \\qquad d = M\\,(x - \\text{base}), \\qquad
    z = [\\,d_{\\text{luma}} \\,;\\, d_{\\text{chroma}} \\,;\\, \\text{base}\\,] \\in \\mathbb{R}^{6 \\times H \\times W},
    \\qquad x = \\text{base} + M^\\top d .

Only the luma detail is transported (``ot_channels = 1``, so d = p² per patch); the chroma detail
and the base pass through unchanged, so colours and low frequencies cannot drift: the method
restores texture and sharpness, not content. Since M is orthonormal, decode(encode(x)) = x up to
float32 round-off (~1e-7). The factor is 1: no padding, any size comes back at its size.

Why these defaults
------------------
Chosen by ``bench/tune_detail.py`` on the TUNING photographs only (brick, gravel, clock; bicubic
×4 restorations; unpaired calibration on the 8 + 8 halves of the preset's eight calibration
photographs, see ``dot_core.presets``), with ``dot_core.quality.metrics``: the texture distance at α = 0
over the restoration's, the PSNR change, whether the texture distance keeps falling from α = 1
to α = −1, and the **lattice ratio** (high-pass luma energy on the ×4 lattice frequencies over
the ground truth's). The figures are in ``bench/results/tune_detail.md``; the reporting
photographs (astronaut, coffee, chelsea, camera) were never part of the sweep.

Why a lattice appears at all: with a fixed operator every output pixel is the same linear
combination of its neighbourhood, so transport + fold is a shift-invariant filter on the detail
layer. A bicubic ×4 restoration has almost no variance in the finest patch directions (the
smallest source eigenvalues are ~0.005 of the mean, the target's ~3× it, at σ = 1.25), so eq. 2
gives them gains of ~25 and amplifies what is left there: the interpolation's 4-pixel phase
pattern. The cure is appendix A.2 of [1]: source directions of variance ≤ ε (relative to the
mean eigenvalue) count as degenerate, are dropped, and are synthesised from the target by the
stochastic operator of eq. 5 (fine grain instead of a grid); every other direction is
transported by eq. 2 for Σs + εI (see :func:`dot_core.ot.gaussian.fit_operator`).

* ε (:data:`DEFAULT_EPS`) = **0.3**: at σ = 1, ε = 0.1 leaves a grid on the clock's wall (lattice
  4.6× its ground truth's at α = 0); 0.3 brings it to 1.8× (1.6× at α = −1) with texture 0.62×
  the restoration's and +0.12 dB (means over brick and gravel); ε = 1 synthesises so much that
  the texture gain shrinks (0.68×).
* split σ = **1.0**: at σ = 1.25 and 1.5 the texture distance at α = 0 is lower (0.45–0.52×) but
  on brick it rises again between α = −0.5 and −1 (the perception–distortion curve is not
  monotone); σ = 1 is the widest split whose curve stays monotone on brick and gravel.
* fold (:attr:`default_fold_kernel`): ``"gaussian"``. The p² overlapping transported patches
  disagree about the finest detail; their plain average (the paper's fold) cancels part of it,
  weighting each patch towards its centre keeps it (a choice of the earlier sweep, kept).
* patch p = 5 (d = 25): p = 7 was no better in the earlier sweep for twice the dimension.
* luma only: cheaper (d = 25, not 75), cannot tint, and grayscale calibration photographs teach
  it nothing wrong about chroma.
* σ = 1 and ε = 0.3 are the latent's defaults; a calibration records its σ (``info.encoder_config``)
  and its ε, and :func:`dot_core.latents.registry.encoder_for` rebuilds the latent it was made in. The
  presets' recipes choose their own (``bench/tune_preset_eps.py`` and ``bench/tune_detail.py
  --grid band`` on the same tuning photographs): ``sr-bicubic-x4`` ε = 0.2 (with its restorer's
  ×4 band the grid no longer rules out ε below 0.3), ``denoise-nlm-25`` ε = 0.01, ``denoise-nlm-50``
  σ = 1.25, ε = 0.03, ``jpeg-q10`` ε = 0.1; figures in ``bench/results/quality.md``.

Cost: one separable 7-tap blur (radius ⌈3σ⌉) of three channels; encode + decode of a 1024² image take about
0.25 s of one CPU core.

References
----------
[1] Adrai, Ohayon, Elad & Michaeli, "Deep Optimal Transport: A Practical Algorithm for
    Photo-realistic Image Restoration", NeurIPS 2023.
[2] Burt & Adelson, "The Laplacian Pyramid as a Compact Image Code", IEEE Trans. Commun. 1983.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..ot.kernels import gaussian_radius, gaussian_taps
from .base import Encoder, resolve_device

__all__ = ["DetailEncoder", "DEFAULT_EPS", "DEFAULT_SIGMA", "OPPONENT", "gaussian_blur"]

DEFAULT_EPS = 0.3  # ε of this latent (relative to mean λ(Σs)): see "Why these defaults"
DEFAULT_SIGMA = 1.0  # pixels: the split σ of this latent, see "Why these defaults"

# Orthonormal opponent colour basis (rows: luma, red–blue, green–magenta); inverse = transpose.
OPPONENT = torch.tensor(
    [
        [1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3)],
        [1 / math.sqrt(2), 0.0, -1 / math.sqrt(2)],
        [1 / math.sqrt(6), -2 / math.sqrt(6), 1 / math.sqrt(6)],
    ],
    dtype=torch.float64,
)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian low-pass of ``x`` (1, C, H, W) with the border replicated; same shape.

    Each pass is a weighted sum of 2r + 1 shifted views of the padded image rather than a
    depthwise ``conv2d``: on CPU the convolution takes a workspace of several copies of a large
    image (about 2 GB at 3×4096²), the sum one accumulator.
    """
    r = gaussian_radius(sigma)  # 2r + 1 taps, radius ⌈3σ⌉
    taps = gaussian_taps(2 * r + 1, sigma, dtype=torch.float32).tolist()
    H, W = x.shape[-2:]
    y = F.pad(x, (r, r, 0, 0), mode="replicate")
    out = y[..., 0:W] * taps[0]
    for k in range(1, 2 * r + 1):  # along the width
        out.add_(y[..., k : k + W], alpha=taps[k])
    y = F.pad(out, (0, 0, r, r), mode="replicate")
    out = y[..., 0:H, :] * taps[0]
    for k in range(1, 2 * r + 1):  # along the height
        out.add_(y[..., k : k + H, :], alpha=taps[k])
    return out


class DetailEncoder(Encoder):
    """Base + detail latent (C = 6, f = 1, ``ot_channels = 1``); needs no weights.

    Parameters
    ----------
    device : str, torch.device or None
        Where to compute (None: CUDA, then MPS, then CPU).
    sigma : float
        Standard deviation in pixels of the Gaussian that separates base from detail.
    patch_size : int
        The latent patch size used when a calibration does not name one.

    Attributes
    ----------
    default_eps : float
        Regularisation of the transport operator that calibrations in this latent use by
        default (:data:`DEFAULT_EPS`).
    default_fold_kernel : str
        ``"gaussian"``: overlapping transported patches are weighted towards their centres.
    """

    default_eps = DEFAULT_EPS
    default_fold_kernel = "gaussian"  # see "Why these defaults" above

    def __init__(self, *, device: str | torch.device | None = None, sigma: float = DEFAULT_SIGMA,
                 patch_size: int = 5) -> None:
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0.25 <= sigma <= 32:
            raise ValueError(f"sigma must be a number of pixels in [0.25, 32], got {sigma!r}")
        if isinstance(patch_size, bool) or not isinstance(patch_size, int) or not 1 <= patch_size <= 16:
            raise ValueError(f"patch_size must be an integer in [1, 16], got {patch_size!r}")
        self.name, self.channels, self.factor = "detail", 6, 1
        self.device, self.dtype = resolve_device(device), torch.float32
        self.sigma = float(sigma)
        self.default_patch_size = patch_size
        self._M = OPPONENT.float().to(self.device)  # (3, 3)

    @property
    def ot_channels(self) -> int:
        """Only the luma detail (channel 0) is transported."""
        return 1

    def describe(self) -> dict:
        return {**super().describe(), "sigma": self.sigma, "layout": "luma detail, chroma detail (2), base RGB (3)"}

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        _, _, H, W = x.shape
        base = gaussian_blur(x, self.sigma)  # (1, 3, H, W)
        detail = (self._M @ (x - base).reshape(3, H * W)).reshape(1, 3, H, W)  # opponent colours
        return torch.cat([detail, base], dim=1)  # (1, 6, H, W)

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        _, _, H, W = z.shape
        detail = (self._M.T @ z[0, :3].reshape(3, H * W)).reshape(1, 3, H, W)  # back to RGB
        return z[:, 3:] + detail

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
Measured on the held-out photographs astronaut, coffee, chelsea and camera (bicubic ×4
restorations; unpaired calibration on halves of eight other bundled photographs, see
``dot_core.presets``) with ``dot_core.metrics``: the change of the texture distance at α = 0
versus the restoration, its PSNR change, and whether the distance keeps falling from α = 1 to
α = −1 (the perception–distortion curve stays monotone). Per pyramid level the picture is this:
×4 upscaling leaves almost nothing in the finest band (0.25–0.5 cycles/pixel), so a linear map can
only amplify the interpolation residue there and that band stays short of the ground truth even at
α = −1; the next band is restored about right at α = 0; the band below (0.06–0.125) was mostly kept
by the restoration, so whatever of it sits in the detail layer is over-boosted and grows worse
past α ≈ 0.5.

* split σ (5×5 patches, ε = 0.03, Gaussian fold): 1: −44 %, −0.22 dB; **1.25: −49 %, −0.18 dB**;
  1.5: −52 %, −0.13 dB; 2: −53 %, −0.03 dB; 2.5 (ε = 0.05): −47 %, +0.14 dB. From σ = 1.5 up the
  detail layer holds enough of the third band that the distance turns up again before α = −1
  (at σ = 2 its minimum is at α = −0.5); σ ≤ 1.25 keeps falling to −1. Two bands (σ = 1, 2 or
  2, 4) were no better and double the patch dimension.
* fold (:attr:`default_fold_kernel`): ``"gaussian"``. The p² overlapping transported patches
  disagree about the finest detail, and their plain average (the paper's fold) cancels part of
  it; weighting each patch towards its centre keeps it (σ = 1.5: uniform −51 % and the distance
  rises from α = −0.75 to −1; Gaussian −52 %, the third band's distance at α = −1 halved).
* regularisation ``default_eps`` (ε·mean λ(Σs) added to Σs before inversion, eq. 2): without it
  the operator's gain reaches ×38 on the patch directions where a restoration has almost no
  variance (for bicubic ×4: the residue of the 4-pixel interpolation grid), and x̂0 shows a fine
  dot grid when zoomed in. At σ = 1.25: ε = 0.03: −49 %, −0.18 dB, but the distance is flat
  between α = −0.875 and −1; 0.04: −47 %; **0.05: −45 %, −0.08 dB, still falling by 3 % over that
  last step**, and fewer dots. ε is what keeps the curve monotone at the price of a few percent
  at α = 0. :class:`~dot_core.calibration.Calibrator` uses it unless told otherwise.
* patch p: 5. At p = 7 (σ = 1.5, ε = 0.05) −47 %, no better, for a dimension d = 49 instead of 25
  (about 4× the transport's cost and twice the images to estimate the covariance well).
* luma only vs. all three detail channels: −67 % / −0.64 dB vs. −68 % / −0.77 dB (σ = 2, no ε):
  luma only is cheaper (d = 25, not 75), cannot tint, and grayscale calibration photographs
  teach it nothing wrong about chroma.
* the denoising and JPEG presets preferred a wider split (σ = 2–3), but one latent must serve
  every preset; their figures at these defaults are in ``bench/results/quality.md``.

Cost: one separable 9-tap blur of three channels; encode + decode of a 1024² image take about
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

from .encoders import Encoder, resolve_device
from .kernels import gaussian_radius, gaussian_taps

__all__ = ["DetailEncoder", "DEFAULT_EPS", "OPPONENT", "gaussian_blur"]

DEFAULT_EPS = 0.05  # operator regularisation for this latent (relative to mean λ(Σs)); see above

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

    def __init__(self, *, device: str | torch.device | None = None, sigma: float = 1.25, patch_size: int = 5) -> None:
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not 0.25 <= sigma <= 32:
            raise ValueError(f"sigma must be a number of pixels in [0.25, 32], got {sigma!r}")
        if isinstance(patch_size, bool) or not isinstance(patch_size, int) or not 1 <= patch_size <= 16:
            raise ValueError(f"patch_size must be an integer in [1, 16], got {patch_size!r}")
        self.name, self.channels, self.factor = "detail", 6, 1
        self.device, self.dtype = resolve_device(device), torch.float32
        self.sigma = float(sigma)
        self.default_patch_size = patch_size
        self.default_eps = DEFAULT_EPS
        self.default_fold_kernel = "gaussian"  # see "Why these defaults" above
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

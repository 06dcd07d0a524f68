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

Defaults: split σ = 1, ε = 0.3 (:data:`DEFAULT_EPS`: source directions with less variance are
synthesised by eq. 5 instead of amplified into the restorer's grid), a Gaussian fold, p = 5. Why
these values, and the figures they were chosen by, are in docs/method.md ("The detail latent's
defaults"); a calibration records its σ and ε, and the presets choose their own.

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

from ..ot.gaussian_taps import gaussian_radius, gaussian_taps
from .base import Encoder, resolve_device

__all__ = ["DetailEncoder", "DEFAULT_EPS", "DEFAULT_SIGMA", "OPPONENT", "gaussian_blur"]

DEFAULT_EPS = 0.3  # ε of this latent (relative to mean λ(Σs)): docs/method.md "The detail latent's defaults"
DEFAULT_SIGMA = 1.0  # pixels: the split σ of this latent, docs/method.md "The detail latent's defaults"

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
    default_fold_kernel = "gaussian"  # docs/method.md "The detail latent's defaults" above

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

"""Set-level perceptual measures of a test set, through torchmetrics: FID, KID and LPIPS.

Nothing here is computed by hand: torchmetrics' ``FrechetInceptionDistance`` and
``KernelInceptionDistance`` do the arithmetic and ``LearnedPerceptualImagePatchSimilarity`` the
LPIPS network. The features are extracted once per image (:func:`image_features`), kept with the
image's rows (so a resumed or sharded evaluation need not see the images again), and handed to
the metrics through :class:`GivenFeatures`, the custom feature extractor torchmetrics accepts.

- FID [1]_ of feature sets r (ground truths) and f (outputs at one α):

  .. math:: \\mathrm{FID} = \\|\\mu_r - \\mu_f\\|^2 + \\operatorname{tr}\\big(\\Sigma_r + \\Sigma_f
            - 2 (\\Sigma_r \\Sigma_f)^{1/2}\\big)

  It is biased and needs thousands of images: on a few dozen it says little.
- KID [2]_: the unbiased MMD² with the kernel :math:`k(a, b) = (a^\\top b / d + 1)^3`, its mean and
  standard deviation over random subsets (here ``SUBSETS`` subsets of ⌊n/2⌋ images, at most 1000,
  seeded): unbiased, so it is the one to read on a small set.
- LPIPS [3]_ of each output against its ground truth (AlexNet features, lower is closer).

The default features are torch-fidelity's InceptionV3 (2048-d pool features, the FID standard) and
LPIPS needs torchvision; both fetch their weights on first use. Where a package or the weights
cannot be had (offline), the measure is skipped with a one-line reason and the rest is computed.

References
----------
.. [1] M. Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
   Equilibrium", NeurIPS 2017.
.. [2] M. Bińkowski, D. J. Sutherland, M. Arbel, A. Gretton, "Demystifying MMD GANs", ICLR 2018.
.. [3] R. Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric",
   CVPR 2018.
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import torch
from torch import nn

from ..io.images import to_uint8

__all__ = ["GivenFeatures", "Perceptual", "load_perceptual", "image_features", "fid_kid", "SUBSETS"]

SUBSETS = 100  # KID subsets (torch-fidelity's default count)
FID_NOTE = "FID on fewer than a few thousand images is biased and not meaningful; read KID."
_ERRORS = (ImportError, OSError, RuntimeError, ValueError)  # a missing package, an unreachable download


class GivenFeatures(nn.Module):
    """A torchmetrics feature extractor that returns its input: features computed beforehand, (N, d)."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = int(num_features)  # read by torchmetrics instead of a dummy forward pass

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return features


@dataclasses.dataclass(frozen=True)
class Perceptual:
    """The feature extractor for FID/KID and the LPIPS metric, each with why it is missing.

    Examples
    --------
    The default measures nothing perceptual, and says so:

    >>> from dot_core import Perceptual
    >>> none = Perceptual()
    >>> none.features is None, none.features_reason, none.lpips_reason
    (True, 'FID/KID not requested', 'LPIPS not requested')
    """

    features: nn.Module | None = None  # (N, 3, H, W) uint8 → (N, d); None: FID/KID skipped
    features_name: str = "none"  # recorded in the settings hash: other features, other rows
    features_reason: str | None = "FID/KID not requested"
    lpips: nn.Module | None = None  # torchmetrics LearnedPerceptualImagePatchSimilarity
    lpips_reason: str | None = "LPIPS not requested"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _inception() -> tuple[nn.Module | None, str | None]:
    from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE

    if not _TORCH_FIDELITY_AVAILABLE:
        return None, "FID/KID skipped: torch-fidelity's InceptionV3 is not installed (pip install torch-fidelity)"
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3

        return NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"]).eval(), None
    except _ERRORS as exc:
        return None, f"FID/KID skipped: the InceptionV3 weights could not be loaded ({_first_line(exc)})"


def _lpips() -> tuple[nn.Module | None, str | None]:
    try:
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        return LearnedPerceptualImagePatchSimilarity(net_type="alex", normalize=True).eval(), None
    except _ERRORS as exc:
        return None, f"LPIPS skipped: {_first_line(exc)}"


def load_perceptual(features: nn.Module | str | None = "inception", *, features_name: str | None = None,
                    lpips: bool = True) -> Perceptual:
    """The perceptual measures that can run here.

    ``features``: ``"inception"`` (torch-fidelity's, through torchmetrics), any ``nn.Module`` mapping
    (N, 3, H, W) uint8 images to (N, d) features (``features_name`` then names it), or None (no FID/KID).

    Examples
    --------
    Without weights: no features and no LPIPS, or a weight-free feature extractor of one's own
    (each image's mean colour) for FID/KID:

    >>> from torch import nn
    >>> from dot_core import load_perceptual
    >>> load_perceptual(None, lpips=False).features_reason
    'FID/KID not requested'
    >>> class MeanColour(nn.Module):
    ...     def forward(self, x):  # (N, 3, H, W) uint8 -> (N, 3)
    ...         return x.float().mean(dim=(2, 3))
    >>> p = load_perceptual(MeanColour(), features_name="mean-colour", lpips=False)
    >>> p.features_name, p.features_reason, p.lpips_reason
    ('mean-colour', None, 'LPIPS not requested')
    """
    if isinstance(features, str) and features != "inception":
        raise ValueError(f"features: 'inception', an nn.Module or None, got {features!r}")
    try:
        import torchmetrics  # noqa: F401
    except ImportError:
        why = "torchmetrics is not installed (pip install torchmetrics)"
        return Perceptual(features_reason=f"FID/KID skipped: {why}", lpips_reason=f"LPIPS skipped: {why}")
    if features == "inception":
        module, reason, name = *_inception(), "inception-v3-compat-2048"
    elif features is None:
        module, reason, name = None, "FID/KID not requested", "none"
    else:
        module, reason, name = features, None, features_name or type(features).__name__
    lp, lp_reason = _lpips() if lpips else (None, "LPIPS not requested")
    return Perceptual(features=module, features_name=name, features_reason=reason, lpips=lp, lpips_reason=lp_reason)


def _device(module: nn.Module) -> torch.device:
    p = next(module.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.inference_mode()
def image_features(module: nn.Module, image: np.ndarray) -> np.ndarray:
    """The (d,) float64 features of one (H, W, 3) image in [0, 1], given to ``module`` as uint8 (1, 3, H, W)."""
    x = torch.from_numpy(to_uint8(image)).permute(2, 0, 1)[None].contiguous()
    return module(x.to(_device(module))).reshape(1, -1)[0].double().cpu().numpy()


@torch.inference_mode()
def lpips_distance(metric: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """LPIPS between two (H, W, 3) images in [0, 1] (torchmetrics, ``normalize=True``)."""
    dev = _device(metric)
    a, b = (torch.from_numpy(np.ascontiguousarray(v, np.float32)).permute(2, 0, 1)[None].to(dev) for v in (x, y))
    metric.reset()
    return float(metric(a, b))


def fid_kid(real: np.ndarray, fake: np.ndarray, *, subsets: int = SUBSETS, seed: int = 0) -> dict:
    """FID and KID (mean, std) between two feature sets of shape (n, d) and (m, d), by torchmetrics.

    KID uses ``subsets`` random subsets of ⌊min(n, m)/2⌋ samples (at least 2, at most 1000), drawn
    with ``seed``: the same features always give the same numbers.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    real_t, fake_t = torch.as_tensor(real, dtype=torch.float64), torch.as_tensor(fake, dtype=torch.float64)
    n = min(len(real_t), len(fake_t))
    if n < 2 or real_t.ndim != 2 or fake_t.ndim != 2 or real_t.shape[1] != fake_t.shape[1]:
        raise ValueError(f"FID/KID need two (n, d) feature sets of at least 2 images each, got shapes "
                         f"{tuple(real_t.shape)} and {tuple(fake_t.shape)}")
    given = GivenFeatures(real_t.shape[1])
    fid = FrechetInceptionDistance(feature=given)
    with warnings.catch_warnings():  # "will save all extracted features": a few dozen vectors here
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=given, subsets=subsets, subset_size=max(2, min(1000, n // 2)))
    for metric in (fid, kid):
        metric.update(real_t, real=True)
        metric.update(fake_t, real=False)
    with torch.random.fork_rng(devices=[]):  # KID's subsets come from torch's global generator
        torch.manual_seed(seed)
        kid_mean, kid_std = kid.compute()
    return {"fid": float(fid.compute()), "kid": float(kid_mean), "kid_std": float(kid_std),
            "kid_subset_size": kid.subset_size, "kid_subsets": subsets}

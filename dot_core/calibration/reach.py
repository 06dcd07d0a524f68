"""How far the transport gets: W2 to the target and the share of its detail energy, before and after.

Eq. 2 maps N(μs, Σs) onto N(μt, Σt) exactly, but what an image receives is less: ε regularises Σs
(paper A.2), eq. 5 synthesises the degenerate directions, and the fold averages overlapping
patches, which shrinks their spread. This module measures it on the patches themselves:

* on the calibration's restored set, in closed form before the fold: the transported source is
  N(μt, T Σs Tᵀ + Σw) (:func:`calibration_reach`);
* on an image being enhanced, after the fold: the valid patches of z' = fold(T(patches of z)) are
  collected again and compared with the target (:func:`transport_reach`).

Each gives the Gelbrich W2 to the target of the untransported and of the transported patches,
and the detail energy tr Σ of each over the target's tr Σt (1 = all of the target's energy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..ot.gaussian_maps import GaussianOperator, gelbrich_w2
from ..ot.moments import PatchMoments
from ..ot.patches import count_valid_patches, iter_valid_patches

__all__ = ["MAX_REACH_PATCHES", "GaussianTarget", "TransportReach", "calibration_reach", "enhanced_reach", "transport_reach", "sampled_patch_moments"]

MAX_REACH_PATCHES = 250_000  # patches read per latent: past this, every k-th (the moments' error ~ 1/√n)


@dataclass(frozen=True)
class GaussianTarget:
    """N(μt, Σt) the operator aims at: the clean moments, or with the content match Σt times κ."""

    mean: torch.Tensor  # (d,)
    covariance: torch.Tensor  # (d, d)


@dataclass(frozen=True)
class TransportReach:
    """W2 (Gelbrich, not squared) to the target and detail energy over the target's, before and after."""

    w2_before: float  # untransported patches → target
    w2_after: float  # transported patches → target
    energy_before: float  # tr Σ of the untransported patches / tr Σt
    energy_after: float  # tr Σ of the transported patches / tr Σt

    @property
    def closed(self) -> float:
        """Share of the W2 gap the transport closed: 1 − W2_after / W2_before (1: reached the target)."""
        return 1.0 - self.w2_after / self.w2_before if self.w2_before > 0 else 1.0

    def describe(self, where: str) -> str:
        """One line for the summaries, e.g. where = "this image, after the fold" (energies: × the clean set's)."""
        gap = f"{self.closed:.0%} closed" if self.closed >= 0 else "farther than untransported"
        return (f"transport reach ({where}): W2 to the clean patches {self.w2_before:.3g} → {self.w2_after:.3g} "
                f"({gap}), detail energy {self.energy_before:.2f}× → {self.energy_after:.2f}×")


def _reach(mean: torch.Tensor, cov: torch.Tensor, mean_after: torch.Tensor, cov_after: torch.Tensor,
           target: PatchMoments | GaussianTarget) -> TransportReach:
    mt, Ct = target.mean, target.covariance
    energy = float(torch.trace(Ct))
    return TransportReach(
        w2_before=float(gelbrich_w2(mean, cov, mt, Ct)), w2_after=float(gelbrich_w2(mean_after, cov_after, mt, Ct)),
        energy_before=float(torch.trace(cov)) / energy, energy_after=float(torch.trace(cov_after)) / energy,
    )


def calibration_reach(source: PatchMoments, target: PatchMoments | GaussianTarget, operator: GaussianOperator) -> TransportReach:
    """Reach on the restored set itself, before the fold: the transported source is Gaussian with

    .. math:: \\mu' = \\mu_t, \\qquad \\Sigma' = T \\Sigma_s T^\\top + \\Sigma_w

    (eq. 2, or eq. 5 with its noise covariance Σw); with ε > 0, Σ' falls short of Σt by T·εI·Tᵀ.
    """
    Cs = source.covariance
    Cp = operator.T @ Cs @ operator.T.T
    if operator.noise_cov is not None:
        Cp = Cp + operator.noise_cov
    Cp = (Cp + Cp.T) / 2
    mean_after = operator.mu_t + (source.mean - operator.mu_s) @ operator.T.T
    return _reach(source.mean, Cs, mean_after, Cp, target)


def sampled_patch_moments(z: torch.Tensor, patch_size: int, *, most: int = MAX_REACH_PATCHES) -> PatchMoments:
    """Moments of the valid patches of ``z`` (1, C, h, w), every k-th past ``most`` patches."""
    h, w = z.shape[-2:]
    n = count_valid_patches(h, w, patch_size)
    if n < 2:
        raise ValueError(f"a latent of {h}×{w} has {n} valid {patch_size}×{patch_size} patch(es); need 2 to measure")
    step = max(1, math.ceil(n / most))
    moments = PatchMoments(z.shape[1] * patch_size**2)
    for v in iter_valid_patches(z, patch_size):
        moments.update(v[::step])
    return moments


def transport_reach(z: torch.Tensor, z_transported: torch.Tensor, target: PatchMoments | GaussianTarget,
                    patch_size: int) -> TransportReach:
    """Reach on one image, after the fold: moments of the valid patches of z and of z' (1, C, h, w),
    the transported latent channels only, compared with the calibration's target."""
    if z.shape != z_transported.shape:
        raise ValueError(f"z and z_transported must have one shape, got {tuple(z.shape)} and {tuple(z_transported.shape)}")
    before = sampled_patch_moments(z.to(torch.float64), patch_size)
    after = sampled_patch_moments(z_transported.to(torch.float64), patch_size)
    return _reach(before.mean, before.covariance, after.mean, after.covariance, target)


def enhanced_reach(enhanced, calibration) -> TransportReach | None:
    """Reach on one image the pipeline enhanced (``enhanced.latent``, ``.latent_transported``), after
    the fold, to the target ``calibration``'s operator aims at; None when the latent holds fewer than
    two patches (nothing to measure; the image itself is still fine)."""
    C = calibration.channels
    try:
        return transport_reach(enhanced.latent[:, :C], enhanced.latent_transported[:, :C], calibration.fitted_target,
                               calibration.patch_size)
    except ValueError:
        return None

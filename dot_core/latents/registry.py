"""The latent spaces by name, and :func:`load_encoder` (README "Latent spaces"; docs/method.md "Latents and patches").

Names: ``pixel`` and ``detail`` (weight-free), the short names of :data:`KNOWN_VAES` (Hub), a
Hub repo id, a local folder saved with diffusers' ``save_pretrained``, or a TAESD-family folder
in the original layout (``*_encoder.*`` + ``*_decoder.*``, see :mod:`dot_core.latents.taesd`).

When weights cannot be had, :func:`load_encoder` raises :class:`EncoderUnavailableError` naming
the encoder and how to provide it; it never switches latent space on its own. When the Hub is
known to be unreachable (:func:`dot_core.latents.hub.hub_reachable`: ``HF_HUB_OFFLINE`` set, or a
two-second probe failed) only the local cache is tried, so the error comes at once instead of
after half a minute of retries.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from .base import Encoder, EncoderUnavailableError, resolve_device, resolve_dtype
from .detail import DEFAULT_SIGMA, DetailEncoder
from .diffusers_vae import DiffusersVAEEncoder
from .hub import hub_reachable
from .pixel import PixelEncoder
from .taesd import TAESDEncoder, find_taesd_weights
from .vae_loading import load_vae_folder, load_vae_hub

__all__ = ["KNOWN_VAES", "WEIGHT_FREE", "load_encoder", "encoder_for", "detail_encoder", "hub_reachable"]

# Short names of pretrained VAEs: (Hub repo id, diffusers class name).
KNOWN_VAES: dict[str, tuple[str, str]] = {
    "sd-vae-ft-mse": ("stabilityai/sd-vae-ft-mse", "AutoencoderKL"),
    "sd-vae-ft-ema": ("stabilityai/sd-vae-ft-ema", "AutoencoderKL"),
    "taesd": ("madebyollin/taesd", "AutoencoderTiny"),
}
WEIGHT_FREE = ("pixel", "detail")


def _load(name: str, device: torch.device, dtype: torch.dtype, sample_posterior: bool) -> Encoder:
    if name == "pixel":
        return PixelEncoder(device=device)
    if name == "detail":
        return DetailEncoder(device=device)
    path = Path(os.path.expanduser(name))
    if path.is_dir() and (path / "config.json").is_file():
        vae = load_vae_folder(path, dtype)
        return DiffusersVAEEncoder(vae, name=str(path), device=device, dtype=dtype, sample_posterior=sample_posterior)
    weights = find_taesd_weights(path)  # a folder (or folder/prefix) of TAESD-layout files, else None
    if weights is not None:
        return TAESDEncoder.from_files(*weights, name=str(path), device=device, dtype=dtype)
    if path.is_dir():
        raise EncoderUnavailableError(
            f"{path} holds neither a diffusers VAE (config.json) nor TAESD-family weights "
            "(*_encoder.safetensors or .pth with *_decoder.*); point --encoder at a folder with one of them"
        )
    if name in KNOWN_VAES:
        repo, cls_name = KNOWN_VAES[name]
    elif name.count("/") == 1 and not path.exists():
        repo, cls_name = name, None
    else:
        known = ", ".join([*WEIGHT_FREE, *KNOWN_VAES])
        raise EncoderUnavailableError(
            f"unknown latent space {name!r}: use one of {known}, a Hub repo id, or a local folder"
        )
    vae = load_vae_hub(name, repo, cls_name, dtype)
    return DiffusersVAEEncoder(vae, name=name, device=device, dtype=dtype, sample_posterior=sample_posterior)


def encoder_for(calibration, *, device: str | torch.device | None = None,
                dtype: str | torch.dtype | None = None) -> Encoder:
    """The latent space ``calibration`` was made in, with the settings it recorded.

    ``detail`` is rebuilt with the split σ in ``info["encoder_config"]`` (a preset may choose its
    own, e.g. ``denoise-nlm-50``: 1.25); every other latent is :func:`load_encoder` of its name,
    and :func:`dot_core.pipeline.check_compatible` still checks what it recorded. A σ outside
    ``DetailEncoder``'s range raises ``ValueError``.

    Examples
    --------
    A ``detail`` calibration made with split σ = 1.25 gets its latent space back with that σ:

    >>> import numpy as np
    >>> from dot_core import Calibrator, encoder_for
    >>> from dot_core.latents.detail import DetailEncoder
    >>> clean = np.random.default_rng(0).random((16, 16, 3))
    >>> cal = Calibrator(DetailEncoder(sigma=1.25, device="cpu"), patch_size=3)
    >>> cal.add_restored(clean ** 2), cal.add_clean(clean)
    (196, 196)
    >>> enc = encoder_for(cal.fit(), device="cpu")
    >>> enc.name, enc.sigma
    ('detail', 1.25)
    """
    config = calibration.info.get("encoder_config") or {}
    sigma = config.get("sigma")
    if calibration.encoder == "detail" and sigma is not None and sigma != DEFAULT_SIGMA:
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float)):
            raise ValueError(f"the calibration records a detail σ of {sigma!r}, not a number of pixels")
        return detail_encoder(float(sigma), device=device)
    return load_encoder(calibration.encoder, device=device, dtype=dtype)


def detail_encoder(sigma: float = DEFAULT_SIGMA, *, device: str | torch.device | None = None) -> Encoder:
    """The ``detail`` latent with split σ ``sigma`` (cached like :func:`load_encoder`)."""
    return _detail_cached(float(sigma), resolve_device(device))


@functools.lru_cache(maxsize=4)
def _detail_cached(sigma: float, device: torch.device) -> Encoder:
    return DetailEncoder(device=device, sigma=sigma)


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, device: torch.device, dtype: torch.dtype, sample_posterior: bool) -> Encoder:
    return _load(name, device, dtype, sample_posterior)


def load_encoder(
    name: str,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    sample_posterior: bool = False,
) -> Encoder:
    """The latent space called ``name``: "pixel", "detail", a short VAE name, a repo id or a folder.

    A folder is either a diffusers VAE (``config.json``) or a TAESD-family folder holding
    ``*_encoder.*`` and ``*_decoder.*`` (``.safetensors``, or ``.pth`` read with
    ``weights_only=True``); ``FOLDER/PREFIX`` picks one pair in a folder holding several
    (e.g. ComfyUI's ``models/vae_approx/taesdxl``). Encoders are cached: asking twice for the
    same one returns the same object.

    Raises
    ------
    EncoderUnavailableError
        When the weights cannot be loaded (message names the encoder and how to provide them).

    Examples
    --------
    >>> from dot_core import load_encoder
    >>> enc = load_encoder("detail", device="cpu")
    >>> enc.name, enc.channels, enc.ot_channels, enc.factor  # 6 latent channels, luma detail transported
    ('detail', 6, 1, 1)
    >>> load_encoder("pixel", device="cpu") is load_encoder("pixel", device="cpu")  # cached
    True
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"encoder name must be a non-empty string, got {name!r}")
    return _load_cached(name.strip(), resolve_device(device), resolve_dtype(dtype), bool(sample_posterior))

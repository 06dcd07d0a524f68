"""Latent spaces: the identity on pixels and diffusers VAEs (DESIGN.md "Latent spaces").

Every encoder maps an image batch ``x`` of shape (1, 3, H, W) in [-1, 1] to a latent
(1, C, ⌈H/f⌉, ⌈W/f⌉) and back. Images whose sides are not multiples of the factor ``f`` are
padded (replicating the border) before encoding; :meth:`Encoder.decode` crops back to the size
it is given.

Weights come from ``from_pretrained`` (a local folder, the Hugging Face cache, or the Hub).
When they cannot be had, :func:`load_encoder` raises :class:`EncoderUnavailableError` naming the
encoder and how to provide it; it never switches latent space on its own.
"""

from __future__ import annotations

import functools
import json
import math
import os
import warnings
from abc import ABC, abstractmethod
from pathlib import Path

import torch
import torch.nn.functional as F

from .memory import free_memory, is_out_of_memory, memory_budget

__all__ = [
    "Encoder",
    "PixelEncoder",
    "DiffusersVAEEncoder",
    "EncoderUnavailableError",
    "KNOWN_VAES",
    "WEIGHT_FREE",
    "load_encoder",
    "resolve_device",
    "resolve_dtype",
]

# Short names of pretrained VAEs: (Hub repo id, diffusers class name).
KNOWN_VAES: dict[str, tuple[str, str]] = {
    "sd-vae-ft-mse": ("stabilityai/sd-vae-ft-mse", "AutoencoderKL"),
    "sd-vae-ft-ema": ("stabilityai/sd-vae-ft-ema", "AutoencoderKL"),
    "taesd": ("madebyollin/taesd", "AutoencoderTiny"),
}
WEIGHT_FREE = ("pixel", "detail")
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# Automatic VAE tiling (DiffusersVAEEncoder.tile_size_for): a call runs untiled while its estimated
# activations fit memory.memory_budget(device), else in the largest square tiles that fit.
# Peak activation bytes per image pixel ≈ ACTIVATION_FACTOR × (channels at full resolution) ×
# bytes per element: untiled SD-VAE decode at 512² on CPU in float32 raised peak RSS by 1.1 GB,
# 4.2 KB per pixel = 4.1 × 256 channels × 4 bytes (bench/results/memory.md); 5 leaves a margin.
ACTIVATION_FACTOR = 5
TILE_MULTIPLE = 64  # tile sides are multiples of this, hence of every VAE factor up to 64
MIN_TILE = 128  # the smallest tile tried after out-of-memory failures


class EncoderUnavailableError(RuntimeError):
    """The weights of a requested latent space cannot be loaded."""


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"``: CUDA if present, then MPS, then CPU."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype | None) -> torch.dtype:
    """``None`` → float32; accepts "float32", "bfloat16", "float16" or a torch dtype."""
    if dtype is None:
        return torch.float32
    if isinstance(dtype, torch.dtype):
        if dtype not in _DTYPES.values():
            raise ValueError(f"dtype must be one of {list(_DTYPES)}, got {dtype}")
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"dtype must be one of {list(_DTYPES)}, got {dtype!r}")
    return _DTYPES[dtype]


def _pad_to_multiple(x: torch.Tensor, factor: int) -> torch.Tensor:
    H, W = x.shape[-2:]
    ph, pw = (-H) % factor, (-W) % factor
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


def _check_image_batch(x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[:2] != (1, 3):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected an image tensor of shape (1, 3, H, W) in [-1, 1], got {shape}")


class Encoder(ABC):
    """A latent space: ``encode`` (1, 3, H, W) → (1, C, h, w), ``decode`` back, both in float32."""

    name: str  # identifier stored in calibration files
    channels: int  # C
    factor: int  # spatial down-sampling factor f
    device: torch.device
    dtype: torch.dtype
    default_patch_size: int = 3  # latent patch size p used when none is given
    default_fold_kernel: str = "uniform"  # how overlapping transported patches are averaged, unless told

    @property
    def ot_channels(self) -> int:
        """How many leading latent channels are transported; the rest pass through unchanged.

        All of them for a VAE or pixels; a latent that carries a side channel (e.g. the smooth
        base of ``detail``) transports only its first ``ot_channels``.
        """
        return self.channels

    def latent_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the latent of an image of height×width."""
        f = self.factor
        return -(-height // f), -(-width // f)

    @torch.inference_mode()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        _check_image_batch(x)
        x = _pad_to_multiple(x.to(self.device, torch.float32), self.factor)
        return self._encode(x).float()

    @torch.inference_mode()
    def decode(self, z: torch.Tensor, size: tuple[int, int] | None = None) -> torch.Tensor:
        """Latent (1, C, h, w) → image (1, 3, H, W) in [-1, 1], cropped to ``size`` = (H, W)."""
        if z.ndim != 4 or z.shape[:2] != (1, self.channels):
            raise ValueError(f"expected a latent of shape (1, {self.channels}, h, w), got {tuple(z.shape)}")
        x = self._decode(z.to(self.device)).float().clamp(-1.0, 1.0)
        if size is not None:
            x = x[..., : size[0], : size[1]]
        return x

    @abstractmethod
    def _encode(self, x: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def _decode(self, z: torch.Tensor) -> torch.Tensor: ...

    def describe(self) -> dict:
        """Architecture facts that must agree between a calibration and the encoder using it."""
        return {"encoder": self.name, "channels": self.ot_channels, "factor": self.factor}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, C={self.channels}, f={self.factor}, device={self.device})"


class PixelEncoder(Encoder):
    """The identity on [-1, 1] RGB: C = 3, f = 1, needs no weights (the official code's fallback)."""

    def __init__(self, *, device: str | torch.device | None = None) -> None:
        self.name, self.channels, self.factor = "pixel", 3, 1
        self.device, self.dtype = resolve_device(device), torch.float32

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return z.clone()


class DiffusersVAEEncoder(Encoder):
    """A diffusers ``AutoencoderKL`` (posterior mean by default) or ``AutoencoderTiny``."""

    def __init__(
        self,
        vae: torch.nn.Module,
        *,
        name: str,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        sample_posterior: bool = False,
        tiling: bool | None = None,
        tile_size: int | None = None,
        budget_bytes: int | None = None,
        seed: int = 0,
    ) -> None:
        self.name = name
        self.device, self.dtype = resolve_device(device), resolve_dtype(dtype)
        self.vae = vae.to(self.device, self.dtype).eval()
        cfg = vae.config
        self.kind = type(vae).__name__
        self.channels = int(cfg.latent_channels)
        blocks = cfg.encoder_block_out_channels if self.kind == "AutoencoderTiny" else cfg.block_out_channels
        self.factor = 2 ** (len(blocks) - 1)
        self.sample_posterior = sample_posterior
        if tile_size is not None and (tile_size < MIN_TILE or tile_size % TILE_MULTIPLE):
            raise ValueError(f"tile_size must be a multiple of {TILE_MULTIPLE} and ≥ {MIN_TILE}, got {tile_size}")
        self.tiling = tiling  # None: automatic, from the image size and the memory budget
        self.tile_size = tile_size  # None: the largest tile that fits the budget
        self.budget_bytes = budget_bytes  # None: memory.memory_budget(device) at each call
        self.seed = seed

    @property
    def bytes_per_pixel(self) -> int:
        """Estimated peak activation bytes per image pixel of one untiled VAE call."""
        cfg = self.vae.config
        if self.kind == "AutoencoderTiny":
            width = cfg.decoder_block_out_channels[-1]
        else:  # the decoder up-samples to full resolution with the second-finest block's width
            blocks = cfg.block_out_channels
            width = blocks[1] if len(blocks) > 1 else blocks[0]
        return ACTIVATION_FACTOR * int(width) * torch.finfo(self.dtype).bits // 8

    def tile_size_for(self, height: int, width: int) -> int | None:
        """Side of the square tiles for a height×width image, or None to run untiled.

        Automatic (``tiling=None``): untiled while the estimated activations fit the memory
        budget, else the largest tile (a multiple of ``TILE_MULTIPLE``) that fits.
        """
        if self.tiling is False or getattr(self.vae, "spatial_scale_factor", self.factor) != self.factor:
            return None  # (AutoencoderTiny's tiling assumes its spatial_scale_factor is the factor)
        budget = self.budget_bytes if self.budget_bytes is not None else memory_budget(self.device)
        if self.tiling is None and height * width * self.bytes_per_pixel <= budget:
            return None
        if self.tile_size is not None:
            return self.tile_size
        return max(MIN_TILE, math.isqrt(budget // self.bytes_per_pixel) // TILE_MULTIPLE * TILE_MULTIPLE)

    def _set_tiles(self, side: int | None) -> None:
        """diffusers' own tiling (overlapping tiles, blended seams) with tiles of ``side`` pixels."""
        if side is None:
            self.vae.disable_tiling()
            return
        self.vae.enable_tiling()
        self.vae.tile_sample_min_size = side
        self.vae.tile_latent_min_size = side // self.factor

    def _bounded(self, step, t: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """``step(t)`` in planned tiles; on out-of-memory, free caches and halve the tiles."""
        side = self.tile_size_for(height, width)
        while True:
            self._set_tiles(side)
            try:
                return step(t)
            except Exception as exc:  # only out-of-memory is retried
                if not is_out_of_memory(exc):
                    raise
            # outside the except block, so the failed attempt's tensors can be released
            free_memory(self.device)
            if self.tiling is False or side == MIN_TILE:
                where = "untiled" if side is None else f"even in {side}×{side} tiles"
                raise MemoryError(
                    f"out of memory running the {self.name} VAE on a {height}×{width} image {where} "
                    f"on {self.device}; use a smaller image, a lower precision (bfloat16; float16 on "
                    "a GPU), automatic tiling, or a device with more memory"
                )
            side = max(MIN_TILE, (side or max(height, width)) // 2 // TILE_MULTIPLE * TILE_MULTIPLE)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        return self._bounded(self._vae_encode, x, x.shape[-2], x.shape[-1])

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        f = self.factor
        return self._bounded(self._vae_decode, z, z.shape[-2] * f, z.shape[-1] * f)

    def _vae_encode(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.dtype)
        if self.kind == "AutoencoderTiny":
            return self.vae.encode(x).latents
        dist = self.vae.encode(x).latent_dist
        if self.sample_posterior:
            gen = torch.Generator(device=self.device).manual_seed(self.seed)
            return dist.sample(generator=gen)
        return dist.mean

    def _vae_decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z.to(self.dtype)).sample

    def describe(self) -> dict:
        return {**super().describe(), "class": self.kind}


def _class_from_config(config: dict, where: str) -> str:
    cls = config.get("_class_name")
    if cls not in ("AutoencoderKL", "AutoencoderTiny"):
        raise EncoderUnavailableError(
            f"{where} holds a {cls or 'model without _class_name'}, not a diffusers AutoencoderKL "
            "or AutoencoderTiny; point --encoder at a folder saved with save_pretrained() of one"
        )
    return cls


def _hub_hint(name: str, repo: str) -> str:
    return (
        f"cannot load the '{name}' latent space ({repo}): its weights are neither in a local "
        "folder nor in the Hugging Face cache, and the Hub could not be reached. Download them "
        f"where the Hub is reachable (`hf download {repo}`), pass a local folder saved with "
        "save_pretrained(), or use a weight-free latent space ('detail' or 'pixel')."
    )


def _load_vae(name: str, dtype: torch.dtype) -> tuple[torch.nn.Module, str]:
    """Load a VAE by short name, local folder or repo id; returns (module, canonical name)."""
    from diffusers import AutoencoderKL, AutoencoderTiny  # imported late: heavy

    classes = {"AutoencoderKL": AutoencoderKL, "AutoencoderTiny": AutoencoderTiny}
    path = Path(os.path.expanduser(name))
    if path.is_dir():
        cfg_file = path / "config.json"
        if not cfg_file.is_file():
            raise EncoderUnavailableError(f"{path} has no config.json; it is not a diffusers model folder")
        try:
            config = json.loads(cfg_file.read_text())
        except (OSError, ValueError) as exc:
            raise EncoderUnavailableError(f"{cfg_file} is not valid JSON: {exc}") from exc
        cls = classes[_class_from_config(config, str(path))]
        try:
            return cls.from_pretrained(path, torch_dtype=dtype), str(path)
        except (OSError, ValueError, RuntimeError) as exc:
            raise EncoderUnavailableError(f"cannot load the VAE in {path}: {exc}") from exc
    if name in KNOWN_VAES:
        repo, cls_name = KNOWN_VAES[name]
        canonical = name
    elif name.count("/") == 1 and not path.exists():
        repo, cls_name, canonical = name, None, name
    else:
        known = ", ".join([*WEIGHT_FREE, *KNOWN_VAES])
        raise EncoderUnavailableError(
            f"unknown latent space {name!r}: use one of {known}, a Hub repo id, or a local folder"
        )
    try:
        with warnings.catch_warnings():
            # diffusers passes an argument huggingface_hub has deprecated; the warning would
            # stand before our own one-line error in the CLI and says nothing to a user.
            warnings.filterwarnings("ignore", message=".*local_dir_use_symlinks.*")
            if cls_name is None:
                from huggingface_hub import hf_hub_download

                with open(hf_hub_download(repo, "config.json")) as fh:
                    cls_name = _class_from_config(json.load(fh), repo)
            return classes[cls_name].from_pretrained(repo, torch_dtype=dtype), canonical
    except EncoderUnavailableError:
        raise
    except Exception as exc:  # network errors come in many types (OSError, HTTP, offline mode)
        raise EncoderUnavailableError(_hub_hint(name, repo) + f" [{type(exc).__name__}]") from exc


@functools.lru_cache(maxsize=4)
def _load_cached(name: str, device: torch.device, dtype: torch.dtype, sample_posterior: bool) -> Encoder:
    if name == "pixel":
        return PixelEncoder(device=device)
    if name == "detail":
        from .detail import DetailEncoder

        return DetailEncoder(device=device)
    vae, canonical = _load_vae(name, dtype)
    return DiffusersVAEEncoder(vae, name=canonical, device=device, dtype=dtype, sample_posterior=sample_posterior)


def load_encoder(
    name: str,
    *,
    device: str | torch.device | None = None,
    dtype: str | torch.dtype | None = None,
    sample_posterior: bool = False,
) -> Encoder:
    """The latent space called ``name``: "pixel", "detail", a short VAE name, a repo id or a folder.

    Encoders are cached: asking twice for the same one returns the same object.

    Raises
    ------
    EncoderUnavailableError
        When the weights cannot be loaded (message names the encoder and how to provide them).
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"encoder name must be a non-empty string, got {name!r}")
    return _load_cached(name.strip(), resolve_device(device), resolve_dtype(dtype), bool(sample_posterior))

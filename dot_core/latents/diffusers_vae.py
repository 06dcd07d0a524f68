"""A diffusers VAE (``AutoencoderKL`` or ``AutoencoderTiny``) as a latent space, tiled per call.

Large images run in diffusers' own tiling (overlapping tiles, blended seams). The tile side is
chosen for each call from the memory free at that moment (:meth:`DiffusersVAEEncoder.tile_size_for`)
and passed down with the call; since diffusers reads it from the VAE object, the object is set
and restored under a lock, so two threads sharing one encoder never run in each other's tiles.
On out-of-memory a call is retried in smaller tiles (the plan is :mod:`dot_core.latents.tiling`'s).
"""

from __future__ import annotations

import threading

import torch

from .base import Encoder, resolve_device, resolve_dtype
from .tiling import activation_bytes_per_pixel, check_tile_size, plan_tile, run_bounded

__all__ = ["DiffusersVAEEncoder"]


class DiffusersVAEEncoder(Encoder):
    """A diffusers ``AutoencoderKL`` (posterior mean by default) or ``AutoencoderTiny``.

    Examples
    --------
    A tiny randomly initialised AutoencoderKL (×2, 4 channels) in place of pretrained weights
    (:func:`dot_core.load_encoder` loads those by name, repo id or folder):

    >>> import torch
    >>> from diffusers import AutoencoderKL
    >>> from dot_core import DiffusersVAEEncoder
    >>> vae = AutoencoderKL(block_out_channels=(8, 8), down_block_types=("DownEncoderBlock2D",) * 2,
    ...                     up_block_types=("UpDecoderBlock2D",) * 2, latent_channels=4,
    ...                     layers_per_block=1, norm_num_groups=4)
    >>> enc = DiffusersVAEEncoder(vae, name="tiny-kl", device="cpu")
    >>> enc
    DiffusersVAEEncoder(name='tiny-kl', C=4, f=2, device=cpu)
    >>> z = enc.encode(torch.zeros(1, 3, 17, 20))  # padded to 18×20, then halved
    >>> tuple(z.shape), tuple(enc.decode(z, (17, 20)).shape)
    ((1, 4, 9, 10), (1, 3, 17, 20))
    """

    default_color_fix = "wavelet"  # a learned latent carries the calibration photos' palette

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
        check_tile_size(tile_size)
        self.tiling = tiling  # None: automatic, from the image size and the memory budget
        self.tile_size = tile_size  # None: the largest tile that fits the budget
        self.budget_bytes = budget_bytes  # None: memory.memory_budget(device) at each call
        self.seed = seed
        self._vae_lock = threading.Lock()  # diffusers reads the tile side from the shared VAE object

    @property
    def bytes_per_pixel(self) -> int:
        """Estimated peak activation bytes per image pixel of one untiled VAE call."""
        cfg = self.vae.config
        if self.kind == "AutoencoderTiny":
            width = cfg.decoder_block_out_channels[-1]
        else:  # the decoder up-samples to full resolution with the second-finest block's width
            blocks = cfg.block_out_channels
            width = blocks[1] if len(blocks) > 1 else blocks[0]
        return activation_bytes_per_pixel(width, self.dtype)

    @property
    def can_tile(self) -> bool:
        """False for an AutoencoderTiny whose tiling would assume another factor than its own."""
        return self.tiling is not False and getattr(self.vae, "spatial_scale_factor", self.factor) == self.factor

    def tile_size_for(self, height: int, width: int) -> int | None:
        """Side of the square tiles for a height×width image now, or None to run untiled.

        Automatic (``tiling=None``): untiled while the estimated activations fit the memory
        budget, else ``tile_size`` or the largest tile that fits (:func:`dot_core.latents.tiling.plan_tile`).
        """
        if not self.can_tile:
            return None
        side = plan_tile(height, width, bytes_per_pixel=self.bytes_per_pixel, budget_bytes=self.budget_bytes,
                         device=self.device, always=self.tiling is True)
        return side if side is None or self.tile_size is None else self.tile_size

    def _in_tiles(self, step, t: torch.Tensor, side: int | None) -> torch.Tensor:
        """``step(t)`` in diffusers' tiling with tiles of ``side`` pixels (None: untiled).

        The VAE object is shared by every caller: its tiling is set for this call only, under
        the lock, and put back as it was.
        """
        vae = self.vae
        with self._vae_lock:
            saved = (getattr(vae, "use_tiling", False), getattr(vae, "tile_sample_min_size", None),
                     getattr(vae, "tile_latent_min_size", None))
            try:
                if side is None:
                    vae.disable_tiling()
                else:
                    vae.enable_tiling()
                    vae.tile_sample_min_size, vae.tile_latent_min_size = side, side // self.factor
                return step(t)
            finally:
                vae.use_tiling = saved[0]
                if saved[1] is not None:
                    vae.tile_sample_min_size, vae.tile_latent_min_size = saved[1], saved[2]

    def _bounded(self, step, t: torch.Tensor, height: int, width: int, tile_size: int | None | str) -> torch.Tensor:
        """``step(t)`` in the tiles asked for; "auto": planned now, and retried in smaller tiles
        on out-of-memory. An explicit size is never changed: out-of-memory is a ``MemoryError``."""
        auto = tile_size == "auto"
        if not auto:
            if tile_size is not None and not self.can_tile:
                raise ValueError(f"the {self.name} VAE runs untiled here; got tile_size={tile_size}, use None")
            check_tile_size(tile_size)

        def advice(side: int | None) -> str:
            where = "untiled" if side is None else f"{'' if not auto else 'even '}in {side}×{side} tiles"
            return (f"out of memory running the {self.name} VAE on a {height}×{width} image {where} "
                    f"on {self.device}; use a smaller image, a lower precision (bfloat16; float16 on "
                    "a GPU), automatic tiling, or a device with more memory")

        run = lambda side: self._in_tiles(step, t, side)  # noqa: E731
        first = self.tile_size_for(height, width) if auto else tile_size
        return run_bounded(run, first, height=height, width=width, retry=auto and self.can_tile,
                           device=self.device, out_of_memory=advice)

    def _encode_tiled(self, x: torch.Tensor, tile_size: int | None | str) -> torch.Tensor:
        return self._bounded(self._vae_encode, x, x.shape[-2], x.shape[-1], tile_size)

    def _decode_tiled(self, z: torch.Tensor, tile_size: int | None | str) -> torch.Tensor:
        f = self.factor
        return self._bounded(self._vae_decode, z, z.shape[-2] * f, z.shape[-1] * f, tile_size)

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        return self._encode_tiled(x, "auto")

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return self._decode_tiled(z, "auto")

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

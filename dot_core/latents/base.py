"""The base of every latent space: the :class:`Encoder` interface and what its subclasses share.

Every encoder maps an image batch ``x`` of shape (1, 3, H, W) in [-1, 1] to a latent
(1, C, ⌈H/f⌉, ⌈W/f⌉) and back (README "Latent spaces"; docs/method.md "Latents and patches").
Images whose sides are not multiples of the factor ``f`` are padded (replicating the border)
before encoding; :meth:`Encoder.decode` crops back to the size it is given.

This module imports no other latent space. The others build on it: ``pixel``
(:mod:`dot_core.latents.pixel`), ``detail``
(:mod:`dot_core.latents.detail`), diffusers VAEs (:mod:`dot_core.latents.diffusers_vae`), TAESD-family folders
(:mod:`dot_core.latents.taesd`); :mod:`dot_core.latents.registry` names them all and loads one by name
(:func:`~dot_core.latents.registry.load_encoder`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
import torch.nn.functional as F

__all__ = [
    "Encoder",
    "EncoderUnavailableError",
    "resolve_device",
    "resolve_dtype",
]

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class EncoderUnavailableError(RuntimeError):
    """The weights of a requested latent space cannot be loaded.

    Examples
    --------
    >>> from dot_core import EncoderUnavailableError, load_encoder
    >>> try:
    ...     load_encoder("no-such-latent")
    ... except EncoderUnavailableError as err:
    ...     print(err)  # doctest: +NORMALIZE_WHITESPACE
    unknown latent space 'no-such-latent': use one of pixel, detail, sd-vae-ft-mse, sd-vae-ft-ema,
    taesd, a Hub repo id, or a local folder
    """


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` or ``"auto"``: CUDA if present, then MPS, then CPU.

    Examples
    --------
    >>> from dot_core import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("auto").type in ("cuda", "mps", "cpu")
    True
    """
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


def pad_to_multiple(x: torch.Tensor, factor: int) -> torch.Tensor:
    H, W = x.shape[-2:]
    ph, pw = (-H) % factor, (-W) % factor
    if ph == 0 and pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


def check_image_batch(x: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``x`` is a tensor of shape (1, 3, H, W)."""
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[:2] != (1, 3):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected an image tensor of shape (1, 3, H, W) in [-1, 1], got {shape}")


def _refuse_tiles(encoder: Encoder, tile_size) -> None:
    if tile_size not in ("auto", None):
        raise ValueError(f"the {encoder.name} latent space runs in one piece; got tile_size={tile_size!r}, use None")


class Encoder(ABC):
    """A latent space: ``encode`` (1, 3, H, W) → (1, C, h, w), ``decode`` back, both in float32.

    Examples
    --------
    A latent space is ``_encode`` and ``_decode`` on a padded batch; here each 2×2 block's mean
    colour (C = 3, f = 2). ``encode`` pads a size that is not a multiple of f, ``decode`` crops:

    >>> import torch
    >>> import torch.nn.functional as F
    >>> from dot_core import Encoder
    >>> class BlockMeans(Encoder):
    ...     name, channels, factor = "block-means", 3, 2
    ...     device, dtype = torch.device("cpu"), torch.float32
    ...     def _encode(self, x):
    ...         return F.avg_pool2d(x, 2)
    ...     def _decode(self, z):
    ...         return F.interpolate(z, scale_factor=2, mode="nearest")
    >>> enc = BlockMeans()
    >>> z = enc.encode(torch.zeros(1, 3, 5, 7))
    >>> tuple(z.shape), enc.latent_size(5, 7), enc.padded_size(5, 7)
    ((1, 3, 3, 4), (3, 4), (6, 8))
    >>> tuple(enc.decode(z, (5, 7)).shape)
    (1, 3, 5, 7)
    """

    name: str  # identifier stored in calibration files
    channels: int  # C
    factor: int  # spatial down-sampling factor f
    device: torch.device
    dtype: torch.dtype
    default_patch_size: int = 3  # latent patch size p used when none is given
    default_fold_kernel: str = "uniform"  # how overlapping transported patches are averaged, unless told
    default_eps: float = 1e-9  # operator regularisation ε (relative to mean λ(Σs)) calibrations use, unless told
    default_color_fix: str = "none"  # colour fix of x̂0 (dot_core.colorfix) when the caller says "auto"

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

    def tile_size_for(self, height: int, width: int) -> int | None:
        """Side of the square tiles an image of height×width runs in now; None: in one piece.

        Latents that are never tiled return None; a VAE decides from the free memory
        (:meth:`dot_core.latents.diffusers_vae.DiffusersVAEEncoder.tile_size_for`).
        """
        return None

    def padded_size(self, height: int, width: int) -> tuple[int, int]:
        """(H, W) of an image of height×width once padded to a multiple of the factor."""
        h, w = self.latent_size(height, width)
        return h * self.factor, w * self.factor

    @torch.inference_mode()
    def encode(self, x: torch.Tensor, *, tile_size: int | None | str = "auto") -> torch.Tensor:
        """Image (1, 3, H, W) in [-1, 1] → latent (1, C, ⌈H/f⌉, ⌈W/f⌉) in float32.

        ``tile_size``: "auto" (planned for this call from the memory free now, see
        :meth:`tile_size_for`), None (in one piece) or a tile side in pixels. The choice belongs
        to this call alone; nothing shared is changed.
        """
        check_image_batch(x)
        x = pad_to_multiple(x.to(self.device, torch.float32), self.factor)
        return self._encode_tiled(x, tile_size).float()

    @torch.inference_mode()
    def decode(
        self, z: torch.Tensor, size: tuple[int, int] | None = None, *, tile_size: int | None | str = "auto"
    ) -> torch.Tensor:
        """Latent (1, C, h, w) → image (1, 3, H, W) in [-1, 1], cropped to ``size`` = (H, W)."""
        if z.ndim != 4 or z.shape[:2] != (1, self.channels):
            raise ValueError(f"expected a latent of shape (1, {self.channels}, h, w), got {tuple(z.shape)}")
        x = self._decode_tiled(z.to(self.device), tile_size).float().clamp(-1.0, 1.0)
        if size is not None:
            x = x[..., : size[0], : size[1]]
        return x

    def _encode_tiled(self, x: torch.Tensor, tile_size: int | None | str) -> torch.Tensor:
        """``_encode`` for latents that are never tiled (a VAE overrides this)."""
        _refuse_tiles(self, tile_size)
        return self._encode(x)

    def _decode_tiled(self, z: torch.Tensor, tile_size: int | None | str) -> torch.Tensor:
        _refuse_tiles(self, tile_size)
        return self._decode(z)

    @abstractmethod
    def _encode(self, x: torch.Tensor) -> torch.Tensor: ...

    @abstractmethod
    def _decode(self, z: torch.Tensor) -> torch.Tensor: ...

    def describe(self) -> dict:
        """Architecture facts that must agree between a calibration and the encoder using it."""
        return {"encoder": self.name, "channels": self.ot_channels, "factor": self.factor}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, C={self.channels}, f={self.factor}, device={self.device})"

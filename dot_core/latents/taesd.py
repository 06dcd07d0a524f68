"""TAESD-family tiny autoencoders in their original layout (taesd, taesdxl, taesd3, taef1, taef2).

ComfyUI and A1111 keep these as ``<name>_encoder.pth`` / ``<name>_decoder.pth`` (now often
``.safetensors``) in ``models/vae_approx``: two ``nn.Sequential`` state dicts whose keys are
``<index>.<...>``. The architecture (Bohan Ollin Boer Bohan's TAESD, written here from its
description) is, with n = 64 channels and C latent channels:

* encoder: conv 3→n, Block, then three times [stride-2 conv n→n without bias, 3 Blocks],
  conv n→C (×8 down-sampling);
* decoder: 3·tanh(z/3), conv C→n, ReLU, 3 Blocks, then three times [×2 nearest up-sampling,
  conv n→n without bias, Blocks (3, 3, then 1)], conv n→3;
* Block: ``relu(conv(relu(conv(relu(conv(x))))) + x)``, 3×3 convolutions. taef2 (FLUX.2,
  C = 32) adds a "pool" branch to the three blocks at the latent resolution, applied to the
  input first: ``x ← x + conv1x1(relu(groupnorm₄(conv1x1_{n→4n}(x))))``.

Images go in as RGB in [0, 1] and come out about in [0, 1]; latents are raw (about ±3), the
convention of the original code. C, n and the pool branch are read from the tensors' names and
shapes; files that do not match this layout exactly are refused with the reason.

Large images run in overlapping square tiles blended linearly across the overlap (the side
planned per call from the memory free then, smaller after an out-of-memory failure), so memory
stays bounded; the pool branch's group norm sees one tile's statistics, so tiled output differs
slightly from untiled.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .base import Encoder, EncoderUnavailableError, resolve_device, resolve_dtype
from .tiling import activation_bytes_per_pixel, check_tile_size, plan_tile, run_bounded, run_in_tiles

__all__ = ["TAESDEncoder", "TAESDLayout", "build_taesd", "find_taesd_weights", "read_taesd_weights"]

POOL_GROUPS = 4  # group-norm groups of taef2's pool branch
ENCODER_POOL_BLOCKS = (11, 12, 13)  # the encoder's blocks at the latent resolution
DECODER_POOL_BLOCKS = (3, 4, 5)  # the decoder's blocks at the latent resolution
WEIGHT_SUFFIXES = (".safetensors", ".pth")  # safetensors preferred when both are present


def _conv(n_in: int, n_out: int, *, stride: int = 1, bias: bool = True) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, stride=stride, padding=1, bias=bias)


class _Pool(nn.Sequential):
    """taef2's branch: conv1x1 n→4n, group norm, ReLU, conv1x1 4n→n (keys pool.0/1/3)."""

    def __init__(self, n: int, hidden: int) -> None:
        super().__init__(
            nn.Conv2d(n, hidden, 1, bias=False), nn.GroupNorm(POOL_GROUPS, hidden), nn.ReLU(),
            nn.Conv2d(hidden, n, 1, bias=False),
        )


class TAEBlock(nn.Module):
    """relu(conv(relu(conv(relu(conv(x))))) + x), after x ← x + pool(x) when there is a pool."""

    def __init__(self, n: int, pool_hidden: int | None = None) -> None:
        super().__init__()
        self.conv = nn.Sequential(_conv(n, n), nn.ReLU(), _conv(n, n), nn.ReLU(), _conv(n, n))
        self.pool = _Pool(n, pool_hidden) if pool_hidden else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return F.relu(self.conv(x) + x)


class _SoftClamp(nn.Module):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return 3.0 * torch.tanh(z / 3.0)


class TAESDLayout:
    """What a pair of weight files says about the model: C, n and the pool branch's width."""

    def __init__(self, latent_channels: int, width: int = 64, pool_hidden: int | None = None) -> None:
        self.latent_channels, self.width, self.pool_hidden = latent_channels, width, pool_hidden

    def __repr__(self) -> str:
        return f"TAESDLayout(C={self.latent_channels}, n={self.width}, pool={self.pool_hidden})"


def build_taesd(layout: TAESDLayout) -> tuple[nn.Sequential, nn.Sequential]:
    """(encoder, decoder) of the original layout, randomly initialised."""
    n, C, h = layout.width, layout.latent_channels, layout.pool_hidden

    def blocks(count: int, first: int, pooled: tuple[int, ...]) -> list[nn.Module]:
        return [TAEBlock(n, h if first + i in pooled else None) for i in range(count)]

    enc: list[nn.Module] = [_conv(3, n), TAEBlock(n)]
    for _ in range(3):
        enc += [_conv(n, n, stride=2, bias=False), *blocks(3, len(enc) + 1, ENCODER_POOL_BLOCKS)]
    enc.append(_conv(n, C))
    dec: list[nn.Module] = [_SoftClamp(), _conv(C, n), nn.ReLU(), *blocks(3, 3, DECODER_POOL_BLOCKS)]
    for count in (3, 3, 1):
        dec += [nn.Upsample(scale_factor=2), _conv(n, n, bias=False), *blocks(count, len(dec) + 2, ())]
    dec.append(_conv(n, 3))
    return nn.Sequential(*enc), nn.Sequential(*dec)


def read_taesd_weights(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors``, or from ``.pth`` with ``torch.load(weights_only=True)``.

    A ``.pth`` that needs a full unpickle (arbitrary code) is refused, never loaded.
    """
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise EncoderUnavailableError(
            f"{path} needs a full unpickle to load, which could run any code; it is refused. "
            "Convert it to .safetensors where you trust it, or use the original TAESD files"
        ) from exc
    except Exception as exc:  # a truncated or foreign file: many error types
        raise EncoderUnavailableError(f"cannot read {path} as TAESD weights: {type(exc).__name__}: {exc}") from exc
    if not isinstance(state, dict) or not all(isinstance(k, str) and torch.is_tensor(v) for k, v in state.items()):
        raise EncoderUnavailableError(
            f"{path} holds a {type(state).__name__}, not a state dict of named tensors; "
            "expected the original TAESD layout (keys like '0.weight', '1.conv.0.weight')"
        )
    return state


def _shape(state: dict, key: str, where: Path) -> tuple[int, ...]:
    if key not in state:
        raise EncoderUnavailableError(
            f"{where} has no tensor {key!r}: it is not in the original TAESD layout "
            f"(keys found: {', '.join(sorted(state)[:6])}, ...)"
        )
    return tuple(state[key].shape)


def detect_layout(enc: dict, dec: dict, enc_path: Path, dec_path: Path) -> TAESDLayout:
    """C from the encoder's last conv and the decoder's first; n from the first conv; the pool
    branch from ``*.pool.0.weight`` keys."""
    n = _shape(enc, "0.weight", enc_path)[0]
    C = _shape(enc, "14.weight", enc_path)[0]
    C_dec = _shape(dec, "1.weight", dec_path)[1]
    if C != C_dec:
        raise EncoderUnavailableError(
            f"the encoder {enc_path.name} makes {C}-channel latents but the decoder {dec_path.name} "
            f"reads {C_dec}: they belong to different models; use the two halves of one model"
        )
    pools = [s[0] for s in (tuple(v.shape) for k, v in {**enc, **dec}.items() if k.endswith(".pool.0.weight"))]
    return TAESDLayout(C, n, pools[0] if pools else None)


def _load_half(module: nn.Module, state: dict, path: Path) -> None:
    want = module.state_dict()
    missing = sorted(want.keys() - state.keys())
    unknown = sorted(state.keys() - want.keys())
    wrong = sorted(k for k in want.keys() & state.keys() if tuple(want[k].shape) != tuple(state[k].shape))
    if missing or unknown or wrong:
        parts = [f"{label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
                 for label, keys in (("missing", missing), ("unknown", unknown), ("wrong shape", wrong)) if keys]
        raise EncoderUnavailableError(
            f"{path} does not match the TAESD layout it was read as ({'; '.join(parts)}); "
            "expected the original files of taesd, taesdxl, taesd3, taef1 or taef2"
        )
    module.load_state_dict({k: v.float() for k, v in state.items()})


def find_taesd_weights(path: Path) -> tuple[Path, Path] | None:
    """(encoder file, decoder file) for a folder holding one ``*_encoder.*``/``*_decoder.*`` pair,
    or for ``FOLDER/PREFIX`` naming ``PREFIX_encoder.*`` in FOLDER; None when there are none.

    Raises :class:`EncoderUnavailableError` for half a pair or a folder holding several pairs.
    """
    path = Path(path)
    folder, prefix = (path, None) if path.is_dir() else (path.parent, path.name)
    if not folder.is_dir() or (prefix is not None and len(path.parts) < 2):
        return None  # a bare name ("taesd") is a latent space's name, not a file prefix here
    found: dict[str, dict[str, Path]] = {}
    rank = {suffix: -i for i, suffix in enumerate(WEIGHT_SUFFIXES)}  # the preferred suffix last: it wins
    for f in sorted(folder.iterdir(), key=lambda p: rank.get(p.suffix, -99)):
        m = re.fullmatch(r"(.+)_(encoder|decoder)", f.stem)
        if m and f.suffix in WEIGHT_SUFFIXES and f.is_file() and (prefix is None or m.group(1) == prefix):
            found.setdefault(m.group(1), {})[m.group(2)] = f
    if not found:
        return None
    if len(found) > 1:
        options = ", ".join(str(folder / p) for p in sorted(found))
        raise EncoderUnavailableError(f"{folder} holds several TAESD-family models; name one: {options}")
    (name, halves), = found.items()
    if set(halves) != {"encoder", "decoder"}:
        have, lack = next(iter(halves.values())), ({"encoder", "decoder"} - set(halves)).pop()
        raise EncoderUnavailableError(
            f"{folder} has {have.name} but no {name}_{lack}.safetensors or .pth; a TAESD-family "
            "latent needs both halves"
        )
    return halves["encoder"], halves["decoder"]


class TAESDEncoder(Encoder):
    """A TAESD-family model as a latent space (×8, C from the weights); RGB in [0, 1], raw latents.

    Examples
    --------
    A randomly initialised narrow model (n = 8 channels instead of 64) in place of real weights
    (:func:`dot_core.load_encoder` reads those from a folder of ``*_encoder.*``/``*_decoder.*``):

    >>> import torch
    >>> from dot_core import TAESDEncoder
    >>> from dot_core.latents.taesd import TAESDLayout, build_taesd
    >>> layout = TAESDLayout(latent_channels=4, width=8)
    >>> enc = TAESDEncoder(*build_taesd(layout), layout, name="tiny-taesd", device="cpu")
    >>> z = enc.encode(torch.zeros(1, 3, 30, 45))  # padded to 32×48, then ×8 down
    >>> tuple(z.shape), tuple(enc.decode(z, (30, 45)).shape)
    ((1, 4, 4, 6), (1, 3, 30, 45))
    """

    factor = 8
    default_color_fix = "wavelet"  # a learned latent carries the calibration photos' palette

    def __init__(
        self, encoder: nn.Sequential, decoder: nn.Sequential, layout: TAESDLayout, *, name: str,
        device: str | torch.device | None = None, dtype: str | torch.dtype | None = None,
    ) -> None:
        self.name, self.layout, self.channels = name, layout, layout.latent_channels
        self.device, self.dtype = resolve_device(device), resolve_dtype(dtype)
        self.encoder_net = encoder.to(self.device, self.dtype).eval()
        self.decoder_net = decoder.to(self.device, self.dtype).eval()
        self.budget_bytes: int | None = None  # None: memory.memory_budget(device) at each call

    @classmethod
    def from_files(cls, encoder_path: Path, decoder_path: Path, *, name: str, **kwargs) -> TAESDEncoder:
        """Read, check and load a pair of weight files (see :func:`read_taesd_weights`)."""
        enc_state, dec_state = read_taesd_weights(encoder_path), read_taesd_weights(decoder_path)
        layout = detect_layout(enc_state, dec_state, Path(encoder_path), Path(decoder_path))
        encoder, decoder = build_taesd(layout)
        _load_half(encoder, enc_state, Path(encoder_path))
        _load_half(decoder, dec_state, Path(decoder_path))
        return cls(encoder, decoder, layout, name=name, **kwargs)

    @property
    def bytes_per_pixel(self) -> int:
        """Estimated peak activation bytes per image pixel of one untiled call (n channels)."""
        return activation_bytes_per_pixel(self.layout.width, self.dtype)

    def tile_size_for(self, height: int, width: int) -> int | None:
        """None (untiled) while the estimated activations fit the memory budget now, else the
        side of the largest square tile that fits (:func:`dot_core.latents.tiling.plan_tile`)."""
        return plan_tile(height, width, bytes_per_pixel=self.bytes_per_pixel,
                         budget_bytes=self.budget_bytes, device=self.device)

    def _bounded(self, fn, t: torch.Tensor, height: int, width: int, tile_size, scale: float) -> torch.Tensor:
        """``fn(t)`` in the tiles asked for ("auto": planned now, halved on out-of-memory)."""
        auto = tile_size == "auto"
        if not auto:
            check_tile_size(tile_size)

        def run(side: int | None) -> torch.Tensor:
            if side is None:
                return fn(t)
            return run_in_tiles(fn, t, side if scale < 1 else side // self.factor, scale=scale)

        def advice(side: int | None) -> str:
            where = "untiled" if side is None else f"in {side}×{side} tiles"
            return (f"out of memory running {self.name} on a {height}×{width} image {where} on {self.device}; "
                    "use a smaller image or a device with more memory")

        first = self.tile_size_for(height, width) if auto else tile_size
        return run_bounded(run, first, height=height, width=width, retry=auto, device=self.device,
                           out_of_memory=advice)

    def _encode_net(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder_net(((x + 1.0) / 2.0).to(self.dtype))  # [-1, 1] → TAESD's [0, 1]

    def _decode_net(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder_net(z.to(self.dtype)).float() * 2.0 - 1.0

    def _encode_tiled(self, x: torch.Tensor, tile_size) -> torch.Tensor:
        return self._bounded(self._encode_net, x, x.shape[-2], x.shape[-1], tile_size, 1 / self.factor)

    def _decode_tiled(self, z: torch.Tensor, tile_size) -> torch.Tensor:
        f = self.factor
        return self._bounded(self._decode_net, z, z.shape[-2] * f, z.shape[-1] * f, tile_size, float(f))

    def _encode(self, x: torch.Tensor) -> torch.Tensor:
        return self._encode_tiled(x, "auto")

    def _decode(self, z: torch.Tensor) -> torch.Tensor:
        return self._decode_tiled(z, "auto")

    def describe(self) -> dict:
        return {**super().describe(), "class": "TAESD", "pool_branch": self.layout.pool_hidden is not None}

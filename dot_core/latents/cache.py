"""A bounded in-memory cache of latents, keyed by image content and latent space.

Encoding is the expensive step (a VAE pass); everything after it is cheap. With a cache,
re-calibrating the same images with another patch size, switching calibrations for the same
upload, or enhancing an image again never calls the encoder twice::

    cache = LatentCache()
    cal = Calibrator(enc, 3, cache=cache)      # encodes the calibration images once
    ...
    cal5 = Calibrator(enc, 5, cache=cache)     # same images, patch 5: no encoder call
    pipe = DOTPipeline(enc, cal5.fit(), cache=cache)

Keys are (content hash, latent space, tiling): a BLAKE2b digest of the image's shape, dtype and
bytes, the encoder's identity (name, architecture facts, precision, posterior sampling), and
the tile side the latent is computed in (a VAE's tiled latent differs slightly from its untiled
one, and the side depends on the memory free at the time), so a bfloat16 latent never stands in
for a float32 one, nor a tiled latent for an untiled one. Latents are held on the CPU (a GPU keeps its
memory for the VAE) and evicted least recently used first when ``max_bytes`` or ``max_items``
is exceeded. Cached tensors are shared: callers must not modify them in place.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict

import numpy as np
import torch

from ..io.images import image_to_tensor
from .base import Encoder

Key = tuple[str, str, "int | None"]  # (content hash, latent space, tile side or None: untiled)

__all__ = ["LatentCache", "content_hash", "encode_image", "latent_space_key"]

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB of latents: ~16k SD-VAE latents of 512² images
DEFAULT_MAX_ITEMS = 256


def content_hash(image: np.ndarray) -> str:
    """Hex BLAKE2b-128 digest of an image array's shape, dtype and bytes."""
    a = np.ascontiguousarray(image)
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{a.shape}|{a.dtype.str}|".encode())
    h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def latent_space_key(encoder: Encoder) -> str:
    """What makes two encoders give the same latent for the same image."""
    facts = {
        **encoder.describe(),
        "type": type(encoder).__name__,
        "dtype": str(encoder.dtype),
        "sample_posterior": bool(getattr(encoder, "sample_posterior", False)),
        "seed": int(getattr(encoder, "seed", 0)),
    }
    return json.dumps(facts, sort_keys=True, default=str)


class LatentCache:
    """Least-recently-used latents, bounded by total bytes and by count.

    Parameters
    ----------
    max_bytes : bound on the summed size of the cached latents; larger latents are not cached.
    max_items : bound on their number.

    Examples
    --------
    The second encoding of the same image comes from the cache:

    >>> import numpy as np
    >>> from dot_core import LatentCache, load_encoder
    >>> cache, enc = LatentCache(max_items=8), load_encoder("pixel", device="cpu")
    >>> image = np.random.default_rng(0).random((8, 8, 3))
    >>> z1, z2 = cache.encode(enc, image), cache.encode(enc, image)
    >>> cache.misses, cache.hits, len(cache), cache.nbytes  # one float32 (1, 3, 8, 8) latent
    (1, 1, 1, 768)
    """

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES, max_items: int = DEFAULT_MAX_ITEMS) -> None:
        if not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(f"max_bytes must be a non-negative int, got {max_bytes!r}")
        if not isinstance(max_items, int) or max_items < 0:
            raise ValueError(f"max_items must be a non-negative int, got {max_items!r}")
        self.max_bytes, self.max_items = max_bytes, max_items
        self._items: OrderedDict[Key, torch.Tensor] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        """Bytes held by the cached latents."""
        return self._bytes

    def get(self, key: Key) -> torch.Tensor | None:
        with self._lock:
            z = self._items.get(key)
            if z is not None:
                self._items.move_to_end(key)
            return z

    def put(self, key: Key, z: torch.Tensor) -> None:
        size = z.numel() * z.element_size()
        if size > self.max_bytes or self.max_items == 0:
            return
        z = z.detach().to("cpu")
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.numel() * old.element_size()
            self._items[key] = z
            self._bytes += size
            while self._bytes > self.max_bytes or len(self._items) > self.max_items:
                _, gone = self._items.popitem(last=False)
                self._bytes -= gone.numel() * gone.element_size()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def encode(self, encoder: Encoder, image: np.ndarray) -> torch.Tensor:
        """``encoder.encode`` of an image (H, W, 3) in [0, 1], from the cache when seen before.

        Returns the full latent (1, C, h, w) on the encoder's device. The tile side is planned
        once for this call, keys the latent, and is the one the encoder runs in; if that runs
        out of memory, the encoder's own retry in smaller tiles computes the latent, which is
        then returned but not cached (it was not made in the tiles of its key).
        """
        tiles = encoder.tile_size_for(*encoder.padded_size(*image.shape[:2]))
        key = (content_hash(image), latent_space_key(encoder), tiles)
        z = self.get(key)
        if z is not None:
            self.hits += 1
            return z.to(encoder.device)
        self.misses += 1
        x = image_to_tensor(image)
        try:
            z = encoder.encode(x, tile_size=tiles)
        except MemoryError:
            return encoder.encode(x)  # "auto": retried in smaller tiles
        self.put(key, z)
        return z.to(encoder.device)


def encode_image(encoder: Encoder, image: np.ndarray, cache: LatentCache | None = None) -> torch.Tensor:
    """z = E(x) for an image (H, W, 3) in [0, 1], through ``cache`` when one is given."""
    if cache is not None:
        return cache.encode(encoder, image)
    return encoder.encode(image_to_tensor(image))

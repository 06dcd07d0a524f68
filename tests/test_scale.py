"""Scale: automatic VAE tiling and its agreement with untiled runs, out-of-memory retries, chunk
sizes, and the latent cache. Tiny random VAEs saved to a temporary folder; no Hub, no timing."""

import numpy as np
import pytest
import torch
from conftest import bicubic_x4, jump_ratio, photo

from dot_core import Calibrator, DOTPipeline, PixelEncoder
from dot_core.io.images import image_to_tensor
from dot_core.latents.cache import LatentCache, content_hash, latent_space_key
from dot_core.latents.diffusers_vae import DiffusersVAEEncoder
from dot_core.latents.memory import chunk_elements_for, is_out_of_memory, memory_budget
from dot_core.latents.tiling import MIN_TILE, TILE_MULTIPLE
from dot_core.ot.patches import DEFAULT_CHUNK_ELEMENTS, transport_latent


def tiny_vae_encoder(path, **kwargs) -> DiffusersVAEEncoder:
    """A fresh encoder around the tiny AutoencoderKL saved at ``path`` (not the cached one)."""
    from diffusers import AutoencoderKL

    return DiffusersVAEEncoder(AutoencoderKL.from_pretrained(path), name=str(path), device="cpu", **kwargs)


# --- tiling -------------------------------------------------------------------------------------


def test_tiled_and_untiled_vae_agree_closely_without_seams(tiny_kl_dir):
    """A 160² image that both can do: untiled, and in 128² tiles (2×2 overlapping tiles).

    Tiles cannot agree exactly: GroupNorm statistics and the mid-block attention are global over
    the image but computed per tile (diffusers' tiling blends overlapping tiles linearly).
    """
    x = image_to_tensor(photo("astronaut")[::2, ::2][:160, :160].copy())
    whole = tiny_vae_encoder(tiny_kl_dir, tiling=False)
    tiled = tiny_vae_encoder(tiny_kl_dir, tiling=True, tile_size=128)
    assert tiled.tile_size_for(160, 160) == 128 and whole.tile_size_for(160, 160) is None

    z, zt = whole.encode(x), tiled.encode(x)
    assert zt.shape == z.shape
    assert torch.nn.functional.cosine_similarity(zt.flatten(), z.flatten(), dim=0) > 0.95

    y, yt = whole.decode(z, (160, 160)), tiled.decode(z, (160, 160))
    psnr = 10 * torch.log10(4.0 / ((yt - y) ** 2).mean())  # images in [-1, 1]
    assert psnr > 20.0
    assert jump_ratio(yt) < 1.25 * jump_ratio(y)  # blended seams: no jump at tile borders


def test_automatic_tiling_fits_the_memory_budget(tiny_kl_dir):
    enc = tiny_vae_encoder(tiny_kl_dir)
    bpp = enc.bytes_per_pixel
    enc.budget_bytes = 300 * 300 * bpp
    assert enc.tile_size_for(256, 256) is None  # fits: untiled
    side = enc.tile_size_for(1024, 1024)
    assert side is not None and side % TILE_MULTIPLE == 0 and side >= MIN_TILE
    assert side * side * bpp <= enc.budget_bytes
    enc.budget_bytes = 1  # nothing fits: the smallest tile
    assert enc.tile_size_for(1024, 1024) == MIN_TILE
    assert tiny_vae_encoder(tiny_kl_dir, tiling=False, budget_bytes=1).tile_size_for(4096, 4096) is None
    assert tiny_vae_encoder(tiny_kl_dir, tiling=True, tile_size=192).tile_size_for(64, 64) == 192


def test_automatic_tiling_gives_the_same_latent_when_it_fits(tiny_kl_dir):
    x = image_to_tensor(photo("coffee", 96))
    auto = tiny_vae_encoder(tiny_kl_dir)  # budget from the machine: 96² fits
    torch.testing.assert_close(auto.encode(x), tiny_vae_encoder(tiny_kl_dir, tiling=False).encode(x))


def test_tiny_autoencoder_with_a_nonstandard_factor_is_never_tiled(tiny_taesd_dir):
    """diffusers' AutoencoderTiny tiling assumes ×8; this tiny one is ×2, so it runs untiled."""
    from diffusers import AutoencoderTiny

    enc = DiffusersVAEEncoder(AutoencoderTiny.from_pretrained(tiny_taesd_dir), name="t", tiling=True, tile_size=128)
    assert enc.tile_size_for(256, 256) is None
    assert enc.encode(image_to_tensor(photo("coffee", 144))).shape == (1, 4, 72, 72)


@pytest.mark.parametrize("bad", [100, 64, 129])
def test_tile_size_must_be_a_multiple_at_least_the_minimum(tiny_kl_dir, bad):
    with pytest.raises(ValueError, match="tile_size"):
        tiny_vae_encoder(tiny_kl_dir, tile_size=bad)


def test_a_call_leaves_the_shared_vae_as_it_found_it(tiny_kl_dir):
    """The tile side is the call's own: nothing of it stays on the VAE object other callers share."""
    enc = tiny_vae_encoder(tiny_kl_dir, tiling=True, tile_size=128)
    before = (enc.vae.use_tiling, enc.vae.tile_sample_min_size, enc.vae.tile_latent_min_size)
    x = image_to_tensor(photo("chelsea", 160))
    z = enc.encode(x)
    enc.decode(z, (160, 160))
    assert (enc.vae.use_tiling, enc.vae.tile_sample_min_size, enc.vae.tile_latent_min_size) == before
    torch.testing.assert_close(z, enc.encode(x, tile_size=128))  # "auto" planned 128 here
    assert (z - enc.encode(x, tile_size=None)).abs().max() > 0  # and a tiled latent is another latent


def test_threads_sharing_one_vae_each_get_their_own_tiles(tiny_kl_dir):
    import threading

    enc = tiny_vae_encoder(tiny_kl_dir)
    x = image_to_tensor(photo("coffee", 160))
    want = {128: enc.encode(x, tile_size=128), None: enc.encode(x, tile_size=None)}
    got, errors = [], []

    def work(side):
        try:
            for _ in range(4):
                got.append((side, enc.encode(x, tile_size=side)))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(side,)) for side in (128, None, 128, None)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 16
    for side, z in got:
        torch.testing.assert_close(z, want[side])


def test_cache_keys_on_the_tiling_of_the_call(tiny_kl_dir):
    """A latent encoded untiled is not served when memory is short now and tiles are planned."""
    enc, cache = tiny_vae_encoder(tiny_kl_dir), LatentCache()
    img = photo("rocket", 160)
    untiled = cache.encode(enc, img)
    enc.budget_bytes = 1  # memory is short now: the plan is the smallest tiles
    tiled = cache.encode(enc, img)
    assert (cache.hits, cache.misses) == (0, 2)
    torch.testing.assert_close(tiled, enc.encode(image_to_tensor(img), tile_size=MIN_TILE))
    assert (tiled - untiled).abs().max() > 0
    cache.encode(enc, img)
    assert cache.hits == 1


def test_explicit_tiles_are_refused_where_a_latent_never_tiles():
    with pytest.raises(ValueError, match="one piece"):
        PixelEncoder(device="cpu").encode(image_to_tensor(photo("coffee", 16)), tile_size=128)


def fail_above(module: torch.nn.Module, side: int, seen: list, exc=torch.OutOfMemoryError) -> None:
    """Make ``module`` raise ``exc`` on inputs wider than ``side``; record the widths it got."""
    forward = module.forward

    def limited(x, *args, **kwargs):
        seen.append(x.shape[-1])
        if x.shape[-1] > side:
            raise exc("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(x, *args, **kwargs)

    module.forward = limited


def test_out_of_memory_retries_in_smaller_tiles(tiny_kl_dir):
    enc = tiny_vae_encoder(tiny_kl_dir)  # 256² fits the machine's budget: first try untiled
    seen_enc, seen_dec = [], []
    fail_above(enc.vae.encoder, 128, seen_enc)
    fail_above(enc.vae.decoder, 64, seen_dec)  # latent width: 128 pixels at ×2
    x = image_to_tensor(photo("chelsea", 160))
    z = enc.encode(x)
    assert z.shape == (1, 4, 80, 80)
    assert seen_enc[0] == 160 and max(seen_enc[1:]) <= 128  # untiled failed, then 128² tiles
    y = enc.decode(z, (160, 160))
    assert y.shape == (1, 3, 160, 160) and torch.isfinite(y).all()
    assert seen_dec[0] == 80 and max(seen_dec[1:]) <= 64


def test_out_of_memory_even_in_the_smallest_tiles_is_a_clear_error(tiny_kl_dir):
    enc = tiny_vae_encoder(tiny_kl_dir)
    fail_above(enc.vae.encoder, 0, [])
    with pytest.raises(MemoryError, match=rf"out of memory .* even in {MIN_TILE}×{MIN_TILE} tiles"):
        enc.encode(image_to_tensor(photo("coffee", 136)))


def test_errors_other_than_out_of_memory_are_not_retried(tiny_kl_dir):
    enc = tiny_vae_encoder(tiny_kl_dir)
    seen = []
    fail_above(enc.vae.encoder, 0, seen, exc=ValueError)
    with pytest.raises(ValueError, match="Tried to allocate"):
        enc.encode(image_to_tensor(photo("coffee", 64)))
    assert len(seen) == 1


@pytest.mark.parametrize(
    "exc, oom",
    [
        (torch.OutOfMemoryError("CUDA out of memory"), True),
        (MemoryError(), True),
        (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"), True),
        (RuntimeError("MPS backend out of memory"), True),
        (RuntimeError("mat1 and mat2 shapes cannot be multiplied"), False),
        (ValueError("out of memory"), False),
    ],
)
def test_is_out_of_memory(exc, oom):
    assert is_out_of_memory(exc) is oom


def test_memory_budget_and_chunks_on_cpu():
    assert 0 < memory_budget("cpu") <= 2 << 30
    assert chunk_elements_for("cpu") == DEFAULT_CHUNK_ELEMENTS


# --- chunked transport under memory pressure -------------------------------------------------------


def small_pipeline(**kwargs) -> DOTPipeline:
    enc = PixelEncoder(device="cpu")
    cal = Calibrator(enc, 3)
    cal.add_restored(bicubic_x4(photo("coffee", 64)))
    cal.add_clean(photo("chelsea", 64))
    return DOTPipeline(enc, cal.fit(), **kwargs)


def test_transport_out_of_memory_retries_with_smaller_chunks(monkeypatch):
    import dot_core.pipeline as pipeline

    pipe = small_pipeline()
    z = pipe.encode(photo("rocket", 96))
    expected = pipe.transport(z)
    chunks = []

    def limited(*args, max_chunk_elements, **kwargs):
        chunks.append(max_chunk_elements)
        if max_chunk_elements > 70_000:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 GB")
        return transport_latent(*args, max_chunk_elements=max_chunk_elements, **kwargs)

    monkeypatch.setattr(pipeline, "transport_latent", limited)
    torch.testing.assert_close(pipe.transport(z), expected)
    assert chunks[0] == DEFAULT_CHUNK_ELEMENTS and chunks[-1] <= 70_000 and chunks == sorted(chunks, reverse=True)


# --- latent cache --------------------------------------------------------------------------------


def counting(enc):
    """Wrap ``enc.encode`` to count its calls."""
    calls = []
    encode = enc.encode

    def counted(x, **kwargs):
        calls.append(tuple(x.shape))
        return encode(x, **kwargs)

    enc.encode = counted
    return calls


def calibrate(enc, patch, restored, clean, cache=None):
    cal = Calibrator(enc, patch, cache=cache)
    for img in restored:
        cal.add_restored(img)
    for img in clean:
        cal.add_clean(img)
    return cal.fit()


def test_recalibrating_with_another_patch_size_never_encodes():
    enc, cache = PixelEncoder(device="cpu"), LatentCache()
    calls = counting(enc)
    restored = [bicubic_x4(photo(n, 48)) for n in ("coffee", "rocket")]
    clean = [photo(n, 48) for n in ("chelsea", "astronaut")]
    calibrate(enc, 3, restored, clean, cache)
    assert len(calls) == 4
    calls.clear()
    second = calibrate(enc, 5, restored, clean, cache)
    assert calls == []  # every latent came from the cache
    plain = calibrate(PixelEncoder(device="cpu"), 5, restored, clean)
    torch.testing.assert_close(second.source.s2, plain.source.s2)
    torch.testing.assert_close(second.target.s1, plain.target.s1)
    assert cache.hits == 4 and cache.misses == 4


def test_reenhancing_or_switching_calibrations_never_reencodes():
    enc, cache = PixelEncoder(device="cpu"), LatentCache()
    calls = counting(enc)
    restored = [bicubic_x4(photo("coffee", 48))]
    cal3 = calibrate(enc, 3, restored, [photo("chelsea", 48)], cache)
    cal2 = calibrate(enc, 2, restored, [photo("chelsea", 48)], cache)
    calls.clear()
    img = bicubic_x4(photo("rocket", 40))
    first = DOTPipeline(enc, cal3, cache=cache).enhance(img)
    again = DOTPipeline(enc, cal3, cache=cache).enhance(img.copy())  # same content, new array
    other = DOTPipeline(enc, cal2, cache=cache).enhance(img)
    assert len(calls) == 1
    np.testing.assert_array_equal(first.transported, again.transported)
    assert other.transported.shape == img.shape


def test_cache_keys_on_content_and_latent_space(tiny_kl_dir):
    a = photo("coffee", 32)
    b = a.copy()
    b[0, 0, 0] += 1 / 255
    assert content_hash(a) == content_hash(a.copy()) != content_hash(b)
    assert content_hash(a) != content_hash(a.astype(np.float64))
    f32 = tiny_vae_encoder(tiny_kl_dir)
    bf16 = tiny_vae_encoder(tiny_kl_dir, dtype="bfloat16")
    assert latent_space_key(f32) != latent_space_key(bf16)
    assert latent_space_key(f32) != latent_space_key(PixelEncoder(device="cpu"))
    cache = LatentCache()
    cache.encode(f32, a)
    cache.encode(bf16, a)
    cache.encode(f32, b)
    assert cache.misses == 3 and cache.hits == 0


def test_cache_is_a_bounded_lru():
    enc = PixelEncoder(device="cpu")
    imgs = [photo("coffee", 16 + i) for i in range(3)]
    cache = LatentCache(max_items=2)
    for img in imgs:
        cache.encode(enc, img)
    assert len(cache) == 2
    cache.encode(enc, imgs[1])  # a hit, now the most recent
    cache.encode(enc, imgs[0])  # evicted before: a miss, evicts imgs[2]
    assert (cache.hits, cache.misses) == (1, 4)
    cache.encode(enc, imgs[1])
    assert cache.hits == 2
    one = 3 * 16 * 16 * 4
    small = LatentCache(max_bytes=one)
    small.encode(enc, imgs[0])
    small.encode(enc, imgs[1])  # 17² does not fit at all: not cached
    assert len(small) == 1 and small.nbytes == one
    small.clear()
    assert len(small) == 0 and small.nbytes == 0


@pytest.mark.parametrize("kwargs", [{"max_bytes": -1}, {"max_items": -2}, {"max_items": 1.5}])
def test_cache_refuses_bad_bounds(kwargs):
    with pytest.raises(ValueError, match="max_"):
        LatentCache(**kwargs)

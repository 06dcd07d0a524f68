"""TAESD-family folders in the original layout: tiny random weights built here in both variants
(with and without taef2's group-norm branch) and both file formats; refusals; real taef2 weights
(../shared/weights/taef2 or $DOT_TEST_WEIGHTS) for the slow round trip and calibrate/enhance."""

import argparse
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import bicubic_x4, jump_ratio, photo
from safetensors.torch import save_file

from dot_core import Calibrator, DOTPipeline, EncoderUnavailableError, TAESDEncoder, load_encoder
from dot_core.io.images import image_to_tensor
from dot_core.latents.taesd import TAEBlock, TAESDLayout, build_taesd
from dot_core.quality.metrics import psnr

ROOT = Path(__file__).resolve().parents[1]
REAL = Path(os.environ.get("DOT_TEST_WEIGHTS") or ROOT.parent / "shared" / "weights" / "taef2")
needs_real = pytest.mark.skipif(
    not (REAL / "taef2_encoder.safetensors").is_file(),
    reason=f"real taef2 weights not found in {REAL} (set DOT_TEST_WEIGHTS to a folder holding them)",
)


def save_half(state: dict, path: Path) -> None:
    state = {k: v.contiguous() for k, v in state.items()}
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)


def tiny_folder(folder: Path, *, pool: bool, ext: str, channels: int = 4, prefix: str = "tiny") -> Path:
    """A random TAESD-layout model (n = 8 channels; pool branch 8→16) saved as two weight files."""
    torch.manual_seed(1)
    encoder, decoder = build_taesd(TAESDLayout(channels, 8, 16 if pool else None))
    folder.mkdir(parents=True, exist_ok=True)
    save_half(encoder.state_dict(), folder / f"{prefix}_encoder{ext}")
    save_half(decoder.state_dict(), folder / f"{prefix}_decoder{ext}")
    return folder


@pytest.mark.parametrize("ext", [".safetensors", ".pth"])
@pytest.mark.parametrize("pool", [False, True])
def test_taesd_folder_loads_in_both_variants_and_formats(tmp_path, pool, ext):
    folder = tiny_folder(tmp_path / "m", pool=pool, ext=ext, channels=32 if pool else 4)
    enc = load_encoder(str(folder), device="cpu")
    assert isinstance(enc, TAESDEncoder)
    assert (enc.channels, enc.factor, enc.describe()["pool_branch"]) == (32 if pool else 4, 8, pool)
    assert enc.default_color_fix == "wavelet"
    img = photo("astronaut", 64)[:37, :50]
    x = image_to_tensor(img)
    z = enc.encode(x)
    assert z.shape == (1, enc.channels, 5, 7)
    # the TAESD convention: RGB in [0, 1] in, raw latents out, output in [0, 1]
    padded = F.pad(x, (0, 6, 0, 3), mode="replicate")
    torch.testing.assert_close(z, enc.encoder_net((padded + 1) / 2))
    y = enc.decode(z, (37, 50))
    assert y.shape == (1, 3, 37, 50)
    torch.testing.assert_close(y, (enc.decoder_net(z) * 2 - 1).clamp(-1, 1)[..., :37, :50])
    blocks = [m for m in enc.encoder_net.modules() if isinstance(m, TAEBlock)]
    assert sum(b.pool is not None for b in blocks) == (3 if pool else 0)


def test_block_with_pool_branch_computes_the_documented_formula():
    """x ← x + conv1x1(relu(groupnorm₄(conv1x1(x)))), then relu(conv(relu(conv(relu(conv(x))))) + x)."""
    torch.manual_seed(0)
    block = TAEBlock(8, 16)
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.3)
    x = torch.randn(1, 8, 6, 5)
    p = block.pool
    h = F.conv2d(x, p[0].weight)
    h = F.group_norm(h, 4, p[1].weight, p[1].bias)
    x1 = x + F.conv2d(F.relu(h), p[3].weight)
    c = block.conv
    y = F.conv2d(x1, c[0].weight, c[0].bias, padding=1)
    y = F.conv2d(F.relu(y), c[2].weight, c[2].bias, padding=1)
    y = F.conv2d(F.relu(y), c[4].weight, c[4].bias, padding=1)
    torch.testing.assert_close(block(x), F.relu(y + x1))


def test_folder_with_several_models_is_refused_and_one_is_picked_by_prefix(tmp_path):
    tiny_folder(tmp_path, pool=False, ext=".pth", prefix="taesd")
    tiny_folder(tmp_path, pool=True, ext=".safetensors", channels=16, prefix="taesd3")
    with pytest.raises(EncoderUnavailableError, match="several TAESD-family models.*taesd3"):
        load_encoder(str(tmp_path))
    assert load_encoder(str(tmp_path / "taesd3"), device="cpu").channels == 16
    assert load_encoder(str(tmp_path / "taesd"), device="cpu").channels == 4


def test_safetensors_is_preferred_over_pth_of_the_same_model(tmp_path):
    tiny_folder(tmp_path, pool=False, ext=".safetensors", channels=4)
    tiny_folder(tmp_path, pool=False, ext=".pth", channels=16)  # same prefix, other files
    assert load_encoder(str(tmp_path), device="cpu").channels == 4


def test_missing_half_is_refused(tmp_path):
    tiny_folder(tmp_path, pool=True, ext=".safetensors")
    (tmp_path / "tiny_decoder.safetensors").unlink()
    with pytest.raises(EncoderUnavailableError, match="no tiny_decoder.safetensors or .pth.*both halves"):
        load_encoder(str(tmp_path))


def test_unknown_keys_are_refused(tmp_path):
    from safetensors.torch import load_file

    tiny_folder(tmp_path, pool=False, ext=".safetensors")
    state = load_file(str(tmp_path / "tiny_decoder.safetensors"))
    state["20.weight"] = torch.zeros(3, 3, 3, 3)
    save_file(state, str(tmp_path / "tiny_decoder.safetensors"))
    with pytest.raises(EncoderUnavailableError, match=r"does not match the TAESD layout.*unknown: 20\.weight"):
        load_encoder(str(tmp_path))


def test_a_pool_branch_in_one_block_only_is_refused(tmp_path):
    from safetensors.torch import load_file

    tiny_folder(tmp_path, pool=True, ext=".safetensors")
    state = load_file(str(tmp_path / "tiny_encoder.safetensors"))
    for k in [k for k in state if k.startswith("12.pool.")]:
        del state[k]
    save_file(state, str(tmp_path / "tiny_encoder.safetensors"))
    with pytest.raises(EncoderUnavailableError, match=r"missing: 12\.pool"):
        load_encoder(str(tmp_path))


def test_wrong_shapes_are_refused(tmp_path):
    from safetensors.torch import load_file

    tiny_folder(tmp_path, pool=False, ext=".safetensors")
    state = load_file(str(tmp_path / "tiny_encoder.safetensors"))
    state["3.conv.2.weight"] = torch.zeros(8, 8, 5, 5)
    save_file(state, str(tmp_path / "tiny_encoder.safetensors"))
    with pytest.raises(EncoderUnavailableError, match=r"wrong shape: 3\.conv\.2\.weight"):
        load_encoder(str(tmp_path))


def test_halves_of_different_models_are_refused(tmp_path):
    tiny_folder(tmp_path / "a", pool=False, ext=".pth", channels=4)
    tiny_folder(tmp_path / "b", pool=False, ext=".pth", channels=16)
    (tmp_path / "b" / "tiny_decoder.pth").rename(tmp_path / "a" / "tiny_decoder.pth")
    with pytest.raises(EncoderUnavailableError, match="makes 4-channel latents but the decoder .* reads 16"):
        load_encoder(str(tmp_path / "a"))


def test_pth_needing_a_full_unpickle_is_refused(tmp_path):
    tiny_folder(tmp_path, pool=False, ext=".pth")
    state = torch.load(tmp_path / "tiny_encoder.pth", weights_only=True)
    torch.save({**state, "config": argparse.Namespace(channels=4)}, tmp_path / "tiny_encoder.pth")
    with pytest.raises(EncoderUnavailableError, match="full unpickle.*refused"):
        load_encoder(str(tmp_path))


@pytest.mark.parametrize("content", [[torch.zeros(2)], b"not a checkpoint"])
def test_files_that_are_not_state_dicts_are_refused(tmp_path, content):
    tiny_folder(tmp_path, pool=False, ext=".pth")
    if isinstance(content, bytes):
        (tmp_path / "tiny_encoder.pth").write_bytes(content)
    else:
        torch.save(content, tmp_path / "tiny_encoder.pth")
    with pytest.raises(EncoderUnavailableError, match="tiny_encoder.pth"):
        load_encoder(str(tmp_path))


def test_folder_with_no_weights_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here")
    with pytest.raises(EncoderUnavailableError, match="neither a diffusers VAE .* nor TAESD-family weights"):
        load_encoder(str(tmp_path))


# ---- real taef2 weights ------------------------------------------------------------------------


@pytest.mark.slow
@needs_real
def test_taef2_round_trip_keeps_a_photo():
    enc = load_encoder(str(REAL), device="cpu")
    assert (enc.channels, enc.factor, enc.describe()["pool_branch"]) == (32, 8, True)
    img = photo("astronaut", 192)
    z = enc.encode(image_to_tensor(img))
    assert z.shape == (1, 32, 24, 24) and 0.3 < z.std() < 3  # raw latents, about unit scale
    y = enc.decode(z, img.shape[:2])[0].permute(1, 2, 0).numpy() / 2 + 0.5
    assert psnr(y, img) > 27  # 31.2 dB on the whole 512² photo
    yt = enc.decode(enc.encode(image_to_tensor(img), tile_size=128), img.shape[:2], tile_size=128)
    assert psnr(yt[0].permute(1, 2, 0).numpy() / 2 + 0.5, y) > 30  # tiles blend to about the same image


@pytest.mark.slow
@needs_real
def test_taef2_calibrate_and_enhance_with_colour_fix():
    enc = load_encoder(str(REAL), device="cpu")
    cal = Calibrator(enc, 1)
    for name in ("rocket", "coffee"):
        cal.add_restored(bicubic_x4(photo(name, 128)))
    for name in ("chelsea", "immunohistochemistry"):
        cal.add_clean(photo(name, 128))
    pipe = DOTPipeline(enc, cal.fit())
    assert pipe.color_fix == "wavelet"
    img = bicubic_x4(photo("astronaut", 96))
    out = pipe.enhance(img)
    assert out.transported.shape == img.shape and np.isfinite(out.transported).all()
    assert out.provenance["color_fix"] == "wavelet" and out.provenance["encoder"]["pool_branch"] is True


def test_tiled_runs_blend_to_about_the_untiled_result_without_seams(tmp_path):
    """128² tiles over a 200² image (2×2 overlapping tiles) against one piece; the shared test
    of the tiny random model: close, and no jump at the tile borders."""
    enc = load_encoder(str(tiny_folder(tmp_path, pool=True, ext=".safetensors")), device="cpu")
    x = image_to_tensor(photo("coffee", 200))
    z, zt = enc.encode(x, tile_size=None), enc.encode(x, tile_size=128)
    assert zt.shape == z.shape == (1, 4, 25, 25)
    assert (zt - z).abs().mean() < 0.2 * z.abs().mean()
    y, yt = enc.decode(z, (200, 200), tile_size=None), enc.decode(z, (200, 200), tile_size=128)
    assert yt.shape == y.shape and (yt - y).abs().mean() < 0.2 * y.abs().mean()  # random pool weights: loose
    assert jump_ratio(yt) < 1.25 * jump_ratio(y)  # blended: no jump where the tiles meet
    assert enc.tile_size_for(200, 200) is None
    enc.budget_bytes = 1  # memory short: the smallest tiles are planned, and used
    assert enc.tile_size_for(200, 200) == 128
    torch.testing.assert_close(enc.encode(x), zt)
    with pytest.raises(ValueError, match="tile_size"):
        enc.encode(x, tile_size=100)


def test_out_of_memory_untiled_retries_in_tiles(tmp_path):
    enc = load_encoder(str(tiny_folder(tmp_path, pool=False, ext=".pth")), device="cpu")
    forward, seen = enc.encoder_net.forward, []

    def limited(x):
        seen.append(x.shape[-1])
        if x.shape[-1] > 128:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return forward(x)

    enc.encoder_net.forward = limited
    z = enc.encode(image_to_tensor(photo("rocket", 256)))
    assert z.shape == (1, 4, 32, 32) and seen[0] == 256 and max(seen[1:]) <= 128
    with pytest.raises(MemoryError, match="in 192×192 tiles"):
        enc.encode(image_to_tensor(photo("rocket", 256)), tile_size=192)  # explicit: no retry

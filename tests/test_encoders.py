"""Encoders: pixel identity, tiny random diffusers VAEs loaded by path, sizes, dtypes, errors."""

import json

import numpy as np
import pytest
import torch
from conftest import photo

import dot_core.latents.hub
from dot_core import Calibrator, DOTPipeline, EncoderUnavailableError, load_encoder
from dot_core.io.images import image_to_tensor
from dot_core.latents import vae_loading
from dot_core.latents.base import resolve_device, resolve_dtype
from dot_core.latents.diffusers_vae import DiffusersVAEEncoder


def test_pixel_encoder_is_identity():
    enc = load_encoder("pixel")
    x = image_to_tensor(photo("coffee", 33))
    z = enc.encode(x)
    assert z.shape == (1, 3, 33, 33)
    torch.testing.assert_close(enc.decode(z, (33, 33)), x)


def test_load_encoder_is_cached():
    assert load_encoder("pixel") is load_encoder("pixel")


@pytest.mark.parametrize("kind", ["kl", "taesd"])
@pytest.mark.parametrize("size", [(32, 32), (37, 50), (17, 9)])
def test_diffusers_vae_loaded_by_path_keeps_odd_sizes(kind, size, tiny_kl_dir, tiny_taesd_dir):
    path = tiny_kl_dir if kind == "kl" else tiny_taesd_dir
    enc = load_encoder(str(path))
    assert isinstance(enc, DiffusersVAEEncoder)
    assert enc.kind == ("AutoencoderKL" if kind == "kl" else "AutoencoderTiny")
    assert (enc.channels, enc.factor) == (4, 2)
    H, W = size
    z = enc.encode(image_to_tensor(photo("astronaut", 64)[:H, :W]))
    assert z.shape == (1, 4, -(-H // 2), -(-W // 2))
    assert enc.decode(z, (H, W)).shape == (1, 3, H, W)


def test_vae_posterior_mean_is_deterministic(tiny_kl_dir):
    """The latent is the posterior's mean, not a sample of it."""
    enc = load_encoder(str(tiny_kl_dir))
    x = image_to_tensor(photo("chelsea", 32))
    with torch.no_grad():
        dist = enc.vae.encode(x).latent_dist
    assert (dist.std > 1e-3).all()  # a sample would differ from the mean
    torch.testing.assert_close(enc.encode(x), dist.mean)
    sampled = DiffusersVAEEncoder(enc.vae, name="t", sample_posterior=True).encode(x)
    assert (sampled - dist.mean).abs().max() > 1e-3


def test_vae_pipeline_end_to_end_with_tiny_kl(tiny_kl_dir):
    enc = load_encoder(str(tiny_kl_dir))
    cal = Calibrator(enc, 2)
    cal.add_restored(photo("coffee", 48))
    cal.add_clean(photo("chelsea", 48))
    pipe = DOTPipeline(enc, cal.fit())
    img = photo("rocket", 45)
    res = pipe.enhance(img)
    assert res.transported.shape == img.shape and np.isfinite(res.transported).all()
    np.testing.assert_array_equal(pipe.blend(res, 1.0), img)
    assert pipe.roundtrip(img).shape == img.shape
    assert pipe.blend(res, 0.3, space="latent").shape == img.shape


def test_vae_bfloat16_runs_and_stays_close(tiny_kl_dir):
    from diffusers import AutoencoderKL

    x = image_to_tensor(photo("coffee", 32))
    z32 = DiffusersVAEEncoder(AutoencoderKL.from_pretrained(tiny_kl_dir), name="t").encode(x)
    z16 = DiffusersVAEEncoder(AutoencoderKL.from_pretrained(tiny_kl_dir), name="t", dtype="bfloat16").encode(x)
    assert z16.dtype == torch.float32
    assert (z16 - z32).abs().max() < 0.1 * z32.abs().max()


def test_unknown_encoder_name_is_a_clear_error():
    with pytest.raises(EncoderUnavailableError, match="unknown latent space"):
        load_encoder("not-a-latent-space")


def test_hub_encoder_offline_names_the_encoder_and_how_to_provide_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(EncoderUnavailableError) as info:
        load_encoder("taesd")
    msg = str(info.value)
    assert "taesd" in msg and "madebyollin/taesd" in msg and "local folder" in msg


@pytest.mark.parametrize("error", [ConnectionResetError("connection reset by peer"),
                                   OSError("Consistency check failed: file should be of size 334643268 but has "
                                           "size 1048576 (diffusion_pytorch_model.safetensors)"),
                                   TimeoutError("read timed out")])
def test_interrupted_download_is_an_encoder_unavailable_error(monkeypatch, error):
    """A download cut off half-way (reset, truncated file, time-out): one clear error, never a crash,
    and nothing cached, so the next attempt tries again."""
    from diffusers import AutoencoderKL

    calls = []

    def broken(*args, **kwargs):
        calls.append(args)
        raise error

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(vae_loading, "hub_reachable", lambda: True)  # the Hub answered; the download broke
    monkeypatch.setattr(AutoencoderKL, "from_pretrained", broken)
    for _ in range(2):
        with pytest.raises(EncoderUnavailableError) as info:
            load_encoder("sd-vae-ft-mse", device="cpu")
        msg = str(info.value)
        assert "sd-vae-ft-mse" in msg and "stabilityai/sd-vae-ft-mse" in msg and type(error).__name__ in msg
    assert len(calls) == 2


@pytest.mark.parametrize("offline", ["1", "0"])
def test_unreachable_hub_fails_fast_from_the_local_cache_only(monkeypatch, offline):
    """HF_HUB_OFFLINE set, or a probe that got no answer: only the local cache is tried, no retries."""
    from diffusers import AutoencoderTiny

    asked = []

    def cache_only(repo, **kwargs):
        asked.append(kwargs.get("local_files_only"))
        raise OSError(f"{repo} is not in the local cache")

    monkeypatch.setenv("HF_HUB_OFFLINE", offline)
    monkeypatch.setattr(dot_core.latents.hub, "_probe_hub", lambda host, port: False)
    monkeypatch.setattr(AutoencoderTiny, "from_pretrained", cache_only)
    with pytest.raises(EncoderUnavailableError) as info:
        load_encoder("taesd", device="cpu")
    assert asked == [True]
    msg = str(info.value)
    assert ("HF_HUB_OFFLINE is set" if offline == "1" else "did not answer") in msg
    assert "hf download madebyollin/taesd" in msg and "TAESD-family folder" in msg


def test_folder_without_vae_config_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "UNet2DModel"}))
    with pytest.raises(EncoderUnavailableError, match="not a diffusers AutoencoderKL"):
        load_encoder(str(tmp_path))


def test_folder_with_broken_config_is_refused(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(EncoderUnavailableError, match="not valid JSON"):
        load_encoder(str(tmp_path))


def test_resolve_device_and_dtype():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device(None).type in ("cpu", "cuda", "mps")
    assert resolve_dtype("bfloat16") is torch.bfloat16
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype("int8")


def test_encode_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"\(1, 3, H, W\)"):
        load_encoder("pixel").encode(torch.zeros(3, 8, 8))

"""Colour fix of x̂0 (none | wavelet | adain): its properties, the pipeline option, provenance in
outputs, and the CLI's --color-fix."""

import numpy as np
import pytest
import torch
from conftest import bicubic_x4, photo
from scipy.ndimage import gaussian_filter

from dot_core import Calibrator, DOTPipeline, PixelEncoder, TransportConfig, load_encoder
from dot_core.cli import main
from dot_core.colorfix import WAVELET_SIGMA, adain_color_fix, apply_color_fix, resolve_color_fix, wavelet_color_fix
from dot_core.io.images import load_image, save_image
from dot_core.io.png import read_png_provenance


def low_pass(img: np.ndarray) -> np.ndarray:
    """An independent Gaussian low-pass (scipy), border replicated like dot_core.latents.detail.gaussian_blur."""
    return np.stack([gaussian_filter(img[..., c].astype(np.float64), WAVELET_SIGMA, mode="nearest", truncate=3.0)
                     for c in range(3)], axis=-1)


@pytest.fixture(scope="module")
def pair():
    """x* (a restoration) and an x̂0 with a colour cast and other texture."""
    x_star = bicubic_x4(photo("coffee", 64))
    rng = np.random.default_rng(0)
    x0 = np.clip(photo("coffee", 64) * [0.8, 1.1, 0.9] + [0.1, -0.05, 0.02] + rng.normal(0, 0.03, x_star.shape), 0, 1)
    return x_star, x0.astype(np.float32)


def test_wavelet_keeps_the_low_pass_of_x_star_and_the_high_pass_of_x0(pair):
    x_star, x0 = pair
    out = wavelet_color_fix(x0, x_star)
    np.testing.assert_allclose(out, low_pass(x_star) + (x0 - low_pass(x0)), atol=2e-5)
    assert np.abs(out - x0).max() > 0.05  # the cast was there to remove


def test_wavelet_removes_any_constant_cast_exactly(pair):
    x_star, x0 = pair
    cast = np.array([0.2, -0.1, 0.05], dtype=np.float32)
    np.testing.assert_allclose(wavelet_color_fix(x0 + cast, x_star), wavelet_color_fix(x0, x_star), atol=1e-5)
    np.testing.assert_allclose(wavelet_color_fix(x_star, x_star), x_star, atol=1e-5)


def test_adain_takes_the_per_channel_mean_and_spread_of_x_star(pair):
    x_star, x0 = pair
    out = adain_color_fix(x0, x_star).astype(np.float64)
    ref = x_star.astype(np.float64)
    np.testing.assert_allclose(out.mean(axis=(0, 1)), ref.mean(axis=(0, 1)), atol=1e-6)
    np.testing.assert_allclose(out.std(axis=(0, 1)), ref.std(axis=(0, 1)), rtol=1e-5)
    flat = np.full_like(x0, 0.3)  # a flat channel cannot be scaled: only shifted
    np.testing.assert_allclose(adain_color_fix(flat, x_star).mean(axis=(0, 1), dtype=np.float64),
                               ref.mean(axis=(0, 1)), atol=1e-6)


def test_apply_color_fix_clips_and_refuses_bad_input(pair):
    x_star, x0 = pair
    np.testing.assert_array_equal(apply_color_fix("none", x0, x_star), x0)
    for method in ("wavelet", "adain"):
        out = apply_color_fix(method, x0, x_star)
        assert out.dtype == np.float32 and out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError, match="color_fix must be one of"):
        apply_color_fix("lab", x0, x_star)
    with pytest.raises(ValueError, match="one shape"):
        apply_color_fix("wavelet", x0[:10], x_star)


def test_auto_is_wavelet_for_learned_latents_and_none_for_weight_free(tiny_kl_dir):
    assert resolve_color_fix("auto", load_encoder("detail")) == "none"
    assert resolve_color_fix("auto", load_encoder("pixel")) == "none"
    assert resolve_color_fix("auto", load_encoder(str(tiny_kl_dir))) == "wavelet"
    assert resolve_color_fix("adain", load_encoder("pixel")) == "adain"
    with pytest.raises(ValueError, match="color_fix"):
        TransportConfig(color_fix="wavelets")


def pixel_pipeline(color_fix: str) -> DOTPipeline:
    enc = PixelEncoder(device="cpu")
    cal = Calibrator(enc, 3)
    cal.add_restored(bicubic_x4(photo("coffee", 64)))
    cal.add_clean(photo("chelsea", 64))
    return DOTPipeline(enc, cal.fit(), config=TransportConfig(color_fix=color_fix))


def test_pipeline_applies_the_fix_to_x0_before_eq4_and_records_it():
    img = bicubic_x4(photo("rocket", 48))
    plain = pixel_pipeline("auto").enhance(img)
    fixed_pipe = pixel_pipeline("wavelet")
    fixed = fixed_pipe.enhance(img)
    assert plain.provenance["color_fix"] == "none" and fixed.provenance["color_fix"] == "wavelet"
    np.testing.assert_allclose(fixed.transported, apply_color_fix("wavelet", plain.transported, img), atol=1e-6)
    torch.testing.assert_close(fixed.latent_transported, plain.latent_transported)
    np.testing.assert_array_equal(fixed_pipe.blend(fixed, 1.0), img)  # α = 1 is still the restoration
    np.testing.assert_allclose(fixed_pipe.blend(fixed, 0.5), np.clip(0.5 * img + 0.5 * fixed.transported, 0, 1), atol=1e-6)
    latent = fixed_pipe.blend(fixed, 0.0, space="latent")
    np.testing.assert_allclose(latent, fixed.transported, atol=1e-5)
    assert fixed.provenance["encoder"]["encoder"] == "pixel" and fixed.provenance["calibration"]["patch_size"] == 3


@pytest.fixture(scope="module")
def cli_calibration(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli_colour")
    save_image(base / "restored" / "coffee.png", bicubic_x4(photo("coffee", 64)))
    save_image(base / "clean" / "chelsea.png", photo("chelsea", 64))
    save_image(base / "in" / "rocket.png", bicubic_x4(photo("rocket", 48)))
    code = main(["calibrate", "--restored", str(base / "restored"), "--clean", str(base / "clean"),
                 "--encoder", "pixel", "--patch-size", "3", "--out", str(base / "cal.safetensors")])
    assert code == 0
    return base


@pytest.mark.parametrize("flag, recorded", [([], "none"), (["--color-fix", "adain"], "adain"),
                                            (["--color-fix", "wavelet"], "wavelet"), (["--color-fix", "none"], "none")])
def test_cli_color_fix_is_applied_and_recorded_in_the_png(cli_calibration, tmp_path, flag, recorded):
    base = cli_calibration
    code = main(["enhance", "--calibration", str(base / "cal.safetensors"), "--alpha", "0", *flag,
                 str(base / "in" / "rocket.png"), "--out", str(tmp_path)])
    assert code == 0
    prov = read_png_provenance(tmp_path / "rocket.png")
    assert prov["color_fix"] == recorded and prov["alpha"] == 0 and prov["space"] == "pixel"
    x_star = load_image(base / "in" / "rocket.png")
    plain = pixel_pipeline("none").enhance(x_star).transported
    want = apply_color_fix(recorded, plain, x_star)
    assert np.abs(load_image(tmp_path / "rocket.png") - want).max() <= 1 / 255 + 1e-6


def test_cli_refuses_an_unknown_color_fix(cli_calibration, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["enhance", "--calibration", str(cli_calibration / "cal.safetensors"), "--color-fix", "auto",
              str(cli_calibration / "in"), "--out", str(tmp_path)])
    assert info.value.code == 2 and "--color-fix" in capsys.readouterr().err


def test_remove_lattice_replaces_exactly_the_lattice_frequencies(pair):
    from dot_core.colorfix import lattice_mask, remove_lattice

    x_star, x0 = pair  # 64 × 64
    yy, xx = np.mgrid[:64, :64]
    grid = 0.05 * ((yy % 8 == 0) | (xx % 8 == 0))[..., None]  # an 8-pixel grid, as a ×8 decoder prints
    printed = x0 + grid
    out = remove_lattice(printed, x_star, 8)
    mask = lattice_mask(64, 64, 8).numpy()
    spec = lambda a: np.fft.fft2(a.astype(np.float64), axes=(0, 1))  # noqa: E731
    np.testing.assert_allclose(spec(out - x_star)[mask], 0, atol=1e-3)  # x*'s content on the lattice
    np.testing.assert_allclose(spec(out - printed)[~mask], 0, atol=1e-3)  # everything else as it was
    # the grid lives on the lattice frequencies and the mean: all of it but its mean is gone
    np.testing.assert_allclose(out - remove_lattice(x0, x_star, 8), np.full_like(x0, grid.mean()), atol=1e-5)
    assert mask.sum() == 8 * 3 * 8 * 3 - 9


def test_lattice_band_mask_holds_the_lattice_bins_and_a_band_around_them_only():
    from dot_core.colorfix import RESTORATION_LATTICE_BAND, lattice_band_mask, lattice_mask

    H, W, p, band = 300, 451, 4, RESTORATION_LATTICE_BAND  # sides p does not divide
    mask = lattice_band_mask(H, W, p, band).numpy()
    assert (mask | lattice_mask(H, W, p).numpy()).sum() == mask.sum()  # the ±1 bins are in it
    fy, fx = np.fft.fftfreq(H)[:, None], np.fft.fftfreq(W)[None, :]
    dist = lambda f: np.abs(f - np.round(f * p) / p)  # noqa: E731  cycles/pixel to the nearest k/p
    assert (dist(fy) + 0 * fx)[mask].max() <= band + 1.5 / H and (dist(fx) + 0 * fy)[mask].max() <= band + 1.5 / W
    assert not mask[np.hypot(fy + 0 * fx, fx + 0 * fy) <= band].any()  # never the band around the mean
    share = mask.mean()
    assert 0.01 < share < 0.02  # (p² − 1) squares of side 2·band: about 1.5 % of the spectrum
    with pytest.raises(ValueError, match="band"):
        lattice_band_mask(64, 64, 4, 0.2)


def test_remove_lattice_with_a_band_removes_a_content_modulated_grid(pair):
    from dot_core.colorfix import RESTORATION_LATTICE_BAND, lattice_band_mask, remove_lattice
    from dot_core.quality.lattice import lattice_energy

    x_star, x0 = pair
    x_star, x0 = np.tile(x_star, (3, 3, 1)), np.tile(x0, (3, 3, 1))  # 192 × 192
    yy, xx = np.mgrid[:192, :192]
    # a restorer's residue, amplified by transport: a 4-pixel pattern whose strength follows the content
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * yy / 96) * np.cos(2 * np.pi * xx / 64)
    grid = (0.04 * envelope * np.cos(np.pi * xx / 2) * np.cos(np.pi * yy / 2))[..., None]
    printed = (x0 + grid).astype(np.float32)
    exact = remove_lattice(printed, x_star, 4)
    banded = remove_lattice(printed, x_star, 4, band=RESTORATION_LATTICE_BAND)
    clean = remove_lattice(x0, x_star, 4, band=RESTORATION_LATTICE_BAND)
    # the exact bins miss the grid's modulation sidebands; the band takes all of it
    assert np.abs(exact - remove_lattice(x0, x_star, 4)).max() > 0.01
    np.testing.assert_allclose(banded, clean, atol=2e-3)
    assert lattice_energy(banded, period=4) < 0.5 * lattice_energy(exact, period=4)
    mask = lattice_band_mask(192, 192, 4, RESTORATION_LATTICE_BAND).numpy()
    spec = lambda a: np.fft.fft2(a.astype(np.float64), axes=(0, 1))  # noqa: E731
    np.testing.assert_allclose(spec(banded - printed)[~mask], 0, atol=1e-2)  # every other frequency kept


def test_a_calibrations_restorer_lattice_keeps_x_stars_content_there_at_every_alpha():
    from dot_core.colorfix import RESTORATION_LATTICE_BAND, lattice_band_mask

    enc = load_encoder("detail")
    cals = {}
    for period in (None, 4):
        cal = Calibrator(enc, 5, restoration_lattice=period)
        cal.add_restored(bicubic_x4(photo("coffee", 96)))
        cal.add_clean(photo("chelsea", 96))
        cals[period] = cal.fit()
    assert cals[4].restoration_lattice == 4 and cals[None].restoration_lattice is None
    assert "restorer's lattice: 4 px" in cals[4].summary()
    img = bicubic_x4(photo("rocket", 96))
    plain = TransportConfig(degrid=False)  # the same transport of x* on both sides (degridding: tests/test_degrid.py)
    on = DOTPipeline(enc, cals[4], config=plain).enhance(img)
    off = DOTPipeline(enc, cals[None], config=plain).enhance(img)
    assert (on.provenance["restoration_lattice"], off.provenance["restoration_lattice"]) == (4, None)
    mask = lattice_band_mask(96, 96, 4, RESTORATION_LATTICE_BAND).numpy()
    spec = lambda a: np.fft.fft2(a.astype(np.float64), axes=(0, 1))  # noqa: E731
    # x̂0 − x* has nothing in the band (so neither has x̂α − x* = (1 − α)(x̂0 − x*), whatever α) ...
    np.testing.assert_allclose(spec(on.transported - img)[mask], 0, atol=1e-4)
    assert np.abs(spec(off.transported - img)[mask]).max() > 0.5  # ... where transport alone changes it
    # ... and every other frequency is the same transport
    np.testing.assert_allclose(spec(on.transported - off.transported)[~mask], 0, atol=1e-4)
    # the default (the transport works on a degridded copy) keeps x*'s content in the band too
    degridded = DOTPipeline(enc, cals[4]).enhance(img)
    assert degridded.provenance["degrid"] == 4
    np.testing.assert_allclose(spec(degridded.transported - img)[mask], 0, atol=1e-4)


def test_lattice_fix_is_opt_in_for_learned_decoders_and_recorded(tiny_kl_dir):
    from dot_core.colorfix import resolve_lattice_fix

    kl = load_encoder(str(tiny_kl_dir))
    assert resolve_lattice_fix(True, kl) == 2 and resolve_lattice_fix(False, kl) is None
    assert resolve_lattice_fix(True, load_encoder("detail")) is None
    assert resolve_lattice_fix(True, load_encoder("pixel")) is None  # f = 1: no lattice to remove
    with pytest.raises(ValueError, match="lattice_fix"):
        TransportConfig(lattice_fix="yes")
    cal = Calibrator(kl, 2)
    cal.add_restored(bicubic_x4(photo("coffee", 48)))
    cal.add_clean(photo("chelsea", 48))
    img = bicubic_x4(photo("rocket", 40))
    on = DOTPipeline(kl, cal.fit(), config=TransportConfig(lattice_fix=True)).enhance(img)
    off = DOTPipeline(kl, cal.fit()).enhance(img)  # the default: off
    assert (on.provenance["lattice_fix"], off.provenance["lattice_fix"]) == (2, None)
    assert on.provenance["color_fix"] == off.provenance["color_fix"] == "wavelet"
    from dot_core.colorfix import remove_lattice

    np.testing.assert_allclose(on.transported, np.clip(remove_lattice(off.transported, img, 2), 0, 1), atol=1e-6)


@pytest.mark.parametrize("bits", [8, 16])
def test_provenance_chunk_keeps_the_png_readable_and_the_pixels(tmp_path, bits):
    from dot_core.io.png import write_png_provenance

    img = photo("coffee", 24)
    path = save_image(tmp_path / "x.png", img, bits=bits)
    before = load_image(path)
    assert read_png_provenance(path) is None
    write_png_provenance(path, {"color_fix": "wavelet", "alpha": 0.5, "note": "σ ≠ ascii"})
    assert read_png_provenance(path) == {"color_fix": "wavelet", "alpha": 0.5, "note": "σ ≠ ascii"}
    np.testing.assert_array_equal(load_image(path), before)
    (tmp_path / "y.png").write_bytes(b"GIF89a not a png")
    with pytest.raises(ValueError, match="not a PNG"):
        write_png_provenance(tmp_path / "y.png", {})

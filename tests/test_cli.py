"""The command line end to end on bundled photographs, and each class of bad input."""

import argparse
import platform
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import bicubic_x4, photo

import dot_core
from dot_core.cli import build_parser, main
from dot_core.imageio import load_image, save_image

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    base = tmp_path_factory.mktemp("cli")
    restored, clean, test = base / "restored", base / "clean", base / "test"
    for name in ("astronaut", "coffee"):
        save_image(restored / f"{name}.png", bicubic_x4(photo(name, 96)))
    for name in ("chelsea", "rocket"):
        save_image(clean / f"{name}.png", photo(name, 96))
    save_image(test / "motorcycle.png", bicubic_x4(photo("immunohistochemistry", 80)))
    save_image(test / "cat.png", bicubic_x4(photo("chelsea", 72)))
    cal = base / "cal.safetensors"
    code = main(["calibrate", "--restored", str(restored), "--clean", str(clean), "--encoder", "pixel",
                 "--patch-size", "3", "--out", str(cal)])
    assert code == 0
    return {"base": base, "restored": restored, "clean": clean, "test": test, "cal": cal}


def run_module(*args):
    return subprocess.run([sys.executable, "-m", "dot_core", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_calibrate_prints_w2_and_counts(folders, tmp_path):
    out = run_module("calibrate", "--restored", str(folders["restored"]), "--clean", str(folders["clean"]),
                     "--encoder", "pixel", "--patch-size", "3", "--out", str(tmp_path / "c.safetensors"))
    assert out.returncode == 0, out.stderr
    assert "W2 (Gelbrich, not squared)" in out.stdout
    assert "restored: 2 images, 17,672 patches" in out.stdout  # 2 × 94²
    assert (tmp_path / "c.safetensors").is_file()


def test_enhance_writes_one_png_per_input(folders, tmp_path):
    code = main(["enhance", "--calibration", str(folders["cal"]), "--alpha", "0", str(folders["test"]), "--out", str(tmp_path)])
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.png", "motorcycle.png"]
    assert load_image(tmp_path / "cat.png").shape == (72, 72, 3)


def test_enhance_several_alphas_name_outputs_and_alpha_one_is_the_input(folders, tmp_path):
    src = folders["test"] / "cat.png"
    code = main(["enhance", "--calibration", str(folders["cal"]), "--alpha", "1", "--alpha", "0.5,-1", str(src), "--out", str(tmp_path)])
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat_alpha-1.png", "cat_alpha0.5.png", "cat_alpha1.png"]
    np.testing.assert_array_equal(load_image(tmp_path / "cat_alpha1.png"), load_image(src))
    assert not np.array_equal(load_image(tmp_path / "cat_alpha0.5.png"), load_image(src))


def test_one_bad_file_in_a_batch_does_not_lose_the_good_ones(folders, tmp_path, capsys):
    batch = tmp_path / "in"
    batch.mkdir()
    (batch / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    save_image(batch / "good.png", bicubic_x4(photo("coffee", 40)))
    code = main(["enhance", "--calibration", str(folders["cal"]), str(batch), "--out", str(tmp_path / "out")])
    assert code == 1
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["good.png"]
    assert "broken.png" in capsys.readouterr().err


def test_bad_input_exits_nonzero_with_one_line_and_no_traceback(folders, tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a calibration")
    out = run_module("enhance", "--calibration", str(garbage), str(folders["test"]), "--out", str(tmp_path))
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().count("\n") == 0 and "garbage.safetensors" in out.stderr


@pytest.mark.parametrize(
    "argv, match",
    [
        (["enhance", "--calibration", "{missing}", "{test}", "--out", "{tmp}"], "no such calibration file"),
        (["enhance", "--calibration", "{cal}", "{tmp}/nothing-here", "--out", "{tmp}"], "nothing-here"),
        (["enhance", "--calibration", "{cal}", "--alpha", "x", "{test}", "--out", "{tmp}"], "--alpha expects numbers"),
        (["enhance", "--calibration", "{cal}", "--alpha", "nan", "{test}", "--out", "{tmp}"], "finite"),
        (["enhance", "--calibration", "{cal}", "--encoder", "{kl}", "{test}", "--out", "{tmp}"], "calibrate again"),
        (["calibrate", "--restored", "{restored}", "--clean", "{clean}", "--encoder", "nope", "--out", "{tmp}/c.st"], "unknown latent space"),
        (["calibrate", "--restored", "{restored}", "--clean", "{clean}", "--encoder", "sd-vae-ft-mse", "--out", "{tmp}/c.st"], "stabilityai/sd-vae-ft-mse"),
        (["calibrate", "--restored", "{restored}", "--clean", "{clean}", "--encoder", "pixel", "--patch-size", "40", "--out", "{tmp}/c.st"], "patch_size"),
        (["calibrate", "--clean", "{clean}", "--encoder", "pixel", "--out", "{tmp}/c.st"], "--restored is required"),
        (["calibrate", "--restored", "{test}/cat.png", "--clean", "{clean}", "--mode", "paired", "--encoder", "pixel", "--out", "{tmp}/c.st"], "as many restored as clean"),
    ],
)
def test_each_bad_input_class_exits_2(folders, tmp_path, tiny_kl_dir, capsys, argv, match):
    fill = {"missing": tmp_path / "missing.safetensors", "test": folders["test"], "tmp": tmp_path, "cal": folders["cal"],
            "kl": tiny_kl_dir, "restored": folders["restored"], "clean": folders["clean"]}
    code = main([a.format(**fill) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert match in err and err.startswith("dot_core: error:")


def test_huge_image_is_skipped_with_a_message(folders, tmp_path, capsys):
    code = main(["enhance", "--calibration", str(folders["cal"]), "--max-pixels", "6000", str(folders["test"]), "--out", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err
    assert "motorcycle.png" in err and "cat.png" not in err  # 72² fits, 80² does not
    assert [p.name for p in tmp_path.iterdir()] == ["cat.png"]


def test_zero_shot_and_paired_modes_from_the_cli(folders, tmp_path):
    zs = tmp_path / "zs.safetensors"
    assert main(["calibrate", "--mode", "zero-shot", "--clean", str(folders["clean"]), "--encoder", "pixel", "--out", str(zs)]) == 0
    assert main(["enhance", "--calibration", str(zs), str(folders["test"] / "cat.png"), "--out", str(tmp_path / "o")]) == 0
    pairs = tmp_path / "pairs"
    save_image(pairs / "r" / "a.png", bicubic_x4(photo("coffee", 48)))
    save_image(pairs / "c" / "a.png", photo("coffee", 48))
    code = main(["calibrate", "--mode", "paired", "--restored", str(pairs / "r"), "--clean", str(pairs / "c"),
                 "--encoder", "pixel", "--out", str(tmp_path / "p.safetensors")])
    assert code == 0


def test_info_describes_a_calibration(folders, capsys):
    assert main(["info", str(folders["cal"])]) == 0
    out = capsys.readouterr().out
    assert "patch 3×3" in out
    assert "latent settings: encoder = pixel, channels = 3, factor = 1" in out
    assert "operator: method auto, eps 1e-09" in out
    assert f"written by dot_core {dot_core.__version__}; torch {torch.__version__}" in out


def test_info_prints_versions_and_settings_without_a_file(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"dot_core {dot_core.__version__}, torch {torch.__version__}, "
                          f"python {platform.python_version()}")
    assert "default encoder: sd-vae-ft-mse" in out and "CPU threads" in out


def _parser(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return sub.choices[name] if name else parser


@pytest.mark.parametrize("name", ["", "calibrate", "enhance", "info"])
def test_help_has_text_for_every_option_and_no_markup(name):
    parser = _parser(name)
    for action in parser._actions:
        assert action.help and action.help.strip(), f"{name} {action.option_strings or action.dest} has no help"
    text = parser.format_help()
    assert not re.search(r"``|:func:|:class:|:mod:|\*\*", text), text
    assert parser.description and "``" not in parser.description


def test_help_states_the_default_encoder(capsys):
    with pytest.raises(SystemExit):
        main(["calibrate", "--help"])
    assert re.search(r"\(default:\s+sd-vae-ft-mse\)", capsys.readouterr().out)


def test_skipped_file_leaves_no_blank_lines_in_a_captured_log(folders, tmp_path, capsys):
    """Piped to a log, a progress bar's carriage returns blank the line around each message."""
    batch = tmp_path / "in"
    batch.mkdir()
    save_image(batch / "a.png", bicubic_x4(photo("coffee", 40)))
    (batch / "b_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    save_image(batch / "c.png", bicubic_x4(photo("chelsea", 40)))
    assert main(["enhance", "--calibration", str(folders["cal"]), str(batch), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    lines = re.split(r"[\r\n]", err.rstrip("\n"))
    assert all(line.strip() for line in lines), repr(err)
    assert len(lines) == 1 and lines[0].startswith("dot_core: skipped:") and "b_broken.png" in lines[0]


def test_restoration_lattice_and_noise_reach_the_calibration_and_the_outputs(folders, tmp_path, capsys):
    from dot_core.calibration_file import load_calibration
    from dot_core.provenance import read_png_provenance

    cal = tmp_path / "x4.safetensors"
    assert main(["calibrate", "--restored", str(folders["restored"]), "--clean", str(folders["clean"]),
                 "--encoder", "detail", "--restoration-lattice", "4", "--out", str(cal)]) == 0
    assert load_calibration(cal).restoration_lattice == 4
    assert main(["info", str(cal)]) == 0
    assert "restorer's lattice: 4 px" in capsys.readouterr().out
    outs = {}
    for noise in ("local", "stationary"):
        out = tmp_path / noise
        assert main(["enhance", str(folders["test"] / "cat.png"), "--calibration", str(cal), "--noise", noise,
                     "--out", str(out)]) == 0
        (png,) = out.glob("*.png")
        prov = read_png_provenance(png)
        assert prov["noise"] == noise and prov["restoration_lattice"] == 4
        outs[noise] = load_image(png)
    assert np.abs(outs["local"] - outs["stationary"]).max() > 1 / 255  # eq. 5's noise is spread differently
    assert main(["calibrate", "--restored", str(folders["restored"]), "--clean", str(folders["clean"]),
                 "--restoration-lattice", "1", "--out", str(tmp_path / "bad.safetensors")]) == 2
    assert "restoration_lattice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["enhance", str(folders["test"]), "--calibration", str(cal), "--noise", "pink", "--out", str(tmp_path)])


def test_enhance_uses_the_detail_sigma_the_calibration_recorded(folders, tmp_path, capsys):
    """A calibration made in detail with σ = 1.5 is applied in that latent (not refused, not σ = 1)."""
    from dot_core import Calibrator, DOTPipeline, encoder_for, save_calibration
    from dot_core.detail import DetailEncoder

    enc = DetailEncoder(device="cpu", sigma=1.5)
    cal = Calibrator(enc, 5)
    for p in sorted(folders["restored"].glob("*.png")):
        cal.add_restored(load_image(p))
    for p in sorted(folders["clean"].glob("*.png")):
        cal.add_clean(load_image(p))
    path = save_calibration(cal.fit(), tmp_path / "s15.safetensors")
    assert main(["enhance", str(folders["test"] / "cat.png"), "--calibration", str(path), "--out", str(tmp_path / "o")]) == 0
    (png,) = (tmp_path / "o").glob("*.png")
    from dot_core.calibration_file import load_calibration

    back = load_calibration(path)
    expected = DOTPipeline(encoder_for(back), back).enhance(load_image(folders["test"] / "cat.png")).transported
    assert np.abs(load_image(png) - expected).max() <= 1 / 255 + 1e-6
    assert encoder_for(back).describe()["sigma"] == 1.5
    back.info["encoder_config"]["sigma"] = "wide"
    with pytest.raises(ValueError, match="not a number of pixels"):
        encoder_for(back)
    back.info["encoder_config"]["sigma"] = 99.0
    with pytest.raises(ValueError, match="sigma must be a number of pixels"):
        encoder_for(back)


def test_calibrate_matches_content_by_default_and_says_so(folders, tmp_path, capsys):
    from dot_core import load_calibration

    args = ["calibrate", "--restored", str(folders["restored"]), "--clean", str(folders["clean"]), "--encoder", "detail"]
    assert main(args + ["--out", str(tmp_path / "m.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "content (energy of the band the restorer keeps)" in out and "clean covariance moved" in out
    assert load_calibration(tmp_path / "m.safetensors").match_content
    assert main(args + ["--no-content-match", "--out", str(tmp_path / "p.safetensors")]) == 0
    out = capsys.readouterr().out
    assert "clean covariance moved" not in out and not load_calibration(tmp_path / "p.safetensors").match_content

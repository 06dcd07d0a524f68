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
from dot_core.io.images import load_image, save_image

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
    from dot_core.calibration.files import load_calibration
    from dot_core.io.png import read_png_provenance

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
        assert prov["noise"] == noise and prov["restoration_lattice"] == 4 and prov["degrid"] == 4
        outs[noise] = load_image(png)
    assert np.abs(outs["local"] - outs["stationary"]).max() > 1 / 255  # eq. 5's noise is spread differently
    plain = tmp_path / "plain"  # --no-degrid: the restoration itself is transported
    assert main(["enhance", str(folders["test"] / "cat.png"), "--calibration", str(cal), "--no-degrid",
                 "--out", str(plain)]) == 0
    (png,) = plain.glob("*.png")
    assert read_png_provenance(png)["degrid"] is None
    assert np.abs(load_image(png) - outs["stationary"]).max() > 1 / 255
    assert main(["calibrate", "--restored", str(folders["restored"]), "--clean", str(folders["clean"]),
                 "--restoration-lattice", "1", "--out", str(tmp_path / "bad.safetensors")]) == 2
    assert "restoration_lattice" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["enhance", str(folders["test"]), "--calibration", str(cal), "--noise", "pink", "--out", str(tmp_path)])


def test_enhance_uses_the_detail_sigma_the_calibration_recorded(folders, tmp_path, capsys):
    """A calibration made in detail with σ = 1.5 is applied in that latent (not refused, not σ = 1)."""
    from dot_core import Calibrator, DOTPipeline, encoder_for, save_calibration
    from dot_core.latents.detail import DetailEncoder

    enc = DetailEncoder(device="cpu", sigma=1.5)
    cal = Calibrator(enc, 5)
    for p in sorted(folders["restored"].glob("*.png")):
        cal.add_restored(load_image(p))
    for p in sorted(folders["clean"].glob("*.png")):
        cal.add_clean(load_image(p))
    path = save_calibration(cal.fit(), tmp_path / "s15.safetensors")
    assert main(["enhance", str(folders["test"] / "cat.png"), "--calibration", str(path), "--out", str(tmp_path / "o")]) == 0
    (png,) = (tmp_path / "o").glob("*.png")
    from dot_core.calibration.files import load_calibration

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


# ---- nothing a user gives is lost; every I/O error is one line and exit 2 (issue 19) ----------


def _enhance(folders, *args):
    return main(["enhance", "--calibration", str(folders["cal"]), *map(str, args)])


def test_enhance_refuses_to_write_over_its_inputs(folders, tmp_path, capsys):
    inputs = tmp_path / "in"
    save_image(inputs / "cat.png", bicubic_x4(photo("chelsea", 40)))
    before = (inputs / "cat.png").read_bytes()
    (tmp_path / "link").symlink_to(inputs)  # the same folder through a link
    for out in (inputs, tmp_path / "link", tmp_path / "in" / "." ):
        assert _enhance(folders, inputs, "--out", out) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cat.png" in err and "overwrite" in err
    assert (inputs / "cat.png").read_bytes() == before and sorted(p.name for p in inputs.iterdir()) == ["cat.png"]
    assert _enhance(folders, inputs, "--alpha", "0,0.5", "--out", inputs) == 0  # other names: nothing replaced
    assert (inputs / "cat.png").read_bytes() == before


def test_enhance_gives_every_input_its_own_output_and_counts_true(folders, tmp_path, capsys):
    from dot_core.io.outputs import output_names

    inputs = tmp_path / "in"
    for name, crop in (("a.png", 40), ("a.jpg", 44), ("a-2.png", 48)):
        img = bicubic_x4(photo("coffee", crop))
        if name.endswith(".jpg"):
            from PIL import Image

            inputs.mkdir(exist_ok=True)
            Image.fromarray((img * 255).round().astype(np.uint8)).save(inputs / name, quality=95)
        else:
            save_image(inputs / name, img)
    assert _enhance(folders, inputs / "a.png", inputs / "a.jpg", inputs / "a-2.png", "--out", tmp_path / "o") == 0
    outs = sorted((tmp_path / "o").iterdir())
    assert len(outs) == 3 and sorted(load_image(p).shape[0] for p in outs) == [40, 44, 48]
    assert "wrote 3 image(s) for 3 of 3" in capsys.readouterr().out
    names = output_names(["x/A.png", "y/a.png", "a_alpha0.png"], [0.0, 0.5])
    flat = [n.casefold() for group in names for n in group]
    assert len(set(flat)) == 6
    assert output_names(["a.png"], [0.5, 0.5000000001]) == [["a_alpha0.5.png", "a_alpha0.5000000001.png"]]


def test_io_errors_are_one_line_naming_the_path_and_exit_2(folders, tmp_path, capsys):
    a_file = tmp_path / "plain.txt"
    a_file.write_text("not a folder")
    folder = tmp_path / "a_folder"
    folder.mkdir()
    cases = [
        ["calibrate", "--restored", folders["restored"], "--clean", folders["clean"], "--encoder", "pixel",
         "--out", folder],
        ["calibrate", "--restored", folders["restored"], "--clean", folders["clean"], "--encoder", "pixel",
         "--out", a_file / "c.safetensors"],
        ["enhance", "--calibration", folders["cal"], folders["test"], "--out", a_file / "out"],
        ["enhance", "--calibration", folders["cal"], folders["test"], "--out", a_file],
    ]
    for argv in cases:
        out = run_module(*map(str, argv))
        assert out.returncode == 2, (argv, out.stderr)
        assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
        assert str(argv[-1]) in out.stderr or str(a_file) in out.stderr, out.stderr
    assert a_file.read_text() == "not a folder" and list(folder.iterdir()) == []


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_full_disk_is_one_line_naming_the_file_and_exit_2(folders, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "cat.png").symlink_to("/dev/full")  # every write there fails with ENOSPC
    run = run_module("enhance", "--calibration", str(folders["cal"]), str(folders["test"] / "cat.png"), "--out", str(out))
    assert run.returncode == 2 and "Traceback" not in run.stderr and run.stderr.count("\n") == 1
    assert "cat.png" in run.stderr and "No space left" in run.stderr


def test_enhance_of_nothing_but_a_text_file_exits_2(folders, tmp_path, capsys):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    assert _enhance(folders, notes, "--out", tmp_path / "o") == 2
    assert "notes.txt" in capsys.readouterr().err


def test_empty_folder_message_speaks_to_a_cli_user(folders, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert _enhance(folders, tmp_path / "empty", "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "holds no image files" in err and "recursive=True" not in err


@pytest.mark.parametrize("alpha", ["5", "-1.5", "2.01"])
def test_alpha_outside_the_apps_range_is_refused(folders, tmp_path, capsys, alpha):
    assert _enhance(folders, folders["test"], "--alpha", alpha, "--out", tmp_path) == 2
    assert "[-1, 2]" in capsys.readouterr().err and not list(tmp_path.iterdir())


def test_alpha_range_is_stated_in_help():
    assert "[-1, 2]" in _parser("enhance").format_help()


def test_calibrate_eps_is_recorded_and_checked(folders, tmp_path, capsys):
    from dot_core.calibration.files import load_calibration

    out = tmp_path / "e.safetensors"
    args = ["calibrate", "--restored", str(folders["restored"]), "--clean", str(folders["clean"]), "--encoder", "pixel"]
    assert main([*args, "--eps", "0.25", "--out", str(out)]) == 0
    assert load_calibration(out).eps == 0.25
    capsys.readouterr()
    assert main(["info", str(out)]) == 0 and "eps 0.25" in capsys.readouterr().out
    for bad in ("-1", "nan", "inf"):
        assert main([*args, "--eps", bad, "--out", str(tmp_path / "bad.safetensors")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "eps must be a finite number ≥ 0" in err
    assert not (tmp_path / "bad.safetensors").exists()
    assert "--eps" in _parser("calibrate").format_help()


def test_calibrate_refuses_a_calibration_too_large_to_load_before_reading_images(folders, tmp_path, capsys,
                                                                                 monkeypatch):
    import dot_core.calibration.files as cf
    import dot_core.cli.calibrate as cli

    read = []
    monkeypatch.setattr(cf, "MAX_CALIBRATION_BYTES", cf.MAX_HEADER_BYTES + 1000)  # as if d = 27 were too large
    monkeypatch.setattr(cli, "load_image", lambda *a, **k: read.append(a) or 1 / 0)
    code = main(["calibrate", "--restored", str(folders["restored"]), "--clean", str(folders["clean"]),
                 "--encoder", "pixel", "--out", str(tmp_path / "c.safetensors")])
    assert code == 2 and read == [] and "smaller patch size" in capsys.readouterr().err


def test_calibrate_auto_mode_pairs_by_name_and_reports_the_restorers_psnr(tmp_path, capsys):
    for name in ("coffee", "chelsea"):
        gt = photo(name, 64)
        save_image(tmp_path / "r" / f"{name}_x4_SR.png", bicubic_x4(gt))
        save_image(tmp_path / "c" / f"{name.upper()}.png", gt)
    save_image(tmp_path / "c" / "rocket.png", photo("rocket", 64))  # no restoration: left out
    code = main(["calibrate", "--restored", str(tmp_path / "r"), "--clean", str(tmp_path / "c"), "--encoder", "pixel",
                 "--out", str(tmp_path / "p.safetensors")])
    out = capsys.readouterr().out
    assert code == 0
    assert "mode paired: auto: every restored image has its clean original of the same size (2 pairs" in out
    assert "rocket.png" in out and "clean: 2 images" in out
    psnrs = [10 * np.log10(1 / np.mean((bicubic_x4(photo(n, 64)).astype(np.float64) - photo(n, 64)) ** 2))
             for n in ("coffee", "chelsea")]
    shown = float(re.search(r"restorer's PSNR on its 2 pairs: ([\d.]+) dB", out).group(1))
    assert min(psnrs) - 0.01 <= shown <= max(psnrs) + 0.01


def test_calibrate_auto_mode_says_why_it_is_unpaired(folders, tmp_path, capsys):
    code = main(["calibrate", "--restored", str(folders["restored"]), "--clean", str(folders["clean"]),
                 "--encoder", "pixel", "--out", str(tmp_path / "u.safetensors")])
    out = capsys.readouterr().out
    assert code == 0
    assert "mode unpaired: auto: 2 of 2 restored images have no clean image of the same name" in out
    assert "astronaut.png" in out and "PSNR" not in out


def test_calibrate_paired_with_sizes_differing_names_the_pair(tmp_path, capsys):
    save_image(tmp_path / "r" / "coffee.png", bicubic_x4(photo("coffee", 64)))
    save_image(tmp_path / "c" / "coffee.png", photo("coffee", 48))
    code = main(["calibrate", "--mode", "paired", "--restored", str(tmp_path / "r"), "--clean", str(tmp_path / "c"),
                 "--encoder", "pixel", "--out", str(tmp_path / "p.safetensors")])
    err = capsys.readouterr().err
    assert code == 2
    assert "coffee.png is 64×64 but its clean image coffee.png is 48×48" in err


def test_calibrate_finds_the_restorers_grid_unless_told_none(folders, tmp_path, capsys):
    from dot_core.calibration.files import load_calibration

    args = ["calibrate", "--restored", str(folders["restored"]), "--clean", str(folders["clean"]), "--encoder", "pixel"]
    assert main([*args, "--out", str(tmp_path / "a.safetensors")]) == 0
    assert "restorer's lattice: 4 px, found in the restored set" in capsys.readouterr().out
    assert load_calibration(tmp_path / "a.safetensors").restoration_lattice == 4
    for off in ("none", "0"):
        assert main([*args, "--restoration-lattice", off, "--out", str(tmp_path / "n.safetensors")]) == 0
        assert "restorer's lattice" not in capsys.readouterr().out
        assert load_calibration(tmp_path / "n.safetensors").restoration_lattice is None
    assert main([*args, "--restoration-lattice", "four", "--out", str(tmp_path / "x.safetensors")]) == 2
    assert "must be auto, none or a period in pixels" in capsys.readouterr().err


def test_enhance_says_how_far_the_transport_got_on_each_image(folders, tmp_path, capsys):
    code = main(["enhance", "--calibration", str(folders["cal"]), str(folders["test"]), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    for name in ("cat.png", "motorcycle.png"):
        line = next(t for t in out.splitlines() if t.startswith(f"{name}: transport reach (after the fold)"))
        before, after = map(float, re.search(r"patches ([\d.e-]+) → ([\d.e-]+)", line).groups())
        assert after < before


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

"""A test set's perception–distortion table (dot_core.evaluation.dataset): pairing, rows, FID/KID arithmetic,
resuming, sharding over processes, and the command line."""

import csv
import json
import threading
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from conftest import bicubic_x4, photo

from dot_core import DOTPipeline, evaluate_dataset, load_calibration, load_encoder, psnr
from dot_core.cli import main
from dot_core.evaluation.dataset import pair_by_stem
from dot_core.evaluation.report import summarize, write_report
from dot_core.io.images import load_image, save_image
from dot_core.quality.perceptual import fid_kid, load_perceptual

NAMES = ("astronaut", "coffee", "chelsea")
ALPHAS = ["0", "0.5", "1"]


class PooledColours(torch.nn.Module):
    """A small custom feature extractor: mean colour of each 2×2 quadrant, (N, 12)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.adaptive_avg_pool2d(x.float() / 255.0, 2).flatten(1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("evaluate")
    for i, name in enumerate(NAMES):
        save_image(base / "restored" / f"{name}.png", bicubic_x4(photo(name, 64 + 8 * i)))
        save_image(base / "truth" / f"{name}.png", photo(name, 64 + 8 * i))
        save_image(base / "clean" / f"{name}.png", photo(name, 72))
    save_image(base / "truth" / "rocket.png", photo("rocket", 64))  # a ground truth without restoration
    cal = base / "cal.safetensors"
    assert main(["calibrate", "--restored", str(base / "restored"), "--clean", str(base / "clean"),
                 "--encoder", "pixel", "--patch-size", "3", "--out", str(cal)]) == 0
    return base


@pytest.fixture(scope="module")
def evaluated(data, tmp_path_factory):
    """One Python evaluation at α = 0, 0.5, 1 with a custom feature extractor, shared by several tests."""
    out = tmp_path_factory.mktemp("evaluated")
    perceptual = load_perceptual(PooledColours(), lpips=False)
    ev = evaluate_dataset(pipeline(data), paths(data, "restored"), paths(data, "truth"), out,
                          alphas=[0.0, 0.5, 1.0], perceptual=perceptual, progress=False)
    return ev, perceptual, out


@pytest.fixture(scope="module")
def cli_evaluated(data, tmp_path_factory):
    """``evaluate`` from the command line at α = 0, 0.5, 1: (exit code, stderr, output folder)."""
    out = tmp_path_factory.mktemp("cli_evaluated")
    capture = CaptureStderr()
    with capture:
        code = main(["evaluate", "--calibration", str(data / "cal.safetensors"), "--restored", str(data / "restored"),
                     "--truth", str(data / "truth"), "--alpha", ",".join(ALPHAS), "--no-perceptual", "--out", str(out)])
    return code, capture.text, out


class CaptureStderr:
    """stderr of a block as text (capsys is function-scoped; the fixture above is not)."""

    def __enter__(self):
        import contextlib
        import io

        self.buffer = io.StringIO()
        self.redirect = contextlib.redirect_stderr(self.buffer)
        self.redirect.__enter__()
        return self

    def __exit__(self, *exc):
        self.redirect.__exit__(*exc)
        self.text = self.buffer.getvalue()


def pipeline(base: Path) -> DOTPipeline:
    return DOTPipeline(load_encoder("pixel"), load_calibration(base / "cal.safetensors"))


def paths(base: Path, role: str) -> list[Path]:
    return sorted((base / role).glob("*.png"))


def read_csv(path: Path) -> list[dict]:
    with open(path) as f:
        return list(csv.DictReader(f))


def test_pair_by_stem_matches_names_and_names_the_unmatched(tmp_path):
    p = pair_by_stem([Path("a/x.png"), Path("a/y.png")], [Path("b/y.jpg"), Path("b/z.png")])
    assert [(s, r.name, t.name) for s, r, t in p.pairs] == [("y", "y.png", "y.jpg")]
    assert [q.name for q in p.unmatched_restored] == ["x.png"] and [q.name for q in p.unmatched_truth] == ["z.png"]
    with pytest.raises(ValueError, match=r"no restoration has a ground truth.*x\.png.*z\.png"):
        pair_by_stem([Path("x.png")], [Path("z.png")])
    with pytest.raises(ValueError, match="share the name"):
        pair_by_stem([Path("a/x.png"), Path("a/x.jpg")], [Path("x.png")])


def direct_fid(r: np.ndarray, f: np.ndarray) -> float:
    """Fréchet distance of the two sets' Gaussians, written out with scipy's matrix square root."""
    mr, mf = r.mean(0), f.mean(0)
    cr, cf = np.cov(r, rowvar=False), np.cov(f, rowvar=False)
    root = scipy.linalg.sqrtm(cr @ cf).real
    return float(np.sum((mr - mf) ** 2) + np.trace(cr + cf - 2 * root))


def direct_kid(r: np.ndarray, f: np.ndarray) -> float:
    """Unbiased MMD² with the polynomial kernel (a·b/d + 1)³ (Bińkowski et al. 2018)."""
    d, m = r.shape[1], len(r)
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    kxx, kyy, kxy = k(r, r), k(f, f), k(r, f)
    off = lambda a: (a.sum() - np.trace(a)) / (m * (m - 1))  # noqa: E731
    return float(off(kxx) + off(kyy) - 2 * kxy.mean())


def test_fid_and_kid_equal_a_direct_computation():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(40, 6))
    fake = rng.normal(0.3, 1.2, size=(40, 6))
    got = fid_kid(real, fake)
    assert got["fid"] == pytest.approx(direct_fid(real, fake), rel=1e-6)
    # KID: the mean and spread over the seeded random subsets, each an unbiased MMD² of its own
    k = got["kid_subset_size"]
    assert k == 20
    torch.manual_seed(0)
    subsets = []
    for _ in range(got["kid_subsets"]):
        pr, pf = torch.randperm(40)[:k].numpy(), torch.randperm(40)[:k].numpy()
        subsets.append(direct_kid(real[pr], fake[pf]))
    assert got["kid"] == pytest.approx(np.mean(subsets), rel=1e-9)
    assert got["kid_std"] == pytest.approx(np.std(subsets), rel=1e-9)
    assert abs(fid_kid(real, real)["fid"]) < 1e-6  # one set against itself
    with pytest.raises(ValueError, match="at least 2"):
        fid_kid(real[:1], fake[:1])


def test_offline_the_missing_networks_are_skipped_with_a_reason():
    p = load_perceptual("inception")
    if p.features is None:
        assert p.features_reason.startswith("FID/KID skipped: ") and "\n" not in p.features_reason
    if p.lpips is None:
        assert p.lpips_reason.startswith("LPIPS skipped: ") and "\n" not in p.lpips_reason
    with pytest.raises(ValueError, match="features"):
        load_perceptual("vgg")


def test_rows_reference_points_and_written_files(evaluated, tmp_path):
    ev, perceptual, _ = evaluated
    assert [im.name for im in ev.images] == sorted(NAMES)
    assert ev.skipped == ["rocket.png: no restoration of that name"]
    for im in ev.images:
        kinds = [(r["kind"], r["alpha"]) for r in im.rows]
        assert kinds == [("restoration", None), ("alpha", 0.0), ("alpha", 0.5), ("alpha", 1.0), ("roundtrip", None)]
        by = {(r["kind"], r["alpha"]): r for r in im.rows}
        assert by[("alpha", 1.0)]["psnr"] == by[("restoration", None)]["psnr"]  # eq. 4: α = 1 is x*
        assert by[("roundtrip", None)]["psnr"] == float("inf")  # the pixel latent is lossless
        assert by[("alpha", 0.0)]["texture_distance"] < by[("alpha", 1.0)]["texture_distance"]
        assert set(im.features) == {"restoration", "alpha=0", "alpha=0.5", "alpha=1", "roundtrip", "truth"}
    summary = summarize(ev, perceptual)
    written = write_report(ev, summary, tmp_path)
    assert {p.name for p in written.values()} == {"metrics.csv", "summary.json", "table.md", "pd_plot.png"}
    assert len(read_csv(written["csv"])) == 3 * 5
    back = json.loads(written["json"].read_text())
    line = next(ln for ln in back["lines"] if ln["alpha"] == 0.0)
    real = np.stack([im.features["truth"] for im in ev.images])
    fake = np.stack([im.features["alpha=0"] for im in ev.images])
    # 3 images, 12 features: singular covariances, where eigvals and sqrtm agree to about 1e-6
    assert line["set"]["fid"] == pytest.approx(direct_fid(real, fake), rel=1e-4)
    table = written["markdown"].read_text()
    assert "read KID" in table and "| α = 0.5 |" in table and "round trip" in table
    assert written["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_rerun_with_the_same_settings_skips_finished_images(data, tmp_path, monkeypatch):
    args = (paths(data, "restored"), paths(data, "truth"), tmp_path)
    first = evaluate_dataset(pipeline(data), *args, alphas=[0.0, 1.0], progress=False)
    calls = []
    pipe = pipeline(data)
    real_enhance = pipe.enhance
    monkeypatch.setattr(pipe, "enhance", lambda x: calls.append(1) or real_enhance(x))
    again = evaluate_dataset(pipe, *args, alphas=[0.0, 1.0], progress=False)
    assert calls == [] and again.rows == first.rows
    evaluate_dataset(pipe, *args, alphas=[0.0], progress=False)  # a subset of the α measured: still nothing to do
    assert calls == []
    evaluate_dataset(pipe, *args, alphas=[0.0, 0.25], progress=False)  # a new α: those images again
    assert len(calls) == 3
    other = evaluate_dataset(pipe, *args, alphas=[0.0], lattice_period=8, progress=False)  # other settings
    assert len(calls) == 6 and other.settings_hash != first.settings_hash


class ThreadGroup:
    """Two 'processes' as threads of this one: shard as ProcessGroup does, gather through a barrier."""

    def __init__(self, rank: int, world_size: int, box: list, barrier: threading.Barrier):
        self.rank, self.world_size, self.box, self.barrier = rank, world_size, box, barrier
        self.is_main = rank == 0

    def shard(self, items):
        return list(items[self.rank :: self.world_size])

    def gather(self, obj):
        self.box[self.rank] = obj
        self.barrier.wait()
        return list(self.box)


def test_two_processes_measure_shards_and_gather_one_table(data, tmp_path):
    args = (paths(data, "restored"), paths(data, "truth"))
    one = evaluate_dataset(pipeline(data), *args, tmp_path / "one", alphas=[0.0], progress=False)
    box, barrier, results, seen = [None, None], threading.Barrier(2), [None, None], [[], []]

    def run(rank: int) -> None:
        pipe = pipeline(data)
        real_enhance = pipe.enhance
        pipe.enhance = lambda x: seen[rank].append(x.shape) or real_enhance(x)
        results[rank] = evaluate_dataset(pipe, *args, tmp_path / "two", alphas=[0.0], progress=False,
                                         group=ThreadGroup(rank, 2, box, barrier))

    threads = [threading.Thread(target=run, args=(r,)) for r in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert [len(s) for s in seen] == [2, 1]  # every image measured once, by one of the two
    assert results[0].rows == results[1].rows == one.rows
    assert results[0].skipped == one.skipped


def test_cli_evaluate_psnr_column_equals_psnr_of_enhance_outputs(data, cli_evaluated, tmp_path):
    assert main(["enhance", "--calibration", str(data / "cal.safetensors"), "--alpha", ",".join(ALPHAS),
                 str(data / "restored"), "--out", str(tmp_path / "enh")]) == 0
    code, err, out = cli_evaluated
    assert code == 1 and "skipped rocket.png: no restoration of that name" in err  # one truth unmatched
    rows = read_csv(out / "metrics.csv")
    assert {r["image"] for r in rows} == set(NAMES)
    for r in (r for r in rows if r["kind"] == "alpha"):
        written = load_image(tmp_path / "enh" / f"{r['image']}_alpha{float(r['alpha']):g}.png")
        assert float(r["psnr"]) == psnr(written, load_image(data / "truth" / f"{r['image']}.png"))
    assert all(r["settings"] == rows[0]["settings"] != "" for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_images"] == 3 and summary["not_measured"] == ["FID/KID not requested", "LPIPS not requested"]


def test_cli_evaluate_nothing_pairs_exits_2_naming_the_files(data, tmp_path, capsys):
    save_image(tmp_path / "t" / "other.png", photo("rocket", 64))
    code = main(["evaluate", "--calibration", str(data / "cal.safetensors"), "--restored", str(data / "restored"),
                 "--truth", str(tmp_path / "t"), "--out", str(tmp_path / "ev")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "astronaut.png" in err[0] and "other.png" in err[0]
    assert not (tmp_path / "ev" / "metrics.csv").exists()


class NoProgress:
    def __call__(self, *args, **kwargs):
        pass

    def tqdm(self, iterable, *args, **kwargs):
        return iterable


def test_command_app_batch_and_python_give_the_same_numbers(data, evaluated, cli_evaluated, tmp_path):
    """The page's Batch with ground truths, ``dot-core evaluate`` and ``evaluate_dataset``: one table."""
    import gradio as gr

    from webui import engine_calls
    from webui.batch_eval import HINT, BatchEvalHandlers
    from webui.settings import FOLD_AUTO, Settings

    cal = data / "cal.safetensors"
    python, perceptual, _ = evaluated
    handlers = BatchEvalHandlers(Settings())
    cal_state = engine_calls.new_calibration(load_calibration(cal), FOLD_AUTO, "file", custom_encoders=False)
    files, truths = [str(p) for p in paths(data, "restored")], [str(p) for p in paths(data, "truth")]
    assert handlers.evaluate_batch(files, None, "0, 1", cal_state, progress=NoProgress()) == (HINT, None, None)
    with pytest.raises(gr.Error, match="At most 2 images"):
        BatchEvalHandlers(Settings(max_batch_images=2)).evaluate_batch(files, truths, "0", cal_state,
                                                                       progress=NoProgress())
    table, plot, csv_path = handlers.evaluate_batch(files, truths, "0, 0.5, 1", cal_state, progress=NoProgress())
    assert "| α = 0.5 |" in table and Path(plot).read_bytes()[:4] == b"\x89PNG"
    key = lambda r: (r["image"], r["kind"], r["alpha"])  # noqa: E731
    cli = {key(r): r for r in read_csv(cli_evaluated[2] / "metrics.csv")}
    app = {key(r): r for r in read_csv(Path(csv_path))}
    py = {key(r): r for r in read_csv(write_report(python, summarize(python, perceptual), tmp_path / "py")["csv"])}
    assert len(cli) == 3 * 5 and cli.keys() == app.keys() == py.keys()
    for k in cli:
        for column in ("psnr", "ssim", "texture_distance", "lattice_ratio"):
            assert cli[k][column] == app[k][column] == py[k][column], (k, column)


def test_app_api_batch_with_ground_truths_returns_table_plot_and_csv(app_url, data):
    """Through the served page: /enhance_batch's zip as before, and /evaluate_batch's table beside it."""
    from gradio_client import Client, handle_file

    client = Client(app_url, verbose=False)
    cal = [handle_file(str(p)) for p in paths(data, "restored")[:2]]
    client.predict(cal, [handle_file(str(p)) for p in paths(data, "clean")[:2]], "pixel", 3, api_name="/calibrate")
    files = [handle_file(str(p)) for p in paths(data, "restored")[:2]]
    truths = [handle_file(str(p)) for p in paths(data, "truth") if p.stem in ("astronaut", "chelsea")]
    archive, _ = client.predict(files, "0, 1", api_name="/enhance_batch")
    assert Path(archive).suffix == ".zip"
    table, plot, table_csv = client.predict(files, truths, "0, 1", api_name="/evaluate_batch")
    rows = read_csv(Path(table_csv))
    assert {r["image"] for r in rows} == {"astronaut", "chelsea"} and len(rows) == 2 * 4
    assert "| α = 0 |" in table and "round trip" in table and Path(plot).suffix == ".png"


def test_evaluate_help_has_text_for_every_option():
    import argparse

    from dot_core.cli import build_parser

    (sub,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    parser = sub.choices["evaluate"]
    for action in parser._actions:
        assert action.help and action.help.strip(), action.option_strings or action.dest
    text = " ".join(parser.format_help().split())
    assert "``" not in text and "(default: -1 to 2 in steps of 0.25)" in text

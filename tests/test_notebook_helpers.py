"""Tests of what the notebooks call beyond one package function: colorkeras.notebook, and
the figures, report display and run listing they take from colorkeras.evaluation.report and
colorkeras.training.run (the accelerator check is tested in tests/test_runtime.py)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from PIL import Image

from colorkeras import notebook

from colorkeras.evaluation import figures, report
from colorkeras.training.config import TrainConfig
from colorkeras.training.run import Run, find_runs


def _params(tmp_path, **overrides):
    values = dict(smoke=True, workdir=tmp_path / "work")
    values.update(overrides)
    return notebook.resolve_params(**values)


# ------------------------------------------------------------------------------------
# Environment and parameters
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), (" YES ", True), ("on", True),
                                             ("", False), ("0", False), ("false", False), ("no", False)])
def test_smoke_requested(value, expected):
    assert notebook.smoke_requested({notebook.SMOKE_ENV: value}) is expected


def test_smoke_requested_defaults_to_off_and_rejects_typos():
    assert notebook.smoke_requested({}) is False
    with pytest.raises(ValueError, match="COLORKERAS_SMOKE"):
        notebook.smoke_requested({notebook.SMOKE_ENV: "smoke"})


def test_workdir_precedence(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = {notebook.WORKDIR_ENV: str(tmp_path / "from_env")}
    assert notebook.resolve_workdir(environ={}) == tmp_path / notebook.DEFAULT_WORKDIR
    assert notebook.resolve_workdir(environ=env) == tmp_path / "from_env"
    assert notebook.resolve_workdir("given", environ=env) == tmp_path / "given"
    assert (tmp_path / "given").is_dir()  # created

    mounted = []

    def fake_mount():
        mounted.append(True)
        return tmp_path / "drive" / "colorkeras"

    assert notebook.resolve_workdir(use_drive=True, environ=env, mount=fake_mount) == tmp_path / "drive" / "colorkeras"
    # A folder on Drive given explicitly still needs Drive mounted.
    assert notebook.resolve_workdir(tmp_path / "drive" / "x", use_drive=True, mount=fake_mount) == tmp_path / "drive" / "x"
    assert len(mounted) == 2


def test_mount_drive_outside_colab_says_what_to_do(monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    with pytest.raises(ValueError, match="Colab only.*WORKDIR"):
        notebook.mount_drive()


def test_mount_drive_in_colab(tmp_path, monkeypatch):
    calls = []
    drive = types.SimpleNamespace(mount=calls.append)
    colab = types.ModuleType("google.colab")
    colab.drive = drive
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    assert notebook.in_colab()
    folder = notebook.mount_drive(str(tmp_path / "drive"))
    assert calls == [str(tmp_path / "drive")]
    assert folder == tmp_path / "drive" / "MyDrive" / "colorkeras"


def test_resolve_params_smoke_shrinks_and_places_folders(tmp_path):
    params = _params(tmp_path, epochs=50, image_size=256, model="vit_fusion")
    assert (params.epochs, params.image_size) == (notebook.SMOKE_EPOCHS, notebook.SMOKE_IMAGE_SIZE)
    work = (tmp_path / "work").resolve()
    assert params.workdir == work
    assert params.data_root == work / "data" and params.run_root == work / "runs"
    assert params.source_dir == work / "data" / "toy_city"
    assert params.prepared_dir == work / "data" / "toy_city_32px"
    assert params.run_dir() == work / "runs" / "vit_fusion"
    assert params.run_dir("baseline") == work / "runs" / "baseline"
    assert params.photos_dir == work / "my_photos" and params.colorized_dir == work / "colorized"
    assert "SMOKE" in params.to_text()


def test_resolve_params_full_mode_and_explicit_folders(tmp_path):
    params = _params(tmp_path, smoke=False, epochs=7, image_size=128, data_root="mydata",
                     run_root=tmp_path / "elsewhere", photos="scans")
    assert (params.epochs, params.image_size) == (7, 128)
    assert params.data_root == params.workdir / "mydata"  # relative: inside the working folder
    assert params.run_root == tmp_path / "elsewhere"
    assert params.photos_dir == params.workdir / "scans"
    assert params.prepared_dir == params.workdir / "mydata" / "sun397_urban32_128px"


@pytest.mark.parametrize("bad, message", [({"model": "resnet"}, "MODEL"),
                                          ({"smoke": False, "epochs": 0}, "EPOCHS"),
                                          ({"smoke": False, "image_size": 100}, "IMAGE_SIZE")])
def test_resolve_params_rejects_bad_values(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        _params(tmp_path, **bad)


def test_train_config_full_mode_is_the_study_recipe(tmp_path):
    config = _params(tmp_path, smoke=False, model="inception_fusion", epochs=50).train_config()
    assert config == TrainConfig(model="inception_fusion")


@pytest.mark.parametrize("model, size", [("baseline", "base"), ("inception_fusion", "base"),
                                         ("vit_fusion", "tiny")])
def test_train_config_smoke_mode_is_offline_and_tiny(tmp_path, model, size):
    config = _params(tmp_path, model=model).train_config()
    assert config.extractor_weights is None and config.extractor_size == size
    assert (config.image_size, config.epochs, config.batch_size) == (32, 1, notebook.SMOKE_BATCH_SIZE)


# ------------------------------------------------------------------------------------
# 01: data
# ------------------------------------------------------------------------------------
def test_get_source_images_smoke_writes_the_toy_city(tmp_path, capsys):
    params = _params(tmp_path)
    source = notebook.get_source_images(params)
    assert source == params.source_dir
    assert len(list(source.glob("*/*.png"))) == 4 * notebook.SMOKE_IMAGES_PER_CLASS
    assert "Toy city" in capsys.readouterr().out


def test_get_source_images_uses_a_given_folder_or_says_it_is_missing(tmp_path):
    params = _params(tmp_path, smoke=False)
    (tmp_path / "copy" / "alley").mkdir(parents=True)
    assert notebook.get_source_images(params, folder=tmp_path / "copy") == tmp_path / "copy"
    with pytest.raises(FileNotFoundError, match="URBAN32_FOLDER"):
        notebook.get_source_images(params, folder=tmp_path / "missing")


def test_get_source_images_fetches_once(tmp_path, capsys):
    from tests.test_sun397 import _build_extracted

    params = _params(tmp_path, smoke=False)
    extracted = _build_extracted(tmp_path / "sun")
    assert notebook.get_source_images(params, extracted=extracted, progress=False) == params.source_dir
    assert len(list((params.source_dir / "alley").glob("*.jpg"))) == 3
    assert "alley" in capsys.readouterr().out  # the count check is printed
    # Done once: a second call does not fetch (from this missing archive it would fail).
    assert notebook.get_source_images(params, archive=tmp_path / "missing.tar.gz") == params.source_dir
    assert "already fetched" in capsys.readouterr().out


# ------------------------------------------------------------------------------------
# 01: figures of the data (colorkeras.evaluation.figures)
# ------------------------------------------------------------------------------------
def test_class_counts_and_chart(prepared_toy_city):
    counts = figures.class_counts(prepared_toy_city)
    assert sorted(counts) == ["park", "skyline", "street", "waterfront"]
    assert sum(sum(c.values()) for c in counts.values()) == 48
    assert all(c["train"] == 10 for c in counts.values())
    figure = figures.class_count_figure(prepared_toy_city)
    axes = figure.axes[0]
    assert len(axes.patches) == 4 * 3  # a bar per class and split
    assert "48 in total" in axes.get_title()


def test_sample_rows_take_turns_over_classes():
    labels = ["a"] * 5 + ["b"] * 2 + ["c"] * 1
    rows = figures._sample_rows(labels, 6, seed=0)
    assert [labels[r] for r in rows[:3]] == ["a", "b", "c"]
    assert len(rows) == len(set(rows)) == 6
    assert len(figures._sample_rows(labels, 20, seed=0)) == 8  # never more than there are


def test_sample_grid(prepared_toy_city, tmp_path):
    figure = figures.sample_grid_figure(prepared_toy_city, count=4)
    assert len(figure.axes) == 2 * 4
    grey = figure.axes[0].images[0].get_array()
    assert np.allclose(grey[..., 0], grey[..., 1], atol=2e-3)  # the top row has no colour
    with pytest.raises(ValueError, match="no images"):
        figures.sample_grid_figure(_without_test_split(prepared_toy_city, tmp_path), split="test")


def _without_test_split(prepared, tmp_path):
    """A copy of a prepared dataset whose manifest lists no test images."""
    import shutil

    copy = tmp_path / "no_test"
    shutil.copytree(prepared, copy)
    manifest = (copy / "manifest.csv").read_text().splitlines()
    kept = [line for line in manifest if ",test," not in line]
    (copy / "manifest.csv").write_text("\n".join(kept) + "\n")
    return copy


# ------------------------------------------------------------------------------------
# 02: training
# ------------------------------------------------------------------------------------
def test_cache_embeddings_skips_the_baseline_and_random_weights(tmp_path, capsys):
    baseline = _params(tmp_path, smoke=False)
    assert notebook.cache_embeddings(baseline) is None
    vit = _params(tmp_path, model="vit_fusion")
    assert notebook.cache_embeddings(vit) is None
    assert "nothing to cache" in capsys.readouterr().out
    # Neither tried to cache: their prepared folders (which do not exist) were not touched.
    assert not baseline.prepared_dir.exists() and not vit.prepared_dir.exists()


# ------------------------------------------------------------------------------------
# 02: the learning curve (colorkeras.evaluation.figures; the log from colorkeras.training.run)
# ------------------------------------------------------------------------------------
def _write_log(run_dir, rows):
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = ["epoch,loss,seconds,val_loss"] + [",".join(map(str, r)) for r in rows]
    (run_dir / "log.csv").write_text("\n".join(lines) + "\n")


def test_learning_curve(tmp_path):
    run = tmp_path / "runs" / "baseline"
    _write_log(run, [(1, 0.30, 5.0, 0.20), (2, 0.20, 5.0, 0.10), (3, 0.15, 5.0, 0.12)])
    assert Run(run).read_log()[1] == {"epoch": 2.0, "loss": 0.2, "seconds": 5.0, "val_loss": 0.1}
    figure = figures.learning_curve_figure(run)
    axes = figure.axes[0]
    labels = [line.get_label() for line in axes.get_lines()]
    assert labels[:2] == ["training", "validation"]
    assert "best: epoch 2 (best.keras)" in labels


def test_learning_curve_before_any_epoch(tmp_path):
    with pytest.raises(FileNotFoundError, match="no epoch"):
        figures.learning_curve_figure(tmp_path / "empty")


# ------------------------------------------------------------------------------------
# 03: evaluation (run listing from colorkeras.training.run; report display and the study's table
# from colorkeras.evaluation.report)
# ------------------------------------------------------------------------------------
def test_find_runs(tmp_path):
    for name in ("vit_fusion", "baseline", "unfinished"):
        (tmp_path / name).mkdir()
    (tmp_path / "baseline" / "best.keras").write_bytes(b"x")
    (tmp_path / "vit_fusion" / "best.keras").write_bytes(b"x")
    assert find_runs(tmp_path) == [tmp_path / "baseline", tmp_path / "vit_fusion"]
    assert find_runs(tmp_path / "nothing") == []


def test_evaluate_runs_without_runs_points_to_02(tmp_path):
    with pytest.raises(FileNotFoundError, match="02_train"):
        notebook.evaluate_runs(_params(tmp_path))


def test_evaluate_report_and_comparison(tmp_path, prepared_toy_city):
    """A random baseline through evaluate_runs, the report display and the comparison."""
    import keras

    from colorkeras.models.registry import build_model

    params = _params(tmp_path)
    params.data_root.mkdir(parents=True)
    params.prepared_dir.symlink_to(prepared_toy_city, target_is_directory=True)
    run = params.run_dir("baseline")
    run.mkdir(parents=True)
    keras.utils.set_random_seed(0)
    build_model("baseline", 32).save(run / "best.keras")

    runs = notebook.evaluate_runs(params, progress=False)
    assert runs == [run] and (Run(run).find_evaluation("test") / "per_image.csv").is_file()
    assert notebook.evaluate_runs(params, ["baseline"], progress=False) == [run]

    written = report.write_report(runs, params.report_dir)
    parts = report.report_parts(written["markdown"])
    kinds = [type(part).__name__ for part in parts]
    assert kinds[0] == "Markdown" and kinds.count("Image") == 2
    assert all("![" not in part.data for part in parts if type(part).__name__ == "Markdown")

    text = report.study_comparison_markdown(runs)
    assert "grey floor" in text and "not comparable" in text
    assert f"{report.STUDY_OVERALL[1][1]:.2f}" in text  # the study's InceptionV3 PSNR, labelled apart
    assert "- **baseline**:" in text and "dB PSNR" in text


def test_report_parts_keeps_text_around_images(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "figure.png")
    (tmp_path / "report.md").write_text("# Title\n\nText.\n\n![A figure](figure.png)\n\nAfter.\n")
    parts = report.report_parts(tmp_path / "report.md")
    assert [type(p).__name__ for p in parts] == ["Markdown", "Markdown", "Image", "Markdown"]
    assert parts[0].data.startswith("# Title") and parts[1].data == "*A figure*"
    assert parts[3].data.strip() == "After."


# ------------------------------------------------------------------------------------
# 04: your own photos (their before/after figure from colorkeras.evaluation.figures)
# ------------------------------------------------------------------------------------
def test_write_smoke_photos_are_grey_jpegs_bigger_than_the_model(tmp_path):
    paths = notebook.write_smoke_photos(tmp_path / "photos", count=5)
    assert len(paths) == 5
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "JPEG" and image.mode == "L"
            assert image.size == notebook.SMOKE_PHOTO_SIZE


def test_collect_photos(tmp_path, capsys):
    assert len(notebook.collect_photos(_params(tmp_path))) == 3  # smoke: stand-ins written
    assert "3 photo(s)" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="UPLOAD = True"):
        notebook.collect_photos(_params(tmp_path, smoke=False, photos="empty"))


def test_upload_photos_keeps_only_base_names(tmp_path):
    files = types.SimpleNamespace(upload=lambda: {"scan 1.jpg": b"a", "../../etc/evil.png": b"b"})
    saved = notebook.upload_photos(tmp_path / "photos", files_module=files)
    assert sorted(p.name for p in saved) == ["evil.png", "scan 1.jpg"]
    assert all(p.parent == tmp_path / "photos" for p in saved)
    assert (tmp_path / "photos" / "scan 1.jpg").read_bytes() == b"a"


def test_upload_photos_outside_colab(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    with pytest.raises(ValueError, match="Colab only"):
        notebook.upload_photos(tmp_path)


def test_before_after_pairs_and_figure(tmp_path):
    photos = tmp_path / "photos"
    notebook.write_smoke_photos(photos, count=2)
    out = tmp_path / "colorized"
    out.mkdir()
    Image.new("RGB", notebook.SMOKE_PHOTO_SIZE, (200, 120, 40)).save(out / "old_park_00.jpg")
    pairs = notebook.before_after_pairs([photos], out)
    assert pairs == [(photos / "old_park_00.jpg", out / "old_park_00.jpg")]  # only done ones
    figure = figures.before_after_figure(pairs)
    assert len(figure.axes) == 2
    assert "96x72" in figure.axes[1].get_title()
    with pytest.raises(ValueError, match="colorize"):
        figures.before_after_figure([])

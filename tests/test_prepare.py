"""Preparation: layout, split, precision, bad files, no-op reruns, interrupted runs."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from colorkeras import color
from colorkeras.data.prepare import PrepareError, PrepareSettings, prepare
from colorkeras.data.synthetic import write_toy_city


def _read_manifest(root):
    with open(root / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_prepared_layout_split_and_precision(toy_city, prepared_toy_city):
    rows = _read_manifest(prepared_toy_city)
    assert len(rows) == 48
    per_class = {}
    for row in rows:
        per_class.setdefault(row["class"], []).append(row["split"])
    for splits in per_class.values():  # 12 per class -> 10/1/1 with rounding of 10 %
        assert (splits.count("train"), splits.count("val"), splits.count("test")) == (10, 1, 1)
    l_train = np.load(prepared_toy_city / "train_l.npy")
    ab_train = np.load(prepared_toy_city / "train_ab.npy")
    assert l_train.shape == (40, 32, 32) and ab_train.shape == (40, 32, 32, 2)
    assert l_train.dtype == np.uint8
    # Each stored row decodes to the LAB of its source resized to 32x32, within the bounds.
    row = next(r for r in rows if r["split"] == "train" and r["row"] == "7")
    source = np.asarray(Image.open(toy_city / row["relpath"]).convert("RGB").resize((32, 32), Image.BICUBIC))
    lab = color.rgb_to_lab(source)
    assert np.abs(color.dequantize_l(l_train[7].astype(np.float32)) - lab[..., 0]).max() < 0.4
    assert np.abs(color.dequantize_ab(ab_train[7].astype(np.float32)) - lab[..., 1:]).max() < 0.5


def test_rerun_does_nothing_and_manifest_is_reproducible(toy_city, prepared_toy_city, tmp_path):
    before = (prepared_toy_city / "train_l.npy").stat().st_mtime_ns
    report = prepare(toy_city, prepared_toy_city, PrepareSettings(image_size=32), workers=1, progress=False)
    assert report.already_done
    assert (prepared_toy_city / "train_l.npy").stat().st_mtime_ns == before
    again = tmp_path / "again"
    prepare(toy_city, again, PrepareSettings(image_size=32), workers=2, progress=False)
    assert (again / "manifest.csv").read_bytes() == (prepared_toy_city / "manifest.csv").read_bytes()
    assert (again / "train_ab.npy").read_bytes() == (prepared_toy_city / "train_ab.npy").read_bytes()


def test_other_settings_need_overwrite(toy_city, prepared_toy_city):
    with pytest.raises(PrepareError, match="--overwrite"):
        prepare(toy_city, prepared_toy_city, PrepareSettings(image_size=32, seed=1), progress=False)


def _write_bad_and_odd_files(root):
    """Good photos plus every kind of bad or unusual file, in two classes and an empty one."""
    rng = np.random.default_rng(0)
    good = (rng.uniform(0, 255, (20, 24, 3))).astype(np.uint8)
    street, park = root / "street", root / "park"
    street.mkdir(parents=True)
    park.mkdir()
    (root / "empty_class").mkdir()
    for i in range(6):
        Image.fromarray(np.roll(good, i, axis=0)).save(street / f"good_{i}.jpg")
        Image.fromarray(np.roll(good, i, axis=1)).save(park / f"good_{i}.png")
    Image.fromarray(good).convert("RGBA").save(park / "rgba.png")
    Image.fromarray(good).convert("P").save(park / "palette.png")
    Image.fromarray(good).convert("CMYK").save(street / "cmyk.jpg")
    Image.fromarray((np.arange(20 * 24).reshape(20, 24) * 100).astype(np.uint16)).save(park / "sixteen.png")
    Image.fromarray(good[..., 0]).save(street / "grey.png")
    (street / "zero.jpg").write_bytes(b"")
    (street / "notes.jpg").write_text("not an image")
    full = (street / "good_0.jpg").read_bytes()
    (street / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (park / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))


def test_bad_files_are_skipped_and_reported(tmp_path, capsys):
    source = tmp_path / "src"
    _write_bad_and_odd_files(source)
    report = prepare(source, tmp_path / "out", PrepareSettings(image_size=16), workers=1, progress=False)
    reasons = dict(report.skipped)
    assert set(reasons) == {"street/zero.jpg", "street/notes.jpg", "street/truncated.jpg",
                            "park/corrupt.png", "street/grey.png", "park/sixteen.png"}
    assert "grayscale" in reasons["street/grey.png"]
    assert report.empty_classes == ["empty_class"]
    assert sum(report.prepared.values()) == 6 + 6 + 3  # good ones + RGBA, palette, CMYK
    with open(tmp_path / "out" / "skipped.csv", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 6
    text = report.to_text()
    assert "empty_class" in text and "truncated.jpg" in text


def test_settings_say_whether_the_source_is_the_synthetic_toy_city(prepared_toy_city, tmp_path):
    assert json.loads((prepared_toy_city / "settings.json").read_text())["synthetic"] is True
    # Toy-city split folders carry the marker one level down.
    write_toy_city(tmp_path / "toy" / "train", per_class=3, size=16, classes=["park"])
    write_toy_city(tmp_path / "toy" / "test", per_class=1, size=16, seed=5, classes=["park"])
    prepare(tmp_path / "toy", tmp_path / "toy_out", PrepareSettings(image_size=16), workers=1, progress=False)
    assert json.loads((tmp_path / "toy_out" / "settings.json").read_text())["synthetic"] is True
    # The same images without the marker are photos as far as anyone can tell.
    shutil.copytree(tmp_path / "toy" / "train" / "park", tmp_path / "real" / "park")
    settings = PrepareSettings(image_size=16)
    prepare(tmp_path / "real", tmp_path / "real_out", settings, workers=1, progress=False)
    document = json.loads((tmp_path / "real_out" / "settings.json").read_text())
    assert document["synthetic"] is False
    # A dataset prepared before settings said it is still prepared: a rerun does nothing.
    del document["synthetic"]
    (tmp_path / "real_out" / "settings.json").write_text(json.dumps(document))
    assert prepare(tmp_path / "real", tmp_path / "real_out", settings, workers=1, progress=False).already_done


def test_split_folders_in_the_source_are_merged_into_classes(tmp_path):
    write_toy_city(tmp_path / "src" / "train", per_class=4, size=16, classes=["park", "street"])
    write_toy_city(tmp_path / "src" / "test", per_class=2, size=16, seed=5, classes=["park", "street"])
    prepare(tmp_path / "src", tmp_path / "out", PrepareSettings(image_size=16), workers=1, progress=False)
    classes = {row["class"] for row in _read_manifest(tmp_path / "out")}
    assert classes == {"park", "street"}


def test_no_images_is_a_clear_error(tmp_path):
    (tmp_path / "src" / "a").mkdir(parents=True)
    with pytest.raises(PrepareError, match="no image files"):
        prepare(tmp_path / "src", tmp_path / "out", progress=False)
    with pytest.raises(PrepareError, match="does not exist"):
        prepare(tmp_path / "missing", tmp_path / "out", progress=False)


@pytest.mark.slow
def test_a_killed_preparation_leaves_nothing_trusted_and_a_rerun_completes(tmp_path):
    source = tmp_path / "src"
    write_toy_city(source, per_class=150, size=64)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "colorkeras.cli", "prepare", str(source), str(out),
               "--size", "256", "--workers", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while not list(tmp_path.glob(".out.partial-*")) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert process.poll() is None, "preparation finished before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not out.exists(), "an interrupted preparation must not leave a dataset in place"
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert (out / "settings.json").is_file() and len(_read_manifest(out)) == 600
    assert not list(tmp_path.glob(".out.partial-*"))

"""The CPU-trained default model's pieces (issue 18): pooled sources with their own split,
random resized crops, training below the stored size, the confidence objective and its
knob, evaluation through the full-resolution path, the CPU training form, and the model
that ships in the package."""

from __future__ import annotations

import csv
import json
import shutil
import zlib

import numpy as np
import pytest
from PIL import Image

from colorkeras.training.config import TrainConfig
from colorkeras.data.pipeline import BatchReader, DatasetError, PreparedDataset, crop_and_resize
from colorkeras.data.prepare import PrepareSettings, prepare
from colorkeras.training.objectives import confidence_gain, get_objective


def _photo(path, seed, size=40):
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size, 3), np.uint8)
    image[: size // 2] = (70, 120, 220)  # sky
    image[size // 2 :] = rng.integers(90, 200, 3)  # a coloured facade
    image[-1, :4, 0] = [seed % 256, seed // 256 % 256, 7, 7]  # no two photos alike (prepare drops copies)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)


def _source(root, name, classes, train=6, test=3):
    for cls in classes:
        for i in range(train + test):
            split, stem = ("train", f"{i}") if i < train else ("test", f"t{i - train}")
            _photo(root / name / split / cls / f"{stem}.png", zlib.crc32(f"{name}/{cls}/{i}".encode()) % 60000)
    return root / name


# ------------------------------------------------------------------------------------
# Data: pooled sources, their own splits, crops
# ------------------------------------------------------------------------------------
def test_several_sources_keep_their_own_test_folders_and_class_names(tmp_path):
    first = _source(tmp_path, "town", ["street"])
    second = _source(tmp_path, "city", ["street", "facade"])
    out = tmp_path / "pool"
    report = prepare([first, second], out, PrepareSettings(image_size=24, val_fraction=0.2, keep_split=True),
                     workers=1, progress=False)
    with open(out / "manifest.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_split = {split: {r["relpath"] for r in rows if r["split"] == split} for split in ("train", "val", "test")}
    # Every image of a source's test folder is test, and nothing else is.
    assert by_split["test"] == {r["relpath"] for r in rows if "/test/" in r["relpath"]}
    assert len(by_split["test"]) == 9 and report.prepared == {"train": 15, "val": 3, "test": 9}
    assert {r["class"] for r in rows} == {"town:street", "city:street", "city:facade"}
    assert all(r["relpath"].split("/")[0] in ("town", "city") for r in rows)
    settings = json.loads((out / "settings.json").read_text())
    assert settings["keep_split"] is True and "town" in settings["source_dir"] and "city" in settings["source_dir"]
    # A rerun with the same settings is a no-op.
    assert prepare([first, second], out, PrepareSettings(image_size=24, val_fraction=0.2, keep_split=True),
                   workers=1, progress=False).already_done


def test_without_keep_split_the_old_settings_still_count_as_prepared(prepared_toy_city):
    settings = json.loads((prepared_toy_city / "settings.json").read_text())
    assert "keep_split" not in settings  # datasets prepared before the option are not redone


def test_random_resized_crops_keep_l_and_ab_aligned():
    # L and both ab channels hold the same gradient: any crop or resize must keep them equal.
    side = 64
    ramp = np.add.outer(np.arange(side), 2 * np.arange(side)).astype(np.uint8)
    l_u8 = np.stack([ramp, ramp.T])
    ab_u8 = np.stack([np.stack([ramp, ramp], -1), np.stack([ramp.T, ramp.T], -1)])
    rng = np.random.default_rng(0)
    crops_l, crops_ab = crop_and_resize(l_u8, ab_u8, 24, 0.3, rng)
    assert crops_l.shape == (2, 24, 24) and crops_ab.shape == (2, 24, 24, 2)
    np.testing.assert_array_equal(crops_ab[..., 0], crops_l)
    np.testing.assert_array_equal(crops_ab[..., 1], crops_l)
    # Crops differ from the whole image resized (validation), which has the full range.
    whole_l, _ = crop_and_resize(l_u8, ab_u8, 24, None, rng)
    assert whole_l[0].max() - whole_l[0].min() > crops_l[0].max() - crops_l[0].min() or \
        not np.array_equal(whole_l, crops_l)
    # At the stored size without crops nothing changes.
    same_l, same_ab = crop_and_resize(l_u8, ab_u8, side, None, rng)
    assert same_l is l_u8 and same_ab is ab_u8


def test_reader_resizes_to_the_training_size_and_refuses_a_larger_one(prepared_toy_city):
    dataset = PreparedDataset.open(prepared_toy_city)  # stored at 32
    reader = BatchReader(dataset, "train", 4, image_size=16, crop_scale=0.5, seed=3)
    inputs, ab = reader.numpy_batch(np.arange(4))
    assert inputs.shape == (4, 16, 16, 1) and ab.shape == (4, 16, 16, 2) and inputs.dtype == np.uint8
    again, _ = reader.numpy_batch(np.arange(4))
    np.testing.assert_array_equal(inputs, again)  # the crops follow the seed and the rows
    with pytest.raises(DatasetError, match="prepared at 32px, smaller than the 64px"):
        BatchReader(dataset, "train", 4, image_size=64)


# ------------------------------------------------------------------------------------
# The confidence objective and its knob
# ------------------------------------------------------------------------------------
def test_confidence_gain_shrinks_unsure_chroma_and_boosts_sure_chroma():
    ab = np.array([[0.3, 0.0], [0.3, 0.0]], np.float32)
    log_variance = np.log(np.array([0.001, 1.0], np.float32))  # sure, unsure
    assert np.allclose(confidence_gain(ab, log_variance, 1.0), 1.0)
    cautious = confidence_gain(ab, log_variance, 2.0)
    assert cautious[0] > 0.95 and cautious[1] < 0.1  # Wiener: 0.09 / (0.09 + var)
    vivid = confidence_gain(ab, log_variance, 0.5)
    assert vivid[0] > 1.9 and 1.0 < vivid[1] < 1.1


def test_confidence_decodes_tanh_at_t1_and_round_trips_its_record():
    objective = get_objective("confidence")
    assert objective.output_channels == 3 and objective.uses_temperature
    output = np.random.default_rng(0).normal(size=(2, 4, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(objective.decode(output), np.tanh(output[..., :2]), rtol=1e-6)
    shrunk = objective.decode(output, temperature=3.0)
    assert np.all(np.abs(shrunk) <= np.abs(np.tanh(output[..., :2])) + 1e-6)
    rebuilt = get_objective({**objective.to_dict(), "temperature": 1.5})
    assert rebuilt.temperature == 1.5 and rebuilt.resolve_temperature() == 1.5
    with pytest.raises(Exception, match="temperature must be a number > 0"):
        objective.decode(output, temperature=0)


@pytest.mark.backend
def test_confidence_loss_on_stored_batches_is_its_loss_on_normalised_ab(prepared_toy_city):
    import keras

    from colorkeras import color
    from colorkeras.data.pipeline import make_py_dataset
    from colorkeras.models.stored_input import StoredTargetLoss

    l_stored, ab_stored = make_py_dataset(prepared_toy_city, "train", batch_size=8, seed=2)[0]
    _, ab_host = color.stored_to_normalized(l_stored, ab_stored)
    objective = get_objective("confidence")
    rng = np.random.default_rng(0)
    output = np.concatenate([np.arctanh(np.clip(ab_host + rng.normal(0, 0.1, ab_host.shape), -0.99, 0.99)),
                             rng.normal(-4, 0.5, ab_host.shape[:-1] + (1,))], -1).astype(np.float32)
    expected = float(keras.ops.convert_to_numpy(keras.ops.mean(objective.loss(ab_host, output))))
    got = float(keras.ops.convert_to_numpy(StoredTargetLoss(objective)(ab_stored, output)))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


@pytest.mark.backend
def test_confidence_loss_is_lowest_where_the_variance_is_the_error_it_will_make():
    """The variance head learns E[error^2]: with the ab head at 0 and the truth +-0.4 at
    random, the loss over constant log-variances is lowest at exp(log-variance) = 0.16."""
    from keras import ops

    loss = get_objective("confidence").loss
    rng = np.random.default_rng(0)
    truth = (rng.integers(0, 2, (8, 4, 4, 2)) * 0.8 - 0.4).astype(np.float32)
    grid = np.linspace(np.log(0.01), np.log(1.0), 201).astype(np.float32)
    values = []
    for log_variance in grid:
        output = np.concatenate([np.zeros_like(truth), np.full(truth.shape[:-1] + (1,), log_variance)], -1)
        values.append(float(ops.convert_to_numpy(ops.mean(loss(truth, output)))))
    assert np.exp(grid[int(np.argmin(values))]) == pytest.approx(0.16, rel=0.03)


# ------------------------------------------------------------------------------------
# Training below the stored size, evaluation at the data's size
# ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_train_small_with_crops_then_evaluate_at_the_data_size(prepared_toy_city, tmp_path):
    from colorkeras.evaluation.evaluate import evaluate_run
    from colorkeras.training.run import predictions_path
    from colorkeras.training.train import train

    config = TrainConfig(model="efficient", loss="confidence", image_size=16, epochs=2, batch_size=8,
                         learning_rate=2e-3, schedule="cosine", crop_scale=0.4, base_filters=8, depth=2)
    result = train(prepared_toy_city, tmp_path / "run", config, verbose=0)
    assert result.epochs_done == 2
    record = json.loads((tmp_path / "run" / "config.json").read_text())
    assert record["objective"]["name"] == "confidence" and record["config"]["crop_scale"] == 0.4
    evaluation = evaluate_run(tmp_path / "run", prepared_toy_city, "test", lpips_scorer=None, progress=False,
                              temperature=2.0)
    assert evaluation.record["model_size"] == 16 and evaluation.record["image_size"] == 32
    predictions = np.load(predictions_path(evaluation.folder))
    assert predictions.shape == (4, 32, 32, 2)
    for label, means in evaluation.record["mean"].items():
        assert np.isfinite(means["psnr"]), label


def test_the_cpu_form_measures_its_epochs_and_a_started_run_keeps_them(prepared_toy_city, tmp_path, capsys):
    from colorkeras.training.train import epochs_for_minutes

    config = TrainConfig(model="efficient", loss="confidence", image_size=16, batch_size=8, base_filters=8,
                         depth=2)
    few = epochs_for_minutes(prepared_toy_city, tmp_path / "run", config, 0.05, steps=2)
    many = epochs_for_minutes(prepared_toy_city, tmp_path / "run", config, 5.0, steps=2)
    assert 1 <= few < many
    assert "training images/s at 16px" in capsys.readouterr().out
    run = tmp_path / "started"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": "efficient", "config": {"epochs": 7}}))
    (run / "log.csv").write_text("epoch,loss\n1,0.1\n")
    assert epochs_for_minutes(prepared_toy_city, run, config, 60.0) == 7
    with pytest.raises(Exception, match="--minutes must be a number > 0"):
        epochs_for_minutes(prepared_toy_city, tmp_path / "other", config, 0)


# ------------------------------------------------------------------------------------
# The shipped model
# ------------------------------------------------------------------------------------
def test_the_shipped_model_loads_through_the_predictor_and_has_a_card():
    from colorkeras.models.flops import forward_flops
    from colorkeras.models.registry import build_model
    from colorkeras.training.shipped import MODEL_CARD, default_model_dir
    from colorkeras.inference.predictor import Predictor

    folder = default_model_dir()
    assert (folder / MODEL_CARD).is_file()
    assert (folder / "best.keras").stat().st_size <= 20 * 2**20
    predictor = Predictor.open(folder)
    assert predictor.model.family == "efficient" and predictor.objective.name == "confidence"
    photo = np.full((150, 200, 3), 128, np.uint8)
    photo[:75] = (80, 130, 210)
    out = predictor.colorize(photo)
    assert out.shape == photo.shape and out.dtype == np.uint8
    arguments = json.loads((folder / "config.json").read_text())["model_args"]
    assert forward_flops(build_model("efficient", 256, output_channels=3, **{
        key: arguments[key] for key in ("base_filters", "depth", "blocks", "block", "attention")})) <= 2.0e9


def test_colorize_without_a_model_uses_the_shipped_one(tmp_path):
    import subprocess
    import sys

    _photo(tmp_path / "in" / "old.png", 1, size=64)
    done = subprocess.run([sys.executable, "-m", "colorkeras.cli", "colorize", str(tmp_path / "in"),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the shipped default" in done.stdout
    result = np.asarray(Image.open(tmp_path / "out" / "old.png"))
    assert result.shape == (64, 64, 3)
    # A model named first is still taken as the model, and a lone model is refused.
    lone = subprocess.run([sys.executable, "-m", "colorkeras.cli", "colorize", str(_shipped_copy(tmp_path)),
                           "--out", str(tmp_path / "out2")], capture_output=True, text=True, timeout=300)
    assert lone.returncode == 2 and "is a model: name the photos" in lone.stderr


def _shipped_copy(tmp_path):
    from colorkeras.training.shipped import default_model_dir

    return shutil.copytree(default_model_dir(), tmp_path / "model_copy")


def test_ship_run_copies_the_best_model_and_trims_its_records(tmp_path, monkeypatch):
    import json

    from colorkeras.errors import InvalidArgument
    from colorkeras.training import shipped
    from colorkeras.training.run import Run

    source = Run(shipped.DEFAULT_MODEL_DIR)
    record = source.record
    record["dataset"]["root"] = "/somewhere/local/pool160"
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "best.keras").write_bytes(source.best_model_path.read_bytes())
    Run(run_dir).write_record(record)
    (run_dir / "best.json").write_text(json.dumps(source.best_record))
    copy = shipped.ship_run(run_dir, tmp_path / "shipped", {"temperature": 0.9})
    assert copy.best_model_path.read_bytes() == source.best_model_path.read_bytes()
    assert copy.record["dataset"]["root"] == record["dataset"]["name"]  # no local path ships
    assert copy.record["objective"]["temperature"] == copy.best_record["objective"]["temperature"] == 0.9
    monkeypatch.setattr(shipped, "MAX_SHIPPED_BYTES", 1000)
    with pytest.raises(InvalidArgument, match="over the 1,000 allowed"):
        shipped.ship_run(run_dir, tmp_path / "again")
    assert not (tmp_path / "again").exists()

"""Training: run folder, resume after a real kill, bad input, divergence, full disk, distribution."""

from __future__ import annotations

import csv
import math
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from colorkeras.training.config import TrainConfig, parse_overrides
from colorkeras.errors import InvalidArgument
from colorkeras.training.run import Run
from colorkeras.training.train import TrainingError, train

SIZE = 32


def tiny_config(**overrides) -> TrainConfig:
    values = dict(image_size=SIZE, epochs=2, batch_size=8, learning_rate=1e-3,
                  extractor_weights=None, extractor_size="tiny")
    return TrainConfig(**{**values, **overrides})


def read_log(run_dir):
    with open(run_dir / "log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.backend
def test_training_writes_a_complete_run_folder(prepared_toy_city, tmp_path):
    from colorkeras.models import load_model

    run, config = tmp_path / "run", tiny_config()
    result = train(prepared_toy_city, run, config, verbose=0)
    # The config it was given, every field, and the data it trained on.
    saved = json.loads((run / "config.json").read_text())
    assert saved["model"] == "baseline" and saved["config"] == config.to_dict()
    assert saved["dataset"]["counts"] == {"train": 40, "val": 4, "test": 4}
    # One log line per epoch; the best epoch is the lowest validation loss, and best.json,
    # the state and the result say the same.
    log = read_log(run)
    assert [row["epoch"] for row in log] == ["1", "2"]
    val_losses = [float(row["val_loss"]) for row in log]
    assert all(math.isfinite(float(row["loss"])) for row in log) and all(map(math.isfinite, val_losses))
    best_epoch = 1 + int(np.argmin(val_losses))
    assert (result.epochs_done, result.best_epoch, result.best_val_loss) == (2, best_epoch, min(val_losses))
    best = json.loads((run / "best.json").read_text())
    assert (best["epoch"], best["val_loss"]) == (best_epoch, min(val_losses))
    state = json.loads((Run(run).latest_state() / "state.json").read_text())
    assert state["epochs_done"] == 2 and state["optimizer_iterations"] == 2 * (40 // 8)
    assert [h["val_loss"] for h in state["history"]] == val_losses
    model = load_model(run / "best.keras")
    assert model.predict(np.zeros((1, SIZE, SIZE, 1), "float32"), verbose=0).shape == (1, SIZE, SIZE, 2)
    assert any((run / "tensorboard").rglob("*"))
    # Running the finished command again trains nothing more.
    best_bytes = (run / "best.keras").read_bytes()
    again = train(prepared_toy_city, run, config, verbose=0)
    assert again.epochs_done == 2 and read_log(run) == log and (run / "best.keras").read_bytes() == best_bytes
    # More epochs continue from the saved state: its optimizer steps go on counting.
    more = train(prepared_toy_city, run, config.replace(epochs=3), verbose=0)
    assert (more.resumed_from, more.epochs_done) == (2, 3)
    assert read_log(run)[:2] == log and read_log(run)[2]["epoch"] == "3"
    state = json.loads((Run(run).latest_state() / "state.json").read_text())
    assert state["epochs_done"] == 3 and state["optimizer_iterations"] == 3 * (40 // 8)
    assert json.loads((run / "config.json").read_text())["config"]["epochs"] == 3


@pytest.mark.backend
@pytest.mark.parametrize("model", ["inception_fusion", "vit_fusion"])
def test_fusion_models_train_from_cached_embeddings(prepared_toy_city, tmp_path, model):
    run = tmp_path / model
    caches = prepared_toy_city / "embeddings"
    before = set(caches.glob("*/train.npy")) if caches.exists() else set()
    train(prepared_toy_city, run, tiny_config(model=model, epochs=1), verbose=0)
    created = set(caches.glob("*/train.npy")) - before
    assert len(created) == 1, "the fusion run should have cached its extractor's outputs"
    assert np.load(created.pop(), mmap_mode="r").shape[1:] == (2, 1000)
    assert (run / "best.keras").is_file()


def test_bad_input_gives_clear_errors_and_touches_nothing(prepared_toy_city, tmp_path):
    with pytest.raises(TrainingError, match="not a prepared dataset"):
        train(tmp_path / "nothing", tmp_path / "run_a", tiny_config())
    with pytest.raises(TrainingError, match=r"prepared at 32px, smaller than the config.s 64px: .* train with --image-size 32"):
        train(prepared_toy_city, tmp_path / "run_b", tiny_config(image_size=64))
    with pytest.raises(ValueError, match="unknown model"):
        tiny_config(model="resnet")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(TrainingError, match="not a colorkeras run folder"):
        train(prepared_toy_city, foreign, tiny_config())
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("content", ['{"x": 1}', "{not json", "[1, 2]", '{"model": "baseline"}',
                                     '{"model": 3, "config": {}}'])
def test_a_folder_whose_config_json_is_not_a_runs_is_refused(prepared_toy_city, tmp_path, capsys, content):
    from colorkeras.cli import main

    # Issue 22: a config.json of some other program made the folder pass for a run that
    # never finished an epoch, so train wrote its own config.json over it and its files in.
    folder = tmp_path / "theirs"
    folder.mkdir()
    (folder / "config.json").write_text(content)
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(TrainingError, match="not a colorkeras run folder"):
        train(prepared_toy_city, folder, tiny_config(epochs=1), verbose=0)
    code = main(["train", str(prepared_toy_city), "--model", "baseline", "--out", str(folder),
                 "--image-size", str(SIZE), "--epochs", "1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("colorkeras train: error: ") and err.count("\n") == 1, err
    assert f"{folder} is not a colorkeras run folder" in err
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "notes.txt"]
    assert (folder / "config.json").read_text() == content


def test_a_folder_holding_another_run_is_refused(prepared_toy_city, tmp_path):
    run = tmp_path / "run"
    train(prepared_toy_city, run, tiny_config(epochs=1), verbose=0)
    before = (run / "best.keras").read_bytes()
    with pytest.raises(TrainingError, match="holds another run"):
        train(prepared_toy_city, run, tiny_config(epochs=1, learning_rate=5e-4))
    assert (run / "best.keras").read_bytes() == before


def test_divergence_stops_with_a_clear_message_and_saves_nothing_bad(prepared_toy_city, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(TrainingError, match="loss became nan"):
        train(prepared_toy_city, run, tiny_config(learning_rate=1e35), verbose=0)
    assert Run(run).latest_state() is None and not (run / "best.keras").exists()


def test_overrides_are_typed():
    assert parse_overrides(["epochs=5", "loss=l1", "learning_rate=3e-4", "extractor_weights=none",
                            "augment=false", "jit_compile=auto", "max_train_images=none"]) == {
        "epochs": 5, "loss": "l1", "learning_rate": 3e-4, "extractor_weights": None, "augment": False,
        "jit_compile": "auto", "max_train_images": None}
    assert parse_overrides(["jit_compile=true"]) == {"jit_compile": True}
    with pytest.raises(ValueError, match="unknown config key"):
        parse_overrides(["epoch=5"])


@pytest.mark.parametrize("pair, message", [
    ("epochs=abc", "epochs=abc: expected a whole number"),
    ("batch_size=2.5", "batch_size=2.5: expected a whole number"),
    ("learning_rate=fast", "learning_rate=fast: expected a number"),
    ("augment=maybe", "augment=maybe: expected true or false"),
    ("jit_compile=banana", "jit_compile=banana: expected auto, true or false"),
    ("max_train_images=many", "max_train_images=many: expected a whole number or none"),
])
def test_overrides_of_the_wrong_type_name_key_value_and_type(pair, message):
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        parse_overrides([pair])


@pytest.mark.parametrize("field, value, message", [
    ("image_size", 33, "image_size must be a multiple of 8"),
    ("image_size", 0, "image_size must be a whole number >= 8"),
    ("image_size", 32.0, "image_size must be a whole number"),
    ("epochs", "abc", "epochs must be a whole number >= 1"),
    ("epochs", 0, "epochs must be a whole number >= 1"),
    ("batch_size", True, "batch_size must be a whole number"),
    ("learning_rate", 0.0, "learning_rate must be a finite number > 0"),
    ("learning_rate", float("inf"), "learning_rate must be a finite number > 0"),
    ("learning_rate", "1e-3", "learning_rate must be a finite number"),
    ("weight_decay", -1e-6, "weight_decay must be a finite number >= 0"),
    ("input_channels", 2, "unknown input_channels 2"),
    ("augment", "maybe", "unknown augment 'maybe'"),
    ("augment", 1, "unknown augment 1"),
    ("jit_compile", "banana", "unknown jit_compile 'banana'; expected one of 'auto', True, False"),
    ("extractor_size", "huge", "unknown extractor_size 'huge'"),
    ("max_train_images", 0, "max_train_images must be a whole number >= 1"),
    ("seed", -1, "seed must be a whole number >= 0"),
    ("extractor_weights", 3, "extractor_weights must be"),
    ("mixed_precision", "float8", "unknown mixed_precision 'float8'"),
    ("loss", "hinge", "unknown loss 'hinge'"),
])
def test_config_checks_every_field(field, value, message):
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        TrainConfig(**{field: value})


def test_config_accepts_its_documented_values_and_keeps_them_through_config_json():
    for values in (dict(jit_compile=True), dict(jit_compile=False), dict(max_train_images=1),
                   dict(input_channels=3, extractor_size="tiny", image_size=8), dict(learning_rate=1),
                   dict(weight_decay=0), dict(extractor_weights=None)):
        config = TrainConfig(**values)
        kept = {key: getattr(config, key) for key in values}
        assert kept == values and all(type(kept[key]) is type(values[key]) for key in values), values
        # What a run folder's config.json holds (training writes to_dict) gives the same config back.
        assert TrainConfig(**json.loads(config.to_json())) == config


def test_the_image_size_advice_names_a_size_prepare_accepts(prepared_toy_city, tmp_path):
    from colorkeras.data.prepare import PrepareSettings

    with pytest.raises(TrainingError, match="prepare again with --size 40") as caught:
        train(prepared_toy_city, tmp_path / "run", tiny_config(image_size=40))
    PrepareSettings(image_size=int(re.search(r"--size (\d+)", str(caught.value))[1]))  # accepted


def test_out_that_is_a_file_is_a_clear_error(prepared_toy_city, tmp_path):
    (tmp_path / "run").write_text("a file")
    with pytest.raises(TrainingError, match="is a file, not a folder"):
        train(prepared_toy_city, tmp_path / "run", tiny_config())
    with pytest.raises(TrainingError, match=f"cannot write the run folder {re.escape(str(tmp_path))}"):
        train(prepared_toy_city, tmp_path / "run" / "inside", tiny_config())
    assert (tmp_path / "run").read_text() == "a file"


def test_a_failed_start_leaves_no_run_behind(prepared_toy_city, tmp_path):
    run = tmp_path / "run"
    with pytest.raises(TrainingError, match="fewer than one batch of 64"):
        train(prepared_toy_city, run, tiny_config(batch_size=64), verbose=0)
    assert not (run / "config.json").exists()
    # A start that failed later (say, out of memory in its first step) leaves config.json
    # but no epoch; a kill during a state save leaves a .partial-* folder.
    (run / "config.json").write_text(json.dumps({"model": "baseline", "config": {"batch_size": 64}}))
    partial = run / "state" / ".partial-abc123"
    partial.mkdir(parents=True)
    (partial / "train.weights.h5").write_bytes(b"x" * 1000)
    result = train(prepared_toy_city, run, tiny_config(epochs=1), verbose=0)
    assert result.epochs_done == 1
    assert json.loads((run / "config.json").read_text())["config"]["batch_size"] == 8
    assert not partial.exists()


def test_progress_lines_when_not_a_terminal(prepared_toy_city, tmp_path, capsys):
    train(prepared_toy_city, tmp_path / "run", tiny_config(epochs=1), verbose="lines", progress_every=0)
    out = capsys.readouterr().out
    lines = re.findall(r"^epoch 1/1 step (\d+)/5 \((\d+)%\) [0-9.e+-]+ s/step, ETA \d+ s$", out, re.MULTILINE)
    assert [int(step) for step, _ in lines] == [1, 2, 3, 4, 5], out
    assert lines[1][1] == "40"
    assert "val_loss" in out  # Keras' own line at the end of the epoch
    with pytest.raises(InvalidArgument, match="verbose must be"):
        train(prepared_toy_city, tmp_path / "run2", tiny_config(), verbose="loud")


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.slow
def test_a_damaged_state_is_named_moved_aside_and_the_run_goes_on(prepared_toy_city, tmp_path, capsys):
    run = tmp_path / "run"
    train(prepared_toy_city, run, tiny_config(epochs=1), verbose=0)
    _truncate(run / "state" / "epoch-0001" / "train.weights.h5")
    # The log and best.keras reach epoch 1: the run goes on from best.keras's weights.
    result = train(prepared_toy_city, run, tiny_config(epochs=2), verbose=0)
    err = capsys.readouterr().err
    assert f"{run / 'state' / 'epoch-0001'} (train.weights.h5 or state.json) cannot be loaded" in err
    assert f"moved aside to {run / 'state' / 'damaged-epoch-0001'}" in err
    assert "continuing from best.keras (epoch 1) with a fresh optimizer state" in err
    assert "intact" not in err
    assert (run / "state" / "damaged-epoch-0001" / "train.weights.h5").is_file()
    assert result.resumed_from == 1 and result.epochs_done == 2
    assert [row["epoch"] for row in read_log(run)] == ["1", "2"]
    state = json.loads((Run(run).latest_state() / "state.json").read_text())
    assert state["epochs_done"] == 2 and state["optimizer_iterations"] == 40 // 8  # fresh optimizer

    # Without a usable best.keras either, it starts again from epoch 1, and says so.
    _truncate(run / "state" / "epoch-0002" / "train.weights.h5")
    (run / "best.keras").write_bytes(b"damaged")
    result = train(prepared_toy_city, run, tiny_config(epochs=2), verbose=0)
    err = capsys.readouterr().err
    assert f"{run / 'best.keras'} cannot be loaded" in err and "starting again from epoch 1" in err
    assert (run / "state" / "damaged-epoch-0002").is_dir()
    assert result.resumed_from == 0 and result.epochs_done == 2


def _train_command(prepared, run, epochs):
    return [sys.executable, "-m", "colorkeras.cli", "train", str(prepared), "--model", "baseline",
            "--out", str(run), "--epochs", str(epochs), "--batch-size", "8",
            "--set", f"image_size={SIZE}", "--set", "learning_rate=0.001"]


@pytest.mark.slow
def test_a_second_train_into_a_run_folder_in_use_is_refused(prepared_toy_city, tmp_path):
    from colorkeras.fileio import FolderInUse, folder_lock

    # Issue 22: two `train`s into one --out both started, each writing the other's files.
    run = tmp_path / "run"
    command = _train_command(prepared_toy_city, run, epochs=500)
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    first = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    try:
        deadline = time.time() + 240
        while not (run / "config.json").exists() and time.time() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, "the first training ended before the second started"
        same = TrainConfig(model="baseline", epochs=1, batch_size=8, image_size=SIZE, learning_rate=1e-3)
        with pytest.raises(FolderInUse, match=rf"is in use by another colorkeras process \(pid {first.pid}\)"):
            train(prepared_toy_city, run, same, verbose=0)
        second = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=240)
        assert second.returncode == 2, second.stderr[-2000:]
        assert second.stderr.endswith(f"colorkeras train: error: {run} is in use by another colorkeras "
                                      f"process (pid {first.pid})\n"), second.stderr[-2000:]
    finally:
        first.kill()
        first.wait()
    with folder_lock(run):  # a killed training holds nothing
        pass


@pytest.mark.slow
def test_resume_after_a_real_kill_finishes_the_same_epochs_with_the_optimizer_state(prepared_toy_city, tmp_path):
    run = tmp_path / "run"
    command = _train_command(prepared_toy_city, run, epochs=6)
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    deadline = time.time() + 240
    while not (run / "state" / "epoch-0002").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "training finished before it could be killed"
    process.send_signal(signal.SIGKILL)  # a Colab disconnect: no clean-up of any kind
    process.wait()
    killed_after = Run(run).latest_state()
    assert killed_after is not None and json.loads((killed_after / "state.json").read_text())["epochs_done"] < 6
    finished = subprocess.run(command, capture_output=True, text=True, env=environment)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert "resumed after epoch" in finished.stdout
    assert [row["epoch"] for row in read_log(run)] == [str(e) for e in range(1, 7)]
    state = json.loads((Run(run).latest_state() / "state.json").read_text())
    # A restart without the optimizer state would have counted its steps from zero.
    assert state["epochs_done"] == 6 and state["optimizer_iterations"] == 6 * (40 // 8)


_FULL_DISK_SCRIPT = textwrap.dedent("""
    import resource, signal, sys
    # A file-size limit makes every write past it fail with EFBIG, like a disk that fills up.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limit = int(sys.argv[3])
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    from colorkeras.training.config import TrainConfig
    from colorkeras.training.train import TrainingError, train
    try:
        train(sys.argv[1], sys.argv[2], TrainConfig(image_size=32, epochs=2, batch_size=8), verbose=0)
    except TrainingError as error:
        print("TrainingError:", error)
        sys.exit(3)
""")


@pytest.mark.slow
def test_a_full_disk_mid_run_keeps_the_last_good_state(prepared_toy_city, tmp_path):
    run = tmp_path / "run"
    # best.keras (~25 MB) fits under the limit, the state with Adam's moments (~75 MB) does not.
    completed = subprocess.run([sys.executable, "-c", _FULL_DISK_SCRIPT, str(prepared_toy_city), str(run),
                                str(40 * 2**20)], capture_output=True, text=True)
    assert completed.returncode == 3, completed.stdout + completed.stderr[-2000:]
    assert "Input/output error" in completed.stdout and "rerun the same command" in completed.stdout
    assert Run(run).latest_state() is None  # no half-written state is ever trusted
    assert not list((run / "state").glob(".partial-*"))
    from colorkeras.models import load_model

    load_model(run / "best.keras")  # the checkpoint written before the failure is whole
    result = train(prepared_toy_city, run, TrainConfig(image_size=32, epochs=2, batch_size=8), verbose=0)
    assert result.epochs_done == 2


_DISTRIBUTED_SCRIPT = textwrap.dedent("""
    import sys
    import keras
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from colorkeras.training.config import TrainConfig
    from colorkeras.training.train import train
    result = train(sys.argv[1], sys.argv[2], TrainConfig(image_size=32, epochs=1, batch_size=8), distribute=True, verbose=0)
    print("replicas", result.replicas, "epochs", result.epochs_done)
""")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_data_parallel_training_on_two_cpu_devices(prepared_toy_city, tmp_path, backend):
    environment = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
                   "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    completed = subprocess.run([sys.executable, "-c", _DISTRIBUTED_SCRIPT, str(prepared_toy_city),
                                str(tmp_path / "run")], capture_output=True, text=True, env=environment)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "replicas 2 epochs 1" in completed.stdout
    assert (tmp_path / "run" / "best.keras").is_file()


@pytest.mark.slow
def test_mixed_float16_trains_with_loss_scaling_and_saves_a_float32_model(prepared_toy_city, tmp_path):
    """The T4 path (TensorFlow, float16 with dynamic loss scaling), on the CPU.

    XLA as on a T4 (where jit_compile="auto" turns it on); it is also what keeps float16
    bearable on a CPU. Batches of 4: float16 arithmetic is emulated here."""
    import keras

    from colorkeras import color
    from colorkeras.data.pipeline import make_py_dataset
    from colorkeras.models import build_model, load_model
    from colorkeras.training.objectives import get_objective
    from colorkeras.training.train import _read_state, compile_for_training

    run = tmp_path / "run"
    config = tiny_config(epochs=1, batch_size=4, max_train_images=8, mixed_precision="mixed_float16",
                         jit_compile=True)
    train(prepared_toy_city, run, config, verbose=0)
    assert math.isfinite(float(read_log(run)[0]["loss"])) and math.isfinite(float(read_log(run)[0]["val_loss"]))
    assert keras.mixed_precision.dtype_policy().name == "float32"  # put back after training

    # The model as it was in training: the last state's weights and optimizer, in float16.
    keras.mixed_precision.set_dtype_policy("mixed_float16")
    try:
        in_training = build_model("baseline", SIZE)
        trainable = compile_for_training(in_training, config, get_objective(config.loss))
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    _read_state(Run(run).latest_state(), trainable)
    optimizer = trainable.optimizer
    assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    assert int(optimizer.iterations) == 2 and float(optimizer.dynamic_scale) == 2.0**15  # finite steps

    # best.keras (epoch 1, the same weights) is float32 and predicts as the float16 model did.
    best = load_model(run / "best.keras")
    assert {weight.dtype for weight in best.weights} == {"float32"}
    assert best.get_layer("encoder").get_layer("encoder_conv1").compute_dtype == "float32"
    assert in_training.get_layer("encoder").get_layer("encoder_conv1").compute_dtype == "float16"
    l_stored, ab_stored = make_py_dataset(prepared_toy_city, "val", batch_size=4, shuffle=False, augment=False)[0]
    l_norm, _ = color.stored_to_normalized(l_stored, ab_stored)
    np.testing.assert_allclose(best.predict(l_norm, verbose=0), in_training.predict(l_norm, verbose=0),
                               atol=2e-2)

    # The scale adapts: gradients that overflowed halve it and skip the update; finite
    # ones count towards doubling it.
    variables = trainable.trainable_variables
    before = [keras.ops.convert_to_numpy(v) for v in variables]
    overflowed = [keras.ops.zeros_like(v) for v in variables]
    overflowed[0] = keras.ops.full_like(variables[0], float("inf"))
    optimizer.apply(overflowed, variables)
    assert float(optimizer.dynamic_scale) == 2.0**14
    for old, variable in zip(before, variables):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), old)
    counted = int(optimizer.step_counter)
    optimizer.apply([keras.ops.zeros_like(v) for v in variables], variables)
    assert int(optimizer.step_counter) == counted + 1 and float(optimizer.dynamic_scale) == 2.0**14

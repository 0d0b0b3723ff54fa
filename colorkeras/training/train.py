"""Train a colorizer with Keras `fit`, resumable after a kill at any moment.

Everything about one run goes into its run folder (`colorkeras.training.run` says what is
where): the record of what the run is, a log line per epoch, TensorBoard logs, the best
model and the last finished epoch's state. Each state is written under a temporary name
and renamed when complete; running the same command again loads the newest state and
continues with the next epoch, until the configured number of epochs is done. A state that
cannot be loaded (a disk that corrupted it) is moved aside and the run goes on from the
newest state that loads, else from the best model's weights, else from scratch, saying
so. The record is written when the first epoch is about to start, so a start that fails
its checks leaves no run behind. While a training runs it holds the folder's lock
(`colorkeras.fileio.folder_lock`): a second ``train`` into the same folder is refused, and
a killed one holds nothing.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from colorkeras.data.pipeline import DatasetError, PreparedDataset, make_py_dataset, make_tf_dataset
from colorkeras.errors import ColorkerasError
from colorkeras.fileio import folder_lock
from colorkeras.models import FAMILIES, build_model
from colorkeras.models.registry import load_model
from colorkeras.models.stored_input import StoredTargetLoss, stored_input_graph
from colorkeras.runtime import resolve_precision
from colorkeras.training.callbacks import NonFiniteLoss, RunCheckpoint, StopOnNonFiniteLoss, progress_settings
from colorkeras.training.config import TrainConfig, data_size_problem
from colorkeras.training.objectives import get_objective
from colorkeras.training.run import (BEST_MODEL, CONFIG_JSON, STATE_RECORD, STATE_WEIGHTS, Run, dataset_identity,
                                     is_run_record, model_arguments)


class TrainingError(ColorkerasError):
    """A run that cannot start or go on; the message says why and what was kept."""


@dataclass
class TrainResult:
    run_dir: Path
    epochs_done: int
    best_epoch: int | None
    best_val_loss: float | None
    resumed_from: int
    replicas: int = 1

    def to_text(self) -> str:
        resumed = f" (resumed after epoch {self.resumed_from})" if self.resumed_from else ""
        if self.replicas > 1:
            resumed += f" on {self.replicas} replicas"
        best = (f"best val_loss {self.best_val_loss:.5f} at epoch {self.best_epoch}"
                if self.best_epoch is not None else "no validation epoch yet")
        return f"{self.run_dir}: {self.epochs_done} epoch(s) done{resumed}; {best}"


# ------------------------------------------------------------------------------------
# Devices (the precision is chosen in colorkeras.runtime)
# ------------------------------------------------------------------------------------
def _distribution_scope(distribute: bool):
    """(context for building the model, number of replicas): data parallel over all
    visible accelerators (or CPU devices when there are none) through the standard engines."""
    if not distribute:
        return contextlib.nullcontext(), 1
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
            d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices=devices)
        return strategy.scope(), strategy.num_replicas_in_sync
    if backend == "jax":
        distribution = keras.distribution.DataParallel()
        keras.distribution.set_distribution(distribution)
        return contextlib.nullcontext(), int(np.prod(distribution.device_mesh.shape))
    raise TrainingError(f"--distribute is not supported on the {backend} backend")


# ------------------------------------------------------------------------------------
# State on disk
# ------------------------------------------------------------------------------------
def _read_state(state: Path, trainable) -> dict:
    """Load a state's weights and optimizer into ``trainable``; raise if it is damaged.

    Every dataset of the HDF5 file is read first: a truncated or corrupted file then fails
    before any variable is changed.
    """
    import h5py

    saved = Run.state_record(state)
    if not isinstance(saved.get("history"), list) or not isinstance(saved.get("epochs_done"), int):
        raise ValueError(f"{STATE_RECORD} lacks history or epochs_done")
    weights = Run.state_weights(state)
    with h5py.File(weights, "r") as handle:
        handle.visititems(lambda name, item: item[()] if isinstance(item, h5py.Dataset) else None)
    trainable.optimizer.build(trainable.trainable_variables)
    trainable.load_weights(weights)
    return saved


def _best_history(run: Run, best_epoch: int | None) -> list[dict]:
    """The log's rows up to the best model's epoch, as RunCheckpoint writes them."""
    if best_epoch is None:
        return []
    try:
        rows = run.read_log()
    except (OSError, ValueError):
        return []
    history = [{**row, "epoch": int(row["epoch"])} for row in rows if row.get("epoch", math.inf) <= best_epoch]
    return history if [row["epoch"] for row in history] == list(range(1, best_epoch + 1)) else []


def _restore(run: Run, trainable, end_to_end) -> tuple[list[dict], int]:
    """(history, epochs done) of the newest state that loads; damaged ones are moved aside.

    Without a loadable state the run continues from the best model's weights (with a fresh
    optimizer) when its log is whole up to that epoch, else it starts again from scratch;
    either way stderr says what happened, as it changes what the run will produce.
    """
    states = run.states()
    if not states:
        return [], 0
    initial = trainable.get_weights()
    damaged = []
    for state in reversed(states):
        try:
            saved = _read_state(state, trainable)
        except Exception as error:  # noqa: BLE001 - any failure to load means: do not trust it
            damaged.append(f"  {state} ({STATE_WEIGHTS} or {STATE_RECORD}) cannot be loaded ({_reason(error)}); "
                           f"moved aside to {run.set_aside_state(state)}")
            continue
        if damaged:
            _say_damaged(damaged, f"resuming from the older state {state} instead")
        return saved["history"], saved["epochs_done"]
    # No state loads. The optimizer may hold part of a damaged file: start it afresh.
    for variable in trainable.optimizer.variables:
        variable.assign(keras.ops.zeros_like(variable))
    trainable.set_weights(initial)
    _, best_epoch = run.best()
    history = _best_history(run, best_epoch)
    if history:
        try:
            end_to_end.set_weights(load_model(run.best_model_path).get_weights())
        except Exception as error:  # noqa: BLE001 - a damaged best model as well
            history = []
            trainable.set_weights(initial)
            # Kept for inspection; without its record the first new epoch writes a new best.
            damaged.append(f"  {run.best_model_path} cannot be loaded ({_reason(error)}); "
                           f"moved aside to {run.set_aside_best()}")
    plan = (f"continuing from {BEST_MODEL} (epoch {best_epoch}) with a fresh optimizer state" if history
            else "starting again from epoch 1")
    _say_damaged(damaged, plan)
    return history, len(history)


def _reason(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"


def _say_damaged(lines: list[str], plan: str) -> None:
    print("colorkeras train: a saved training state is damaged:\n" + "\n".join(lines)
          + f"\n  {plan}.", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------
# A run may be resumed with more epochs, and from a dataset that moved (local disk ->
# Google Drive, a new folder name): neither changes what the run is. ("synthetic" is
# derived from the source, which the fingerprint already covers; runs from before it
# was recorded resume too.)
_RESUMABLE_CHANGES = {"config": {"epochs"}, "dataset": {"root", "name", "synthetic"}}


def _same_run(saved: dict, config: TrainConfig, identity: dict) -> bool:
    # A run recorded before a field existed had that field's default.
    defaults = {"config": TrainConfig().to_dict(), "dataset": {}}
    for section, current in (("config", config.to_dict()), ("dataset", identity)):
        ignored = _RESUMABLE_CHANGES[section]
        recorded = {**defaults[section], **(saved.get(section) or {})}
        before = {k: v for k, v in recorded.items() if k not in ignored}
        if before != {k: v for k, v in current.items() if k not in ignored}:
            return False
    return True


def _check_run_folder(run: Run, config: TrainConfig, identity: dict) -> None:
    """A folder that holds another run (other model, data or recipe) is never touched.

    A folder whose run never finished an epoch (a start that failed on the way) holds
    nothing to keep: a new start, with other settings too, may take it over.
    """
    run_dir = run.root
    if run_dir.exists() and not run_dir.is_dir():
        raise TrainingError(f"--out {run_dir} is a file, not a folder; choose a folder for the run.")
    if run.config_path.exists() or run.config_path.is_symlink():
        # Only a config.json that training wrote makes the folder a run: another
        # program's file of that name (or a damaged one) says the folder is someone's.
        if not run.config_path.is_file() or not is_run_record(run.record):
            raise TrainingError(
                f"{run_dir} is not a colorkeras run folder (its {CONFIG_JSON} is not a run's record "
                "of model and config); it is left alone: choose another --out."
            )
        if run.started() and not _same_run(run.record, config, identity):
            raise TrainingError(
                f"{run_dir} holds another run (its {CONFIG_JSON} differs from this one's model, "
                "recipe or dataset). Choose a new --out folder, or rerun that run's own command "
                "to resume it."
            )
    elif run_dir.exists() and any(p for p in run_dir.iterdir() if not p.name.startswith(".")):
        raise TrainingError(f"{run_dir} exists and is not a colorkeras run folder; choose another --out.")


def train(
    prepared,
    run_dir,
    config: TrainConfig | None = None,
    *,
    distribute: bool = False,
    verbose: int | str = "auto",
    progress_every: float = 10.0,
) -> TrainResult:
    """Train `config.model` on a prepared dataset into `run_dir`; resume if it was started.

    Args:
        prepared: prepared dataset folder (see `colorkeras prepare`).
        run_dir: the run folder (created; resumed if it holds this same run).
        config: the recipe (default: the study's).
        distribute: data parallel over all visible accelerators.
        verbose: 1: Keras' progress bar (for a terminal); "lines": Keras' line per epoch
            plus a progress line (step, s/step, ETA) at most every ``progress_every``
            seconds (for logs, notebooks, the demo); 2: the line per epoch only; 0: silent;
            "auto": 1 when stdout is a terminal, else "lines".
        progress_every: seconds between progress lines.
    """
    config = config or TrainConfig()
    run = Run(run_dir)
    objective = get_objective(config.loss)
    keras_verbose, progress_callbacks = progress_settings(verbose, progress_every)
    try:
        dataset = PreparedDataset.open(prepared)
    except DatasetError as error:
        raise TrainingError(str(error)) from error
    problem = data_size_problem(prepared, dataset.image_size, config.image_size)
    if problem:
        raise TrainingError(problem)
    if dataset.count("train") == 0:
        raise TrainingError(f"{prepared} has no training images")
    identity = dataset_identity(dataset)
    _check_run_folder(run, config, identity)
    objective = _fitted_objective(objective, run, dataset)
    if objective.output_channels != 2 and not FAMILIES[config.model].takes("output_channels"):
        raise TrainingError(
            f"the {objective.name!r} objective needs a model with {objective.output_channels} output channels, "
            f"but the {config.model!r} family outputs normalised ab (2): choose a family that takes "
            "output_channels, such as unet")
    try:
        run.root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise TrainingError(f"cannot write the run folder {run.root}: {error.strerror or error}") from error
    # One process at a time trains into a run folder (a second one is refused, naming the
    # first's pid); the lock dies with its process, so a killed run never blocks a resume.
    with folder_lock(run.root):
        _check_run_folder(run, config, identity)  # again: no other process changes it now
        run.remove_stale_partials()
        return _fit(run, dataset, identity, config, objective, distribute, keras_verbose, progress_callbacks)


def _fit(run: Run, dataset, identity: dict, config: TrainConfig, objective, distribute: bool,
         keras_verbose, progress_callbacks) -> TrainResult:
    """The checked start of `train` (the run folder held): build, restore, fit."""
    keras.utils.set_random_seed(config.seed)
    precision = resolve_precision(config.mixed_precision)
    try:
        with _keras_settings(precision):
            scope, replicas = _distribution_scope(distribute)
            if config.batch_size % replicas:
                raise TrainingError(f"batch_size {config.batch_size} does not split over {replicas} replicas")
            with scope:
                end_to_end, saved_model, trainable, embeddings_key = _build(dataset, config, objective, precision)
                history, initial_epoch = _restore(run, trainable, end_to_end)
                best = run.best()
                if initial_epoch >= config.epochs:
                    return TrainResult(run.root, initial_epoch, best[1], best[0], initial_epoch, replicas)
                train_data, val_data, steps, val_steps = _make_inputs(dataset, config, embeddings_key, initial_epoch)
                # Written once every check has passed, and on every start, so it shows the
                # epochs and data location now in force.
                run.write_record({"model": config.model, "model_args": model_arguments(saved_model),
                                  "objective": objective.to_dict(), "config": config.to_dict(),
                                  "dataset": identity, "backend": keras.backend.backend()})
                checkpoint = RunCheckpoint(run, end_to_end, history, best, objective, saved_model=saved_model)
                trainable.fit(train_data, validation_data=val_data, epochs=config.epochs,
                              initial_epoch=initial_epoch, steps_per_epoch=steps, validation_steps=val_steps,
                              callbacks=_callbacks(run, checkpoint, progress_callbacks), verbose=keras_verbose,
                              shuffle=False)  # the reader shuffles
    except (NonFiniteLoss, OSError) as error:
        raise _stopped(run, error) from error
    return TrainResult(run.root, len(checkpoint.history), checkpoint.best_epoch,
                       checkpoint.best_val_loss, initial_epoch, replicas)


@contextlib.contextmanager
def _keras_settings(precision: str):
    """Train under the ``precision`` dtype policy. Training changes process-wide Keras
    settings (that policy, a JAX distribution); they are put back afterwards so that a
    notebook or the demo evaluates and colorizes in the state it had before."""
    previous_policy = keras.mixed_precision.dtype_policy()
    previous_distribution = keras.distribution.distribution() if keras.backend.backend() == "jax" else None
    keras.mixed_precision.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous_policy)
        if previous_distribution is not None or keras.backend.backend() == "jax":
            keras.distribution.set_distribution(previous_distribution)


def _build(dataset, config: TrainConfig, objective, precision: str):
    """(end_to_end, saved_model, trainable, embeddings_key): the family; what is saved as
    the best model (its float32 twin under mixed precision); the compiled training graph;
    and the key of the cached extractor outputs (None for families without an extractor)."""
    end_to_end = build_model(config.model, config.image_size, weights=config.extractor_weights,
                             input_channels=config.input_channels, extractor_size=config.extractor_size,
                             output_channels=objective.output_channels, **config.architecture())
    saved_model = _float32_twin(end_to_end) if precision != "float32" else end_to_end
    trainable = compile_for_training(end_to_end, config, objective, _steps_per_epoch(dataset, config))
    # Embeddings come from the float32 extractor: the one best.keras will run.
    embeddings_key = (_ensure_embeddings(dataset, config, saved_model)
                      if end_to_end.extractor is not None else None)
    return end_to_end, saved_model, trainable, embeddings_key


def _callbacks(run: Run, checkpoint: RunCheckpoint, progress_callbacks: list) -> list:
    callbacks = [StopOnNonFiniteLoss(), checkpoint, *progress_callbacks]
    # Keras writes TensorBoard logs through tf.summary: JAX-only hosts go without.
    if importlib.util.find_spec("tensorflow") is not None:
        callbacks.append(keras.callbacks.TensorBoard(str(run.tensorboard_dir), write_graph=False))
    return callbacks


def _stopped(run: Run, error: Exception) -> TrainingError:
    """What stopped training (a diverged loss, a failed read or write), what was kept and
    what to do."""
    kept = run.latest_state()
    best_kept = run.best_model_path.exists()
    if isinstance(error, NonFiniteLoss):
        return TrainingError(
            f"Training stopped: {error}. Nothing from the diverged epoch was saved; the last good "
            f"state is {kept or 'none (it diverged in the first epoch)'}"
            f"{f' and {BEST_MODEL}' if best_kept else ''}. Try a lower "
            "learning_rate or mixed_precision=float32.")
    where = getattr(error, "filename", None) or run.root
    # Only states renamed into place count; whether one loads is checked on the rerun
    # (a damaged one is then moved aside and said so), so no promise is made here.
    kept_note = (f"the newest complete state is {kept.name}" if kept
                 else "no complete state was saved yet")
    return TrainingError(
        f"Input/output error at {where} ({error.strerror or error}); {kept_note}"
        f"{f' ({BEST_MODEL} is kept)' if best_kept else ''}. Fix the "
        "cause (a full disk, a missing file) and rerun the same command to resume.")


def _fitted_objective(objective, run: Run, dataset):
    """The objective ready to train: as is, or fitted to the training split (classification's
    ab bins). A resumed run keeps the fit it recorded, so it trains on the same bins."""
    if not objective.needs_fit:
        return objective
    recorded = run.record.get("objective") if run.started() else None
    if isinstance(recorded, dict) and recorded.get("name") == objective.name and recorded.get("bins"):
        return get_objective(recorded)
    return objective.fit(dataset)


def _steps_per_epoch(dataset, config: TrainConfig) -> int:
    count = min(dataset.count("train"), config.max_train_images or dataset.count("train"))
    return max(1, count // config.batch_size)


def learning_rate(config: TrainConfig, steps_per_epoch: int = 1):
    """The recipe's learning rate: a number, or a cosine decay to 0 over every step of the
    run (a resumed run continues it: the step count is the optimizer's own)."""
    if config.schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(config.learning_rate, config.epochs * steps_per_epoch)
    return config.learning_rate


def compile_for_training(end_to_end, config: TrainConfig, objective, steps_per_epoch: int = 1) -> keras.Model:
    """What ``fit`` trains: the family's training graph behind ``NormalizeStored``, taking
    the readers' stored uint8 batches and normalising them inside the compiled step
    (``colorkeras.models.stored_input``); it shares every weight with ``end_to_end``.

    Compiled with the recipe's Adam and the objective's loss on uint8 targets. Built under
    the mixed_float16 policy (a T4), Keras' compile wraps the optimizer in a
    ``keras.optimizers.LossScaleOptimizer`` (dynamic loss scaling).
    """
    trainable = stored_input_graph(end_to_end.training_graph())
    optimizer = keras.optimizers.Adam(learning_rate(config, steps_per_epoch), weight_decay=config.weight_decay or None)
    trainable.compile(optimizer=optimizer, loss=StoredTargetLoss(objective), jit_compile=config.jit_compile)
    return trainable


def _float32_twin(end_to_end):
    """The same model in float32, for saving: a mixed-precision best.keras would run in
    half precision on every machine that loads it (slow on CPUs, and less exact).

    Built from the model's own config with every dtype policy set to float32, so the
    twin is the trained architecture exactly (a loaded ViT preset included)."""
    twin = type(end_to_end).from_config(_float32_config(end_to_end.get_config()))
    twin.set_weights(end_to_end.get_weights())
    return twin


def _float32_config(value):
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy" and isinstance(value.get("config"), dict):
            return {**value, "config": {**value["config"], "name": "float32"}}
        return {key: _float32_config(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_float32_config(item) for item in value]
    if isinstance(value, str) and value.startswith("mixed_"):
        return "float32"
    return value


def _ensure_embeddings(dataset, config, end_to_end) -> str:
    from colorkeras.training.embed import embed_dataset

    return embed_dataset(dataset, end_to_end.extractor, config.extractor_weights,
                         extractor_size=config.extractor_size, batch_size=config.batch_size,
                         model=end_to_end.extractor_model)


def _prefetch_device() -> str | None:
    """The one GPU that tf.data prefetches to, or None (no GPU, several, or a strategy
    that distributes the batches itself)."""
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    return gpus[0].name if len(gpus) == 1 and not tf.distribute.has_strategy() else None


def _make_inputs(dataset, config, embeddings_key, initial_epoch):
    """Stored uint8 batches: tf.data on the TensorFlow backend (prefetched to the GPU when
    there is one), the TF-free reader elsewhere (read ahead by threads)."""
    if keras.backend.backend() == "tensorflow":
        make = make_tf_dataset
        train_extra = {"repeat": True, "device": _prefetch_device()}  # each pass a new seeded epoch
    else:  # the TF-free reader, with threads (gathers release the GIL); at least two, so
        # that Keras' enqueuer reads ahead while the step runs (one reads on demand).
        make = functools.partial(make_py_dataset, workers=max(2, min(8, os.cpu_count() or 1)))
        train_extra = {}
    count = min(dataset.count("train"), config.max_train_images or dataset.count("train"))
    if count < config.batch_size:
        raise TrainingError(f"the training split has {count} images, fewer than one batch of {config.batch_size}")
    # A fixed number of steps per epoch, one pass of the reader: Keras then never runs into
    # the end of the data (which costs an extra, empty optimizer step on TensorFlow).
    steps = _steps_per_epoch(dataset, config)
    crops = config.crop_scale if config.augment else None
    # A family that takes a reference photo gets one per target (colorkeras.data.pairs).
    references = FAMILIES[config.model].cls.takes_reference
    train_data = make(dataset, "train", batch_size=config.batch_size, shuffle=True,
                      augment=config.augment, seed=config.seed, embeddings_key=embeddings_key,
                      start_epoch=initial_epoch, max_images=config.max_train_images,
                      image_size=config.image_size, crop_scale=crops, references=references, **train_extra)
    val_data, val_steps = None, None
    if dataset.count("val"):
        val_data = make(dataset, "val", batch_size=config.batch_size, shuffle=False, augment=False,
                        seed=config.seed, embeddings_key=embeddings_key, image_size=config.image_size,
                        references=references)
        val_steps = math.ceil(dataset.count("val") / config.batch_size)
    return train_data, val_data, steps, val_steps


def epochs_for_minutes(prepared, run_dir, config: TrainConfig, minutes: float, steps: int = 8) -> int:
    """The epochs that fit in about ``minutes`` here: training images per second measured
    on ``steps`` batches of the recipe's own compiled step (after two warm-up steps), one
    validation pass an epoch counted at a third of a training pass, and 5 % for saving.

    A run that has started keeps the epochs it recorded (its learning-rate schedule spans
    them), so the same command resumes the same run."""
    if not (isinstance(minutes, (int, float)) and math.isfinite(minutes) and minutes > 0):
        raise TrainingError(f"--minutes must be a number > 0, got {minutes!r}")
    run = Run(run_dir)
    if run.started():
        recorded = (run.record.get("config") or {}).get("epochs")
        if isinstance(recorded, int) and recorded > 0:
            print(f"resuming: keeps the {recorded} epochs it started with", flush=True)
            return recorded
    try:
        dataset = PreparedDataset.open(prepared)
    except DatasetError as error:
        raise TrainingError(str(error)) from error
    rate = training_rate(config, steps)
    per_epoch = (min(dataset.count("train"), config.max_train_images or dataset.count("train"))
                 + dataset.count("val") / 3) / rate
    epochs = max(1, int(minutes * 60 * 0.95 / per_epoch))
    print(f"measured {rate:.1f} training images/s at {config.image_size}px: {epochs} epochs of about "
          f"{per_epoch:.0f} s fit in {minutes:g} minutes", flush=True)
    return epochs


def training_rate(config: TrainConfig, steps: int = 8, model=None) -> float:
    """Training images per second of ``config``'s compiled step here (uint8 batches
    normalised in the step, Adam, the objective's loss), timed on ``steps`` random batches
    after two warm-up steps. ``model``: a built model to time (default: built from the
    config, random weights)."""
    objective = get_objective(config.loss)
    if model is None:
        model = build_model(config.model, config.image_size, weights=None, input_channels=config.input_channels,
                            output_channels=objective.output_channels, **config.architecture())
    trainable = compile_for_training(model, config, objective)
    rng = np.random.default_rng(0)
    shape = (config.batch_size, config.image_size, config.image_size)
    l_u8 = rng.integers(0, 256, shape + (1,), dtype=np.uint8)
    ab_u8 = rng.integers(96, 160, shape + (2,), dtype=np.uint8)
    # Further inputs (a reference photo's normalised L and ab) as random normalised values.
    extra = [rng.uniform(-1, 1, (config.batch_size, *tensor.shape[1:])).astype("float32")
             for tensor in trainable.inputs[1:]]
    inputs = [l_u8, *extra] if extra else l_u8
    for _ in range(2):
        trainable.train_on_batch(inputs, ab_u8)
    start = time.perf_counter()
    for _ in range(steps):
        trainable.train_on_batch(inputs, ab_u8)
    return steps * config.batch_size / (time.perf_counter() - start)

"""A run folder and the one object that knows it: every file name of a run folder is
spelled here, and the rest of the package asks a `Run` (or the functions below) for it.

```
config.json        what the run is: model family and its arguments, objective, dataset
                   identity, the TrainConfig, the backend (written when training starts)
log.csv            one row per finished epoch
tensorboard/       TensorBoard logs (TensorFlow hosts)
best.keras         the end-to-end model of the best validation epoch (float32)
best.json          that epoch, its validation loss, and what built best.keras (family,
                   model arguments, objective, dataset), as nanoGPT keeps model_args
state/epoch-NNNN/  the last finished epoch: train.weights.h5 (weights with optimizer
                   state) and state.json; written as state/.partial-* and renamed
state/damaged-epoch-NNNN/, damaged-best.keras   what could not be loaded, kept aside
eval/<dataset>/<split>/  one evaluation per prepared dataset and split: per_image.csv,
                   predictions_ab.npy and, last, evaluation.json
```

Runs written before this layout still open: their ``best.json`` holds only the epoch and
the loss (the model then says its family itself), and their evaluations sit in
``eval/<split>/``, found through the dataset recorded in ``evaluation.json``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from colorkeras.errors import ColorkerasError
from colorkeras.fileio import read_json_object, write_atomic, write_text_atomic
from colorkeras.models.registry import load_model, saved_model_path
from colorkeras.training.objectives import get_objective

CONFIG_JSON = "config.json"
LOG_CSV = "log.csv"
BEST_MODEL = "best.keras"
BEST_JSON = "best.json"
STATE_DIR = "state"
STATE_RECORD = "state.json"
STATE_WEIGHTS = "train.weights.h5"
STATE_PREFIX = "epoch-"  # state/epoch-0007: the state after 7 epochs
PARTIAL_PREFIX = ".partial-"
DAMAGED_PREFIX = "damaged-"
TENSORBOARD_DIR = "tensorboard"
EVAL_DIR = "eval"
EVALUATION_JSON = "evaluation.json"
PER_IMAGE_CSV = "per_image.csv"
PREDICTIONS_FILE = "predictions_ab.npy"
# An evaluation's files; evaluation.json is written last and marks the folder complete.
EVALUATION_FILES = (PREDICTIONS_FILE, PER_IMAGE_CSV, EVALUATION_JSON)
SPLITS = ("train", "val", "test")


class RunError(ColorkerasError):
    """A run folder that does not hold what was asked of it."""


def is_run_record(record) -> bool:
    """Whether the content of a config.json is a run's, as training writes it (the model
    family's name and the TrainConfig, beside the dataset and the backend), and not some
    other program's file of that name. Every run since the first layout records both."""
    return (isinstance(record, dict) and isinstance(record.get("model"), str)
            and isinstance(record.get("config"), dict))


def model_arguments(model) -> dict:
    """A family's arguments as a run records them (JSON; the extractor's network itself is
    in the saved model)."""
    return {key: value for key, value in model.get_config().items()
            if key not in ("extractor_network", "dtype", "trainable")}


def dataset_identity(dataset) -> dict:
    """What makes a prepared dataset itself (not where it lies): a run records it, and
    evaluations are kept apart by it. ``dataset``: an open PreparedDataset."""
    settings = dataset.settings
    return {"name": Path(dataset.root).resolve().name, "root": str(Path(dataset.root).resolve()),
            "image_size": settings["image_size"], "source_fingerprint": settings.get("source_fingerprint"),
            "seed": settings.get("seed"), "counts": settings.get("counts"),
            "synthetic": bool(settings.get("synthetic"))}


def dataset_key(identity: dict) -> str:
    """Folder name of a dataset's evaluations: its name plus a digest of what it holds, so
    that a moved dataset keeps its key and two datasets of the same name do not share one."""
    essence = {key: identity.get(key) for key in ("image_size", "source_fingerprint", "seed", "counts")}
    digest = hashlib.sha256(json.dumps(essence, sort_keys=True).encode()).hexdigest()[:10]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(identity.get("name") or "dataset")).strip("._") or "dataset"
    return f"{name}-{digest}"


@dataclass(frozen=True)
class Run:
    """A run folder: its files, what built it, its best model and its evaluations.

    Args:
        root: the run folder (it need not exist yet: training creates it).
    """

    root: Path

    def __init__(self, root):
        object.__setattr__(self, "root", Path(root))

    # --------------------------------------------------------------- where things are
    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_JSON

    @property
    def log_path(self) -> Path:
        return self.root / LOG_CSV

    @property
    def best_model_path(self) -> Path:
        return self.root / BEST_MODEL

    @property
    def best_json_path(self) -> Path:
        return self.root / BEST_JSON

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def tensorboard_dir(self) -> Path:
        return self.root / TENSORBOARD_DIR

    @property
    def name(self) -> str:
        return self.root.resolve().name

    # ------------------------------------------------------------- what built it
    @property
    def record(self) -> dict:
        """config.json: model, model_args, objective, config, dataset, backend ({} if none)."""
        return read_json_object(self.config_path)

    @property
    def best_record(self) -> dict:
        """best.json: epoch, val_loss and (runs from now on) what built best.keras."""
        return read_json_object(self.best_json_path)

    @property
    def model_name(self) -> str | None:
        """The model family's registry name, as recorded (None for a folder that says nothing)."""
        return self.best_record.get("model") or self.record.get("model")

    @property
    def objective(self):
        """The objective the run was trained with (the study's MSE for runs that predate objectives)."""
        recorded = self.best_record.get("objective") or self.record.get("objective") or {}
        if isinstance(recorded, dict) and recorded.get("name"):
            return get_objective(recorded)  # as it was fitted (a classification's ab bins)
        return get_objective(recorded or (self.record.get("config") or {}).get("loss"))

    @property
    def trained_on_synthetic(self) -> bool:
        """Whether the run was trained on the synthetic toy city (a toy for real photos)."""
        dataset = self.record.get("dataset") or {}
        return bool(dataset.get("synthetic"))

    def best(self) -> tuple[float | None, int | None]:
        """(val_loss, epoch) of the model in best.keras, or (None, None) before the first."""
        record = self.best_record
        if "val_loss" not in record or "epoch" not in record:
            return None, None
        return record["val_loss"], record["epoch"]

    def save_best(self, epoch: int, val_loss: float, model, objective) -> None:
        """Save ``model`` as best.keras, then record in best.json what it is: the epoch,
        its loss, and the model's arguments (best.json always describes best.keras, even
        if a kill comes between the two)."""
        write_atomic(self.best_model_path, lambda tmp: model.save(tmp))
        record = {"epoch": epoch, "val_loss": val_loss, "model": getattr(model, "family", None) or model.name,
                  "model_args": model_arguments(model), "objective": objective.to_dict(),
                  "dataset": self.record.get("dataset")}
        write_text_atomic(self.best_json_path, json.dumps(record, indent=2) + "\n")

    def write_record(self, record: dict) -> None:
        """config.json: what the run is (see `record`)."""
        write_text_atomic(self.config_path, json.dumps(record, indent=2))

    def load_best(self):
        """The best model as its family (today's files and older ones alike)."""
        if not self.best_model_path.is_file():
            raise RunError(f"no {BEST_MODEL} in {self.root}: train first (colorkeras train ...)")
        return load_model(self.best_model_path)

    def set_aside_best(self) -> Path:
        """Move a best.keras that cannot be loaded aside (to damaged-best.keras, kept for
        inspection) and forget its best.json, so the next epoch writes a new best."""
        target = self.root / (DAMAGED_PREFIX + BEST_MODEL)
        os.replace(self.best_model_path, target)
        self.best_json_path.unlink(missing_ok=True)
        return target

    # ------------------------------------------------------------------------ the log
    def read_log(self) -> list[dict[str, float]]:
        """log.csv: one dict per finished epoch, values as floats.

        Raises:
            FileNotFoundError: no epoch has finished yet.
        """
        if not self.log_path.is_file():
            raise FileNotFoundError(f"{self.log_path} does not exist: no epoch of this run has finished yet")
        with open(self.log_path, newline="", encoding="utf-8") as handle:
            return [{key: float(value) if value not in ("", None) else math.nan for key, value in row.items()}
                    for row in csv.DictReader(handle)]

    def write_log(self, history: list[dict]) -> None:
        """log.csv from the per-epoch logs: ``epoch`` first, then the other keys sorted."""
        keys = ["epoch"] + sorted({k for row in history for k in row} - {"epoch"})

        def write(tmp):
            with open(tmp, "w", newline="") as handle:
                writer = csv.DictWriter(handle, keys, lineterminator="\n")
                writer.writeheader()
                writer.writerows(history)

        write_atomic(self.log_path, write)

    # ------------------------------------------------------------------ training state
    def states(self) -> list[Path]:
        """Complete state folders, oldest first."""
        found = sorted(self.state_dir.glob(STATE_PREFIX + "[0-9]" * 4))
        return [s for s in found if (s / STATE_RECORD).is_file() and (s / STATE_WEIGHTS).is_file()]

    def latest_state(self) -> Path | None:
        states = self.states()
        return states[-1] if states else None

    def started(self) -> bool:
        """Whether a first epoch ever finished here (a state, a log or a best model)."""
        return (self.log_path.exists() or self.best_model_path.exists() or bool(self.states())
                or any(self.state_dir.glob(DAMAGED_PREFIX + "*")))

    def save_state(self, epochs_done: int, save_weights: Callable[[Path], None], record: dict) -> Path:
        """Write the state after ``epochs_done`` epochs (``save_weights(path)`` writes the
        weights with the optimizer's; ``record`` is state.json) under a temporary name,
        rename it into place when complete, and remove the older states."""
        self.state_dir.mkdir(exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=self.state_dir))
        target = self.state_dir / f"{STATE_PREFIX}{epochs_done:04d}"
        try:
            save_weights(tmp / STATE_WEIGHTS)
            (tmp / STATE_RECORD).write_text(json.dumps(record, indent=2))
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        for old in self.states()[:-1]:  # keep the newest
            shutil.rmtree(old, ignore_errors=True)
        return target

    def remove_stale_partials(self) -> None:
        """A kill during a state save leaves ``state/.partial-*`` (tens of MB): nothing else
        writes there while this run holds the folder (its lock), so they are ours and stale."""
        for partial in self.state_dir.glob(PARTIAL_PREFIX + "*"):
            if partial.is_dir():
                shutil.rmtree(partial, ignore_errors=True)

    @staticmethod
    def state_record(state: Path) -> dict:
        """A state's state.json (raises if it is unreadable)."""
        return json.loads((state / STATE_RECORD).read_text())

    @staticmethod
    def state_weights(state: Path) -> Path:
        """A state's weights file (weights with optimizer state)."""
        return state / STATE_WEIGHTS

    @staticmethod
    def set_aside_state(state: Path) -> Path:
        """state/epoch-0007 -> state/damaged-epoch-0007 (kept for inspection, never loaded)."""
        target, number = state.with_name(DAMAGED_PREFIX + state.name), 2
        while target.exists():
            target, number = state.with_name(f"{DAMAGED_PREFIX}{state.name}-{number}"), number + 1
        os.replace(state, target)
        return target

    # --------------------------------------------------------------------- evaluations
    def eval_dir(self, identity: dict, split: str, temperature: float | None = None) -> Path:
        """Where the evaluation of ``split`` of the dataset with this identity goes; a decode
        temperature (classification) gets its own folder, ``<split>-T<temperature>``, so
        evaluations at several temperatures stand side by side."""
        folder = split if temperature is None else f"{split}-T{temperature:g}"
        return self.root / EVAL_DIR / dataset_key(identity) / folder

    def fresh_evaluation(self, folder: Path) -> dict | None:
        """The record of the finished evaluation in ``folder`` if it is newer than
        best.keras (so it evaluated this model), else None."""
        record_path = evaluation_record_path(folder)
        if record_path.is_file() and record_path.stat().st_mtime >= self.best_model_path.stat().st_mtime:
            return read_json_object(record_path)
        return None

    def evaluations(self) -> list[dict]:
        """Every finished evaluation (its evaluation.json, plus ``folder``), newest first;
        evaluations written before datasets had keys (``eval/<split>/``) included."""
        found = []
        base = self.root / EVAL_DIR
        candidates = list(base.glob(f"*/*/{EVALUATION_JSON}")) + list(base.glob(f"*/{EVALUATION_JSON}"))
        for path in candidates:
            record = read_json_object(path)
            if record.get("split") in SPLITS:
                found.append({**record, "folder": str(path.parent)})
        return sorted(found, key=lambda record: record.get("evaluated_at") or "", reverse=True)

    def find_evaluation(self, split: str, dataset: dict | None = None) -> Path:
        """The folder of the evaluation of ``split``: of the given dataset identity, or the
        only dataset this run was evaluated on.

        Raises:
            RunError: no such evaluation, or several datasets and none chosen.
        """
        matches = [e for e in self.evaluations() if e.get("split") == split]
        if dataset is not None:
            key = dataset_key(dataset)
            digest = key.rsplit("-", 1)[-1]
            matches = [e for e in matches
                       if Path(e["folder"]).parent.name.endswith(digest)
                       or e.get("dataset_key", "").endswith(digest)
                       or (Path(e["folder"]).parent.name == EVAL_DIR  # before datasets had keys
                           and e.get("dataset_root") == dataset.get("root"))]
        if not matches:
            where = f" of {dataset.get('name')}" if dataset else ""
            raise RunError(f"{self.root}: no evaluation{where} of split {split!r}; run "
                           f"`colorkeras evaluate {self.root} --data PREPARED --split {split}` first")
        names = sorted({e.get("dataset_name") or "?" for e in matches})
        if len(names) > 1:
            raise RunError(f"{self.root} was evaluated on several datasets ({', '.join(names)}) on split "
                           f"{split!r}: pass --data to choose one")
        return Path(matches[0]["folder"])


def evaluation_record_path(folder) -> Path:
    """An evaluation folder's evaluation.json (what, on what, the means)."""
    return Path(folder) / EVALUATION_JSON


def per_image_path(folder) -> Path:
    """An evaluation folder's per-image metrics (CSV, one row per image and model)."""
    return Path(folder) / PER_IMAGE_CSV


def predictions_path(folder) -> Path:
    """An evaluation folder's predicted ab (.npy, uint8 as a dataset stores ab)."""
    return Path(folder) / PREDICTIONS_FILE


def model_file(path) -> Path:
    """The ``.keras`` file a model path names: the file itself, or a run folder's
    best.keras; checked to exist without importing Keras.

    Raises:
        ModelLoadError: no file there.
    """
    path = Path(path)
    return saved_model_path(Run(path).best_model_path if path.is_dir() else path)


def find_runs(run_root) -> list[Path]:
    """The run folders directly under ``run_root`` that hold a trained ``best.keras``."""
    root = Path(run_root)
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if Run(path).best_model_path.is_file())

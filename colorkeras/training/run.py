"""A run folder and the one object that knows it.

```
config.json        what the run is: model family and its arguments, objective, dataset
                   identity, the TrainConfig, the backend (written when training starts)
log.csv            one row per finished epoch
tensorboard/       TensorBoard logs (TensorFlow hosts)
best.keras         the end-to-end model of the best validation epoch (float32)
best.json          that epoch, its validation loss, and what built best.keras (family,
                   model arguments, objective, dataset), as nanoGPT keeps model_args
state/epoch-NNNN/  the last finished epoch: weights with optimizer state, state.json
eval/<dataset>/<split>/  one evaluation per prepared dataset and split
```

Runs written before this layout still open: their ``best.json`` holds only the epoch and
the loss (the model then says its family itself), and their evaluations sit in
``eval/<split>/``, found through the dataset recorded in ``evaluation.json``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from colorkeras.errors import ColorkerasError
from colorkeras.fileio import read_json_object, write_text_atomic

CONFIG_JSON = "config.json"
LOG_CSV = "log.csv"
BEST_MODEL = "best.keras"
BEST_JSON = "best.json"
STATE_DIR = "state"
TENSORBOARD_DIR = "tensorboard"
EVAL_DIR = "eval"
EVALUATION_JSON = "evaluation.json"
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
        from colorkeras.training.objectives import get_objective

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

    def write_best(self, epoch: int, val_loss: float, model, objective) -> None:
        """Record what best.keras is: the epoch, its loss, and the model's arguments."""
        record = {"epoch": epoch, "val_loss": val_loss, "model": getattr(model, "family", None) or model.name,
                  "model_args": model_arguments(model), "objective": objective.to_dict(),
                  "dataset": self.record.get("dataset")}
        write_text_atomic(self.best_json_path, json.dumps(record, indent=2) + "\n")

    def load_best(self):
        """The best model as its family (today's files and older ones alike)."""
        from colorkeras.models.registry import load_model

        if not self.best_model_path.is_file():
            raise RunError(f"no {BEST_MODEL} in {self.root}: train first (colorkeras train ...)")
        return load_model(self.best_model_path)

    # ------------------------------------------------------------------ training state
    def states(self) -> list[Path]:
        """Complete state folders, oldest first."""
        found = sorted(self.state_dir.glob("epoch-[0-9][0-9][0-9][0-9]"))
        return [s for s in found if (s / "state.json").is_file() and (s / "train.weights.h5").is_file()]

    def latest_state(self) -> Path | None:
        states = self.states()
        return states[-1] if states else None

    # --------------------------------------------------------------------- evaluations
    def eval_dir(self, identity: dict, split: str, temperature: float | None = None) -> Path:
        """Where the evaluation of ``split`` of the dataset with this identity goes; a decode
        temperature (classification) gets its own folder, ``<split>-T<temperature>``, so
        evaluations at several temperatures stand side by side."""
        folder = split if temperature is None else f"{split}-T{temperature:g}"
        return self.root / EVAL_DIR / dataset_key(identity) / folder

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


def find_runs(run_root) -> list[Path]:
    """The run folders directly under ``run_root`` that hold a trained ``best.keras``."""
    root = Path(run_root)
    if not root.is_dir():
        return []
    return sorted(path for path in root.iterdir() if Run(path).best_model_path.is_file())

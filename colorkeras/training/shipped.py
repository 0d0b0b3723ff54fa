"""The model that ships inside the package, trained on a 2-core CPU.

``colorkeras/weights/default/`` is a run folder as `colorkeras train` writes one, trimmed
to what inference reads: ``best.keras`` (float32 weights), ``config.json`` (family,
objective and its default decode temperature, recipe, data identity), ``best.json`` and
``MODEL_CARD.md`` (data and their terms, recipe, measured table, known limits).
``colorkeras/weights/exemplar/``, where present, is the same for the exemplar family
(colour from a reference photo), run by ``colorize --reference`` without a model. Anything
that opens a run folder opens it (`colorkeras.inference.predictor.Predictor.open`), so the shipped
model goes through the same predictor as a user's own runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from colorkeras.errors import ColorkerasError, InvalidArgument
from colorkeras.fileio import write_atomic, write_text_atomic
from colorkeras.training.run import Run

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "weights" / "default"
# The exemplar family's model: what `colorize --reference` runs when no model is named.
EXEMPLAR_MODEL_DIR = DEFAULT_MODEL_DIR.parent / "exemplar"
MODEL_CARD = "MODEL_CARD.md"


class NoShippedModel(ColorkerasError):
    """The package was installed without its default model's weights."""


def default_model_dir() -> Path:
    """The shipped model's run folder.

    Raises:
        NoShippedModel: the weights are missing (a package built without package data).
    """
    if not Run(DEFAULT_MODEL_DIR).best_model_path.is_file():
        raise NoShippedModel(
            f"the default model is missing from this installation ({Run(DEFAULT_MODEL_DIR).best_model_path}); "
            "reinstall colorkeras, or name a model: a run folder or a .keras file")
    return DEFAULT_MODEL_DIR


def exemplar_model_dir() -> Path:
    """The shipped exemplar model's run folder (colour from a reference photo).

    Raises:
        NoShippedModel: this installation has none.
    """
    if not Run(EXEMPLAR_MODEL_DIR).best_model_path.is_file():
        raise NoShippedModel(
            f"no exemplar model in this installation ({Run(EXEMPLAR_MODEL_DIR).best_model_path}); name one "
            "(a run folder of family 'exemplar'), or a classical transfer: 'global' or 'welsh'")
    return EXEMPLAR_MODEL_DIR


def looks_like_model(path) -> bool:
    """Whether a command-line item names a model (a .keras file or a run folder holding
    best.keras) rather than photos to colorize."""
    path = Path(path)
    return (path.is_file() and path.suffix.lower() == ".keras") or (path.is_dir() and Run(path).best_model_path.is_file())


MAX_SHIPPED_BYTES = 20 * 2**20  # a model that ships inside the package stays under 20 MB


def ship_run(run_dir, target, objective_overrides: dict | None = None) -> Run:
    """Copy a trained run into ``target`` as a shipped model: its best model and its two
    records, trimmed to what inference reads (the dataset's local path replaced by its
    name; ``objective_overrides`` set on the recorded objective, e.g. a decode temperature
    chosen on validation). Returns the shipped `Run`.

    Raises:
        InvalidArgument: the model is over `MAX_SHIPPED_BYTES`, or the run has no best model.
    """
    run, shipped = Run(run_dir), Run(target)
    if not run.best_model_path.is_file():
        raise InvalidArgument(f"{run.root} has no best model to ship")
    size = run.best_model_path.stat().st_size
    if size > MAX_SHIPPED_BYTES:
        raise InvalidArgument(f"{run.best_model_path} is {size:,} bytes, over the {MAX_SHIPPED_BYTES:,} allowed")
    records = []
    for record in (run.record, run.best_record):
        dataset = record.get("dataset") or {}
        record["dataset"] = {**dataset, "root": dataset.get("name", "")}  # no local path in the package
        record["objective"] = {**record["objective"], **(objective_overrides or {})}
        records.append(record)
    shipped.root.mkdir(parents=True, exist_ok=True)
    write_atomic(shipped.best_model_path, lambda tmp: shutil.copyfile(run.best_model_path, tmp))
    shipped.write_record(records[0])
    write_text_atomic(shipped.best_json_path, json.dumps(records[1], indent=2) + "\n")
    return shipped

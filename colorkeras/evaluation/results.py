"""What a report reads: the evaluations of runs as per-image series (`load_results`),
their means overall and per class, and what the study published beside them.

Every mean is taken over per-image values: a class mean over that class's images, the
overall mean over all images (not over class means). The grey floor (ab = 0) is a series
of its own, taken once for the images every run was evaluated on.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from colorkeras.errors import ColorkerasError, InvalidArgument
from colorkeras.evaluation.evaluate import GREY_FLOOR, Evaluation
from colorkeras.evaluation.metrics import METRIC_NAMES
from colorkeras.training.run import Run, RunError, evaluation_record_path, per_image_path

# ------------------------------------------------------------------------------------
# What the study reported (reference/seed_results.md): "Image Colorization in Urban
# Landscapes", University of Padova, 2024 (slides of 15/02/2024 and report). Test set of
# its own unseeded 80/10/10 split of SUN397 urban-32, 256x256. Not computed by us.
# ------------------------------------------------------------------------------------
STUDY_CITATION = 'the study "Image Colorization in Urban Landscapes" (University of Padova, 2024)'
STUDY_OVERALL = (
    # model, PSNR, SSIM, LPIPS (AlexNet), MSE
    ("CNN baseline", 22.0465, 0.8712, 0.1725, 0.0091),
    ("CNN + InceptionV3", 25.0957, 0.9390, 0.1158, 0.0073),
    ("CNN + ViT", 24.9997, 0.9375, 0.1106, 0.0076),
)
# The study's best and worst four classes by MSE (it does not say for which model), with
# its class names mapped onto the folder names of sun397_urban32.csv.
STUDY_BEST_CLASSES = (
    # class, PSNR, SSIM, LPIPS, MSE
    ("basilica", 27.42, 0.9555, 0.0708, 0.0033),
    ("skyscraper", 25.68, 0.9468, 0.0772, 0.0050),
    ("cathedral_outdoor", 26.02, 0.9444, 0.0861, 0.0053),
    ("street", 27.23, 0.9635, 0.0889, 0.0043),
)
STUDY_WORST_CLASSES = (
    ("phone_booth", 22.59, 0.8602, 0.1418, 0.0117),
    ("market_outdoor", 22.13, 0.9117, 0.1997, 0.0133),
    ("playground", 22.15, 0.9111, 0.1791, 0.0134),
    ("balcony_exterior", 23.39, 0.9144, 0.1128, 0.0135),
)
REPORTED_BY_STUDY = "reported by the study"

TABLE_METRICS = ("psnr", "ssim", "lpips", "mse")
# The study printed four decimals; a tenth of a dB and a unit of colourfulness are the
# resolution that matters for ours.
_DECIMALS = {"psnr": 2, "ssim": 4, "lpips": 4, "mse": 4,
             "colorfulness_pred": 1, "colorfulness_true": 1, "colorfulness_gap": 1}


class ReportError(ColorkerasError):
    """Runs that cannot be reported together, or a run that was not evaluated."""


# ------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------
@dataclass
class Series:
    """Per-image results of one row of the tables (a model, or the grey floor).

    Args:
        label: the name shown in the tables (unique within a report).
        rows: one dict per image: ``row`` (int), ``relpath``, ``class`` and each metric
            as a float (NaN where the CSV cell is blank).
        evaluation: the ``evaluation.json`` it comes from.
        run_dir: the run folder the results were read from.
        folder: the evaluation's folder inside it.
    """

    label: str
    rows: list[dict]
    evaluation: dict
    run_dir: Path
    folder: Path

    def values(self, metric: str, cls: str | None = None) -> np.ndarray:
        return np.array([r[metric] for r in self.rows if cls is None or r["class"] == cls], float)

    def mean(self, metric: str, cls: str | None = None) -> float:
        values = self.values(metric, cls)
        return float(np.mean(values)) if len(values) else math.nan

    @property
    def lpips(self) -> dict:
        return self.evaluation.get("lpips") or {}


@dataclass
class ReportData:
    """The evaluated runs of one report: the models, the grey floor and the dataset.

    Args:
        models: one Series per run, in the order given.
        grey: the grey floor on the same images (taken once).
        split: the evaluated split.
    """

    models: list[Series]
    grey: Series
    split: str

    @property
    def evaluation(self) -> dict:
        return self.models[0].evaluation

    @property
    def series(self) -> list[Series]:
        return [*self.models, self.grey]

    @property
    def count(self) -> int:
        return len(self.grey.rows)

    @property
    def classes(self) -> list[str]:
        return sorted({r["class"] for r in self.grey.rows})

    @property
    def sun397(self) -> bool:
        return bool(self.evaluation.get("sun397_urban32"))

    def dataset_line(self) -> str:
        name = self.evaluation.get("dataset_name", "?")
        kind = "SUN397 urban-32, the study's 32 classes" if self.sun397 else "not SUN397"
        size = self.evaluation.get("image_size")
        model_size = self.evaluation.get("model_size") or size
        through = (f" (model input {model_size}x{model_size} px, ab brought to {size} px by "
                   f"{self.evaluation.get('chroma_upsampling') or 'auto'} chroma upsampling on the image's own L)"
                   if model_size != size else "")
        count = len(self.classes)
        return (f"Dataset: {name} ({kind}) · split: {self.split} · {self.count} images · "
                f"{count} class{'es' if count != 1 else ''} · evaluated at {size}x{size} px{through}")


def _parse_float(text: str) -> float:
    return math.nan if text.strip() == "" else float(text)


def _read_per_image(path: Path) -> dict[str, list[dict]]:
    """per_image.csv -> model label -> rows in row order."""
    by_label: dict[str, list[dict]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"row", "relpath", "class", "model", *METRIC_NAMES} - set(reader.fieldnames or ())
        if missing:
            raise ReportError(f"{path} lacks the columns {sorted(missing)}; evaluate the run again")
        for entry in reader:
            row = {"row": int(entry["row"]), "relpath": entry["relpath"], "class": entry["class"]}
            row.update({name: _parse_float(entry[name]) for name in METRIC_NAMES})
            by_label.setdefault(entry["model"], []).append(row)
    for rows in by_label.values():
        rows.sort(key=lambda r: r["row"])
    return by_label


def _load_run(run_dir: Path, split: str, dataset: dict | None) -> tuple[Series, Series]:
    try:
        folder = Run(run_dir).find_evaluation(split, dataset)
    except RunError as error:
        raise ReportError(str(error)) from error
    json_path, csv_path = evaluation_record_path(folder), per_image_path(folder)
    if not json_path.is_file() or not csv_path.is_file():
        raise ReportError(
            f"{run_dir}: no evaluation of split {split!r} (expected {json_path}); "
            f"run `colorkeras evaluate {run_dir} --data PREPARED --split {split}` first"
        )
    try:
        evaluation = json.loads(json_path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ReportError(f"{json_path} is not valid JSON ({error}); evaluate the run again") from error
    by_label = _read_per_image(csv_path)
    label = evaluation.get("model")
    if label not in by_label or GREY_FLOOR not in by_label:
        raise ReportError(f"{csv_path} lacks the rows of {label!r} or of the {GREY_FLOOR}; evaluate the run again")
    return (Series(label, by_label[label], evaluation, run_dir, folder),
            Series(GREY_FLOOR, by_label[GREY_FLOOR], evaluation, run_dir, folder))


def _from_evaluation(evaluation) -> tuple[Series, Series]:
    """The Series of an in-memory ``Evaluation`` (what ``evaluate_run`` returned): the
    same rows per_image.csv holds, without reading it back."""
    run_dir = Path(evaluation.record["run_dir"])

    def rows(label: str) -> list[dict]:
        values = evaluation.metrics[label]
        return [{"row": i, "relpath": entry["relpath"], "class": entry["class"],
                 **{name: float(values[name][i]) for name in METRIC_NAMES}}
                for i, entry in enumerate(evaluation.manifest)]

    return (Series(evaluation.label, rows(evaluation.label), evaluation.record, run_dir, evaluation.folder),
            Series(GREY_FLOOR, rows(GREY_FLOOR), evaluation.record, run_dir, evaluation.folder))


def _unique_labels(models: list[Series]) -> None:
    """Two runs of the same model get their run names added, so every row is distinct."""
    counts: dict[str, int] = {}
    for series in models:
        counts[series.label] = counts.get(series.label, 0) + 1
    seen: set[str] = set()
    for series in models:
        if counts[series.label] > 1:
            series.label = f"{series.label} ({series.evaluation.get('run') or series.run_dir.name})"
        base, number = series.label, 2
        while series.label in seen:
            series.label = f"{base} #{number}"
            number += 1
        seen.add(series.label)


def load_results(run_dirs, split: str = "test", dataset: dict | None = None) -> ReportData:
    """Read the evaluations of ``run_dirs`` (one or several) on ``split``: of the dataset
    with the identity ``dataset`` (``colorkeras.training.run.dataset_identity``), or of the one
    dataset each run was evaluated on. An ``Evaluation`` that ``evaluate_run`` returned may
    stand in for its run folder: its results are then taken as they are, in memory.

    Raises:
        ReportError: a run without an evaluation of that split, or runs evaluated on
            different images (another dataset, split or preparation).
    """
    if isinstance(run_dirs, (str, Path, Evaluation)):
        run_dirs = [run_dirs]
    if not run_dirs:
        raise InvalidArgument("write_report needs at least one run folder")
    loaded = [_from_evaluation(d) if isinstance(d, Evaluation) else _load_run(Path(d), split, dataset)
              for d in run_dirs]
    run_dirs = [model.run_dir for model, _ in loaded]
    reference = loaded[0][1]
    images = [(r["row"], r["relpath"]) for r in reference.rows]
    for model, grey in loaded[1:]:
        if [(r["row"], r["relpath"]) for r in grey.rows] != images:
            raise ReportError(
                f"{model.run_dir} was evaluated on other images than {run_dirs[0]} "
                f"({grey.evaluation.get('dataset_name')} vs {reference.evaluation.get('dataset_name')}, "
                f"split {split}); a report compares runs on the same images"
            )
    models = [model for model, _ in loaded]
    _unique_labels(models)
    # The grey floor is the same on the same images; take it from a run that has LPIPS.
    greys = [grey for _, grey in loaded]
    grey = next((g for g in greys if g.lpips.get("available")), greys[0])
    return ReportData(models, grey, split)


# ------------------------------------------------------------------------------------
# Means
# ------------------------------------------------------------------------------------
def overall_rows(data: ReportData) -> list[dict]:
    """The overall table as dicts: ours (each model, then the grey floor), then the study's."""
    rows = []
    for series in data.series:
        row = {"model": series.label, "source": "ours", "split": data.split, "n": len(series.rows)}
        row.update({name: series.mean(name) for name in METRIC_NAMES})
        rows.append(row)
    if data.sun397:
        for model, *values in STUDY_OVERALL:
            row = {"model": model, "source": REPORTED_BY_STUDY, "split": "test", "n": None}
            row.update({name: math.nan for name in METRIC_NAMES})
            row.update(dict(zip(TABLE_METRICS, values)))
            rows.append(row)
    return rows


def per_class_rows(data: ReportData) -> list[dict]:
    """One dict per (class, model or grey floor): n, the metric means, the gain over grey."""
    rows = []
    for cls in data.classes:
        grey_psnr, grey_mse = data.grey.mean("psnr", cls), data.grey.mean("mse", cls)
        for series in data.series:
            row = {"class": cls, "model": series.label, "n": len(series.values("mse", cls))}
            row.update({name: series.mean(name, cls) for name in METRIC_NAMES})
            is_grey = series is data.grey
            row["psnr_gain"] = math.nan if is_grey else row["psnr"] - grey_psnr
            row["mse_reduction"] = math.nan if is_grey else grey_mse - row["mse"]
            rows.append(row)
    return rows


def best_worst_classes(data: ReportData, series: Series, k: int | None = None):
    """(best, worst): the k classes of lowest and of highest mean MSE, each in ascending MSE.

    k defaults to 4, as the study showed, or half the classes when there are fewer than 8,
    so that the two lists do not overlap.
    """
    classes = data.classes
    if k is None:
        k = min(4, max(1, len(classes) // 2))
    ranked = sorted(classes, key=lambda c: (series.mean("mse", c), c))
    return ranked[:k], ranked[-k:]


def cell_text(metric: str, value: float, signed: bool = False) -> str:
    """A metric value as the tables and figures print it: its decimals, "n/a" for NaN
    (not computed), "inf" kept, and no "-0.0000" for a difference that rounds away."""
    value = float(value)
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    decimals = _DECIMALS[metric]
    if round(value, decimals) == 0:
        value = 0.0  # no "-0.0000" for a difference that rounds away
        signed = False
    return f"{value:{'+' if signed else ''}.{decimals}f}"

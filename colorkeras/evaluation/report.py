"""Per-class reports of one or several evaluated runs: Markdown, CSV, HTML and figures.

``write_report(RUN_DIRS, OUT)`` reads what ``colorkeras.evaluation.evaluate`` wrote
(``RUN_DIR/eval/<split>/per_image.csv`` and ``evaluation.json``) and writes

```
OUT/report.md           the tables below, with figures linked relatively
OUT/report.html         the same, self-contained (inline style, figures beside it)
OUT/overall.csv         one row per model, the grey floor, and the study's rows (SUN397 only)
OUT/per_class.csv       one row per (class, model)
OUT/qualitative.png     input L | each model | truth, for chosen, best and worst images
OUT/gain_per_class.png  each model's PSNR gain and MSE reduction over the grey floor
OUT/learning_curve.png  each run's training and validation loss per epoch (from its log.csv)
```

plus the hidden record of those files (``.colorkeras-written.json``): a file of these names
that report did not write is replaced only with ``overwrite`` (`colorkeras.fileio.WrittenFiles`).

The package's other matplotlib figures live here too (the notebooks show them): images
per class, a grid of prepared samples, photos before and after colorizing; and a report
can be shown inline in a notebook (``report_parts``) with our runs set against the
study's table (``study_comparison_markdown``).

Every mean is taken over per-image values: a class mean over that class's images, the
overall mean over all images (not over class means). Every table carries the grey floor
(ab = 0): on urban photos it already scores well in PSNR and SSIM, so a model's numbers
mean something only next to it. The study's own numbers are shown beside ours only when
the data is SUN397 urban-32, and always labelled as reported by the study.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from colorkeras.errors import ColorkerasError, InvalidArgument
from colorkeras import color
from colorkeras.evaluation.evaluate import (
    EVALUATION_JSON,
    GREY_FLOOR,
    grey_floor_verdict,
    Evaluation,
    PER_IMAGE_CSV,
    PREDICTIONS_FILE,
    format_number,
)
from colorkeras.fileio import WrittenFiles, writing_into
from colorkeras.evaluation.metrics import METRIC_NAMES
from colorkeras.training.run import Run, RunError

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
_TITLES = {
    "psnr": "PSNR (dB) ↑",
    "ssim": "SSIM ↑",
    "lpips": "LPIPS ↓",
    "mse": "MSE ↓",
    "colorfulness_pred": "Colourfulness pred",
    "colorfulness_true": "Colourfulness true",
    "colorfulness_gap": "Colourfulness gap",
}
# The study printed four decimals; a tenth of a dB and a unit of colourfulness are the
# resolution that matters for ours.
_DECIMALS = {"psnr": 2, "ssim": 4, "lpips": 4, "mse": 4,
             "colorfulness_pred": 1, "colorfulness_true": 1, "colorfulness_gap": 1}
FIGURE_DPI = 120


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
    json_path, csv_path = folder / EVALUATION_JSON, folder / PER_IMAGE_CSV
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
# Tables
# ------------------------------------------------------------------------------------
RANDOM_LPIPS_MARK = "†"


def _cell(metric: str, value: float, signed: bool = False) -> str:
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


def _lpips_cell(series: Series, value: float) -> str:
    """LPIPS of random weights (test mode) is marked wherever it appears."""
    cell = _cell("lpips", value)
    if cell != "n/a" and series.lpips.get("weights") == "random":
        cell += RANDOM_LPIPS_MARK
    return cell


def _metric_cells(series: Series, cls: str | None = None) -> list[str]:
    return [_lpips_cell(series, series.mean(m, cls)) if m == "lpips" else _cell(m, series.mean(m, cls))
            for m in TABLE_METRICS]


def _lpips_notes(data: ReportData) -> list[str]:
    """Why an LPIPS column is empty, or why its numbers must not be compared."""
    notes: list[str] = []
    random_labels: list[str] = []
    missing: dict[str, list[str]] = {}
    for series in data.series:
        info = series.lpips
        if np.all(np.isnan(series.values("lpips"))):
            reason = info.get("reason") or "LPIPS was not computed"
            missing.setdefault(reason, []).append(series.label)
        elif info.get("weights") == "random":
            random_labels.append(series.label)
    for reason, labels in missing.items():
        notes.append(f"LPIPS n/a ({', '.join(labels)}): {reason}.")
    if random_labels:
        notes.append(f"{RANDOM_LPIPS_MARK} LPIPS of {', '.join(random_labels)} computed with random "
                     "weights (test mode): not a real LPIPS value.")
    return notes


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


def _overall_table(data: ReportData) -> tuple[list[str], list[list[str]], list[str]]:
    header = ["Model", *(_TITLES[m] for m in TABLE_METRICS),
              "Colourfulness pred / true", "Source"]
    body = []
    series_of = {series.label: series for series in data.series}
    for row in overall_rows(data):
        study = row["source"] == REPORTED_BY_STUDY
        if study:
            cells = [_cell(m, row[m]) for m in TABLE_METRICS]
            colour = "—"
        else:
            cells = _metric_cells(series_of[row["model"]])
            colour = (f"{_cell('colorfulness_pred', row['colorfulness_pred'])} / "
                      f"{_cell('colorfulness_true', row['colorfulness_true'])}")
        body.append([row["model"], *cells, colour,
                     REPORTED_BY_STUDY if study else f"ours ({data.split}, {row['n']} images)"])
    notes = _verdicts(data) + _lpips_notes(data)
    if data.sun397:
        notes.append(f"Rows marked '{REPORTED_BY_STUDY}' are the numbers published by {STUDY_CITATION} "
                     "for its own (unseeded) test split at 256x256; we did not compute them.")
    return header, body, notes


def _verdicts(data: ReportData) -> list[str]:
    """One line per model: where it stands against the grey floor, in PSNR and MSE."""
    lines = []
    grey_psnr, grey_mse = data.grey.mean("psnr"), data.grey.mean("mse")
    for series in data.models:
        psnr, mse = series.mean("psnr"), series.mean("mse")
        where = grey_floor_verdict(*(value if math.isfinite(value) else None for value in (psnr, grey_psnr)))
        if math.isfinite(psnr) and math.isfinite(grey_psnr):
            where += f" in PSNR ({psnr:.2f} vs {grey_psnr:.2f} dB)"
        beats = psnr > grey_psnr and mse < grey_mse
        loses = psnr < grey_psnr and mse > grey_mse
        verdict = ("it beats predicting no colour on these images" if beats else
                   "it does worse than predicting no colour on these images" if loses else
                   "mixed against predicting no colour (PSNR and MSE disagree)")
        lines.append(f"Verdict, {series.label}: {where}, MSE {mse:.4f} vs {grey_mse:.4f}: {verdict}.")
    return lines


def _toy_notes(data: ReportData) -> list[str]:
    """A warning for each model trained on the synthetic toy city (its numbers say nothing
    about real photos)."""
    from colorkeras.inference.predictor import toy_city_evidence

    notes = []
    for series in data.models:
        evidence = toy_city_evidence(series.run_dir)
        if evidence:
            notes.append(f"{series.label} is a toy: trained on the synthetic toy city ({evidence}), not on "
                         "photographs; on real photos it gives wrong colours (often a blue cast).")
    return notes


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


def _per_class_table(data: ReportData):
    header = ["Class", "n", "Model", *(_TITLES[m] for m in TABLE_METRICS),
              "PSNR gain over grey (dB)", "MSE reduction over grey"]
    body = []
    series_of = {series.label: series for series in data.series}
    for row in per_class_rows(data):
        grey = row["model"] == GREY_FLOOR
        body.append([row["class"], str(row["n"]), row["model"], *_metric_cells(series_of[row["model"]], row["class"]),
                     "—" if grey else _cell("psnr", row["psnr_gain"], signed=True),
                     "—" if grey else _cell("mse", row["mse_reduction"], signed=True)])
    return header, body


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


def _best_worst_table(data: ReportData, series: Series):
    header = ["", "Class", "n", *(_TITLES[m] for m in TABLE_METRICS)]
    best, worst = best_worst_classes(data, series)
    body = []
    for which, classes in (("best", best), ("worst", worst)):
        for cls in classes:
            n = str(len(series.values("mse", cls)))
            body.append([which, cls, n, *_metric_cells(series, cls)])
            # Every table shows the grey floor: here, on the same class's images.
            body.append(["", f"{cls} (grey floor)", n, *_metric_cells(data.grey, cls)])
    return header, body


def _study_best_worst_table():
    header = ["", "Class", *(_TITLES[m] for m in TABLE_METRICS)]
    body = []
    for which, rows in (("best", STUDY_BEST_CLASSES), ("worst", STUDY_WORST_CLASSES)):
        for cls, *values in rows:
            body.append([which, cls, *(_cell(m, v) for m, v in zip(TABLE_METRICS, values))])
    return header, body


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    """A Markdown table; numeric columns are right-aligned."""
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    aligns = ["---" if i == 0 or not body or not _numeric(body[0][i]) else "---:" for i in range(len(header))]
    return "\n".join([line(header), "| " + " | ".join(aligns) + " |", *(line(r) for r in body)])


def _numeric(text: str) -> bool:
    head = str(text).split(" ")[0].lstrip("+-").rstrip(RANDOM_LPIPS_MARK)
    return head.replace(".", "", 1).isdigit() or head in ("n/a", "inf", "—")


def format_overall_table(run_dirs, split: str = "test") -> str:
    """The overall table (Markdown, with its footnotes) of evaluated runs, e.g. to print last."""
    data = run_dirs if isinstance(run_dirs, ReportData) else load_results(run_dirs, split)
    header, body, notes = _overall_table(data)
    lines = [data.dataset_line(), "", markdown_table(header, body)]
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------
# CSV
# ------------------------------------------------------------------------------------
def _csv_text(columns: list[str], rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else format_number(row[c]) if isinstance(row[c], float)
                         else row[c] for c in columns])
    return buffer.getvalue()


# ------------------------------------------------------------------------------------
# Figures (matplotlib's object API: no pyplot, so no global backend is touched)
# ------------------------------------------------------------------------------------
SAMPLE_CLASSES = 8  # up to this many classes each get a row of the qualitative grid


def default_sample_rows(data: ReportData, max_classes: int = SAMPLE_CLASSES) -> list[int]:
    """Best two and worst two images by the first model's MSE, then one image of each class
    not yet shown, so the grid covers every class (up to ``max_classes`` classes; beyond
    that, ``max_classes`` classes spread evenly over the sorted class list).

    A class's image is its middle one in row order: it depends only on the data, so reports
    of other runs on the same data show the same images.
    """
    mse = data.models[0].values("mse")
    rows = [r["row"] for r in data.models[0].rows]
    order = [rows[i] for i in np.argsort(mse, kind="stable")]
    chosen: list[int] = []
    for row in order[:2] + order[::-1][:2]:
        if row not in chosen:
            chosen.append(row)
    class_of = {r["row"]: r["class"] for r in data.grey.rows}
    classes = data.classes
    if len(classes) > max_classes:
        classes = [classes[(i * len(classes)) // max_classes] for i in range(max_classes)]
    shown = {class_of[row] for row in chosen}
    for cls in classes:
        if cls not in shown:
            members = sorted(row for row, c in class_of.items() if c == cls)
            chosen.append(members[len(members) // 2])
    return chosen


def _save_figure(figure, files: WrittenFiles, name: str) -> Path:
    return files.write(name, lambda tmp: figure.savefig(tmp, format="png", dpi=FIGURE_DPI))


def comparison_panels(l_array, ab_array, row: int, predictions) -> list[np.ndarray]:
    """RGB panels of one image of a prepared split: its L alone, each prediction
    (stored ``predictions_ab.npy`` arrays) on its L, and the truth."""
    l_norm, true_ab = color.stored_to_normalized(
        np.asarray(l_array[row], np.float32), np.asarray(ab_array[row], np.float32))
    panels = [color.predicted_ab_to_rgb(l_norm, np.zeros_like(true_ab))]
    for pred in predictions:
        pred_ab = color.normalize_ab(color.dequantize_ab(np.asarray(pred[row], np.float32)))
        panels.append(color.predicted_ab_to_rgb(l_norm, pred_ab))
    panels.append(color.predicted_ab_to_rgb(l_norm, true_ab))
    return panels


def _qualitative_figure(data: ReportData, rows: list[int], dataset):
    """The grid as a Figure; reads the dataset and the predictions, writes nothing."""
    from matplotlib.figure import Figure

    l_array, ab_array = dataset.arrays(data.split)
    predictions = []
    for series in data.models:
        pred = np.load(series.folder / PREDICTIONS_FILE, mmap_mode="r")
        if pred.shape[0] != len(l_array) or pred.shape[1:3] != l_array.shape[1:3]:
            raise ReportError(f"{series.run_dir}: {PREDICTIONS_FILE} does not match the dataset's arrays")
        predictions.append(pred)
    by_row = [{r["row"]: r for r in series.rows} for series in data.models]
    grey_by_row = {r["row"]: r for r in data.grey.rows}
    titles = ["input L", *(s.label for s in data.models), "truth"]
    columns = len(titles)
    figure = Figure(figsize=(1.9 * columns, 2.1 * len(rows) + 0.3), layout="constrained")
    axes = np.asarray(figure.subplots(len(rows), columns, squeeze=False))
    for i, row in enumerate(rows):
        panels = comparison_panels(l_array, ab_array, row, predictions)
        entry = grey_by_row[row]
        for j, (ax, image) in enumerate(zip(axes[i], panels)):
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(titles[j], fontsize=9)
            if 0 < j <= len(data.models):
                metrics = by_row[j - 1][row]
                ax.set_xlabel(f"MSE {_cell('mse', metrics['mse'])} · {_cell('psnr', metrics['psnr'])} dB",
                              fontsize=7)
        axes[i][0].set_ylabel(f"{entry['class']}\nrow {row}", fontsize=8)
    return figure


def read_log(run_dir) -> list[dict[str, float]]:
    """A run's ``log.csv``: one dict per finished epoch, values as floats."""
    path = Path(run_dir) / "log.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: no epoch of this run has finished yet")
    with open(path, newline="", encoding="utf-8") as handle:
        return [{key: float(value) if value not in ("", None) else math.nan for key, value in row.items()}
                for row in csv.DictReader(handle)]


def learning_curve_figure(run_dirs, titles=None):
    """Training and validation loss per epoch, with the best validation epoch marked.

    Args:
        run_dirs: a run folder, or several (one panel each, side by side).
        titles: the panels' run names (default: the folders' names).
    """
    from matplotlib.figure import Figure

    single = isinstance(run_dirs, (str, Path))
    run_dirs = [Path(run_dirs)] if single else [Path(d) for d in run_dirs]
    logs = [read_log(run_dir) for run_dir in run_dirs]  # before any drawing: a missing log fails first
    titles = list(titles) if titles is not None else [d.name for d in run_dirs]
    figure = Figure(figsize=(6.5 * min(len(logs), 3), 3.8 * math.ceil(len(logs) / 3)), layout="constrained")
    panels = np.asarray(figure.subplots(math.ceil(len(logs) / 3), min(len(logs), 3), squeeze=False)).ravel()
    for axes, log, title in zip(panels, logs, titles):
        _draw_learning_curve(axes, log, title)
    for axes in panels[len(logs):]:
        axes.set_visible(False)
    return figure


def _draw_learning_curve(axes, log: list[dict], title: str) -> None:
    from matplotlib.ticker import MaxNLocator

    epochs = [row["epoch"] for row in log]
    for key, label in (("loss", "training"), ("val_loss", "validation")):
        values = [row.get(key, math.nan) for row in log]
        if not all(math.isnan(v) for v in values):
            axes.plot(epochs, values, marker="o", label=label)
    val = np.array([row.get("val_loss", math.nan) for row in log])
    if len(val) and not np.all(np.isnan(val)):
        best = int(np.nanargmin(val))
        axes.axvline(epochs[best], color="grey", linestyle=":",
                     label=f"best: epoch {int(epochs[best])} (best.keras)")
    if len(epochs) <= 15:
        axes.set_xticks(epochs)  # whole epochs only, also for a one-epoch run
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (normalised ab)")
    axes.set_title(f"Learning curve: {title}")
    axes.grid(alpha=0.3)
    axes.legend()


def _gain_figure(data: ReportData):
    from matplotlib.figure import Figure

    classes = data.classes
    rows = per_class_rows(data)
    lookup = {(r["class"], r["model"]): r for r in rows}
    x = np.arange(len(classes))
    width = 0.8 / max(1, len(data.models))
    figure = Figure(figsize=(max(6.0, 0.45 * len(classes) * max(1, len(data.models)) + 2), 6.0),
                    layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True)
    for k, series in enumerate(data.models):
        offset = (k - (len(data.models) - 1) / 2) * width
        gain = [lookup[(c, series.label)]["psnr_gain"] for c in classes]
        reduction = [lookup[(c, series.label)]["mse_reduction"] for c in classes]
        top.bar(x + offset, np.nan_to_num(gain, posinf=0, neginf=0), width, label=series.label)
        bottom.bar(x + offset, np.nan_to_num(reduction), width, label=series.label)
    for ax, ylabel in ((top, "PSNR gain over grey (dB)"), (bottom, "MSE reduction over grey")):
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    figure.suptitle(f"Gain over the grey floor (ab = 0) per class ({data.split}, {data.count} images)")
    top.legend(fontsize=8)
    bottom.set_xticks(x, classes, rotation=60 if len(classes) > 6 else 0, ha="right" if len(classes) > 6 else "center")
    return figure


# ------------------------------------------------------------------------------------
# Figures of the data and of colorized photos (the notebooks show them)
# ------------------------------------------------------------------------------------
def class_counts(prepared) -> dict[str, dict[str, int]]:
    """class -> split -> number of images, from a prepared dataset's manifest."""
    from colorkeras.data.pipeline import PreparedDataset
    from colorkeras.data.prepare import SPLITS

    dataset = PreparedDataset.open(prepared)
    counts = {name: dict.fromkeys(SPLITS, 0) for name in dataset.classes}
    for row in dataset.manifest():
        counts[row["class"]][row["split"]] += 1
    return counts


def class_count_figure(prepared):
    """A horizontal bar per class, stacked by split (train / val / test)."""
    from matplotlib.figure import Figure

    counts = class_counts(prepared)
    names = sorted(counts)
    splits = list(next(iter(counts.values())))
    figure = Figure(figsize=(7.0, 1.2 + 0.28 * len(names)), layout="constrained")
    axes = figure.subplots()
    left = np.zeros(len(names))
    for split in splits:
        values = np.array([counts[name][split] for name in names])
        axes.barh(names, values, left=left, label=split)
        left += values
    axes.invert_yaxis()  # alphabetical from the top
    axes.set_xlabel("images")
    figure.legend(loc="outside right upper")
    axes.set_title(f"Images per class and split ({int(left.sum())} in total)")
    return figure


def _sample_rows(labels: list[str], count: int, seed: int) -> list[int]:
    """Up to ``count`` rows, one class after another, a random image of each class."""
    rng = np.random.default_rng(seed)
    by_class: dict[str, list[int]] = {}
    for row, label in enumerate(labels):
        by_class.setdefault(label, []).append(row)
    queues = {name: list(rng.permutation(rows)) for name, rows in sorted(by_class.items())}
    chosen: list[int] = []
    while len(chosen) < count and any(queues.values()):
        for rows in queues.values():
            if rows and len(chosen) < count:
                chosen.append(int(rows.pop()))
    return chosen


def sample_grid_figure(prepared, split: str = "train", count: int = 8, seed: int = 0):
    """Prepared images: what the model sees (L, top) over what it must find (colour, bottom)."""
    from matplotlib.figure import Figure

    from colorkeras.data.pipeline import PreparedDataset

    dataset = PreparedDataset.open(prepared)
    labels = dataset.labels(split)
    if not labels:
        raise InvalidArgument(f"{dataset.root}: the {split} split has no images")
    rows = _sample_rows(labels, count, seed)
    l_array, ab_array = dataset.arrays(split)
    figure = Figure(figsize=(1.6 * len(rows), 3.6), layout="constrained")
    axes = np.asarray(figure.subplots(2, len(rows), squeeze=False))
    for column, row in enumerate(rows):
        l_norm, ab_norm = color.stored_to_normalized(
            np.asarray(l_array[row], np.float32), np.asarray(ab_array[row], np.float32))
        grey = color.predicted_ab_to_rgb(l_norm, np.zeros_like(ab_norm))
        for ax, image in zip(axes[:, column], (grey, color.predicted_ab_to_rgb(l_norm, ab_norm))):
            ax.imshow(image, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[0, column].set_title(labels[row], fontsize=8)
    axes[0, 0].set_ylabel("input: L")
    axes[1, 0].set_ylabel("target: colour")
    figure.suptitle(f"{split} images at {dataset.image_size}x{dataset.image_size}")
    return figure


def before_after_figure(pairs, limit: int = 6):
    """Each photo beside its colorized copy, with the pixel size of both.

    Args:
        pairs: (photo, colorized copy) paths, e.g. from ``notebook.before_after_pairs``.
        limit: show at most this many pairs.
    """
    from matplotlib.figure import Figure

    from colorkeras.images import read_rgb

    pairs = list(pairs)[:limit]
    if not pairs:
        raise InvalidArgument("no colorized photos to show: run the colorize cell first")
    figure = Figure(figsize=(9.0, 3.4 * len(pairs)), layout="constrained")
    axes = np.asarray(figure.subplots(len(pairs), 2, squeeze=False))
    for (source, target), (left, right) in zip(pairs, axes):
        for ax, path, title in ((left, source, "before"), (right, target, "after")):
            image = read_rgb(path)
            ax.imshow(image)
            ax.set_title(f"{title}: {Path(path).name} ({image.shape[1]}x{image.shape[0]})", fontsize=9)
            ax.axis("off")
    return figure


# ------------------------------------------------------------------------------------
# The document, rendered to Markdown and HTML from one description
# ------------------------------------------------------------------------------------
class _Document:
    def __init__(self):
        self.blocks: list[tuple] = []

    def heading(self, level: int, text: str):
        self.blocks.append(("heading", level, text))

    def paragraph(self, text: str):
        self.blocks.append(("paragraph", text))

    def bullets(self, items: list[str]):
        if items:
            self.blocks.append(("bullets", list(items)))

    def table(self, header, body):
        self.blocks.append(("table", header, body))

    def image(self, src: str, alt: str):
        self.blocks.append(("image", src, alt))

    def markdown(self) -> str:
        parts = []
        for kind, *args in self.blocks:
            if kind == "heading":
                parts.append("#" * args[0] + " " + args[1])
            elif kind == "paragraph":
                parts.append(args[0])
            elif kind == "bullets":
                parts.append("\n".join(f"- {item}" for item in args[0]))
            elif kind == "table":
                parts.append(markdown_table(*args))
            elif kind == "image":
                parts.append(f"![{args[1]}]({args[0]})")
        return "\n\n".join(parts) + "\n"

    def html(self, title: str) -> str:
        esc = html.escape
        parts = []
        for kind, *args in self.blocks:
            if kind == "heading":
                parts.append(f"<h{args[0]}>{esc(args[1])}</h{args[0]}>")
            elif kind == "paragraph":
                parts.append(f"<p>{esc(args[0])}</p>")
            elif kind == "bullets":
                parts.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in args[0]) + "</ul>")
            elif kind == "table":
                header, body = args
                numeric = [i > 0 and bool(body) and _numeric(body[0][i]) for i in range(len(header))]
                head = "".join(f"<th>{esc(h)}</th>" for h in header)
                rows = "".join(
                    "<tr>" + "".join(f'<td class="{"num" if numeric[i] else "txt"}">{esc(str(c))}</td>'
                                     for i, c in enumerate(r)) + "</tr>" for r in body)
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif kind == "image":
                parts.append(f'<figure><img src="{esc(args[0])}" alt="{esc(args[1])}">'
                             f"<figcaption>{esc(args[1])}</figcaption></figure>")
        style = (
            "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}"
            "table{border-collapse:collapse;margin:1rem 0;font-size:0.9rem}"
            "th,td{border:1px solid #ccc;padding:0.25rem 0.6rem}th{background:#f3f3f3}"
            "td.num{text-align:right;font-variant-numeric:tabular-nums}"
            "img{max-width:100%}figcaption{font-size:0.85rem;color:#555}"
        )
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f"<title>{esc(title)}</title><style>{style}</style></head><body>\n"
                + "\n".join(parts) + "\n</body></html>\n")


def _run_lines(data: ReportData, out_dir: Path) -> list[str]:
    lines = []
    for series in data.models:
        lpips = series.lpips.get("description") if series.lpips.get("available") else "LPIPS n/a"
        # Relative to the report, so a committed report does not carry one machine's paths.
        where = os.path.relpath(series.run_dir.resolve(), out_dir.resolve())
        lines.append(f"{series.label}: run folder {where} ({lpips})")
    return lines


# Every file write_report may write into its folder (checked before the first is written).
REPORT_FILES = ("overall.csv", "per_class.csv", "qualitative.png", "gain_per_class.png", "learning_curve.png",
                "report.md", "report.html")


def write_report(run_dirs, out_dir, split: str = "test", sample_rows=None, data_root=None,
                 overwrite: bool = False) -> dict[str, Path]:
    """Write the report of one or several evaluated runs into ``out_dir``.

    Args:
        run_dirs: run folders evaluated on the same images (``colorkeras.evaluation.evaluate``).
        out_dir: the report folder (created).
        split: the evaluated split to report.
        sample_rows: dataset rows (of the split) for the qualitative grid; default: the
            best two and worst two by the first model's MSE and one of each class not
            yet shown (``default_sample_rows``).
        data_root: the prepared dataset: chooses the evaluation when a run was evaluated
            on several datasets, and is read for the qualitative grid (needed only when
            the dataset is no longer where the evaluation found it).
        overwrite: also replace files of the report's names (`REPORT_FILES`) that
            report did not write; without it they are refused, before anything is written
            (its own earlier files, unchanged since, are always replaced). What it wrote is
            recorded in the folder's hidden ``.colorkeras-written.json``.

    Returns:
        name -> written path: "markdown", "html", "overall_csv", "per_class_csv",
        "gain_per_class", "learning_curve" when a run has a log.csv and, when the
        dataset can be read, "qualitative".

    Raises:
        ReportError: runs that cannot be reported (see ``load_results``), or an output
            folder that cannot be written (a file, a full or read-only disk).
        NotWrittenByUs: a file in the way that report did not write (without overwrite).
        FolderInUse: another colorkeras process is writing into ``out_dir``.
    """
    dataset = None
    if data_root is not None:
        from colorkeras.data.pipeline import DatasetError, PreparedDataset
        from colorkeras.training.run import dataset_identity

        try:
            dataset = dataset_identity(PreparedDataset.open(data_root))
        except DatasetError as error:
            raise ReportError(str(error)) from error
    data = load_results(run_dirs, split, dataset)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"--out {out_dir} is a file, not a folder; choose a folder for the report")

    if sample_rows is None:
        sample_rows = default_sample_rows(data)
    else:
        sample_rows = [int(r) for r in sample_rows]
        bad = [r for r in sample_rows if not 0 <= r < data.count]
        if bad or not sample_rows:
            raise InvalidArgument(f"sample_rows must be rows 0..{data.count - 1} of the {split} split, got {bad or 'none'}")
    try:
        with writing_into(out_dir, "report", overwrite) as files:
            files.check(REPORT_FILES)
            return _write_report(data, files, split, sample_rows, data_root)
    except OSError as error:
        # Every read inside _write_report handles its own errors (a figure left out, with a
        # note), so what arrives here failed to write into out_dir.
        where = error.filename or out_dir
        raise ReportError(
            f"the report could not be written to {out_dir}: {error.strerror or error} ({where}); "
            "free some space or choose another --out"
        ) from error


def _write_report(data: ReportData, files: WrittenFiles, split: str, sample_rows: list[int],
                  data_root) -> dict[str, Path]:
    out_dir = files.folder
    written: dict[str, Path] = {}

    # --- CSV
    overall = overall_rows(data)
    overall_columns = ["model", "source", "split", "n", *METRIC_NAMES]
    written["overall_csv"] = files.write_text("overall.csv", _csv_text(overall_columns, overall))
    per_class = per_class_rows(data)
    per_class_columns = ["class", "model", "n", *METRIC_NAMES, "psnr_gain", "mse_reduction"]
    written["per_class_csv"] = files.write_text("per_class.csv", _csv_text(per_class_columns, per_class))

    # --- Figures: inputs that cannot be read leave a figure out (with a note); a figure
    # that cannot be written is an error of the output (raised by write_report).
    from colorkeras.data.pipeline import DatasetError, PreparedDataset

    figure_notes = []
    root = Path(data_root) if data_root is not None else Path(data.evaluation.get("dataset_root", ""))
    try:
        grid = _qualitative_figure(data, sample_rows, PreparedDataset.open(root))
    except (DatasetError, OSError) as error:
        grid = None
        figure_notes.append(f"The qualitative grid was not drawn: its inputs (the prepared dataset "
                            f"{root} and the runs' {PREDICTIONS_FILE}) could not be read ({error}).")
    if grid is not None:
        written["qualitative"] = _save_figure(grid, files, "qualitative.png")
    written["gain_per_class"] = _save_figure(_gain_figure(data), files, "gain_per_class.png")
    logged = [series for series in data.models if (series.run_dir / "log.csv").is_file()]
    try:
        curves = learning_curve_figure([s.run_dir for s in logged], [s.label for s in logged]) if logged else None
    except (OSError, ValueError, KeyError) as error:
        curves = None
        figure_notes.append(f"The learning curves were not drawn: a log.csv could not be read ({error}).")
    if curves is not None:
        written["learning_curve"] = _save_figure(curves, files, "learning_curve.png")
    unlogged = [series.label for series in data.models if all(series is not s for s in logged)]
    if unlogged:
        folders = "its run folder has" if len(unlogged) == 1 else "their run folders have"
        figure_notes.append(f"No learning curve for {', '.join(unlogged)}: {folders} no log.csv.")

    # --- The document
    doc = _Document()
    title = f"Colorization report — {data.evaluation.get('dataset_name', '')} ({split})"
    doc.heading(1, title)
    doc.paragraph(data.dataset_line())
    if not data.sun397:
        doc.paragraph("These images are not SUN397 urban-32, so the study's published numbers are not "
                      "comparable and are not shown; compare the models with the grey floor instead.")
    doc.bullets(_run_lines(data, out_dir))
    toy = _toy_notes(data)
    if toy:
        doc.paragraph("**Warning:** " + " ".join(toy))
    doc.paragraph(
        "Means over images (per image first; a class mean is over that class's images, the overall "
        "mean over all images). PSNR and SSIM on sRGB in [0, 1] after putting the predicted ab on the "
        "true L; MSE on normalised ab (ab / 127.5); LPIPS v0.1 AlexNet on RGB in [-1, 1]; colourfulness "
        "after Hasler & Süsstrunk on 0-255 RGB. The grey floor predicts no colour (ab = 0): it already "
        "scores well in PSNR and SSIM because both are dominated by the L channel the model is given, "
        "so a model's numbers mean something only next to it."
    )
    doc.heading(2, "Overall")
    header, body, notes = _overall_table(data)
    doc.table(header, body)
    doc.bullets(notes)
    lpips_notes = _lpips_notes(data)

    doc.heading(2, "Best and worst classes by MSE")
    if len(data.classes) < 2:
        doc.paragraph(f"One class ({', '.join(data.classes)}): there is no best or worst class to show; "
                      "the overall table is its table.")
    for series in (data.models if len(data.classes) >= 2 else []):
        doc.heading(3, series.label)
        doc.table(*_best_worst_table(data, series))
    if data.sun397:
        doc.heading(3, f"{REPORTED_BY_STUDY} (model not stated)")
        doc.table(*_study_best_worst_table())
        doc.paragraph(f"Numbers published by {STUDY_CITATION}; its class names are mapped onto ours.")

    doc.heading(2, "Per class")
    doc.table(*_per_class_table(data))
    if lpips_notes:
        doc.paragraph("LPIPS: see the notes under the overall table.")

    doc.heading(2, "Figures")
    if "qualitative" in written:
        doc.image("qualitative.png", "Input L | each model | truth, for rows " + ", ".join(map(str, sample_rows)))
    doc.image("gain_per_class.png", "PSNR gain and MSE reduction of each model over the grey floor, per class")
    if "learning_curve" in written:
        doc.image("learning_curve.png", "Training and validation loss per epoch (log.csv); the dotted line "
                  "marks the epoch saved as best.keras")
    doc.bullets(figure_notes)

    written["markdown"] = files.write_text("report.md", doc.markdown())
    written["html"] = files.write_text("report.html", doc.html(title))
    return written


# ------------------------------------------------------------------------------------
# In a notebook: the report inline, and our runs against the study
# ------------------------------------------------------------------------------------
_MARKDOWN_IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)\s*$")


def report_parts(markdown_path) -> list:
    """A Markdown report as IPython display objects, with its figures as inline images.

    A notebook shows Markdown but not the images it links relatively, so each image line
    becomes an ``IPython.display.Image`` of the file beside the report.
    """
    from IPython.display import Image, Markdown

    path = Path(markdown_path)
    parts: list = []
    text: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _MARKDOWN_IMAGE.match(line)
        if match is None:
            text.append(line)
            continue
        if any(t.strip() for t in text):
            parts.append(Markdown("\n".join(text)))
        text = []
        parts.append(Markdown(f"*{match['alt']}*"))
        parts.append(Image(filename=str(path.parent / match["src"])))
    if any(t.strip() for t in text):
        parts.append(Markdown("\n".join(text)))
    return parts


def study_comparison_markdown(run_dirs, split: str = "test") -> str:
    """Our runs next to the grey floor and the study's published table, as Markdown.

    On SUN397 urban-32 the study's rows sit in our overall table. On any other data they
    are shown apart, labelled as not comparable, so no one reads them as a result.
    """
    data = load_results(run_dirs, split)
    parts = ["### Our runs, the grey floor" + (" and the study" if data.sun397 else ""), "",
             format_overall_table(data), ""]
    ours = [row for row in overall_rows(data) if row["source"] == "ours"]
    grey = ours[-1]  # overall_rows lists the models first, then the grey floor
    gains = [f"- **{row['model']}**: {row['psnr'] - grey['psnr']:+.2f} dB PSNR and "
             f"{grey['mse'] - row['mse']:+.4f} MSE reduction over the grey floor"
             for row in ours[:-1]]
    parts += ["Gain over the grey floor (ab = 0), overall:", "", *gains, ""]
    if not data.sun397:
        study = [[model, f"{psnr:.2f}", f"{ssim:.4f}", f"{lpips:.4f}", f"{mse:.4f}"]
                 for model, psnr, ssim, lpips, mse in STUDY_OVERALL]
        parts += [
            f"### The study's table ({REPORTED_BY_STUDY}; not comparable here)", "",
            f"Published by {STUDY_CITATION} for SUN397 urban-32 at 256x256. These runs are on other "
            "images, so compare them with the grey floor above, not with these numbers.", "",
            markdown_table(["Model", "PSNR (dB) ↑", "SSIM ↑", "LPIPS ↓", "MSE ↓"], study),
        ]
    return "\n".join(parts).rstrip() + "\n"

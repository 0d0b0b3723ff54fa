"""Figures (matplotlib's object API: no pyplot, so no global backend is touched): those
of a report (`colorkeras.evaluation.report`) and those the notebooks show.

Of a report: the qualitative grid (input L, each model, truth), each model's gain over the
grey floor per class, and the learning curves of runs. Of the data and of colorized
photos: images per class and split, a grid of prepared samples, photos before and after
colorizing. Each function returns a ``Figure``; `save_figure` writes one.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from colorkeras import color
from colorkeras.data.pipeline import PreparedDataset
from colorkeras.data.prepare import SPLITS
from colorkeras.errors import InvalidArgument
from colorkeras.evaluation.results import ReportData, ReportError, cell_text, per_class_rows
from colorkeras.fileio import WrittenFiles
from colorkeras.images import read_rgb
from colorkeras.training.run import BEST_MODEL, Run, predictions_path

FIGURE_DPI = 120


# ------------------------------------------------------------------------------------
# Of a report
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


def save_figure(figure, files: WrittenFiles, name: str) -> Path:
    """Write ``figure`` as the PNG ``name`` into a folder being written (`colorkeras.fileio.WrittenFiles`)."""
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


def qualitative_figure(data: ReportData, rows: list[int], dataset):
    """Input L | each model | truth for the dataset ``rows`` of the evaluated split, each
    model's panel labelled with its MSE and PSNR; reads the dataset (an open
    ``PreparedDataset``) and the predictions, writes nothing."""
    from matplotlib.figure import Figure

    l_array, ab_array = dataset.arrays(data.split)
    predictions = []
    for series in data.models:
        path = predictions_path(series.folder)
        pred = np.load(path, mmap_mode="r")
        if pred.shape[0] != len(l_array) or pred.shape[1:3] != l_array.shape[1:3]:
            raise ReportError(f"{series.run_dir}: {path.name} does not match the dataset's arrays")
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
                ax.set_xlabel(f"MSE {cell_text('mse', metrics['mse'])} · {cell_text('psnr', metrics['psnr'])} dB",
                              fontsize=7)
        axes[i][0].set_ylabel(f"{entry['class']}\nrow {row}", fontsize=8)
    return figure


def learning_curve_figure(run_dirs, titles=None):
    """Training and validation loss per epoch, with the best validation epoch marked.

    Args:
        run_dirs: a run folder, or several (one panel each, side by side).
        titles: the panels' run names (default: the folders' names).
    """
    from matplotlib.figure import Figure

    single = isinstance(run_dirs, (str, Path))
    run_dirs = [Path(run_dirs)] if single else [Path(d) for d in run_dirs]
    logs = [Run(run_dir).read_log() for run_dir in run_dirs]  # before any drawing: a missing log fails first
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
                     label=f"best: epoch {int(epochs[best])} ({BEST_MODEL})")
    if len(epochs) <= 15:
        axes.set_xticks(epochs)  # whole epochs only, also for a one-epoch run
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss (normalised ab)")
    axes.set_title(f"Learning curve: {title}")
    axes.grid(alpha=0.3)
    axes.legend()


def gain_figure(data: ReportData):
    """Each model's PSNR gain (top) and MSE reduction (bottom) over the grey floor, per class."""
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
# Of the data and of colorized photos (the notebooks show them)
# ------------------------------------------------------------------------------------
def class_counts(prepared) -> dict[str, dict[str, int]]:
    """class -> split -> number of images, from a prepared dataset's manifest."""
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

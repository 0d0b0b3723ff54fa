"""Evaluate a trained run on a prepared dataset: per-image metrics, for the model and the grey floor.

``evaluate_run(RUN_DIR, PREPARED)`` loads ``RUN_DIR/best.keras`` into a Predictor (the one
inference core), predicts ab for every image of a split in batches straight from the
memory-mapped arrays, returns the results (an ``Evaluation``) and writes

```
RUN_DIR/eval/<dataset>-<digest>/<split>/   (one folder per prepared dataset and split)
  per_image.csv       row, relpath, class, model, psnr, ssim, lpips, mse,
                      colorfulness_pred, colorfulness_true, colorfulness_gap
                      (one row per image for the model, then one per image for the
                      "grey floor": ab = 0 on the same L)
  predictions_ab.npy  (N, S, S, 2) uint8 predicted ab, stored as the dataset stores ab
  evaluation.json     what was evaluated, on what, with which LPIPS, and the means
```

Every file is written under a temporary name and renamed into place; ``evaluation.json``
comes last, so its presence means the folder is complete. The free space is checked before
anything is written, the predictions are written with ordinary writes into space reserved
up front (a memory map of a sparse file dies of SIGBUS when the disk fills), and a failed
write leaves no temporary file behind, so a rerun starts clean. The metric definitions live in
``colorkeras.evaluation.metrics``; ``colorkeras.evaluation.report`` turns these files into tables and figures.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import json
import math
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from tqdm.auto import tqdm

from colorkeras import color
from colorkeras.data.pipeline import DatasetError, PreparedDataset
from colorkeras.data.sun397 import load_urban32
from colorkeras.errors import ColorkerasError, InvalidArgument
from colorkeras.evaluation.metrics import LPIPS_MIN_SIZE, METRIC_NAMES, LpipsScorer, batch_metrics
from colorkeras.fileio import free_bytes_if_short, process_alive, write_atomic, write_text_atomic
from colorkeras.inference.predictor import Predictor
from colorkeras.training.run import (BEST_MODEL, EVALUATION_FILES, Run, dataset_identity, dataset_key,
                                     evaluation_record_path, per_image_path, predictions_path)

GREY_FLOOR = "grey floor"
CSV_COLUMNS = ("row", "relpath", "class", "model") + METRIC_NAMES


class EvaluationError(ColorkerasError):
    """An evaluation that cannot run: no trained model, or data that does not fit it."""


@dataclass
class Evaluation:
    """One run evaluated on one split of one dataset, as ``evaluate_run`` wrote it.

    Args:
        folder: where its files are.
        record: the contents of evaluation.json (what, on what, LPIPS, the means).
        metrics: per-image metric arrays, for the model's label and for the grey floor.
        manifest: the split's manifest rows, in array order (relpath, class, ...).
    """

    folder: Path
    record: dict
    metrics: dict[str, dict[str, np.ndarray]]
    manifest: list[dict]

    @property
    def label(self) -> str:
        return self.record["model"]

    @property
    def means(self) -> dict[str, dict]:
        """{label: {metric: mean}} for the model and the grey floor (null: not finite)."""
        return self.record["mean"]


def format_number(value: float) -> str:
    """A metric value for a CSV cell: blank for NaN (not computed), ``inf`` kept."""
    value = float(value)
    if math.isnan(value):
        return ""
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.8g}"


def _json_number(value: float):
    value = float(value)
    return value if math.isfinite(value) else None


def grey_floor_verdict(model_psnr, grey_psnr) -> str:
    """Where a model's mean PSNR stands against the grey floor's, in words: "12.6 dB below
    the grey floor". None stands for a mean that is not finite (an inf PSNR: an image
    without colour, where predicting none is exact)."""
    if grey_psnr is None:
        return ("these images have no colour, so the grey floor is exact (PSNR inf) and any colour "
                "the model adds is error" if model_psnr is not None else "exact, as the grey floor is")
    if model_psnr is None:
        return "exact (PSNR inf)"
    gap = float(model_psnr) - float(grey_psnr)
    if abs(gap) < 0.05:
        return "level with the grey floor (within 0.05 dB)"
    return f"{abs(gap):.1f} dB {'above' if gap > 0 else 'below'} the grey floor"


# ------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------
def urban32_class_names() -> frozenset[str]:
    """The study's 32 SUN397 class names (the ``class`` column of sun397_urban32.csv)."""
    return frozenset(entry.name for entry in load_urban32())


def is_sun397_urban32(classes) -> bool:
    """Whether a dataset's classes are exactly the study's SUN397 urban-32 classes."""
    return set(classes) == set(urban32_class_names())


def _open_dataset(data) -> PreparedDataset:
    if isinstance(data, PreparedDataset):
        return data
    try:
        return PreparedDataset.open(data)
    except DatasetError as error:
        raise EvaluationError(str(error)) from error


def _resolve_scorer(lpips_scorer) -> LpipsScorer | None:
    return LpipsScorer(pretrained=True) if lpips_scorer == "auto" else lpips_scorer


def _lpips_info(scorer: LpipsScorer | None) -> dict:
    if scorer is None:
        return {"available": False, "reason": "LPIPS was not requested for this evaluation",
                "weights": None, "description": None}
    return {
        "available": bool(scorer.available),
        "reason": scorer.reason,
        "weights": "pretrained" if scorer.pretrained else "random",
        "description": scorer.description,
    }


def _check_run(run_dir: Path) -> Run:
    if not run_dir.is_dir():
        raise EvaluationError(f"run folder {run_dir} does not exist")
    run = Run(run_dir)
    if not run.best_model_path.is_file():
        raise EvaluationError(f"no {BEST_MODEL} in {run_dir} — train first (colorkeras train ...)")
    return run


def check_inputs(run_dirs, data, split: str = "test") -> None:
    """What `evaluate_run` checks before it loads a model, for every run at once: each run
    folder holds a best.keras, and ``data`` is a prepared dataset with images in ``split``.
    Cheap (no Keras): the command line calls it first, so a misspelt path fails at once.

    Raises:
        EvaluationError: the first problem found.
    """
    for run_dir in run_dirs:
        _check_run(Path(run_dir))
    dataset = _open_dataset(data)
    if dataset.count(split) == 0:
        raise EvaluationError(f"{dataset.root}: split {split!r} has no images")


# ------------------------------------------------------------------------------------
# The evaluation
# ------------------------------------------------------------------------------------
def evaluate_run(
    run_dir,
    data,
    split: str = "test",
    batch_size: int = 32,
    lpips_scorer: LpipsScorer | str | None = "auto",
    progress: bool = True,
    temperature: float | None = None,
) -> Evaluation:
    """Evaluate ``run_dir/best.keras`` on one split of a prepared dataset.

    Each dataset a run is evaluated on keeps its own folder (an out-of-domain evaluation
    never replaces the in-domain one); evaluating the same dataset and split again
    replaces that evaluation.

    Args:
        run_dir: a training run folder holding ``best.keras`` (and usually ``config.json``,
            whose ``"model"`` names the model; else the model's family is used).
        data: a prepared dataset folder (or an open ``PreparedDataset``) of the same
            image size as the model.
        split: "train", "val" or "test".
        batch_size: images per prediction batch.
        lpips_scorer: "auto" builds ``LpipsScorer()`` (real LPIPS, or an empty column that
            says why); None skips LPIPS; or pass a scorer.
        progress: show a progress bar.
        temperature: the decode temperature of a classification run (None: its
            objective's default); recorded in evaluation.json and the label, and each
            temperature is kept in its own folder. Regression runs ignore it.

    Raises:
        EvaluationError: no model in the run, an unreadable or empty dataset split, or a
            dataset whose image size differs from the model's, too little free disk
            space, or a write that failed (nothing partial is left behind).
    """
    _check_arguments(batch_size, lpips_scorer)
    run = _check_run(Path(run_dir))
    dataset = _open_dataset(data)
    l_array, ab_array, manifest = _split(dataset, split)
    predictor = _open_predictor(run, batch_size, temperature)
    label = _label(run, predictor)
    scorer, lpips_info = _lpips_for(lpips_scorer, dataset.image_size)
    identity = dataset_identity(dataset)
    out_dir = run.eval_dir(identity, split, predictor.temperature)
    shape = (len(l_array), dataset.image_size, dataset.image_size, 2)
    _check_free_space(run.root, _bytes_needed(shape))
    _clear(out_dir)
    bar = tqdm(total=len(l_array), desc=f"evaluate {run.root.name} ({split})", unit="img", disable=not progress)
    with bar:
        metrics = _predict_and_score(predictor, l_array, ab_array, scorer, predictions_path(out_dir), shape, bar)
    with _writing(per_image_path(out_dir)):
        write_text_atomic(per_image_path(out_dir), _per_image_csv(label, manifest, metrics))
    record = {**_record(run, label, predictor, dataset, identity, split), "count": len(l_array),
              "classes": list(dataset.classes), "sun397_urban32": is_sun397_urban32(dataset.classes),
              "lpips": lpips_info, "mean": _means(label, metrics),
              "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with _writing(evaluation_record_path(out_dir)):
        write_text_atomic(evaluation_record_path(out_dir), json.dumps(record, indent=2) + "\n")
    return Evaluation(out_dir, record, {label: metrics["model"], GREY_FLOOR: metrics["grey"]}, manifest)


def _check_arguments(batch_size: int, lpips_scorer) -> None:
    if batch_size < 1:
        raise InvalidArgument(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(lpips_scorer, str) and lpips_scorer != "auto":
        raise InvalidArgument(f"lpips_scorer must be 'auto', None or an LpipsScorer, got {lpips_scorer!r}")


def _split(dataset: PreparedDataset, split: str):
    """(L array, ab array, manifest rows in array order) of a split that has images."""
    try:
        l_array, ab_array = dataset.arrays(split)
    except DatasetError as error:
        raise EvaluationError(str(error)) from error
    count = len(l_array)
    if count == 0:
        raise EvaluationError(f"{dataset.root}: split {split!r} has no images")
    manifest = sorted(dataset.manifest(split), key=lambda row: int(row["row"]))
    if len(manifest) != count or [int(r["row"]) for r in manifest] != list(range(count)):
        raise EvaluationError(
            f"{dataset.root}: manifest.csv lists {len(manifest)} {split} images but the arrays "
            f"hold {count}; prepare the dataset again"
        )
    return l_array, ab_array, manifest


def _open_predictor(run: Run, batch_size: int, temperature: float | None) -> Predictor:
    try:
        return Predictor.open(run.root, batch_size=batch_size, temperature=temperature)
    except ColorkerasError as error:  # a damaged or foreign file: one clear message
        raise EvaluationError(f"cannot load {run.best_model_path}: {error}") from error


def _label(run: Run, predictor: Predictor) -> str:
    """The model's row label: its family, and the objective and temperature of a
    classification run, e.g. "unet+classify (T=0.38)"."""
    label = str(run.model_name or predictor.model.family)
    if predictor.temperature is not None:
        label = f"{label}+{predictor.objective.name} (T={predictor.temperature:g})"
    if label == GREY_FLOOR:
        raise EvaluationError(f"a model may not be called {GREY_FLOOR!r}: that label is the ab = 0 baseline")
    return label


def _lpips_for(lpips_scorer, size: int) -> tuple[LpipsScorer | None, dict]:
    """(scorer or None, what evaluation.json says about LPIPS) for images of ``size`` px."""
    if lpips_scorer is not None and size < LPIPS_MIN_SIZE:
        return None, {**_lpips_info(None), "reason": (
            f"LPIPS (AlexNet) needs images of at least {LPIPS_MIN_SIZE}x{LPIPS_MIN_SIZE} pixels; "
            f"these are {size}x{size}")}
    scorer = _resolve_scorer(lpips_scorer)
    return scorer, _lpips_info(scorer)


def _clear(out_dir: Path) -> None:
    """The evaluation folder, made ready: what a killed evaluation left is removed, and
    the record that marks it complete goes first, so an interrupted re-evaluation never
    leaves it over half-replaced files."""
    with _writing(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(out_dir)
        evaluation_record_path(out_dir).unlink(missing_ok=True)


def _predict_and_score(predictor: Predictor, l_array, ab_array, scorer, path: Path, shape: tuple, bar) -> dict:
    """Predict every image into ``path`` (the predicted ab, stored as the dataset stores
    ab) and score it; {"model": metrics, "grey": metrics}, each metric an array per image.

    A model trained at another size than the data is scored as users see it: through the
    full-resolution path of colorize (`Predictor.predict_at_size`), at the data's size.
    """
    count = shape[0]
    metrics = {which: {name: np.empty(count) for name in METRIC_NAMES} for which in ("model", "grey")}

    def predict_all(tmp: Path) -> None:
        # Ordinary writes, batch by batch, keep memory bounded whatever the split size, and
        # fail with an OSError (not a SIGBUS, as a memory map does) when the disk is full.
        with open(tmp, "wb") as handle:
            np.lib.format.write_array_header_1_0(handle, {
                "descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
                "fortran_order": False, "shape": shape})
            _reserve(handle, handle.tell() + math.prod(shape))
            for start in range(0, count, predictor.batch_size):
                stop = min(start + predictor.batch_size, count)
                l_norm, true_ab = color.stored_to_normalized(
                    np.asarray(l_array[start:stop], np.float32), np.asarray(ab_array[start:stop], np.float32)
                )
                pred_ab = predictor.predict_at_size(l_norm)
                handle.write(np.ascontiguousarray(color.quantize_ab(color.denormalize_ab(pred_ab)), np.uint8))
                for which, ab in (("model", pred_ab), ("grey", np.zeros_like(true_ab))):
                    values = batch_metrics(l_norm, ab, true_ab, scorer)
                    for name in METRIC_NAMES:
                        metrics[which][name][start:stop] = values[name]
                bar.update(stop - start)

    with _writing(path):
        write_atomic(path, predict_all)
    return metrics


def _means(label: str, metrics: dict) -> dict:
    """{label: {metric: mean over images}} for the model and the grey floor; a mean that
    is not finite (an inf PSNR) is None."""
    return {row_label: {name: _json_number(np.mean(values[name])) for name in METRIC_NAMES}
            for row_label, values in ((label, metrics["model"]), (GREY_FLOOR, metrics["grey"]))}


def _per_image_csv(label: str, manifest: list[dict], metrics: dict) -> str:
    """One row per image for the model, then one per image for the grey floor."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row_label, values in ((label, metrics["model"]), (GREY_FLOOR, metrics["grey"])):
        for i, entry in enumerate(manifest):
            writer.writerow([i, entry["relpath"], entry["class"], row_label]
                            + [format_number(values[name][i]) for name in METRIC_NAMES])
    return buffer.getvalue()


def _record(run: Run, label: str, predictor: Predictor, dataset: PreparedDataset, identity: dict,
            split: str) -> dict:
    """What evaluation.json says was evaluated, on what and how (the counts, LPIPS and the
    means follow it)."""
    model_size, size = predictor.image_size, dataset.image_size
    return {
        "run": run.root.resolve().name,
        "run_dir": str(run.root.resolve()),
        "model": label,
        "model_file": BEST_MODEL,
        "objective": predictor.objective.to_dict(),
        "temperature": predictor.temperature,  # the decode temperature; null for regression
        "dataset_root": identity["root"],
        "dataset_name": identity["name"],
        "dataset_key": dataset_key(identity),
        "dataset": identity,
        "split": split,
        "image_size": size,
        "model_size": model_size,  # the model's input side; below image_size: through the full-resolution path
        "chroma_upsampling": predictor.chroma_upsampling if model_size != size else None,
    }


# ------------------------------------------------------------------------------------
# Disk space and failed writes
# ------------------------------------------------------------------------------------
# per_image.csv: two rows per image of at most ~300 characters; the rest is small.
_CSV_BYTES_PER_IMAGE = 2 * 300
_SMALL_FILES_BYTES = 1 << 20


def _bytes_needed(shape: tuple[int, ...]) -> int:
    """What an evaluation writes, rounded up: predictions, per-image CSV, evaluation.json."""
    return 128 + math.prod(shape) + shape[0] * _CSV_BYTES_PER_IMAGE + _SMALL_FILES_BYTES


def _check_free_space(where: Path, needed: int) -> None:
    free = free_bytes_if_short(where, needed)
    if free is not None:
        raise EvaluationError(
            f"not enough free space to evaluate into {where}: the evaluation needs about "
            f"{needed:,} bytes and {free:,} bytes are free; free some space and rerun"
        )


def _reserve(handle, size: int) -> None:
    """Allocate ``size`` bytes for the file now: a full disk fails here, cleanly, with ENOSPC."""
    handle.flush()
    try:
        os.posix_fallocate(handle.fileno(), 0, size)
    except OSError as error:
        # Some file systems cannot reserve; the ordinary writes then still fail cleanly.
        if error.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    except AttributeError:  # no posix_fallocate on this OS (macOS, Windows)
        pass


@contextlib.contextmanager
def _writing(path: Path):
    """Turn a failed write (a full disk, a read-only folder) into one clear message.

    A write to a file descriptor raises an OSError without a file name; this says which file.
    """
    try:
        yield
    except OSError as error:
        raise EvaluationError(
            f"could not write {path}: {error.strerror or error}; nothing partial was kept. "
            "Free some space (or fix the folder's permissions) and rerun."
        ) from error


# The hidden names colorkeras.fileio.write_atomic gives its temporary files: .NAME.PID.HEX.tmpSUFFIX
_TEMPORARY = re.compile(r"^\.(?P<stem>.+)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp(?P<suffix>\.\w+)$")


def _remove_stale_temporaries(out_dir: Path) -> None:
    """Remove temporaries of our files left by a killed evaluation (its process is gone)."""
    ours = set(EVALUATION_FILES)
    for path in out_dir.iterdir():
        match = _TEMPORARY.match(path.name)
        if not match or match["stem"] + match["suffix"] not in ours:
            continue
        if process_alive(int(match["pid"])):
            continue  # another evaluation of the same run is writing it now
        path.unlink(missing_ok=True)



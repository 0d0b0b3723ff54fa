"""Colour from a reference photo, measured (issue 19): results/reference/.

    python bench/reference_table.py EXEMPLAR_RUN --sets camvid-street=PREPARED256 \
        intel-urban=PREPARED256 --out results/reference [--film ../shared/data/camvid-street/test/street]

Each set is a source prepared at 256 px with ``--keep-split`` (its own train and test
folders). For every test photo, at 256 px through the full-resolution path (the models
predict at their own size; the chroma upsampling brings ab to 256 on the photo's own L):

* grey floor (ab = 0) and the automatic default model (no reference, its default T);
* retrieved reference: the train photo most similar by L (`ReferenceIndex`, the photo's
  L only), coloured by the Reinhard-style global transfer, the Welsh transfer and the
  learnt exemplar model (EXEMPLAR_RUN);
* upper bound: the photo's own colour truth under a geometric change (a random view:
  30-100 % of the area, flip, rotation up to 10 degrees; `colorkeras.data.pairs`) as the
  reference, for the same three.

Writes table.md / table.csv (PSNR, SSIM, MSE of ab, colorfulness and the truth's),
retrieval.csv (each test photo's reference and similarity), grid.jpg (input, reference,
exemplar result, truth) and, with --film, a film of consecutive test frames coloured
from one reference frame (film.csv: per-frame PSNR against the truth; film.mp4).
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from colorkeras import color
from colorkeras.data.pairs import random_view
from colorkeras.data.pipeline import PreparedDataset
from colorkeras.evaluation.metrics import batch_metrics
from colorkeras.inference.predictor import Predictor
from colorkeras.inference.reference import ReferenceIndex

GREY = "grey floor"
COLUMNS = ("dataset", "reference", "method", "n", "psnr", "ssim", "mse", "colorfulness", "truth_colorfulness")


def stored_lab(l_stored, ab_stored) -> np.ndarray:
    """Stored uint8 (or float, stored units) L and ab -> LAB float32 (H, W, 3)."""
    return np.concatenate([color.dequantize_l(np.asarray(l_stored, np.float32))[..., None],
                           color.dequantize_ab(np.asarray(ab_stored, np.float32))], axis=-1)


def retrieved_references(data: PreparedDataset, test_l: np.ndarray) -> tuple[list, list]:
    """For each test photo: the LAB of the most similar train photo (by L) and (row, score)."""
    train_l, train_ab = data.arrays("train")
    lightness = [color.dequantize_l(np.asarray(image, np.float32)) for image in train_l]
    index = ReferenceIndex.from_lightness(range(len(train_l)), lightness)
    chosen = index.best_batch([color.dequantize_l(np.asarray(image, np.float32)) for image in test_l])
    return [stored_lab(train_l[row], train_ab[row]) for row, _ in chosen], chosen


def own_views(test_l, test_ab, seed: int = 0) -> list:
    """For each test photo: its own colour truth under a random geometric change."""
    rng = np.random.default_rng(seed)
    size = test_l.shape[1]
    return [stored_lab(view[..., 0], view[..., 1:])
            for view in (random_view(np.asarray(l), np.asarray(ab), size, rng) for l, ab in zip(test_l, test_ab))]


def scores(l_norm, pred_ab_norm, true_ab_norm) -> dict:
    """Mean PSNR, SSIM, MSE and colorfulness (prediction and truth) over the images."""
    values = batch_metrics(l_norm, pred_ab_norm, true_ab_norm)
    keys = {"psnr": "psnr", "ssim": "ssim", "mse": "mse", "colorfulness": "colorfulness_pred",
            "truth_colorfulness": "colorfulness_true"}
    return {out: float(np.mean(values[key])) for out, key in keys.items()}


def verdict(row: dict, grey: dict, automatic: dict) -> str:
    gap, auto_gap = row["psnr"] - grey["psnr"], row["psnr"] - automatic["psnr"]
    words = f"{abs(gap):.2f} dB {'above' if gap >= 0 else 'below'} the grey floor"
    if row is automatic:
        return words
    return words + f", {abs(auto_gap):.2f} dB {'above' if auto_gap >= 0 else 'below'} the automatic default"


def measure_set(name: str, root: Path, predictors: dict, automatic: Predictor, out: Path,
                limit: int | None = None, split: str = "test") -> tuple[list, dict]:
    """The rows of one data set, and what the grid needs (``limit``: the first photos only)."""
    data = PreparedDataset.open(root)
    test_l, test_ab = (array[:limit] for array in data.arrays(split))
    l_norm, true_ab = color.stored_to_normalized(np.asarray(test_l)[..., None], np.asarray(test_ab))
    retrieved, chosen = retrieved_references(data, test_l)
    with open(out / f"retrieval_{name}.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["test_row", "train_row", "similarity"])
        writer.writerows([(i, row, f"{score:.4f}") for i, (row, score) in enumerate(chosen)])
    views = own_views(test_l, test_ab)
    n = len(test_l)
    rows = [{"dataset": name, "reference": "none", "method": GREY, "n": n,
             **scores(l_norm, np.zeros_like(true_ab), true_ab)},
            {"dataset": name, "reference": "none", "method": "automatic default", "n": n,
             **scores(l_norm, automatic.predict_at_size(l_norm), true_ab)}]
    predictions = {}
    for reference_name, references in (("retrieved (train)", retrieved), ("own photo, transformed", views)):
        for method, predictor in predictors.items():
            start = time.perf_counter()
            pred = predictor.predict_at_size(l_norm, references)
            predictions[reference_name, method] = pred
            rows.append({"dataset": name, "reference": reference_name, "method": method, "n": n,
                         **scores(l_norm, pred, true_ab)})
            print(f"{name} {reference_name} {method}: PSNR {rows[-1]['psnr']:.2f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)
    return rows, {"l_norm": l_norm, "true_ab": true_ab, "references": retrieved, "predictions": predictions}


def write_tables(rows: list, out: Path, split: str = "test") -> None:
    with open(out / "table.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows([{key: (f"{value:.4f}" if isinstance(value, float) else value)
                           for key, value in row.items()} for row in rows])
    lines = [f"| data set ({split}, 256 px) | reference | method | PSNR (dB) | SSIM | MSE (ab) | "
             "colorfulness (truth) | verdict |", "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |"]
    for row in rows:
        same = [r for r in rows if r["dataset"] == row["dataset"]]
        grey, automatic = same[0], same[1]
        words = "doing nothing (ab = 0)" if row["method"] == GREY else verdict(row, grey, automatic)
        lines.append(f"| {row['dataset']} ({row['n']}) | {row['reference']} | {row['method']} | {row['psnr']:.2f} | "
                     f"{row['ssim']:.4f} | {row['mse']:.4f} | {row['colorfulness']:.1f} "
                     f"({row['truth_colorfulness']:.1f}) | {words} |")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def as_uint8(rgb) -> np.ndarray:
    rgb = np.asarray(rgb)
    return rgb if rgb.dtype == np.uint8 else np.rint(np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def tile(l_norm, ab_norm) -> np.ndarray:
    return as_uint8(color.predicted_ab_to_rgb(l_norm[None], ab_norm[None])[0])


def write_grid(parts: dict, out: Path, per_set: int = 3, seed: int = 1) -> None:
    """Rows of (input, retrieved reference, exemplar result, truth), a few per set."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    rows = []
    for part in parts.values():
        for i in sorted(rng.choice(len(part["l_norm"]), per_set, replace=False)):
            l_norm = part["l_norm"][i]
            reference = as_uint8(color.lab_to_rgb(part["references"][i]))
            result = part["predictions"]["retrieved (train)", "exemplar"][i]
            grey = np.repeat((np.clip(l_norm, -1, 1) * 127.5 + 127.5).astype(np.uint8), 3, axis=-1)
            tiles = [grey, reference, tile(l_norm, result), tile(l_norm, part["true_ab"][i])]
            rows.append(np.concatenate([np.pad(t, ((4, 4), (4, 4), (0, 0)), constant_values=255) for t in tiles], 1))
    Image.fromarray(np.concatenate(rows, 0)).save(out / "grid.jpg", quality=88)


def film(frames_dir: Path, count: int, exemplar: Path, out: Path, fps: int = 4) -> None:
    """The first ``count`` frames of a folder (in name order) as a grey film, coloured from
    its first frame's colour (the reference) with the flow stabiliser; per-frame PSNR
    against the truth beside the automatic default and the global transfer."""
    import tempfile

    from PIL import Image

    from colorkeras.evaluation.metrics import psnr
    from colorkeras.images import read_rgb
    from colorkeras.inference.reference import reference_lab
    from colorkeras.inference.temporal import lightness_u8
    from colorkeras.inference.video import colorize_video

    paths = sorted(p for p in frames_dir.iterdir() if p.suffix.lower() in (".jpg", ".png"))[:count]
    truth = [read_rgb(path) for path in paths]
    reference = reference_lab(truth[0])
    rows, outputs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        grey_dir = Path(tmp) / "grey"
        grey_dir.mkdir()
        for index, rgb in enumerate(truth):
            Image.fromarray(lightness_u8(color.rgb_to_l(rgb))).save(grey_dir / f"{index:04d}.png")
        for method, model in (("automatic default", None), ("global transfer", "global"), ("exemplar", exemplar)):
            target = Path(tmp) / method.replace(" ", "_")
            predictor = Predictor.open(model)
            colorize_video(predictor, grey_dir, target, temporal="flow", progress=False, fps=fps,
                           reference=reference if predictor.takes_reference else None)
            frames = [np.asarray(Image.open(path).convert("RGB")) for path in sorted(target.iterdir())]
            outputs[method] = frames
            rows += [{"frame": i, "method": method, "psnr": psnr(f / 255.0, t / 255.0)}
                     for i, (f, t) in enumerate(zip(frames, truth))]
        grey_frames = [np.repeat(np.asarray(Image.open(p))[..., None], 3, -1) for p in sorted(grey_dir.iterdir())]
        rows += [{"frame": i, "method": GREY, "psnr": psnr(g / 255.0, t / 255.0)}
                 for i, (g, t) in enumerate(zip(grey_frames, truth))]
        colorize_video(exemplar, grey_dir, out / "film.mp4", temporal="flow", progress=False, fps=fps,
                       overwrite=True, reference=reference)
    with open(out / "film.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=("frame", "method", "psnr"))
        writer.writeheader()
        writer.writerows([{**row, "psnr": f"{row['psnr']:.3f}"} for row in rows])
    for method in (GREY, "automatic default", "global transfer", "exemplar"):
        values = [row["psnr"] for row in rows if row["method"] == method]
        print(f"film ({len(values)} frames from {paths[0].name}): {method} mean PSNR {np.mean(values):.2f}, "
              f"last frame {values[-1]:.2f}", flush=True)
    picks = np.linspace(0, len(truth) - 1, 5).round().astype(int)
    strip = [np.concatenate([np.asarray(Image.fromarray(frames[i]).resize((240, 180))) for i in picks], 1)
             for frames in (grey_frames, outputs["exemplar"], truth)]
    Image.fromarray(np.concatenate(strip, 0)).save(out / "film_strip.jpg", quality=88)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exemplar", type=Path, help="the exemplar model's run folder or .keras")
    parser.add_argument("--sets", nargs="+", required=True, metavar="NAME=PREPARED256")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=None, help="the first N test photos of each set (a quick check)")
    parser.add_argument("--split", default="test", help="the split measured (val: to choose between models)")
    parser.add_argument("--film", type=Path, default=None, help="a folder of consecutive colour frames")
    parser.add_argument("--film-frames", type=int, default=24)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    predictors = {"global transfer": Predictor.open("global"), "Welsh transfer": Predictor.open("welsh"),
                  "exemplar": Predictor.open(args.exemplar)}
    automatic = Predictor.open(None)
    rows, parts = [], {}
    for spec in args.sets:
        name, path = spec.split("=", 1)
        set_rows, parts[name] = measure_set(name, Path(path), predictors, automatic, args.out, args.limit,
                                               args.split)
        rows += set_rows
    write_tables(rows, args.out, args.split)
    write_grid(parts, args.out)
    if args.film is not None:
        film(args.film, args.film_frames, args.exemplar, args.out)
    (args.out / "timing.json").write_text(json.dumps({"seconds": round(time.perf_counter() - started, 1)}) + "\n")


if __name__ == "__main__":
    main()

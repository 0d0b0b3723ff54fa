"""The default model's table (issue 18): its decode temperatures chosen on validation, then
every test set at 256 px through the full-resolution path, beside the grey floor; the
historical photos colorized; a 12 MP photo timed.

    python bench/default_model_table.py RUN --val POOL256 --sets NAME=PREPARED ... \
        --historical ../shared/data/historical-urban \
        --first-screen ../shared/data/historical-urban/1880Paris.jpg --out results/default-model

RUN is the training run (evaluations are written into it). POOL256 is the training pool
prepared at 256 px with the same sources, seed and --keep-split (so its val split is the
training run's); each test set is a source's own test folder prepared with `--val 0
--test 1 --size 256`. Temperatures are chosen on POOL256's val split only:
  default: the highest PSNR (the accurate setting);
  vivid:   among settings still above the grey floor's PSNR, colourfulness closest to the
           truth's.
Writes table.md, table.csv, selection.json, temperatures.csv, historical/, before_after.jpg
(the README's first screen) and timing.json.

`--keep SETTING ...` keeps those comparison rows (written by bench/budget_rows.py, whose
run folders may be gone) from the table.csv already in --out, and their budget.json
entries; every other row and entry is dropped. A kept row must sit on the same grey floor
as this run's (the same prepared test set), or the script refuses before writing the table.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from colorkeras.fileio import write_atomic, write_text_atomic

TEMPERATURES = (0.4, 0.5, 0.6, 0.7, 0.85, 1.0, 1.3, 1.6, 2.0, 3.0)
GREY = "grey floor"
COLUMNS = ("setting", "temperature", "dataset", "n", "psnr", "ssim", "mse", "colourfulness", "truth_colourfulness")


def means_of(record: dict, label: str) -> dict:
    means = record["mean"][label]
    return {"psnr": means["psnr"], "ssim": means["ssim"], "mse": means["mse"],
            "colourfulness": means["colorfulness_pred"], "truth_colourfulness": means["colorfulness_true"]}


def written_evaluation_path(run: Path, data: Path, split: str, temperature: float | None) -> Path | None:
    """The evaluation.json of ``run`` on ``data``'s ``split`` at ``temperature`` already
    written into the run after its best.keras was (a retrained model is evaluated again),
    else None; its per_image.csv lies beside it."""
    model_time = (run / "best.keras").stat().st_mtime
    for path in sorted(run.glob(f"eval/*/{split}*/evaluation.json")):
        record = json.loads(path.read_text())
        if (path.stat().st_mtime > model_time and record.get("split") == split
                and Path(record.get("dataset_root", "")).resolve() == Path(data).resolve()
                and record.get("temperature") == temperature):
            return path
    return None


def written_evaluation(run: Path, data: Path, split: str, temperature: float | None) -> dict | None:
    """The record `written_evaluation_path` finds, else None."""
    path = written_evaluation_path(run, data, split, temperature)
    return None if path is None else json.loads(path.read_text())


def evaluate_at(run: Path, data: Path, split: str, temperature: float | None, reuse: bool = False) -> dict:
    """Means of the model and the grey floor (``reuse``: read an evaluation already written
    into the run instead of repeating it)."""
    from colorkeras.evaluation.evaluate import evaluate_run

    record = written_evaluation(run, data, split, temperature) if reuse else None
    if record is None:
        record = evaluate_run(run, data, split, lpips_scorer=None, progress=False, temperature=temperature).record
    return {"model": means_of(record, record["model"]), "grey": means_of(record, GREY), "n": record["count"],
            "model_size": record["model_size"], "image_size": record["image_size"]}


def choose(rows: list[dict]) -> tuple[float, float]:
    """(default, vivid) temperatures from validation rows (see the module docstring)."""
    default = max(rows, key=lambda row: row["psnr"])["temperature"]
    grey_psnr = rows[0]["grey_psnr"]
    above = [row for row in rows if row["psnr"] > grey_psnr] or rows
    vivid = min(above, key=lambda row: (abs(row["colourfulness"] - row["truth_colourfulness"]), row["temperature"]))
    return default, vivid["temperature"]


def verdict(model: dict, grey: dict) -> str:
    gap = model["psnr"] - grey["psnr"]
    ssim_gap = model["ssim"] - grey["ssim"]
    return (f"{abs(gap):.2f} dB {'above' if gap >= 0 else 'below'} the grey floor in PSNR, "
            f"SSIM {abs(ssim_gap):.4f} {'above' if ssim_gap >= 0 else 'below'} it")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--val", type=Path, required=True)
    parser.add_argument("--sets", nargs="+", required=True, metavar="NAME=PREPARED")
    parser.add_argument("--historical", type=Path, default=None)
    parser.add_argument("--first-screen", type=Path, default=None, metavar="PHOTO",
                        help="the README's first-screen figure: PHOTO, then its colour copies at both settings")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--temperatures", type=float, nargs="+", default=list(TEMPERATURES))
    parser.add_argument("--keep", nargs="+", default=[], metavar="SETTING",
                        help="comparison rows of the existing table.csv to keep")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    kept = kept_rows(args.out, args.keep)

    started = time.perf_counter()
    val_rows = []
    for temperature in args.temperatures:
        result = evaluate_at(args.run, args.val, "val", temperature)
        val_rows.append({"temperature": temperature, **result["model"], "grey_psnr": result["grey"]["psnr"],
                         "grey_ssim": result["grey"]["ssim"]})
        print(f"val T={temperature:g}: PSNR {result['model']['psnr']:.3f} (grey {result['grey']['psnr']:.3f}) "
              f"SSIM {result['model']['ssim']:.4f} colourfulness {result['model']['colourfulness']:.1f} "
              f"/ {result['model']['truth_colourfulness']:.1f}", flush=True)
    default, vivid = choose(val_rows)
    write_csv(args.out / "temperatures.csv", val_rows, val_rows[0])
    selection = {"default_temperature": default, "vivid_temperature": vivid, "chosen_on": str(args.val) + " (val)",
                 "rule": "default: highest val PSNR; vivid: val colourfulness closest to the truth's among "
                         "settings above the grey floor's PSNR"}
    write_text_atomic(args.out / "selection.json", json.dumps(selection, indent=2) + "\n")
    print(f"chosen on validation: default T={default:g}, vivid T={vivid:g}", flush=True)

    rows = []
    for spec in args.sets:
        name, path = spec.split("=", 1)
        grey_row = None
        for setting, temperature in (("default", default), ("vivid", vivid)):
            result = evaluate_at(args.run, Path(path), "test", temperature)
            rows.append({"setting": setting, "temperature": temperature, "dataset": name, "n": result["n"],
                         **result["model"]})
            grey_row = {"setting": GREY, "temperature": "", "dataset": name, "n": result["n"], **result["grey"]}
            print(f"{name} {setting} (T={temperature:g}): {verdict(result['model'], result['grey'])}; "
                  f"PSNR {result['model']['psnr']:.2f} SSIM {result['model']['ssim']:.4f} colourfulness "
                  f"{result['model']['colourfulness']:.1f} / {result['model']['truth_colourfulness']:.1f}", flush=True)
        rows.append(grey_row)
    rows += same_floor(kept, rows)
    write_table(rows, args.out)
    keep_budget_entries(args.out / "budget.json", args.keep)

    if args.historical is not None:
        _historical(args.run, args.historical, args.out / "historical", default)
    if args.first_screen is not None:
        first_screen(args.run, args.first_screen, args.out / "before_after.jpg", default, vivid)
    timing = {"table_seconds": round(time.perf_counter() - started, 1), **_time_12mp(args.run, default)}
    write_text_atomic(args.out / "timing.json", json.dumps(timing, indent=2) + "\n")


def read_table(path: Path) -> list[dict]:
    """The rows of a table.csv this script (or bench/budget_rows.py) wrote, numbers parsed."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row.update({key: float(row[key]) for key in ("psnr", "ssim", "mse", "colourfulness", "truth_colourfulness")})
        row["n"] = int(row["n"])
    return rows


def kept_rows(out: Path, settings: list[str]) -> list[dict]:
    """The rows of ``settings`` in ``out``/table.csv, with each data set's grey floor
    (refused before any work when a setting is not there)."""
    if not settings:
        return []
    rows = read_table(out / "table.csv")
    missing = set(settings) - {row["setting"] for row in rows}
    if missing:
        raise SystemExit(f"--keep: not in {out / 'table.csv'}: {', '.join(sorted(missing))}")
    return [row for row in rows if row["setting"] in settings or row["setting"] == GREY]


def same_floor(kept: list[dict], rows: list[dict]) -> list[dict]:
    """The kept comparison rows of the data sets measured now, after checking each one's
    old grey floor against the new one (the same prepared test set, or they do not compare)."""
    greys = {row["dataset"]: row for row in rows if row["setting"] == GREY}
    for row in kept:
        if row["setting"] == GREY and row["dataset"] in greys:
            if abs(row["psnr"] - greys[row["dataset"]]["psnr"]) > 1e-4 or row["n"] != greys[row["dataset"]]["n"]:
                raise SystemExit(f"--keep: {row['dataset']}'s grey floor differs from the kept rows' "
                                 f"({greys[row['dataset']]['psnr']:.4f} against {row['psnr']:.4f} dB): "
                                 "not the same prepared test set")
    return [row for row in kept if row["setting"] != GREY and row["dataset"] in greys]


def keep_budget_entries(path: Path, settings: list[str]) -> None:
    """budget.json (bench/budget_rows.py's record of the comparison runs) cut to ``settings``."""
    if path.is_file():
        entries = json.loads(path.read_text())
        write_text_atomic(path, json.dumps({k: v for k, v in entries.items() if k in settings}, indent=2) + "\n")


def write_table(rows: list[dict], out: Path) -> None:
    """table.csv and table.md in ``out``: each data set's model rows, then its grey floor,
    each model row with its verdict against that floor (printed too)."""
    datasets = list(dict.fromkeys(row["dataset"] for row in rows))
    rows = [row for name in datasets  # sorted is stable: the grey floor last, the rest in order
            for row in sorted((r for r in rows if r["dataset"] == name), key=lambda r: r["setting"] == GREY)]
    write_csv(out / "table.csv", rows, COLUMNS)
    lines = ["| data set (test, 256 px) | setting | PSNR (dB) | SSIM | MSE (ab) | colourfulness (truth) | verdict |",
             "| --- | --- | ---: | ---: | ---: | ---: | --- |"]
    greys = {row["dataset"]: row for row in rows if row["setting"] == GREY}
    for row in rows:
        temperature = f" (T={float(row['temperature']):g})" if row["temperature"] not in ("", None) else ""
        words = verdict(row, greys[row["dataset"]]) if row["setting"] != GREY else "doing nothing (ab = 0)"
        lines.append(f"| {row['dataset']} ({row['n']}) | {row['setting']}{temperature} | {row['psnr']:.2f} | "
                     f"{row['ssim']:.4f} | {row['mse']:.4f} | {row['colourfulness']:.1f} "
                     f"({row['truth_colourfulness']:.1f}) | {words} |")
    write_text_atomic(out / "table.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def write_csv(path: Path, rows: list[dict], columns) -> None:
    """``rows`` as CSV at ``path``, written whole or not at all (colorkeras.fileio)."""
    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(columns))
            writer.writeheader()
            writer.writerows(rows)

    write_atomic(path, write)


def _historical(run: Path, source: Path, out: Path, temperature: float) -> None:
    """Each historical photo colorized at its own size (JPEG, for the repository). The
    folder is this script's: it is made afresh beside ``out`` and swapped in whole, so a
    rerun replaces it (colorize itself keeps files it cannot prove it wrote, and a fresh
    clone's mtimes prove nothing); colorize's records (stamps of local paths) are left out."""
    import shutil

    from colorkeras.inference.colorize import colorize_paths

    fresh, old = out.with_name(out.name + ".new"), out.with_name(out.name + ".old")
    for leftover in (fresh, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    report = colorize_paths(run, [source], fresh, fmt="jpg", temperature=temperature)
    print(report.to_text())
    if not report.ok:
        raise SystemExit(f"{len(report.skipped)} historical photo(s) skipped; {out} left as it was")
    for record in fresh.glob(".colorkeras*"):
        record.unlink()
    if out.exists():
        out.rename(old)
    fresh.rename(out)
    if old.exists():
        shutil.rmtree(old)
    _pairs(source, out, out.parent / "historical_pairs.jpg")


def _pairs(source: Path, colorized: Path, target: Path, height: int = 300) -> None:
    """Each photo beside its colour copy (the original grey | colorkeras), two pairs a row."""
    from PIL import Image

    tiles = []
    for original in sorted(source.iterdir()):
        done = colorized / f"{original.stem}.jpg"
        if not done.is_file():
            continue
        pair = [Image.open(path).convert("RGB") for path in (original, done)]
        pair = [image.resize((round(image.width * height / image.height), height), Image.LANCZOS) for image in pair]
        tile = Image.new("RGB", (pair[0].width * 2 + 6, height), "white")
        tile.paste(pair[0], (0, 0))
        tile.paste(pair[1], (pair[0].width + 6, 0))
        tiles.append(tile)
    rows = [tiles[i:i + 2] for i in range(0, len(tiles), 2)]
    width = max(sum(tile.width for tile in row) + 12 * (len(row) - 1) for row in rows)
    sheet = Image.new("RGB", (width, len(rows) * (height + 12)), "white")
    for index, row in enumerate(rows):
        left = 0
        for tile in row:
            sheet.paste(tile, (left, index * (height + 12)))
            left += tile.width + 12
    sheet.save(target, quality=88)


def first_screen(run: Path, photo: Path, target: Path, default: float, vivid: float, height: int = 330) -> None:
    """PHOTO as it is, then colorized at the default and the vivid setting, side by side
    under one-line captions (JPEG)."""
    from PIL import Image, ImageDraw

    from colorkeras.images import read_rgb
    from colorkeras.inference.predictor import Predictor

    original = Image.fromarray(read_rgb(photo))  # the project's reader: EXIF orientation, size limit
    panels = [(f"original ({photo.stem})", original)]
    for caption, temperature in ((f"colorkeras default (T={default:g})", default),
                                 (f"vivid (--temperature {vivid:g})", vivid)):
        colour = Predictor.open(run, temperature=temperature).colorize(np.asarray(original))
        panels.append((caption, Image.fromarray(colour)))
    width = round(original.width * height / original.height)
    sheet = Image.new("RGB", (3 * width + 12, height + 26), "white")
    draw = ImageDraw.Draw(sheet)
    for index, (caption, image) in enumerate(panels):
        sheet.paste(image.resize((width, height), Image.LANCZOS), (index * (width + 6), 26))
        draw.text((index * (width + 6) + 4, 6), caption, fill="black")
    sheet.save(target, quality=88)


def _time_12mp(run: Path, temperature: float) -> dict:
    """Seconds to colorize one 12 MP photo in memory (4000x3000), after a warm-up call."""
    from colorkeras.inference.predictor import Predictor

    predictor = Predictor.open(run, temperature=temperature)
    rng = np.random.default_rng(0)
    photo = np.repeat(rng.integers(0, 256, (3000, 4000, 1), dtype=np.uint8), 3, axis=-1)
    predictor.colorize(photo[:600, :800])
    start = time.perf_counter()
    predictor.colorize(photo)
    seconds = time.perf_counter() - start
    print(f"12 MP photo (4000x3000) colorized in {seconds:.2f} s", flush=True)
    return {"photo_12mp_seconds": round(seconds, 2), "chroma_upsampling": predictor.chroma_upsampling}


if __name__ == "__main__":
    main()

"""The default model's candidates on validation (issue 18): each run's PSNR on the training
pool's val split at 256 px, through the full-resolution path, beside the grey floor; a
model with a decode temperature is swept over bench/default_model_table.py's settings.
What ships is chosen here, never on a test split.

    python bench/validation_table.py "NAME=RUN" ... --val POOL256 --out results/default-model

An evaluation already written into a run (same prepared folder, split and temperature)
is read back instead of repeated. Writes validation.csv (every setting) and validation.md
(each run's best setting).

`--keep-earlier` keeps the rows of candidates not named on the command line from the
validation.csv already in --out (their run folders may be gone), in their earlier order;
it refuses when that file's grey floor differs from this split's, i.e. when the split is
not the same one.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from default_model_table import TEMPERATURES, evaluate_at, verdict, write_csv

from colorkeras.fileio import write_text_atomic

SWEPT = ("confidence", "classification")  # objective kinds whose output a temperature changes


def sweep(run: Path, val: Path) -> list[dict]:
    kind = json.loads((run / "config.json").read_text())["objective"]["kind"]
    rows = []
    for temperature in TEMPERATURES if kind in SWEPT else (None,):
        result = evaluate_at(run, val, "val", temperature, reuse=True)
        rows.append({"temperature": "" if temperature is None else temperature, "n": result["n"],
                     **result["model"], "grey_psnr": result["grey"]["psnr"], "grey_ssim": result["grey"]["ssim"]})
    return rows


def earlier_rows(path: Path, grey_psnr: float, n: int) -> list[dict]:
    """The rows of ``path`` (a validation.csv this script wrote), numbers parsed; refused
    unless they were measured on the same split (same count and grey floor)."""
    if not path.is_file():
        raise SystemExit(f"--keep-earlier: {path} does not exist")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        for key, value in row.items():
            if key != "candidate" and value != "":
                row[key] = int(value) if key == "n" else float(value)
        if row["n"] != n or abs(row["grey_psnr"] - grey_psnr) > 1e-6:
            raise SystemExit(f"--keep-earlier: {path} was measured on another split ({row['n']} photos, grey "
                             f"{row['grey_psnr']:.4f} dB against {n} and {grey_psnr:.4f} here)")
    return rows


def best_settings(rows: list[dict], grey: dict) -> list[str]:
    """A Markdown table of each candidate's best setting (highest PSNR) beside the grey floor."""
    lines = ["| candidate | setting | PSNR (dB) | SSIM | colourfulness (truth) | verdict |",
             "| --- | --- | ---: | ---: | ---: | --- |"]
    for name in dict.fromkeys(row["candidate"] for row in rows):
        best = max((row for row in rows if row["candidate"] == name), key=lambda row: row["psnr"])
        setting = f"T={best['temperature']:g}" if best["temperature"] != "" else "(regression)"
        lines.append(f"| {name} | {setting} | {best['psnr']:.2f} | {best['ssim']:.4f} | "
                     f"{best['colourfulness']:.1f} ({best['truth_colourfulness']:.1f}) | {verdict(best, grey)} |")
    lines.append(f"| grey floor | ab = 0 | {grey['psnr']:.2f} | {grey['ssim']:.4f} | 0.0 | doing nothing |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=RUN")
    parser.add_argument("--val", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--keep-earlier", action="store_true",
                        help="keep the earlier validation.csv's rows of candidates not named here")
    args = parser.parse_args()
    val = args.val.resolve()

    rows = []
    for spec in args.runs:
        name, run = spec.split("=", 1)
        rows += [{"candidate": name, **row} for row in sweep(Path(run).resolve(), val)]
        print(f"{name}: done", flush=True)
    if args.keep_earlier:
        earlier = earlier_rows(args.out / "validation.csv", rows[0]["grey_psnr"], rows[0]["n"])
        named = {row["candidate"] for row in rows}
        order = list(dict.fromkeys([row["candidate"] for row in earlier] + [row["candidate"] for row in rows]))
        pooled = [row for row in earlier if row["candidate"] not in named] + rows
        rows = [row for name in order for row in pooled if row["candidate"] == name]
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "validation.csv", rows, rows[0])
    grey = {"psnr": rows[0]["grey_psnr"], "ssim": rows[0]["grey_ssim"]}
    lines = [f"Validation split of {args.val.name} ({rows[0]['n']} photos, 256 px), each candidate's best setting:",
             "", *best_settings(rows, grey)]
    write_text_atomic(args.out / "validation.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

"""The default model's comparison rows (issue 18): other recipes trained with the default
model's CPU budget, scored like it (each test set at 256 px through the full-resolution
path) and added to its table beside the grey floor; RUN@T scores a run with a decode
temperature at T (chosen on validation: bench/validation_table.py).

    python bench/budget_rows.py "unet recipe=RUN" "study's baseline=RUN" \
        --sets intel-urban=PREPARED ... --table results/default-model

Each RUN is a training run (its best validation epoch is scored; evaluations are written
into it, and one already there is read back instead of repeated). The table folder's
table.csv (written by bench/default_model_table.py) keeps its rows; rows of the same
setting name are replaced, so a rerun updates them. table.md is rewritten from the merged
rows; budget.json records each run's epochs, best epoch and training seconds (from its
log.csv), its entries replaced the same way.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from default_model_table import GREY, evaluate_at, read_table, verdict, write_table

from colorkeras.fileio import write_text_atomic


def run_summary(run: Path) -> dict:
    """Epochs done, the best validation epoch and the training seconds of a run."""
    with open(run / "log.csv", newline="") as handle:
        log = list(csv.DictReader(handle))
    best = json.loads((run / "best.json").read_text())
    config = json.loads((run / "config.json").read_text())["config"]
    return {"run": run.name, "epochs": len(log), "best_epoch": best["epoch"], "best_val_loss": best["val_loss"],
            "training_seconds": round(sum(float(row["seconds"]) for row in log), 1),
            "image_size": config["image_size"], "batch_size": config["batch_size"],
            "learning_rate": config["learning_rate"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="SETTING=RUN[@T]")
    parser.add_argument("--sets", nargs="+", required=True, metavar="NAME=PREPARED")
    parser.add_argument("--table", type=Path, required=True, help="folder with table.csv")
    args = parser.parse_args()

    runs = dict(spec.split("=", 1) for spec in args.runs)  # RUN@T: at decode temperature T
    rows = [row for row in read_table(args.table / "table.csv") if row["setting"] not in runs]
    record = args.table / "budget.json"
    summaries = json.loads(record.read_text()) if record.is_file() else {}
    for setting, spec_run in runs.items():
        run, _, temperature = spec_run.partition("@")
        temperature = float(temperature) if temperature else None
        summaries[setting] = run_summary(Path(run))
        for spec in args.sets:
            name, path = spec.split("=", 1)
            result = evaluate_at(Path(run), Path(path), "test", temperature, reuse=True)
            rows.append({"setting": setting, "temperature": "" if temperature is None else temperature,
                         "dataset": name, "n": result["n"],
                         **result["model"]})
            print(f"{name} {setting}: {verdict(result['model'], result['grey'])}; PSNR "
                  f"{result['model']['psnr']:.2f} (grey {result['grey']['psnr']:.2f})", flush=True)
            grey = next(row for row in rows if row["dataset"] == name and row["setting"] == GREY)
            if abs(grey["psnr"] - result["grey"]["psnr"]) > 1e-4:  # the same images, or the rows do not compare
                raise SystemExit(f"{name}: the grey floor differs from the table's ({result['grey']['psnr']:.4f} "
                                 f"against {grey['psnr']:.4f}): not the same prepared test set")
    write_table(rows, args.table)
    write_text_atomic(record, json.dumps(summaries, indent=2) + "\n")


if __name__ == "__main__":
    main()

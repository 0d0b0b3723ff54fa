"""The default model's candidates on the validation photos none of them trained on (issue 18).

The default model shipped in 0.2 was trained on a pool prepared before `prepare` dropped
exact copies of a photo. Its split was drawn from 120 more photos than today's, so about
half of today's validation split was in its training split and its validation figure is
flattered. This script rebuilds that earlier split from a pool's own records (its
manifest.csv plus the copies listed in skipped.csv, put back), checks the rebuild (today's
split must come out of the same code unchanged, and the earlier counts must equal those the
old run recorded), and scores every candidate only on the validation photos that were
validation photos in both splits, from the per-photo scores its evaluations already wrote
(run bench/validation_table.py first).

    python bench/clean_validation.py POOL160 --old-run OLD "NAME=RUN" ... \
        --val POOL256 --out results/default-model

OLD is a folder with the old model's best.json: the model shipped in 0.2 is
colorkeras/weights/default at commit d0b868b (`git show d0b868b:colorkeras/weights/default/best.json`).

POOL160 is the pool the runs were trained on (its records are read, and its source folders
listed; no image is read),
POOL256 the same pool prepared at 256 px whose val split the evaluations scored. Writes
clean_validation.md and clean_validation.csv (every temperature) in --out.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from dataclasses import fields
from pathlib import Path

from default_model_table import TEMPERATURES, write_csv, written_evaluation_path
from validation_table import best_settings

from colorkeras.data.prepare import PrepareSettings, assign_splits
from colorkeras.data.sources import scan_many
from colorkeras.fileio import write_text_atomic

GREY = "grey floor"


def photos_valid_for_both(pool: Path, old_counts: dict) -> tuple[set[str], int]:
    """Today's val photos of ``pool`` that were val photos too in the split drawn before
    exact copies were dropped (``old_counts``: that split's counts, as the old run
    recorded), and the size of today's val split. The pool's source folders are listed
    again the way `prepare` lists them (`scan_many`: order, classes, own splits); no image
    is read."""
    recorded = json.loads((pool / "settings.json").read_text())
    settings = PrepareSettings(**{f.name: recorded[f.name] for f in fields(PrepareSettings) if f.name in recorded})
    sources = [Path(source) for source in recorded["source_dir"].split("; ")]
    missing = [str(source) for source in sources if not source.is_dir()]
    if missing:
        raise SystemExit(f"{pool}: its source folders are needed to rebuild the split: {', '.join(missing)} missing")
    with open(pool / "manifest.csv", newline="") as handle:
        today = {row["relpath"]: row["split"] for row in csv.DictReader(handle)}
    with open(pool / "skipped.csv", newline="") as handle:
        copies = {row["relpath"] for row in csv.DictReader(handle) if row["reason"].startswith("same content as")}
    images = scan_many(sources).images

    def split_of(kept: list) -> list[str]:
        return assign_splits([image.class_name for image in kept], settings, [image.own_split for image in kept])

    kept_today = [image for image in images if image.relpath in today]
    if split_of(kept_today) != [today[image.relpath] for image in kept_today]:
        raise SystemExit(f"{pool}: today's split does not come out of assign_splits again; cannot rebuild the old one")
    before = [image for image in images if image.relpath in today or image.relpath in copies]
    old = {image.relpath: split for image, split in zip(before, split_of(before))}
    counts = {split: sum(1 for s in old.values() if s == split) for split in ("train", "val", "test")}
    if any(counts[split] != old_counts.get(split) for split in counts):
        raise SystemExit(f"rebuilt split {counts} differs from the old run's record {old_counts}")
    val = [relpath for relpath, split in today.items() if split == "val"]
    return {relpath for relpath in val if old[relpath] == "val"}, len(val)


def per_photo(run: Path, val: Path) -> dict[float | None, list[dict]]:
    """Each temperature's per-photo rows of ``run``'s evaluations of ``val``'s val split
    (those bench/validation_table.py sweeps, newer than the run's model)."""
    found = {}
    for temperature in (*TEMPERATURES, None):
        path = written_evaluation_path(run, val, "val", temperature)
        if path is not None:
            with open(path.parent / "per_image.csv", newline="") as handle:
                found[temperature] = list(csv.DictReader(handle))
    if not found:
        raise SystemExit(f"{run}: no evaluation of {val}'s val split: run bench/validation_table.py first")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pool", type=Path)
    parser.add_argument("runs", nargs="+", metavar="NAME=RUN")
    parser.add_argument("--old-run", type=Path, required=True,
                        help="the run trained before copies were dropped (its best.json holds its split's counts)")
    parser.add_argument("--val", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    old_counts = json.loads((args.old_run / "best.json").read_text())["dataset"]["counts"]
    clean, len_val = photos_valid_for_both(args.pool, old_counts)
    rows = []
    for spec in args.runs:
        name, run = spec.split("=", 1)
        for temperature, photos in per_photo(Path(run), args.val).items():
            for label in ("model", GREY):
                chosen = [p for p in photos if p["relpath"] in clean and (p["model"] == GREY) == (label == GREY)]
                rows.append({"candidate": name if label == "model" else GREY,
                             "temperature": "" if temperature is None or label == GREY else temperature,
                             "n": len(chosen), "psnr": statistics.fmean(float(p["psnr"]) for p in chosen),
                             "ssim": statistics.fmean(float(p["ssim"]) for p in chosen),
                             "colourfulness": statistics.fmean(float(p["colorfulness_pred"]) for p in chosen),
                             "truth_colourfulness": statistics.fmean(float(p["colorfulness_true"]) for p in chosen)})
    grey = next(row for row in rows if row["candidate"] == GREY)
    if any(abs(row["psnr"] - grey["psnr"]) > 1e-6 for row in rows if row["candidate"] == GREY):
        raise SystemExit("the grey floor differs between evaluations: not the same photos")
    rows = [row for row in rows if row["candidate"] != GREY] + [grey]
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(args.out / "clean_validation.csv", rows, rows[0])
    lines = [f"Validation photos of {args.val.name} that no candidate trained on: {grey['n']} of today's val "
             f"split (the other {len_val - grey['n']} were in the old model's training split, drawn before exact "
             "copies were dropped). Each candidate's best setting:", "",
             *best_settings([row for row in rows if row["candidate"] != GREY], grey)]
    write_text_atomic(args.out / "clean_validation.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

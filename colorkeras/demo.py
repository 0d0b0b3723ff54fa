"""`colorkeras demo`: the whole path on the embedded toy city, in a few CPU minutes.

toy city -> prepare -> train the baseline -> evaluate (model and grey floor) -> report.
It ends by printing the overall table and checking that the model beats the grey floor
in PSNR and MSE on the toy city's test split, overall and on every scene class; the exit
code says whether it did.
"""

from __future__ import annotations

import time
from pathlib import Path

from colorkeras.data.prepare import PrepareSettings, prepare
from colorkeras.data.synthetic import write_toy_city
from colorkeras.evaluation.evaluate import evaluate_run
from colorkeras.evaluation.report import format_overall_table, load_results, write_report
from colorkeras.training.config import TrainConfig
from colorkeras.training.recipes import RECOMMENDED, recipe_by_name

# Sized for about two minutes of training on 2 CPU cores: 320 training images at 32 px
# for 8 epochs (about 0.9 GFLOP per image and step) is enough for the baseline to beat
# the grey floor on every scene class of the toy city.
DEMO_IMAGES_PER_CLASS = 100
DEMO_SOURCE_SIZE = 64


def grey_floor_check(data) -> tuple[bool, list[dict]]:
    """Whether the model beats the grey floor in mean PSNR and MSE overall and in every
    class, with one row per class (and "all") of those means.

    Args:
        data: the report's view (``colorkeras.evaluation.report.load_results``) of one evaluation.
    """
    model, grey = data.models[0], data.grey
    rows = []
    for cls in [None] + list(data.classes):
        row = {"class": cls or "all", "n": len(model.values("mse", cls)),
               "psnr": model.mean("psnr", cls), "grey_psnr": grey.mean("psnr", cls),
               "mse": model.mean("mse", cls), "grey_mse": grey.mean("mse", cls)}
        row["beats"] = row["psnr"] > row["grey_psnr"] and row["mse"] < row["grey_mse"]
        rows.append(row)
    return all(row["beats"] for row in rows), rows


def run_demo(out_dir="demo", quick: bool = False) -> int:
    """Run the demo into `out_dir`; returns 0 when the model beats the grey floor overall
    and on every scene class."""
    from colorkeras.training.train import train  # imports Keras: only when the demo runs

    out = Path(out_dir)
    config = TrainConfig.demo(**({"epochs": 3} if quick else {}))
    per_class = 40 if quick else DEMO_IMAGES_PER_CLASS
    started = time.time()

    print(f"[1/5] toy city: {per_class} images per class -> {out / 'toy_city'}", flush=True)
    write_toy_city(out / "toy_city", per_class=per_class, size=DEMO_SOURCE_SIZE, seed=0)
    prepared = out / f"toy_city_{config.image_size}px"
    print(f"[2/5] prepare at {config.image_size}px -> {prepared}", flush=True)
    print(prepare(out / "toy_city", prepared, PrepareSettings(image_size=config.image_size),
                  progress=False).to_text(), flush=True)
    print(f"[3/5] train the baseline for {config.epochs} epochs -> {out / 'runs' / 'baseline'}", flush=True)
    print(train(prepared, out / "runs" / "baseline", config, verbose="lines").to_text(), flush=True)
    print("[4/5] evaluate the model and the grey floor on the test split", flush=True)
    evaluation = evaluate_run(out / "runs" / "baseline", prepared, split="test", progress=False)
    print(f"[5/5] report -> {out / 'report'}", flush=True)
    write_report([evaluation], out / "report", split="test")

    data = load_results([evaluation])  # the results in memory, not read back from disk
    beats, rows = grey_floor_check(data)
    print(f"\nDemo finished in {time.time() - started:.0f} s. Toy city (synthetic, not SUN397), test split:\n")
    print(format_overall_table(data))
    print("\nPer scene class (PSNR dB and MSE, model vs grey floor):")
    for row in rows[1:]:
        mark = "beats" if row["beats"] else "does NOT beat"
        print(f"  {row['class']:<12} n={row['n']:<3} PSNR {row['psnr']:.2f} vs {row['grey_psnr']:.2f}, "
              f"MSE {row['mse']:.4f} vs {row['grey_mse']:.4f}: {mark}")
    print(f"\nThis is the study's baseline on a toy. For your own photos, prepare them and run "
          f"`colorkeras train PREPARED --out RUN`: it trains the recommended recipe, {RECOMMENDED!r} "
          f"({recipe_by_name(RECOMMENDED).summary}), chosen by the ablation in results/quality; "
          "`--recipe study` trains the study's.")
    overall = rows[0]
    verdict = "beats" if beats else "does NOT beat"
    print(f"\nGrey-floor check: the baseline {verdict} the grey floor overall and on every class "
          f"(overall PSNR {overall['psnr']:.2f} vs {overall['grey_psnr']:.2f} dB, "
          f"MSE {overall['mse']:.5f} vs {overall['grey_mse']:.5f}).")
    return 0 if beats else 1

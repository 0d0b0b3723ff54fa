"""`colorkeras demo`: the whole path on the embedded toy city, in a few CPU minutes.

toy city -> prepare -> train the baseline -> evaluate (model and grey floor) -> report.
It ends by printing the overall table and checking that the model beats the grey floor
in PSNR and MSE on the toy city's test split; the exit code says whether it did.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from colorkeras.config import TrainConfig

DEMO_IMAGES_PER_CLASS = 150
DEMO_SOURCE_SIZE = 64


def grey_floor_check(run_dir: Path, split: str = "test") -> tuple[bool, dict]:
    """Whether the model beats the grey floor in mean PSNR and MSE, and those means
    (as `colorkeras evaluate` recorded them in evaluation.json)."""
    from colorkeras.evaluate import EVALUATION_JSON, GREY_FLOOR, eval_dir

    means = json.loads((eval_dir(run_dir, split) / EVALUATION_JSON).read_text())["mean"]
    model = next(label for label in means if label != GREY_FLOOR)
    means = {"model": means[model], "grey floor": means[GREY_FLOOR]}
    beats = (means["model"]["psnr"] > means["grey floor"]["psnr"]
             and means["model"]["mse"] < means["grey floor"]["mse"])
    return beats, means


def run_demo(out_dir="demo", quick: bool = False) -> int:
    """Run the demo into `out_dir`; returns 0 when the model beats the grey floor."""
    from colorkeras.data.prepare import PrepareSettings, prepare
    from colorkeras.data.synthetic import write_toy_city
    from colorkeras.evaluate import evaluate_run
    from colorkeras.report import format_overall_table, write_report
    from colorkeras.train import train

    out = Path(out_dir)
    config = TrainConfig.demo(**({"epochs": 3} if quick else {}))
    per_class = 40 if quick else DEMO_IMAGES_PER_CLASS
    started = time.time()

    print(f"[1/5] toy city: {per_class} images per class -> {out / 'toy_city'}")
    write_toy_city(out / "toy_city", per_class=per_class, size=DEMO_SOURCE_SIZE, seed=0)
    prepared = out / f"toy_city_{config.image_size}px"
    print(f"[2/5] prepare at {config.image_size}px -> {prepared}")
    print(prepare(out / "toy_city", prepared, PrepareSettings(image_size=config.image_size),
                  progress=False).to_text())
    print(f"[3/5] train the baseline for {config.epochs} epochs -> {out / 'runs' / 'baseline'}")
    print(train(prepared, out / "runs" / "baseline", config, verbose=2).to_text())
    print("[4/5] evaluate the model and the grey floor on the test split")
    evaluate_run(out / "runs" / "baseline", prepared, split="test", progress=False)
    print(f"[5/5] report -> {out / 'report'}")
    write_report([out / "runs" / "baseline"], out / "report", split="test")

    beats, means = grey_floor_check(out / "runs" / "baseline")
    print(f"\nDemo finished in {time.time() - started:.0f} s. Toy city (synthetic, not SUN397), test split:\n")
    print(format_overall_table([out / "runs" / "baseline"], split="test"))
    verdict = "beats" if beats else "does NOT beat"
    print(f"\nGrey-floor check: the baseline {verdict} the grey floor "
          f"(PSNR {means['model']['psnr']:.2f} vs {means['grey floor']['psnr']:.2f} dB, "
          f"MSE {means['model']['mse']:.5f} vs {means['grey floor']['mse']:.5f}).")
    return 0 if beats else 1

"""Put a trained run into the package as the default model (issue 18).

    python scripts/ship_default_model.py RUN --selection results/default-model/selection.json \
        --table results/default-model/table.md

Copies RUN's best.keras into colorkeras/weights/default/ with the run's records trimmed to
what inference reads (the dataset's local path is replaced by its name) and the decode
temperature chosen on validation as the objective's default; writes MODEL_CARD.md from
the run's records and the measured table. Refuses a model over 20 MB.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


CARD = """# colorkeras default model

The model `colorkeras colorize PHOTOS --out DIR` uses when no model is named, and notebooks
04 and 05 when nothing was trained. Trained on a 2-core CPU.

## What it is
- Family `efficient` (`colorkeras/models/efficient.py`): a U-Net of fused-MBConv blocks
  with a stride-2 stem, self-attention at the lowest grid and ab predicted at half the
  input size; arguments {model_args}.
- {gflop:.2f} GFLOP per image forward at 256 px, {params:,} weights, {megabytes:.1f} MB.
- Input: the photo's L at {image_size}x{image_size}; its ab is brought to the photo's own
  size by chroma upsampling steered by the photo's L, so detail is the photo's own.
- Objective `confidence`: MSE on ab plus a learnt per-pixel error variance. The decode
  temperature is the one knob (`--temperature`): above 1 it shrinks chroma towards grey
  where the model is unsure, below 1 it paints more vividly where it is sure. Default
  T = {default_t:g} (highest validation PSNR); vivid T = {vivid_t:g} (validation colourfulness
  closest to the truth's among settings above the grey floor).

## Data and their terms
Trained on the train folders of three sets of real street photos (`../shared/data`, see
its README), {counts}; validation from those train folders only; their test folders
and labelme-facade (out of domain) were used only for the table below.
- spb-facades (St Petersburg street photos): CC0 1.0.
- intel-urban (Intel Image Classification, buildings and street): terms of the original
  data set are unclear; the data README allows development benchmarks and quality checks.
- camvid-street (CamVid driving video, Cambridge): research data set, terms as intel-urban.
**Because two of the three sets have unclear or research-only terms, these weights are for
research and personal use**; a model trained on spb-facades alone (CC0) is the one to
ship where the terms must be clear (same recipe: `colorkeras prepare
../shared/data/spb-facades OUT --size 160 --keep-split` then `colorkeras train OUT --recipe
default --out RUN --minutes 100`).

## Recipe
`colorkeras train POOL --recipe default{flags} --out RUN` on the pool prepared with
`colorkeras prepare intel-urban camvid-street spb-facades POOL --size 160 --keep-split`:
{recipe}. {epochs} epochs, best validation epoch {best_epoch} (val loss {val_loss:.4f}).
`prepare` keeps each source's own test folder apart and drops exact copies, keeping the
test copy: spb-facades' `train/` repeats all 114 of its test photos byte for byte, and
intel-urban's repeats 2 of its own, so none of the test photos was trained on.

## Measured (256 px, through the full-resolution path; `bench/default_model_table.py`)
{table}

## Known limits
- Trained on {train} photos of three cities' streets in daylight: interiors, people's
  clothes, vehicles and signs have no reliable colour; it guesses the common case (grey
  roads, brown and beige facades, green trees, blue skies).
- Colour is predicted at {half} px for the whole photo: small objects get their
  surroundings' colour.
- Old photos have film grain, scratches and tones unlike today's cameras; it was not
  trained on any.
"""


def command_flags(config: dict) -> str:
    """The `colorkeras train` flags that made ``config`` from the default recipe: each
    setting the run changed from the recipe's value, epochs always."""
    from colorkeras.training.recipes import recipe_by_name

    changes = recipe_by_name("default").changes
    flags = [f" --{key.replace('_', '-')} {config[key]}" for key in ("image_size", "batch_size")
             if config[key] != changes[key]]
    changed = [f"{key}={config[key]}" for key in ("learning_rate", "schedule", "crop_scale")
               if config[key] != changes[key]]
    return "".join(flags) + f" --epochs {config['epochs']}" + "".join(f" --set {item}" for item in changed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--selection", type=Path, required=True)
    parser.add_argument("--table", type=Path, required=True)
    args = parser.parse_args()

    from colorkeras.fileio import write_text_atomic
    from colorkeras.models.flops import forward_flops
    from colorkeras.models.registry import build_model, load_model
    from colorkeras.training.recipes import recipe_by_name
    from colorkeras.training.shipped import DEFAULT_MODEL_DIR, ship_run

    selection = json.loads(args.selection.read_text())
    default_t = selection["default_temperature"]
    shipped = ship_run(args.run, DEFAULT_MODEL_DIR, {"temperature": default_t})
    size = shipped.best_model_path.stat().st_size
    records = {"config.json": shipped.record, "best.json": shipped.best_record}

    model = load_model(shipped.best_model_path)
    arguments = {key: value for key, value in records["config.json"]["model_args"].items()
                 if key not in ("name", "image_size", "input_channels")}
    gflop = forward_flops(build_model("efficient", 256, **{k: v for k, v in arguments.items()
                                                           if k != "output_channels"},
                                      output_channels=arguments["output_channels"])) / 1e9
    counts = records["config.json"]["dataset"].get("counts", {})
    config = records["config.json"]["config"]
    card = CARD.format(
        model_args=json.dumps(arguments), gflop=gflop, params=model.count_params(), megabytes=size / 2**20,
        image_size=model.image_size, half=model.image_size // 2, default_t=default_t,
        vivid_t=selection["vivid_temperature"],
        counts=f"{counts.get('train', '?')} training and {counts.get('val', '?')} validation photos",
        train=counts.get("train", "?"), flags=command_flags(config),
        recipe=recipe_by_name("default").summary + "; " + ", ".join(
            f"{key} {config[key]}" for key in ("image_size", "batch_size", "learning_rate", "schedule", "crop_scale")),
        epochs=config["epochs"], best_epoch=records["best.json"]["epoch"], val_loss=records["best.json"]["val_loss"],
        table=args.table.read_text().strip())
    write_text_atomic(shipped.root / "MODEL_CARD.md", card)
    print(f"shipped {args.run} ({size:,} bytes) to {shipped.root}, default T={default_t:g}")


if __name__ == "__main__":
    main()

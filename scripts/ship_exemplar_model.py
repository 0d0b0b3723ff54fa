"""Put a trained exemplar run into the package (issue 19): colorkeras/weights/exemplar/.

    python scripts/ship_exemplar_model.py RUN --selection results/reference/selection.json \
        --table results/reference/table.md

Copies RUN's best model and trimmed records (`colorkeras.training.shipped.ship_run`) and
writes MODEL_CARD.md from the run's records, the validation choice and the measured table.
`colorkeras colorize --reference PHOTO` without a model then uses it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

CARD = """# colorkeras exemplar model

The model `colorkeras colorize PHOTOS --reference PHOTO_OR_FOLDER --out DIR` uses when no
model is named, and notebooks 04 and 05 in their reference cell. Trained on a 2-core CPU.

## What it is
- Family `exemplar` (`colorkeras/models/exemplar.py`): one encoder, shared by the target's
  L and the reference's L, down to 1/8 of the input; attention from the target's features
  to the reference's (cosine similarity, learnt scale) gives the reference's ab warped to
  the target and a per-pixel match confidence; an efficient-U-Net decoder refines them with
  the target's own features and falls back to its own prediction where the match is weak
  (a learnt gate); ab at half the input size. Arguments {model_args}.
- {gflop:.2f} GFLOP per image forward at 256 px ({ratio:.2f}x the default model's), {params:,}
  weights, {megabytes:.1f} MB.
- Input: the photo's L and the reference's L and ab, each at {image_size}x{image_size}
  (squared as training data was); the ab comes back to the photo's size by chroma
  upsampling steered by the photo's own L.

## Data and their terms
Trained on the train folders of intel-urban, camvid-street and spb-facades
(`../shared/data`), {counts}. Each training photo's reference was, half of the time, the
same photo under a strong geometric change (30-100 % of its area, 3:4 to 4:3, mirrored
half of the time, turned by up to 10 degrees) and otherwise {other}. Validation from those
train folders only; the test folders were used only for the table below. **Terms**: as for
the default model, two of the three sets have unclear or research-only terms, so these
weights are for research and personal use.

## Recipe
`colorkeras train POOL --recipe exemplar --out RUN --epochs {epochs}` on the pool prepared with
`colorkeras prepare intel-urban camvid-street spb-facades POOL --size 160 --keep-split`:
{recipe}. Best validation epoch {best_epoch} (val loss {val_loss:.4f}). {selection}

## Measured (256 px, through the full-resolution path; `bench/reference_table.py`)
{table}

## Known limits
- It takes colour from what it finds in the reference: a reference of another kind of
  scene (an interior for a street) gives that scene's colours or, where nothing matches,
  the model's own muted guess.
- Matching runs at 1/8 of {image_size} px: small objects take their surroundings' colour.
- Trained on three cities' streets in daylight; old photos' grain and tones were not in
  its training data.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--selection", type=Path, required=True)
    parser.add_argument("--table", type=Path, required=True)
    parser.add_argument("--other", default="one of the 8 photos of its class most similar to it by L, whole")
    args = parser.parse_args()

    from colorkeras.models.flops import forward_flops
    from colorkeras.models.registry import build_model, load_model
    from colorkeras.training.recipes import recipe_by_name
    from colorkeras.training.run import Run
    from colorkeras.training.shipped import DEFAULT_MODEL_DIR, EXEMPLAR_MODEL_DIR, ship_run

    shipped = ship_run(args.run, EXEMPLAR_MODEL_DIR)
    record, best = shipped.record, shipped.best_record
    model = load_model(shipped.best_model_path)
    arguments = {key: value for key, value in record["model_args"].items()
                 if key not in ("name", "image_size", "input_channels")}
    gflop = forward_flops(build_model("exemplar", 256, **{k: v for k, v in arguments.items() if k != "key_dim"})) / 1e9
    default_args = {key: value for key, value in Run(DEFAULT_MODEL_DIR).load_best().get_config().items()
                    if key in ("base_filters", "depth", "blocks", "block", "attention", "output_channels")}
    default_gflop = forward_flops(build_model("efficient", 256, **default_args)) / 1e9
    counts = record["dataset"].get("counts", {})
    config = record["config"]
    card = CARD.format(
        model_args=json.dumps(arguments), gflop=gflop, ratio=gflop / default_gflop, params=model.count_params(),
        megabytes=shipped.best_model_path.stat().st_size / 2**20, image_size=model.image_size,
        counts=f"{counts.get('train', '?')} training and {counts.get('val', '?')} validation photos",
        other=args.other, epochs=config["epochs"],
        recipe=recipe_by_name("exemplar").summary + "; " + ", ".join(
            f"{key} {config[key]}" for key in ("image_size", "batch_size", "learning_rate", "schedule", "crop_scale")),
        best_epoch=best["epoch"], val_loss=best["val_loss"],
        selection=json.loads(args.selection.read_text()).get("rule", ""),
        table=args.table.read_text().strip())
    (shipped.root / "MODEL_CARD.md").write_text(card)
    print(f"shipped {args.run} to {shipped.root}")


if __name__ == "__main__":
    main()

"""Training images per second and forward GFLOP of the default family's block choices
against the unet recipe, on this machine's CPU (issue 18: choose blocks by measured speed).

    python bench/bench_efficient.py [--size 64] [--batch 32] [--steps 12]

Each candidate is compiled exactly as training compiles it (uint8 batches normalised in the
step, Adam, its objective's loss) and timed on random batches after two warm-up steps; the
figures of one run are comparable with each other (ratios), not across machines.
"""

from __future__ import annotations

import argparse
import json

CANDIDATES = {
    "unet (recipe 'unet': 24 filters, depth 4, no attention)": ("unet", {"attention": False}, "mse"),
    "efficient fused, 16 filters, depth 4": ("efficient", {"block": "fused"}, "confidence"),
    "efficient mbconv, 16 filters, depth 4": ("efficient", {"block": "mbconv"}, "confidence"),
    "efficient fused, 24 filters, depth 4": ("efficient", {"block": "fused", "base_filters": 24}, "confidence"),
    "efficient fused, 32 filters, depth 4": ("efficient", {"block": "fused", "base_filters": 32}, "confidence"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--only", default=None, help="substring of the candidates to run")
    args = parser.parse_args()

    import keras

    from colorkeras.training.config import TrainConfig
    from colorkeras.models.flops import forward_flops
    from colorkeras.models.registry import build_model
    from colorkeras.training.objectives import get_objective
    from colorkeras.training.train import training_rate

    rows = []
    for label, (family, options, loss) in CANDIDATES.items():
        if args.only and args.only not in label:
            continue
        objective = get_objective(loss)
        gflop_256 = forward_flops(build_model(family, 256, output_channels=objective.output_channels,
                                              **options)) / 1e9
        keras.utils.set_random_seed(0)
        model = build_model(family, args.size, output_channels=objective.output_channels, **options)
        config = TrainConfig(model=family, image_size=args.size, batch_size=args.batch, learning_rate=1e-3,
                             loss=loss, **options)
        rate = training_rate(config, args.steps, model)
        rows.append({"candidate": label, "gflop_256": round(gflop_256, 3), "params": model.count_params(),
                     "train_images_per_s": round(rate, 1)})
        print(f"{label:55s} {gflop_256:6.2f} GFLOP@256  {model.count_params():9,d} params  "
              f"{rate:7.1f} train img/s at {args.size}px", flush=True)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()

"""The same CPU budget for the default model's comparison rows (issue 18): training images
per second of each recipe's compiled step, measured in one process and interleaved, as
ratios to the budget's; the epochs each gets within it. The budget is 72 epochs of the
default recipe at 96 px (the run of the model shipped in 0.2); the default recipe itself
now trains at 64 px, which got 72 x its ratio = 112 epochs.

    python bench/budget_rate.py --rounds 3 --steps 8
    python bench/budget_rate.py --extra "default at 128 px=default,image_size=128"

`--extra LABEL=RECIPE[,KEY=VALUE...]` times a further candidate (a recipe with settings
changed) in the same rounds, so it too gets its epochs for the default model's budget.

Recipes are timed as `colorkeras train` compiles them (`training.train.training_rate`):
the budget at 96 px, the default at its own 64 px, the comparisons at the size and batch they are trained with
here (64 px, batch 32, learning rate 1e-3). A validation pass (a third of a training pass per epoch in
`epochs_for_minutes`) costs the same fraction for every recipe, so it drops out of the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

from machine import machine_line  # bench/machine.py, beside this script

BUDGET, BUDGET_EPOCHS = "budget: default at 96 px", 72  # the 0.2 default model's run
BUDGET_SETTINGS = {"image_size": 96}
# The comparisons at the size, batch and learning rate they are trained with here (the
# issue's CPU runs of the unet recipe: 64 px, batch 32, Adam 1e-3).
COMPARED = {name: {"image_size": 64, "batch_size": 32, "learning_rate": 1e-3} for name in ("unet", "study")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--extra", nargs="+", default=[], metavar="LABEL=RECIPE[,KEY=VALUE...]",
                        help="further candidates timed in the same rounds")
    args = parser.parse_args()

    import keras

    print(f"budget_rate: {time.strftime('%Y-%m-%d %H:%M')}; {machine_line()}; keras {keras.__version__} "
          f"({keras.backend.backend()})", flush=True)
    from colorkeras.training.config import TrainConfig, parse_overrides
    from colorkeras.training.recipes import recipe_by_name
    from colorkeras.training.train import training_rate

    configs = {BUDGET: TrainConfig().replace(**{**recipe_by_name("default").changes, **BUDGET_SETTINGS}),
               "default": TrainConfig().replace(**recipe_by_name("default").changes)}
    for name, overrides in COMPARED.items():
        configs[name] = TrainConfig().replace(**{**recipe_by_name(name).changes, **overrides})
    for spec in args.extra:
        label, _, recipe_and_settings = spec.partition("=")
        if not label or not recipe_and_settings:
            parser.error(f"--extra {spec!r}: expected LABEL=RECIPE[,KEY=VALUE...]")
        if label in configs:
            parser.error(f"--extra {spec!r}: the label {label!r} is already a row; give it another name")
        recipe, *settings = recipe_and_settings.split(",")
        configs[label] = TrainConfig().replace(**{**recipe_by_name(recipe).changes, **parse_overrides(settings)})
    rates: dict[str, list[float]] = {name: [] for name in configs}
    for round_ in range(args.rounds):
        for name, config in configs.items():
            rates[name].append(training_rate(config, args.steps))
            size = "" if f"{config.image_size} px" in name else f" at {config.image_size} px"
            print(f"round {round_ + 1}: {name}{size}, batch {config.batch_size}: "
                  f"{rates[name][-1]:.1f} images/s", flush=True)
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(f"| recipe | size | images/s (median) | ratio to the budget's | epochs within the budget "
          f"({BUDGET_EPOCHS} at 96 px) |\n| --- | ---: | ---: | ---: | ---: |")
    for name, config in configs.items():
        ratio = median[name] / median[BUDGET]
        print(f"| {name} | {config.image_size} px | {median[name]:.1f} | {ratio:.2f} | "
              f"{round(BUDGET_EPOCHS * ratio)} |")


if __name__ == "__main__":
    main()

"""Named recipes: the TrainConfig fields that make each model of the quality ablation,
and the recipe of the model that ships.

A recipe fixes what a model is (family, architecture, objective); the quality grid
(`colorkeras.evaluation.quality`) adds a schedule sized for its hardware, and
``colorkeras train --recipe NAME`` the study's. Without ``--model`` or ``--recipe``,
``colorkeras train`` trains `RECOMMENDED`.
"""

from __future__ import annotations

from dataclasses import dataclass

from colorkeras.errors import InvalidArgument


@dataclass(frozen=True)
class Recipe:
    """A named point of the grid: the TrainConfig fields that define it, and the decode
    temperatures it is evaluated at (None: regression, or the objective's default)."""

    name: str
    summary: str
    changes: dict
    temperatures: tuple = (None,)


# The study's baseline, each of its proposals alone, then the quality family.
RECIPES: tuple[Recipe, ...] = (
    Recipe("study", "the study's baseline: CNN encoder-decoder, MSE", {"model": "baseline", "loss": "mse"}),
    Recipe("study+L1", "the baseline trained with L1", {"model": "baseline", "loss": "l1"}),
    Recipe("study+colourful", "the baseline, MSE plus the colourfulness-gap term",
           {"model": "baseline", "loss": "colourful"}),
    Recipe("unet", "U-Net: skips and bilinear upsampling, no attention, MSE",
           {"model": "unet", "attention": False, "loss": "mse"}),
    Recipe("unet+attention", "U-Net with self-attention at the lowest resolution, MSE",
           {"model": "unet", "attention": True, "loss": "mse"}),
    Recipe("unet+attention+classify", "U-Net + attention, ab bins with rebalancing, annealed mean",
           {"model": "unet", "attention": True, "loss": "classify"}, temperatures=(1.0, 0.6, 0.38, 0.2)),
)
# Recipes outside the grid. "default" makes the model that ships (issue 18; README, "The
# default model"): the efficient family at 64 px on two CPU cores. Why each value:
# 64 px: ab is predicted at 32 px and brought to the photo's size by its own L; the step
# runs 1.56x as many images a second as at 96 px (bench/budget_rate.py), and within the
# same compute (72 epochs at 96 px, the 0.2 model's run) 112 epochs at 64 px scored higher
# on the validation photos no candidate trained on (results/default-model/
# clean_validation.md); crops from 160 px storage: scale variety; lr 2e-3 with a cosine
# decay: the run must end converged; batch 32: small steps suit two cores and few images
# (3,274). 38 to 58 min on the 2 cores, by their load; `--minutes M` fits the epochs to M.
CPU_RECIPES: tuple[Recipe, ...] = (
    Recipe("default", "efficient U-Net (fused-MBConv, ab at half size), MSE + learnt confidence, "
           "64 px random resized crops, cosine learning rate: the CPU-trained default model",
           {"model": "efficient", "loss": "confidence", "image_size": 64, "batch_size": 32,
            "learning_rate": 2e-3, "schedule": "cosine", "crop_scale": 0.3, "epochs": 112}),
    # "exemplar" (issue 19): the default's schedule of 0.2 for the exemplar family, each 96 px
    # target with a reference (colorkeras.data.pairs: the same photo under change or another
    # of its class, 50/50); MSE (its 2 outputs); targets cropped from 0.5 of the area, so a
    # same-photo reference (itself a crop of 0.3 to 1) mostly shows what the target shows.
    Recipe("exemplar", "exemplar family (colour from a reference photo: shared encoder, attention at S/8, "
           "gated fallback), MSE, 96 px crops, references 50/50 same photo / same class, cosine learning rate",
           {"model": "exemplar", "loss": "mse", "image_size": 96, "batch_size": 32,
            "learning_rate": 2e-3, "schedule": "cosine", "crop_scale": 0.5, "epochs": 40}),
)
RECIPE_NAMES = tuple(recipe.name for recipe in RECIPES + CPU_RECIPES)
# What `colorkeras train` trains without --model or --recipe: the accurate pick of the
# committed ablation (results/quality/selection.json; a test keeps the two in step).
RECOMMENDED = "study"


def recipe_by_name(name: str) -> Recipe:
    for recipe in RECIPES + CPU_RECIPES:
        if recipe.name == name:
            return recipe
    raise InvalidArgument(f"unknown recipe {name!r}; expected one of {', '.join(RECIPE_NAMES)}")

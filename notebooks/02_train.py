# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: T4
#     provenance: []
#   jupytext:
#     comment_magics: true
#     notebook_metadata_filter: accelerator,colab,kernelspec,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Train a colorizer with the study's recipe
#
# Three models from the study, chosen with `MODEL` below:
#
# | `MODEL` | what it is |
# | --- | --- |
# | `baseline` | a CNN encoder–decoder: L in, ab out |
# | `inception_fusion` | the baseline plus a frozen InceptionV3 that tells the decoder what kind of scene it is looking at |
# | `vit_fusion` | the same with a frozen ViT-B/16 |
#
# The recipe is the study's: Adam with learning rate 1e-4, batch 64, 50 epochs, mean
# squared error on the normalised ab channels, and the epoch with the best validation loss
# is kept as `best.keras`. On a GPU, training runs in mixed precision (float16 on a T4)
# automatically.
#
# Run `01_data` first: this notebook reads its prepared dataset.

# %% [markdown]
# ## Install (Colab only)
#
# In Colab this installs `colorkeras`; anywhere else it does nothing (install the
# package yourself first: `pip install -e .` in a copy of the project). It installs the
# package file you brought, if there is one: run `python -m build` in a copy of the project
# and upload `dist/colorkeras-*.whl` to this session, or keep it in *My Drive/colorkeras*
# and mount Drive. Without one it installs from the project's repository, once the project
# has a public address. If Colab shows a **Restart session** button afterwards, click it and
# run the notebook again from the top.

# %%
import sys

if "google.colab" in sys.modules:
    from pathlib import Path

    REPOSITORY = "https://github.com/colorkeras/colorkeras"  # both set by scripts/set_repository.py
    REPOSITORY_IS_PUBLIC = False  # False: the address above is a placeholder, nothing to clone there yet
    EXTRAS = ""
    # A package you carry: `python -m build` in a copy of the project writes
    # dist/colorkeras-VERSION-py3-none-any.whl (and a .tar.gz). Upload either to this session
    # (Files pane, Upload) or keep it in My Drive/colorkeras (Files pane, Mount Drive).
    here = Path.cwd()
    places = [here, here / "drive" / "MyDrive", here / "drive" / "MyDrive" / "colorkeras"]
    carried = sorted((path for place in places for pattern in ("colorkeras-*.whl", "colorkeras-*.tar.gz")
                      for path in place.glob(pattern)), key=lambda path: path.stat().st_mtime)
    if carried:  # the newest one you put there
        package = f"colorkeras{EXTRAS} @ {carried[-1].as_uri()}"
    elif REPOSITORY_IS_PUBLIC:
        package = f"colorkeras{EXTRAS} @ git+{REPOSITORY}"
    else:
        raise SystemExit(
            "No colorkeras package here, and the repository address is still a placeholder. On your "
            "computer, in a copy of the project, run `python -m build`; then upload "
            "dist/colorkeras-*.whl to this session (Files pane, Upload) or put it in My Drive/colorkeras "
            "(Files pane, Mount Drive), and run this cell again.")
    print(f"installing {package}")
    # %pip install --quiet "{package}"
    print("colorkeras is installed.")

# %% [markdown]
# ## Check the accelerator
#
# Training the study's recipe needs a GPU: in Colab choose *Runtime → Change runtime type →
# T4 GPU*. The cell also says which precision training will use.

# %%
# %matplotlib inline
from colorkeras import notebook, runtime

print(runtime.describe_accelerator())

# %% [markdown]
# ## Parameters
#
# The only cell to edit; keep the folders the same as in `01_data`.
#
# * `MODEL` picks the model; each model trains into its own folder, `RUN_ROOT/<MODEL>`.
# * `RECIPE` (instead of `MODEL`) trains a recipe of the quality ablation
#   (`results/quality` in the repository: the U-Net family, L1, the colourfulness loss,
#   classification), into `RUN_ROOT/<RECIPE>`; `None` keeps the study's.
# * `USE_DRIVE = True` puts that run folder on Google Drive. That is what makes a long run
#   survive a Colab disconnect (see "Train" below).
# * `SMOKE` (from `COLORKERAS_SMOKE=1`) trains for one epoch on the toy city with random
#   extractor weights, so nothing is downloaded: that is how the tests run this notebook.

# %% tags=["parameters"]
SMOKE = notebook.smoke_requested()  # COLORKERAS_SMOKE=1: toy city, 32 px, 1 epoch
USE_DRIVE = False  # True: work in My Drive/colorkeras (Colab only)
WORKDIR = None  # None: Drive if USE_DRIVE, else $COLORKERAS_WORKDIR, else ./colorkeras-work
DATA_ROOT = None  # None: WORKDIR/data
RUN_ROOT = None  # None: WORKDIR/runs
MODEL = "baseline"  # "baseline", "inception_fusion" or "vit_fusion"
RECIPE = None  # None: MODEL with the study's recipe; or e.g. "unet+attention" (colorkeras.training.recipes.RECIPE_NAMES)
EPOCHS = 50  # the study trained 50 epochs
IMAGE_SIZE = 256  # must match the prepared data (01_data)

# %%
params = notebook.resolve_params(
    smoke=SMOKE, use_drive=USE_DRIVE, workdir=WORKDIR, data_root=DATA_ROOT,
    run_root=RUN_ROOT, model=MODEL, recipe=RECIPE, epochs=EPOCHS, image_size=IMAGE_SIZE,
)
print(params.to_text())

# %% [markdown]
# ## The recipe
#
# The whole training configuration, as code (`colorkeras.training.config.TrainConfig`). It is
# saved in the run folder as `config.json`, so a run always says how it was made.

# %%
config = params.train_config()
print(config.to_json())

# %% [markdown]
# ## Cache the extractor's outputs
#
# The fusion models feed the decoder the 1000 ImageNet scores of a frozen InceptionV3 or
# ViT. Those networks never change during training, so their outputs for every image (and
# for its mirror image, used as augmentation) are computed once here and stored beside the
# dataset. Training then costs about what the baseline costs. The weights are downloaded
# from Keras / Kaggle the first time. For the baseline there is nothing to do.

# %%
notebook.cache_embeddings(params)

# %% [markdown]
# ## Train
#
# Progress is printed per epoch. After every epoch the run folder gets the best model so
# far (`best.keras`), the complete training state and `log.csv`.
#
# **If Colab disconnects or you stop the cell, just run this cell again** (after the cells
# above): training continues from the last finished epoch instead of starting over. With
# `USE_DRIVE = True` this works even in a new Colab session, because the run folder is on
# Drive; without Drive it only works while the session's disk is still there.
#
# A run folder belongs to one recipe: if you change `MODEL`, `EPOCHS` or the data, use a
# new `RUN_ROOT` (or delete the old run folder), and training says so if you forget.

# %%
from colorkeras.training.train import train

result = train(params.prepared_dir, params.run_dir(), config)
print(result.to_text())

# %% [markdown]
# ## Learning curve
#
# Training and validation loss per epoch. The dotted line marks the epoch kept as
# `best.keras`. Validation loss that rises while training loss keeps falling means the
# model has started to memorise the training images. (For a live view during training, run
# `%load_ext tensorboard` and `%tensorboard --logdir` with the run folder: Keras writes
# TensorBoard logs there too.)

# %%
from colorkeras.evaluation import figures

figures.learning_curve_figure(params.run_dir())

# %% [markdown]
# ## Done
#
# The trained model is `best.keras` in the run folder. Train another `MODEL` the same way
# to compare them, then open **`03_evaluate`**, which evaluates every run it finds.

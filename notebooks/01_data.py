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
# # 01 · Data: SUN397 urban-32, prepared once
#
# The study colorized photos of 32 urban scene classes of
# [SUN397](https://vision.princeton.edu/projects/2010/SUN/) (streets, skyscrapers,
# cathedrals, markets...). This notebook gets those images and prepares them for training:
#
# 1. **Get the images.** The official archive is one 39 GB file; only about 12 % of it is
#    urban-32, so it is read as a stream and only those classes are written. Or use a copy
#    you already have (the archive, an unpacked SUN397, or an urban-32 folder on Drive).
# 2. **Prepare them once.** Every photo becomes a 256×256 grayscale input (the L channel of
#    CIE-LAB) and its colour target (the a and b channels), split 80/10/10 per class with a
#    fixed seed. Training and evaluation read these arrays, never the photos.
# 3. **Look at them:** images per class, and a few examples of input and target.
#
# The five notebooks share one working folder: run `01_data`, then `02_train`,
# `03_evaluate`, `04_historical` and `05_video`.

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
# Getting and preparing data needs no GPU; this cell only tells you what you have.

# %%
# %matplotlib inline
from colorkeras import notebook, runtime

print(runtime.describe_accelerator())

# %% [markdown]
# ## Parameters
#
# This is the only cell to edit. Use the same folders in all five notebooks: they find
# each other's files through them.
#
# * `USE_DRIVE = True` keeps everything in *My Drive/colorkeras* on Google Drive (Colab
#   asks for permission), so the images survive when the Colab session ends.
# * `SMOKE` is switched on by the environment variable `COLORKERAS_SMOKE=1`: a small
#   synthetic "toy city" replaces SUN397, at 32×32 pixels. That is how the tests run this
#   notebook; leave it off for the real thing.
# * To use a SUN397 copy you already have, give *one* of `SUN397_ARCHIVE`,
#   `SUN397_EXTRACTED` or `URBAN32_FOLDER` (for example a path under
#   `/content/drive/MyDrive/`); with none of them the archive is streamed from the
#   official site, which takes an hour or more.

# %% tags=["parameters"]
SMOKE = notebook.smoke_requested()  # COLORKERAS_SMOKE=1: toy city, 32 px, 1 epoch
USE_DRIVE = False  # True: work in My Drive/colorkeras (Colab only)
WORKDIR = None  # None: Drive if USE_DRIVE, else $COLORKERAS_WORKDIR, else ./colorkeras-work
DATA_ROOT = None  # None: WORKDIR/data
RUN_ROOT = None  # None: WORKDIR/runs (02 trains into it)
MODEL = "baseline"  # used by 02-04: "baseline", "inception_fusion" or "vit_fusion"
EPOCHS = 50  # used by 02: the study trained 50 epochs
IMAGE_SIZE = 256  # the study's 256x256
SUN397_ARCHIVE = None  # a SUN397.tar.gz you already downloaded
SUN397_EXTRACTED = None  # or an unpacked SUN397 folder
URBAN32_FOLDER = None  # or an urban-32 folder made earlier (one sub-folder per class)

# %%
params = notebook.resolve_params(
    smoke=SMOKE, use_drive=USE_DRIVE, workdir=WORKDIR, data_root=DATA_ROOT,
    run_root=RUN_ROOT, model=MODEL, epochs=EPOCHS, image_size=IMAGE_SIZE,
)
print(params.to_text())

# %% [markdown]
# ## 1. Get the images
#
# Only the 32 urban classes are written, one folder per class, and each class is checked
# against the number of images SUN397 should have. If the download stops (or Colab
# disconnects), **run this cell again**: images already written are kept. Once a fetch has
# finished, running the cell again does not repeat it.

# %%
source = notebook.get_source_images(
    params, archive=SUN397_ARCHIVE, extracted=SUN397_EXTRACTED, folder=URBAN32_FOLDER
)

# %% [markdown]
# ## 2. Prepare the arrays
#
# Each photo is read safely (any mode, EXIF rotation, broken files are reported and
# skipped), resized to the model size, converted to LAB and stored as 8-bit L and ab
# arrays with a `manifest.csv` of where every row came from. Preparing again with the same
# images and settings does nothing, so this cell is cheap to rerun.

# %%
from colorkeras.data.prepare import PrepareSettings, prepare

prepared = prepare(source, params.prepared_dir, PrepareSettings(image_size=params.image_size))
print(prepared.to_text())

# %% [markdown]
# ## 3. Look at the data
#
# How many images each class has, per split. SUN397's classes are far from balanced, and
# the per-class tables in `03_evaluate` inherit that: a class with few test images has a
# noisier mean.

# %%
from colorkeras.evaluation import figures

figures.class_count_figure(params.prepared_dir)

# %% [markdown]
# What the model gets and what it must produce: the top row is the lightness L alone (the
# input), the bottom row puts the true colour back (the target). Everything the model
# learns is how colour follows from structure: sky at the top, foliage texture, brick.

# %%
figures.sample_grid_figure(params.prepared_dir, split="train", count=8)

# %% [markdown]
# ## Done
#
# The prepared dataset is in the folder printed above (`params.prepared_dir`). Next, open
# **`02_train`** with the same parameters to train a colorizer on it.

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
# # 04 · Colorize your own old city photos, at full resolution
#
# A trained model from `02_train` colorizes a folder of your photos: old scans of streets,
# squares, buildings. The model works at its own small size (256×256), but nothing of the
# photo's detail is lost: the model only predicts the colour (ab), which is resized to the
# photo's size and put on the photo's **own** full-resolution lightness. The eye forgives
# colour at low resolution; it would not forgive blurred detail.
#
# Your photos are never changed: the colour copies go into a separate folder, with the
# same names.

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
# A GPU makes this faster, but a few photos colorize fine on a CPU.

# %%
# %matplotlib inline
from colorkeras import notebook, runtime

print(runtime.describe_accelerator())

# %% [markdown]
# ## Parameters
#
# The only cell to edit; keep the folders the same as in `02_train`. `MODEL` picks which
# trained run colorizes (`RUN_ROOT/<MODEL>/best.keras`), or `RECIPE` if 02 trained one
# (`RUN_ROOT/<RECIPE>/best.keras`). Trained nothing? The model that ships with colorkeras
# colorizes instead (trained on real street photos on a CPU; see its MODEL_CARD.md).
#
# Put your photos into `PHOTOS` (default: `my_photos` in the working folder; with
# `USE_DRIVE = True` that is *My Drive/colorkeras/my_photos*, easy to fill from your
# computer), or set `UPLOAD = True` to pick files in the browser. Colour, grayscale and
# sepia scans all work; JPEG, PNG, TIFF and more. In smoke mode a few grayscale stand-ins
# are made from the toy city.

# %% tags=["parameters"]
SMOKE = notebook.smoke_requested()  # COLORKERAS_SMOKE=1: toy city, 32 px, 1 epoch
USE_DRIVE = False  # True: work in My Drive/colorkeras (Colab only)
WORKDIR = None  # None: Drive if USE_DRIVE, else $COLORKERAS_WORKDIR, else ./colorkeras-work
DATA_ROOT = None  # None: WORKDIR/data (not used here)
RUN_ROOT = None  # None: WORKDIR/runs
MODEL = "baseline"  # the trained run that colorizes (none trained: the shipped default model)
RECIPE = None  # or the recipe 02_train trained (its run is RUN_ROOT/<RECIPE>)
EPOCHS = 50  # not used here
IMAGE_SIZE = 256  # not used here: the model knows its own size
PHOTOS = None  # None: WORKDIR/my_photos
OUTPUT = None  # None: WORKDIR/colorized
UPLOAD = False  # Colab: True opens a file picker to add photos to PHOTOS
REFERENCE = None  # a colour photo of the same place (or a folder of them): colour from it, below

# %%
params = notebook.resolve_params(
    smoke=SMOKE, use_drive=USE_DRIVE, workdir=WORKDIR, data_root=DATA_ROOT,
    run_root=RUN_ROOT, model=MODEL, recipe=RECIPE, epochs=EPOCHS, image_size=IMAGE_SIZE,
    photos=PHOTOS, colorized=OUTPUT,
)
print(params.to_text())

# %% [markdown]
# ## Your photos

# %%
photos = notebook.collect_photos(params, upload=UPLOAD)

# %% [markdown]
# ## Colorize
#
# Every photo in the folder (sub-folders included) gets a colour copy in the output folder.
# Files that cannot be read are listed and skipped; photos colorized before are kept, so
# after adding photos, running the cell again only does the new ones.

# %%
from colorkeras.inference.colorize import colorize_paths

report = colorize_paths(params.colorizer(), [params.photos_dir], params.colorized_dir)  # no run: the shipped model
print(report.to_text())

# %% [markdown]
# ## Before and after
#
# Each photo beside its colorized copy; the titles give the pixel size of both, which are
# the same. A model trained on SUN397 knows skies, facades, trees and streets best; people,
# cars and signs are rarer in its training images and tend to stay muted.

# %%
from colorkeras.evaluation.figures import before_after_figure

before_after_figure(notebook.before_after_pairs([params.photos_dir], params.colorized_dir))

# %% [markdown]
# ## Colour from a reference photo
#
# Have a colour photo of the same square today, or of the same street in the same season?
# Set `REFERENCE` to it (or to a folder of such photos: each old photo gets the most
# similar one, named below) and this cell takes the colours from it, with the exemplar
# model that ships with colorkeras (or, where that is not installed, the classical global
# colour transfer). A grey reference is refused. In smoke mode a toy-city street stands in.

# %%
reference = REFERENCE or (notebook.smoke_reference(params) if SMOKE else None)
if reference is not None:
    report = colorize_paths(notebook.reference_model(), [params.photos_dir],
                            params.colorized_dir.with_name(params.colorized_dir.name + "_reference"),
                            reference=reference)
    print(report.to_text())
else:
    print("no REFERENCE set: skipped")

# %% [markdown]
# ## Or: the app, in this notebook
#
# The same model behind a page: drop more photos on it, slide between before and after, set the vividness, download each result or all of them as a zip; its Films tab takes a short film. In Colab the page opens in this cell's output
# (elsewhere, at the address printed). It serves until `app.close()` or the end of the
# session, and keeps its files in a temporary folder that it removes. In smoke mode the
# page is only built, not served.

# %%
from colorkeras.app import ColorizeApp

app = ColorizeApp([params.run_dir()])  # this run, and the model that ships with colorkeras
if SMOKE:
    app.build()
    app.close()
    print("smoke mode: the page was built; no server started")
else:
    app.launch(block=False)

# %% [markdown]
# ## Done
#
# The colour copies are in the output folder printed above. In Colab, download them from
# the Files panel on the left, or find them on Google Drive when `USE_DRIVE = True`.

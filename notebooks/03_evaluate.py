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
# # 03 · Evaluate: per-class tables, the grey floor and the study
#
# Every trained run is scored on the held-out test images, image by image, with the
# study's metrics:
#
# * **PSNR** and **SSIM** on the colour image (the predicted ab put on the true L), higher
#   is better;
# * **LPIPS** (AlexNet), a learned perceptual distance, lower is better;
# * **MSE** on the normalised ab channels, lower is better;
# * **colourfulness** of prediction and truth: a model that plays safe paints everything
#   brownish-grey, and this number shows it.
#
# Means are taken per class and overall. Every table has a **grey floor** row: a "model"
# that predicts no colour at all (ab = 0). Because PSNR and SSIM are dominated by the L
# channel the model is given, the grey floor already scores well; a model's numbers mean
# something only next to it. On SUN397 urban-32 our numbers are also shown next to the ones
# the study reported.
#
# Run `01_data` and `02_train` first.

# %% [markdown]
# ## Install (Colab only)
#
# In Colab this installs `colorkeras` with the optional LPIPS metric (it uses PyTorch,
# which Colab already has); anywhere else it does nothing (install the package yourself
# first: `pip install -e .` in a copy of the project). It installs the package file you brought, if there is one: run `python -m build` in a copy of the project
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
    EXTRAS = "[lpips]"
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
    print("colorkeras is installed, with LPIPS.")

# %% [markdown]
# ## Check the accelerator
#
# Evaluation predicts the test split once per run: quick on a GPU, slower but fine on a CPU.

# %%
# %matplotlib inline
from colorkeras import notebook, runtime

print(runtime.describe_accelerator())

# %% [markdown]
# ## Parameters
#
# The only cell to edit; keep the folders the same as in `01_data` and `02_train`.
# `RUNS = None` evaluates every run under `RUN_ROOT`; a list such as
# `["baseline", "inception_fusion"]` picks some. In smoke mode LPIPS is skipped, since its
# AlexNet weights would have to be downloaded.

# %% tags=["parameters"]
SMOKE = notebook.smoke_requested()  # COLORKERAS_SMOKE=1: toy city, 32 px, 1 epoch
USE_DRIVE = False  # True: work in My Drive/colorkeras (Colab only)
WORKDIR = None  # None: Drive if USE_DRIVE, else $COLORKERAS_WORKDIR, else ./colorkeras-work
DATA_ROOT = None  # None: WORKDIR/data
RUN_ROOT = None  # None: WORKDIR/runs
MODEL = "baseline"  # not used here: see RUNS
EPOCHS = 50  # not used here
IMAGE_SIZE = 256  # the prepared data the runs were trained on
RUNS = None  # None: every run under RUN_ROOT; or names such as ["baseline", "vit_fusion"]

# %%
params = notebook.resolve_params(
    smoke=SMOKE, use_drive=USE_DRIVE, workdir=WORKDIR, data_root=DATA_ROOT,
    run_root=RUN_ROOT, model=MODEL, epochs=EPOCHS, image_size=IMAGE_SIZE,
)
print(params.to_text())

# %% [markdown]
# ## Evaluate
#
# For each run, `best.keras` colorizes every test image; the metrics of the model and of the
# grey floor are written per image to `RUN/eval/test/per_image.csv`. Everything after this
# reads those files, so you can also analyse them yourself (pandas, a spreadsheet).

# %%
runs = notebook.evaluate_runs(params, RUNS)
print("Evaluated:", ", ".join(run.name for run in runs))

# %% [markdown]
# ## The report
#
# The same report `colorkeras report` writes, as Markdown, HTML and CSV files in the
# `report` folder of the working folder: the overall table, the best and worst classes,
# every class, a grid of examples (input, each model, truth) and each model's gain over the
# grey floor per class.

# %%
from IPython.display import display

from colorkeras.evaluation import report

written = report.write_report(runs, params.report_dir)
display(*report.report_parts(written["markdown"]))

# %% [markdown]
# ## Against the grey floor and the study
#
# The overall numbers once more, with each model's gain over the grey floor. On SUN397
# urban-32 the study's reported rows are in the table; on other data (the toy city of a
# smoke run) they are listed apart, because numbers on different images do not compare.
# The study used its own unseeded split, so even on SUN397 expect differences of a few
# tenths of a dB from the split alone.

# %%
from IPython.display import Markdown

Markdown(report.study_comparison_markdown(runs))

# %% [markdown]
# ## Done
#
# The report is in the folder printed above (`report.md`, `report.html`, `overall.csv`,
# `per_class.csv` and the figures). To colorize your own photos with a trained model, open
# **`04_historical`**.

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
# # 05 · Colorize an old city film, without flicker
#
# A trained model from `02_train` colorizes a film frame by frame, at the film's own size
# and frame rate, with its sound kept. Colorizing each frame on its own makes colours
# flicker (a wall turns beige, grey and beige again as the camera moves), so by default the
# colour of each frame is carried along the motion (optical flow of the lightness) and
# blended with the new prediction; at a scene cut it starts afresh. Keyframe mode runs the
# model only on some frames and carries the colour in between: steadier and much cheaper.
#
# Your film is never changed: the colour version is a new file.

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
# A GPU makes this much faster; on a CPU, keyframe mode makes long films practical.

# %%
# %matplotlib inline
from colorkeras import notebook, runtime

print(runtime.describe_accelerator())

# %% [markdown]
# ## Parameters
#
# The only cell to edit; keep the folders the same as in `02_train`. `MODEL` picks which
# trained run colorizes. Set `VIDEO` to your film (.mp4, .mov, .avi, .mkv, .webm or an
# animated .gif), or `UPLOAD = True` to pick it in the browser. In smoke mode a short
# grey toy-city film with a scene cut is made, with its colour truth beside it.

# %% tags=["parameters"]
SMOKE = notebook.smoke_requested()  # COLORKERAS_SMOKE=1: toy city, 32 px, 1 epoch
USE_DRIVE = False  # True: work in My Drive/colorkeras (Colab only)
WORKDIR = None  # None: Drive if USE_DRIVE, else $COLORKERAS_WORKDIR, else ./colorkeras-work
DATA_ROOT = None  # None: WORKDIR/data (not used here)
RUN_ROOT = None  # None: WORKDIR/runs
MODEL = "baseline"  # the trained run that colorizes (none trained: the shipped default model)
EPOCHS = 50  # not used here
IMAGE_SIZE = 256  # not used here: the model knows its own size
VIDEO = None  # the path of your film
UPLOAD = False  # Colab: True opens a file picker for the film
KEYFRAME_EVERY = 8  # keyframe mode: the model on every 8th frame (and at cuts)
REFERENCE = None  # a colour photo of the place, or a coloured frame of the film: colour from it, below

# %%
params = notebook.resolve_params(
    smoke=SMOKE, use_drive=USE_DRIVE, workdir=WORKDIR, data_root=DATA_ROOT,
    run_root=RUN_ROOT, model=MODEL, epochs=EPOCHS, image_size=IMAGE_SIZE,
)
print(params.to_text())
film = notebook.collect_video(params, VIDEO, upload=UPLOAD)
print(f"film: {film}")

# %% [markdown]
# ## Colorize, three ways
#
# `off`: every frame on its own (it flickers); `flow`: colour carried along the motion;
# `keyframes`: the model on every `KEYFRAME_EVERY`-th frame only. Each writes a new video
# with the same size, frame rate, frame count and sound.

# %%
from colorkeras.inference.video import colorize_video

model = params.colorizer()  # the trained run, else the model that ships with colorkeras
outputs = {}
for mode, temporal, every in (("off", "off", None), ("flow", "flow", None), ("keyframes", "flow", KEYFRAME_EVERY)):
    target = notebook.videos_dir(params) / f"{film.stem}_{mode}.mp4"
    report = colorize_video(model, film, target, temporal=temporal, keyframe_every=every,
                            overwrite=True, progress=False)
    outputs[mode] = report.output
    print(f"{mode}: {report.frames} frames, model on {report.model_frames}, -> {report.output.name}")

# %% [markdown]
# ## Colour from a reference frame or photo
#
# With `REFERENCE` set to a colour photo of the place (or a frame of the film you coloured
# by hand), the film takes its colours from it: the exemplar model that ships with
# colorkeras (else the classical global transfer) colours the keyframes from the reference,
# and the flow carries them through the shot. In smoke mode a toy-city street stands in.

# %%
reference = REFERENCE or (notebook.smoke_reference(params) if SMOKE else None)
if reference is not None:
    target = notebook.videos_dir(params) / f"{film.stem}_reference.mp4"
    report = colorize_video(notebook.reference_model(), film, target, temporal="flow", overwrite=True,
                            progress=False, reference=reference)
    print(f"from {report.reference[0]}: {report.frames} frames -> {report.output.name}")
else:
    print("no REFERENCE set: skipped")

# %% [markdown]
# ## Play them side by side

# %%
notebook.side_by_side_videos([film, outputs["off"], outputs["flow"], outputs["keyframes"]],
                             ["your film", "each frame alone", "flow", f"keyframes every {KEYFRAME_EVERY}"])

# %% [markdown]
# ## Flicker, frame by frame
#
# The warping error is how much each output frame's colour differs from the previous
# frame's colour carried along the motion (0: no flicker). The grey floor (no colour at
# all) never flickers; a good colorizer flickers little and still has colour. PSNR and
# SSIM against the truth mean something only for a colour clip (the smoke film has one).

# %%
from colorkeras.evaluation.video_evaluate import evaluate_clip, flicker_figure

truth = film.with_name(f"{film.stem}_colour.mp4") if SMOKE else film
evaluation = evaluate_clip(model, truth, ("off", "flow", "keyframes"), KEYFRAME_EVERY)
print(evaluation.table())
flicker_figure(evaluation)

# %% [markdown]
# ## Or: the app, in this notebook
#
# The same model behind a page: drop a short film on its Films tab, choose the temporal mode, watch the progress, then play and download the result with its audio; its Photos tab takes photos. In Colab the page opens in this cell's output
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
# The colour versions are in the `videos` folder of the working folder. In Colab, download
# them from the Files panel on the left, or find them on Google Drive when `USE_DRIVE = True`.

"""Old import paths of modules and names that moved into the floors, kept for one release.

Version 0.1 had every module in one flat folder; 0.2 puts them in the sub-packages that
are the pipeline's stages (README, "Layout"), and some names left the module they were in
(``video.probe_video`` is now in ``inference.video_io``). Until 0.3, ``import
colorkeras.video`` / ``from colorkeras import video`` still work: they give a stand-in for
the old module that answers every name the old module had, each after a
`DeprecationWarning` naming the new place.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

REMOVED_IN = "colorkeras 0.3"

# old module name (under colorkeras) -> sub-package it now lives in (under its last name)
MOVED = {
    "streaming": "data",
    "config": "training", "objectives": "training", "train": "training", "embed": "training",
    "run": "training",
    "predictor": "inference", "upsample": "inference", "colorize": "inference", "video": "inference",
    "temporal": "inference",
    "metrics": "evaluation", "evaluate": "evaluation", "report": "evaluation", "quality": "evaluation",
    "video_evaluate": "evaluation",
    "models.shipped": "training",  # the shipped model is a run folder: its reader sits with Run
}

# (old module, name) -> (module it is in now, its name there) for names that left their module
MOVED_NAMES = {
    ("video", "probe_video"): ("inference.video_io", "probe_video"),
    ("video", "VideoInfo"): ("inference.video_io", "VideoInfo"),
    ("video", "frame_files"): ("inference.video_io", "frame_files"),
    ("video", "MAX_VIDEO_PIXELS"): ("inference.video_io", "MAX_VIDEO_PIXELS"),
    ("video", "gif_in_folder_reason"): ("inference.video_io", "gif_in_folder_reason"),
    ("video", "add_video_stream"): ("data.media", "add_video_stream"),
    ("video", "OUTPUT_VIDEO_SUFFIXES"): ("data.media", "OUTPUT_VIDEO_SUFFIXES"),
    ("video", "colorize_frames"): ("inference.frames", "colorize_frames"),
    ("video", "FrameResult"): ("inference.frames", "FrameResult"),
    ("colorize", "MANIFEST_NAME"): ("inference.manifest", "MANIFEST_NAME"),
    ("temporal", "clip_quality"): ("evaluation.video_evaluate", "clip_quality"),
    ("quality", "Recipe"): ("training.recipes", "Recipe"),
    ("quality", "RECIPES"): ("training.recipes", "RECIPES"),
    ("quality", "CPU_RECIPES"): ("training.recipes", "CPU_RECIPES"),
    ("quality", "RECIPE_NAMES"): ("training.recipes", "RECIPE_NAMES"),
    ("quality", "RECOMMENDED"): ("training.recipes", "RECOMMENDED"),
    ("quality", "recipe_by_name"): ("training.recipes", "recipe_by_name"),
    **{("report", name): ("evaluation.figures", name) for name in (
        "FIGURE_DPI", "SAMPLE_CLASSES", "comparison_panels", "class_counts", "class_count_figure",
        "sample_grid_figure", "before_after_figure")},
    ("evaluate", "PER_IMAGE_CSV"): ("training.run", "PER_IMAGE_CSV"),
    ("evaluate", "PREDICTIONS_FILE"): ("training.run", "PREDICTIONS_FILE"),
    ("train", "PARTIAL_PREFIX"): ("training.run", "PARTIAL_PREFIX"),
    ("train", "DAMAGED_PREFIX"): ("training.run", "DAMAGED_PREFIX"),
    **{("train", name): ("training.callbacks", name) for name in (
        "NonFiniteLoss", "StopOnNonFiniteLoss", "ProgressLines", "RunCheckpoint")},
    ("objectives", "ColourfulRegression"): ("training.objectives", "ColorfulRegression"),
    ("objectives", "COLOURFULNESS_WEIGHT"): ("training.objectives", "COLORFULNESS_WEIGHT"),
    **{("objectives", name): ("training.losses", name) for name in (
        "squared_bin_distances", "nearest_bins_ops", "soft_encode_ops")},
    **{("app", name): ("inference.service", name) for name in (
        "Workspace", "ModelInfo", "model_choices", "PhotoResult", "PhotoBatch", "FilmResult",
        "APP_MAX_PIXELS", "MAX_CLIP_SECONDS", "PREVIEW_SIDE", "SHIPPED_LABEL", "TEMPORAL_MODES")},
}


def new_name(old: str) -> str | None:
    """``colorkeras.predictor`` -> ``colorkeras.inference.predictor``; None if not moved."""
    package, _, module = old.partition(".")
    if package != "colorkeras" or module not in MOVED:
        return None
    return f"colorkeras.{MOVED[module]}.{module.rpartition('.')[2]}"


def deprecated(old: str, new: str) -> None:
    warnings.warn(f"{old} moved to {new}; the old path goes in {REMOVED_IN}", DeprecationWarning, stacklevel=3)


class OldModule(types.ModuleType):
    """Stands in for a module under its 0.1 name: every attribute comes from where it lives now."""

    def __init__(self, old: str, current: types.ModuleType):
        super().__init__(old, current.__doc__)
        self.__dict__["current"] = current

    def __getattr__(self, name):
        short = self.__name__.partition(".")[2]
        if (short, name) in MOVED_NAMES:
            module, attribute = MOVED_NAMES[short, name]
            deprecated(f"{self.__name__}.{name}", f"colorkeras.{module}.{attribute}")
            return getattr(importlib.import_module(f"colorkeras.{module}"), attribute)
        return getattr(self.__dict__["current"], name)


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old module name with a stand-in for the module at its new path."""

    def find_spec(self, fullname, path=None, target=None):
        if new_name(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        target = new_name(spec.name)
        deprecated(spec.name, target)
        return OldModule(spec.name, importlib.import_module(target))

    def exec_module(self, module):
        """Nothing to run: the module ran under its new name."""


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())

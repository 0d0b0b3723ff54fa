"""Old import paths of modules that moved into the floors, kept for one release.

Version 0.1 had every module in one flat folder; 0.2 puts them in the sub-packages that
are the pipeline's stages (README, "Layout"). ``import colorkeras.predictor`` (and
``from colorkeras import predictor``) still work until 0.3: they give the moved module
itself, not a copy, after a `DeprecationWarning` naming the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

# old module name (under colorkeras) -> sub-package it now lives in
MOVED = {
    "streaming": "data",
    "config": "training", "objectives": "training", "train": "training", "embed": "training",
    "run": "training",
    "predictor": "inference", "upsample": "inference", "colorize": "inference", "video": "inference",
    "temporal": "inference",
    "metrics": "evaluation", "evaluate": "evaluation", "report": "evaluation", "quality": "evaluation",
    "video_evaluate": "evaluation",
}


def new_name(old: str) -> str | None:
    """``colorkeras.predictor`` -> ``colorkeras.inference.predictor``; None if not moved."""
    package, _, module = old.partition(".")
    if package != "colorkeras" or module not in MOVED:
        return None
    return f"colorkeras.{MOVED[module]}.{module}"


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Answers an old module name with the module at its new path."""

    def __init__(self):
        self.own_specs = {}

    def find_spec(self, fullname, path=None, target=None):
        if new_name(fullname) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec):
        target = new_name(spec.name)
        warnings.warn(f"{spec.name} moved to {target}; the old path goes in colorkeras 0.3",
                      DeprecationWarning, stacklevel=3)
        module = importlib.import_module(target)
        self.own_specs[target] = module.__spec__
        return module

    def exec_module(self, module):
        """Nothing to run (the module ran under its new name); undo the import system's
        relabelling, so the module keeps its own spec."""
        module.__spec__ = self.own_specs[module.__name__]


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())

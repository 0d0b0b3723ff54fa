"""The run folder has one owner (colorkeras.training.run): its names are spelled there and
nowhere else in the package, and what Run writes it reads back."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

from colorkeras.errors import ColorkerasError
from colorkeras.training import run as run_module
from colorkeras.training.run import Run, model_file

PACKAGE = Path(__file__).resolve().parents[1] / "colorkeras"
OWNER = PACKAGE / "training" / "run.py"

# Every name of a run folder, as run.py spells it.
RUN_FILES = {run_module.CONFIG_JSON, run_module.LOG_CSV, run_module.BEST_MODEL, run_module.BEST_JSON,
             run_module.STATE_RECORD, run_module.STATE_WEIGHTS, *run_module.EVALUATION_FILES}
RUN_PREFIXES = (run_module.DAMAGED_PREFIX, run_module.PARTIAL_PREFIX, run_module.STATE_PREFIX)
RUN_FOLDERS = {run_module.STATE_DIR, run_module.EVAL_DIR, run_module.TENSORBOARD_DIR}
# Files of another kind that happen to share a run folder file's name: (module, name) -> what they are.
UNRELATED = {
    ("models/registry.py", "config.json"): "the member of a .keras archive that holds the model's graph",
    ("models/extractors.py", "config.json"): "a Hugging Face checkpoint's own file",
}


def spelled_run_names(source: str, module: str) -> list[str]:
    """The string constants of ``source`` that name a run folder's file or folder as a
    path: a whole name (``"best.keras"``), a part of a path (``"state/epoch-0001"``), a
    prefix (``"damaged-"``), or a folder joined to a path (``run_dir / "eval"``).
    Docstrings and prose (a message that mentions best.keras) are not paths."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                  and node.body and isinstance(node.body[0], ast.Expr)}
    joined = {id(node.right) for node in ast.walk(tree) if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in docstrings:
            continue
        text = node.value
        if any(character.isspace() for character in text):
            continue
        parts = text.split("/")
        names = [part for part in parts if part in RUN_FILES or part.startswith(RUN_PREFIXES)]
        if (id(node) in joined or len(parts) > 1) and any(part in RUN_FOLDERS for part in parts):
            names.append(text)
        found += [f"{module}:{node.lineno} {text!r}" for name in names if (module, name) not in UNRELATED]
    return found


@pytest.mark.parametrize("path", sorted(p for p in PACKAGE.rglob("*.py") if p != OWNER),
                         ids=lambda p: p.relative_to(PACKAGE).as_posix())
def test_run_folder_names_are_spelled_only_in_run_py(path):
    found = spelled_run_names(path.read_text(encoding="utf-8"), path.relative_to(PACKAGE).as_posix())
    assert not found, "ask colorkeras.training.run (a Run) instead:\n" + "\n".join(found)


def test_the_check_flags_paths_not_prose():
    source = ('"""Docstrings may say best.keras."""\n'
              'a = run_dir / "best.keras"\n'
              'b = folder / "state"\n'
              'c = f"{root}/eval/{key}"\n'
              'd = "damaged-" + name\n'
              'e = "no best.keras in this folder: train first"\n'
              'f = key == "state"\n'
              'g = archive_names - {"config.json"}\n')
    flagged = [entry.split(" ", 1)[0] for entry in spelled_run_names(source, "sample.py")]
    assert flagged == ["sample.py:2", "sample.py:3", "sample.py:4", "sample.py:5", "sample.py:8"]
    assert spelled_run_names(source, "models/registry.py")[-1].startswith("models/registry.py:5")


# ------------------------------------------------------------------------------------
# What Run writes, it reads back
# ------------------------------------------------------------------------------------
def test_the_log_round_trips(tmp_path):
    run = Run(tmp_path / "run")
    with pytest.raises(FileNotFoundError, match="no epoch of this run has finished yet"):
        run.read_log()
    run.root.mkdir()
    run.write_log([{"epoch": 1, "loss": 0.5, "val_loss": 0.25, "seconds": 3.0},
                   {"epoch": 2, "loss": 0.125, "seconds": 2.5}])
    assert run.log_path.read_text() == "epoch,loss,seconds,val_loss\n1,0.5,3.0,0.25\n2,0.125,2.5,\n"
    first, second = run.read_log()
    assert first == {"epoch": 1.0, "loss": 0.5, "seconds": 3.0, "val_loss": 0.25}
    assert second["loss"] == 0.125 and second["val_loss"] != second["val_loss"]  # a blank cell is NaN
    assert run.started()


def test_states_are_written_whole_kept_newest_and_set_aside(tmp_path):
    run = Run(tmp_path / "run")
    run.root.mkdir()
    assert not run.started() and run.latest_state() is None
    for epoch in (1, 2):
        run.save_state(epoch, lambda path, epoch=epoch: path.write_bytes(b"w%d" % epoch), {"epochs_done": epoch})
    (newest,) = run.states()
    assert newest == run.latest_state() and newest.name == "epoch-0002" and run.started()
    assert Run.state_record(newest) == {"epochs_done": 2} and Run.state_weights(newest).read_bytes() == b"w2"

    def fail(path):
        path.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        run.save_state(3, fail, {"epochs_done": 3})
    assert run.states() == [newest] and sorted(p.name for p in run.state_dir.iterdir()) == ["epoch-0002"]
    stale = run.state_dir / (run_module.PARTIAL_PREFIX + "killed")
    stale.mkdir()
    run.remove_stale_partials()
    assert not stale.exists()
    aside = Run.set_aside_state(newest)
    assert aside.name == "damaged-epoch-0002" and run.latest_state() is None and run.started()
    run.save_state(2, lambda path: path.write_bytes(b"again"), {"epochs_done": 2})
    assert Run.set_aside_state(run.latest_state()).name == "damaged-epoch-0002-2"


def test_a_damaged_best_model_is_set_aside_with_its_record(tmp_path):
    run = Run(tmp_path)
    run.best_model_path.write_bytes(b"not a model")
    run.best_json_path.write_text(json.dumps({"epoch": 3, "val_loss": 0.1}))
    assert run.best() == (0.1, 3)
    aside = run.set_aside_best()
    assert aside == tmp_path / "damaged-best.keras" and aside.read_bytes() == b"not a model"
    assert not run.best_model_path.exists() and run.best() == (None, None)


def test_an_evaluation_is_fresh_only_when_newer_than_the_best_model(tmp_path):
    run = Run(tmp_path)
    run.best_model_path.write_bytes(b"model")
    folder = run.eval_dir({"name": "data", "image_size": 32}, "test")
    assert run.fresh_evaluation(folder) is None  # none yet
    folder.mkdir(parents=True)
    run_module.evaluation_record_path(folder).write_text(json.dumps({"split": "test", "count": 4}))
    assert run.fresh_evaluation(folder) == {"split": "test", "count": 4}
    later = run_module.evaluation_record_path(folder).stat().st_mtime + 60
    os.utime(run.best_model_path, (later, later))  # the model was trained again since
    assert run.fresh_evaluation(folder) is None
    assert run_module.predictions_path(folder).parent == run_module.per_image_path(folder).parent == folder


def test_model_file_names_a_run_folders_model_or_the_file_itself(tmp_path):
    with pytest.raises(ColorkerasError, match="no saved model at .*best.keras"):
        model_file(tmp_path)
    (tmp_path / "best.keras").write_bytes(b"model")
    assert model_file(tmp_path) == tmp_path / "best.keras" == model_file(tmp_path / "best.keras")
    with pytest.raises(ColorkerasError, match="no saved model at .*other.keras"):
        model_file(tmp_path / "other.keras")

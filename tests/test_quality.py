"""The quality ablation: recipes as code, selection on validation only, the report, and the
whole grid end to end at the tiny form on two real toy-city folders."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from colorkeras.training.config import TrainConfig, parse_overrides
from colorkeras.errors import InvalidArgument
from colorkeras.evaluation.quality import COMBINED, FORMS, GREY, combine, run_grid, select, table_csv, table_markdown
from colorkeras.training.recipes import RECIPES, RECOMMENDED, recipe_by_name

REPO = Path(__file__).resolve().parents[1]


def _row(recipe, psnr, ssim=0.95, colourfulness=10.0, temperature=None, dataset="x val", truth=30.0):
    return {"recipe": recipe, "temperature": temperature, "dataset": dataset, "n": 5, "psnr": psnr, "ssim": ssim,
            "mse": 0.01, "colourfulness": colourfulness, "truth_colourfulness": truth}


# ------------------------------------------------------------------------------ recipes
@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_recipe_is_a_valid_config_at_every_form(form):
    for recipe in RECIPES:
        config = FORMS[form].config(recipe)
        assert config.model == recipe.changes["model"] and config.loss == recipe.changes["loss"]
        assert config.image_size == FORMS[form].image_size


def test_each_recipe_changes_what_its_name_says_and_the_change_matters():
    """Neighbouring recipes of the grid differ in one field, and that field changes what is
    trained: the attention block is in the model or not, the loss scores the same
    prediction differently; the reproduction is the study's family and loss."""
    import keras

    from colorkeras.models import build_model
    from colorkeras.training.objectives import get_objective

    configs = {recipe.name: FORMS["tiny"].config(recipe).to_dict() for recipe in RECIPES}

    def differences(first, second):
        return {key for key, value in configs[first].items() if configs[second][key] != value}

    assert differences("study", "study+L1") == differences("study", "study+colourful") == {"loss"}
    assert differences("unet", "unet+attention") == {"attention"}
    assert differences("unet+attention", "unet+attention+classify") == {"loss"}
    assert (configs["study"]["model"], configs["study"]["loss"]) == (TrainConfig().model, TrainConfig().loss)

    def layer_names(name):
        config = FORMS["tiny"].config(recipe_by_name(name))
        model = build_model(config.model, config.image_size, **config.architecture())
        return {layer.name for sub in model.layers for layer in getattr(sub, "layers", [sub])}

    assert "attention_mha" in layer_names("unet+attention") and "attention_mha" not in layer_names("unet")

    rng = np.random.default_rng(0)
    truth = rng.uniform(-0.6, 0.6, (2, 8, 8, 2)).astype("float32")
    muted = (0.3 * truth + rng.normal(0, 0.05, truth.shape)).astype("float32")

    def loss(name):
        function = get_objective(recipe_by_name(name).changes["loss"]).loss
        function = keras.losses.get(function) if isinstance(function, str) else function
        value = function(keras.ops.convert_to_tensor(truth), keras.ops.convert_to_tensor(muted))
        return float(np.mean(keras.ops.convert_to_numpy(value)))

    mse = float(np.mean((truth - muted) ** 2))
    np.testing.assert_allclose(loss("study"), mse, rtol=1e-5)
    np.testing.assert_allclose(loss("study+L1"), np.mean(np.abs(truth - muted)), rtol=1e-5)
    assert loss("study+colourful") > mse * 1.01  # the colourfulness gap of a muted prediction costs
    classify = recipe_by_name("unet+attention+classify")
    assert get_objective(classify.changes["loss"]).uses_temperature and len(classify.temperatures) >= 3
    with pytest.raises(InvalidArgument, match="unknown recipe 'resnet'"):
        recipe_by_name("resnet")


def test_the_recommended_recipe_is_the_committed_tables_choice():
    """`colorkeras train` with no --model trains RECOMMENDED: it must be what the committed
    ablation selected on validation, not a preference."""
    selection = json.loads((REPO / "results" / "quality" / "selection.json").read_text())
    assert RECOMMENDED == selection["accurate"]["recipe"]


# ----------------------------------------------------------------------- architecture
def test_architecture_fields_reach_the_quality_family_only():
    config = TrainConfig(model="unet", **parse_overrides(["depth=3", "attention=false", "base_filters=8"]))
    assert config.architecture() == {"depth": 3, "attention": False, "base_filters": 8}
    assert TrainConfig().architecture() == {}
    with pytest.raises(InvalidArgument, match=re.escape("model 'baseline' does not take depth")):
        TrainConfig(depth=3)
    with pytest.raises(InvalidArgument, match="unknown extractor 'resnet'"):
        TrainConfig(model="unet", extractor="resnet")
    with pytest.raises(InvalidArgument, match="base_filters must be a whole number >= 4"):
        TrainConfig(model="unet", base_filters=2)


def test_build_model_applies_and_checks_architecture_options():
    from colorkeras.models import build_model

    model = build_model("unet", 32, depth=2, attention=False, base_filters=8)
    assert (model.depth, model.attention, model.base_filters) == (2, False, 8)
    with pytest.raises(InvalidArgument, match="the 'baseline' family does not take depth"):
        build_model("baseline", 32, depth=2)


def test_a_run_recorded_before_the_architecture_fields_still_resumes():
    from colorkeras.training.train import _same_run

    config = TrainConfig(image_size=32, epochs=2)
    old = {k: v for k, v in config.to_dict().items() if k not in ("base_filters", "depth", "attention", "extractor")}
    identity = {"format_version": 1}
    assert _same_run({"config": old, "dataset": identity}, config.replace(epochs=5), identity)
    assert not _same_run({"config": old, "dataset": identity}, config.replace(batch_size=8), identity)


# --------------------------------------------------------------------------- selection
def test_selection_prefers_psnr_among_settings_that_keep_the_grey_floors_ssim():
    rows = [_row(GREY, 25.0, ssim=0.96, colourfulness=0.0),
            _row("study", 26.0, ssim=0.95),  # highest PSNR, but SSIM below the grey floor's
            _row("unet", 25.6, ssim=0.961, colourfulness=12),
            _row("unet+attention+classify", 25.2, ssim=0.962, colourfulness=29, temperature=0.38),
            _row("unet+attention+classify", 24.0, ssim=0.962, colourfulness=30, temperature=0.2)]
    chosen = select(rows)
    assert chosen["accurate"]["recipe"] == "unet"
    # Closest to the truth's 30 among those above the grey floor's PSNR (T=0.2 is below).
    assert (chosen["vivid"]["recipe"], chosen["vivid"]["temperature"]) == ("unet+attention+classify", 0.38)


def test_selection_says_when_nothing_beats_the_grey_floor():
    chosen = select([_row(GREY, 25.0, ssim=0.96), _row("study", 24.0, ssim=0.9)])
    assert chosen["accurate"]["recipe"] == "study"  # the best there is, with no setting kept safe
    assert chosen["vivid"] is None


def test_the_combination_takes_the_best_architecture_and_the_best_loss():
    rows = [_row("study", 24.0), _row("study+L1", 24.5), _row("study+colourful", 23.0),
            _row("unet", 24.2), _row("unet+attention", 24.8), _row(GREY, 30.0)]
    combined = combine(rows)
    assert combined.name == COMBINED
    assert combined.changes == {"model": "unet", "attention": True, "loss": "l1"}


def test_tables_show_the_grey_floor_beside_every_dataset():
    rows = [_row("study", 24.0, dataset="a test"), _row(GREY, 25.0, dataset="a test", colourfulness=0.0),
            _row("study", 23.0, dataset="b test"), _row(GREY, 24.0, dataset="b test", colourfulness=0.0)]
    parsed = list(csv.DictReader(table_csv(rows).splitlines()))
    assert list(parsed[0]) == ["recipe", "temperature", "dataset", "n", "psnr", "ssim", "mse", "colourfulness",
                               "truth_colourfulness"]
    assert {(r["recipe"], r["dataset"]) for r in parsed} >= {(GREY, "a test"), (GREY, "b test")}
    text = table_markdown(rows, "a test")
    assert "| grey floor | 25.00 |" in text and "| study | 24.00 | -1.00 |" in text and "truth 30.0" in text


# ------------------------------------------------------------------------ the whole grid
@pytest.mark.slow
def test_the_grid_runs_end_to_end_and_resumes(tmp_path):
    """Two recipes (one regression, one classification at its temperatures) and the
    combination rule, at the tiny form: real training, evaluation and figures. About 70 s;
    CI runs it on TensorFlow only (train and evaluate have their own JAX tests); it passes
    on JAX too: KERAS_BACKEND=jax pytest tests/test_quality.py -m slow."""
    from colorkeras.data.synthetic import write_toy_city

    write_toy_city(tmp_path / "city", per_class=8, size=40, seed=0)
    write_toy_city(tmp_path / "elsewhere", per_class=3, size=40, seed=5)
    out, report = tmp_path / "grid", tmp_path / "report"
    recipes = ["study", "unet+attention+classify"]
    result = run_grid(tmp_path / "city", tmp_path / "elsewhere", out, form="tiny", report=report, recipes=recipes)

    # Each run trained the recipe at the form the grid names: config.json holds that config.
    for name in recipes:
        saved = json.loads((out / "runs" / name / "config.json").read_text())
        assert saved["config"] == FORMS["tiny"].config(recipe_by_name(name)).to_dict(), name
    rows = result["rows"]
    temperatures = recipe_by_name("unet+attention+classify").temperatures
    datasets = {row["dataset"] for row in rows}
    assert len(datasets) == 3 and any("val" in d for d in datasets) and any("out of domain" in d for d in datasets)
    for dataset in datasets:
        here = [(row["recipe"], row["temperature"]) for row in rows if row["dataset"] == dataset]
        assert sorted(here, key=str) == sorted([("study", None), (GREY, None)]
                                               + [("unet+attention+classify", t) for t in temperatures], key=str)
        # The classification run is decoded at each of its temperatures: they give different colours.
        vividness = {row["colourfulness"] for row in rows
                     if row["dataset"] == dataset and row["recipe"] == "unet+attention+classify"}
        assert len(vividness) == len(temperatures), (dataset, vividness)
    table = list(csv.DictReader((report / "table.csv").read_text().splitlines()))
    assert all("val" not in row["dataset"] for row in table)  # the table reports test sets only
    assert sum(row["recipe"] == GREY for row in table) == 2
    for name in ("table.md", "selection.csv", "qualitative.png", "psnr_vs_colourfulness.png"):
        assert (report / name).stat().st_size > 0
    selection = json.loads((report / "selection.json").read_text())
    assert selection["accurate"]["recipe"] in recipes and selection["meta"]["form"]["name"] == "tiny"

    # A rerun trains and evaluates nothing again.
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/best.keras")}
    again = run_grid(tmp_path / "city", tmp_path / "elsewhere", out, form="tiny", report=report, recipes=recipes)
    assert {p: p.stat().st_mtime_ns for p in out.glob("runs/*/best.keras")} == stamps
    assert [(r["recipe"], r["psnr"]) for r in again["rows"]] == [(r["recipe"], r["psnr"]) for r in rows]


def test_the_grid_refuses_a_report_folder_holding_files_it_did_not_write_before_any_work(tmp_path, monkeypatch,
                                                                                          capsys):
    import colorkeras.evaluation.quality as quality
    from colorkeras.cli import main
    from colorkeras.errors import ColorkerasError

    # Issue 22: `quality --report` wrote over the user's table.md and selection.json, after
    # the whole grid's work. The refusal comes first now.
    def no_work(*args, **kwargs):
        raise AssertionError("the grid started before the report folder was checked")

    monkeypatch.setattr(quality, "prepare_data", no_work)
    report = tmp_path / "report"
    report.mkdir()
    (report / "selection.json").write_text("{}")
    with pytest.raises(ColorkerasError, match="selection.json exists and was not written by colorkeras quality"):
        run_grid(tmp_path, tmp_path, tmp_path / "out", form="tiny", report=report)
    assert main(["quality", str(tmp_path), "--ood", str(tmp_path), "--out", str(tmp_path / "out"),
                 "--report", str(report), "--form", "tiny"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("colorkeras quality: error: ") and err.count("\n") == 1 and "--overwrite" in err
    assert (report / "selection.json").read_text() == "{}"
    with pytest.raises(AssertionError, match="grid started"):  # --overwrite lets it go on
        run_grid(tmp_path, tmp_path, tmp_path / "out", form="tiny", report=report, overwrite=True)


def test_the_grid_refuses_unknown_forms_and_recipes(tmp_path):
    with pytest.raises(InvalidArgument, match="unknown form 'huge'"):
        run_grid(tmp_path, tmp_path, tmp_path / "out", form="huge")
    with pytest.raises(InvalidArgument, match="unknown recipe"):
        run_grid(tmp_path, tmp_path, tmp_path / "out", form="tiny", recipes=["resnet"])
    with pytest.raises(InvalidArgument, match="combined is chosen from .*: add study"):
        run_grid(tmp_path, tmp_path, tmp_path / "out", form="tiny", recipes=["combined", "unet"])

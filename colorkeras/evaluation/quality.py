"""The quality ablation as code: named recipes, one command, one table.

Every recipe is a set of ``TrainConfig`` fields (model family, architecture, objective);
a *form* fixes the schedule (image size, epochs, batch, learning rate, training subset)
for the hardware it runs on. ``run_grid`` prepares the two datasets, trains every recipe
with ``colorkeras.training.train.train``, evaluates it with ``colorkeras.evaluation.evaluate.evaluate_run``
(the classification recipe at several decode temperatures) on

* the validation split of the training data: the only split any choice looks at (the
  best epoch, the "best combination", the recommended recipe);
* the test split of the training data (in domain);
* an out-of-domain set from another city and camera (evaluation only, never trained on),

and writes ``table.md``/``table.csv`` (each dataset with its grey floor), a qualitative
grid of the same photos for every recipe, a chart of PSNR against colourfulness and
``selection.json``. Everything resumes: a finished run or evaluation is not redone.

    colorkeras quality ../shared/data/intel-urban --ood ../shared/data/camvid-street/test \\
        --form quick --out runs/quality --report results/quality
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from colorkeras.data.pipeline import PreparedDataset
from colorkeras.data.prepare import PrepareSettings, check_source, prepare
from colorkeras.errors import InvalidArgument
from colorkeras.evaluation.evaluate import GREY_FLOOR, evaluate_run
from colorkeras.evaluation.figures import comparison_panels, save_figure
from colorkeras.evaluation.report import csv_text, markdown_table
from colorkeras.fileio import WrittenFiles, writing_into
from colorkeras.runtime import gpu_names
from colorkeras.training.config import TrainConfig
from colorkeras.training.recipes import RECIPES, Recipe
from colorkeras.training.run import Run, dataset_identity, predictions_path

GREY = GREY_FLOOR  # the grey floor's rows in the grid's table


COMBINED = "combined"
# Which recipes compete for the architecture (all MSE) and for the regression loss (all on
# the study's family) of the best combination.
ARCHITECTURE_CANDIDATES = ("study", "unet", "unet+attention")
LOSS_CANDIDATES = ("study", "study+L1", "study+colourful")


@dataclass(frozen=True)
class Form:
    """The schedule the grid runs at, sized for its hardware."""

    name: str
    image_size: int
    epochs: int
    batch_size: int
    learning_rate: float
    max_train_images: int | None
    hardware: str
    note: str = ""

    def config(self, recipe: Recipe, **overrides) -> TrainConfig:
        values = dict(image_size=self.image_size, epochs=self.epochs, batch_size=self.batch_size,
                      learning_rate=self.learning_rate, max_train_images=self.max_train_images)
        return TrainConfig(**{**values, **recipe.changes, **overrides})


FORMS = {
    # 2 CPU cores (about 64 img/s at 48 px, batch 16, TensorFlow): 3 epochs of all
    # training images per recipe keeps the whole grid (7 trainings, 10 settings evaluated
    # on 3 sets) near 25 minutes. Small batches give BatchNorm's moving statistics enough
    # steps to settle (at batch 32, 40 steps left the validation loss 20x the training loss).
    "quick": Form("quick", 48, 3, 16, 1e-3, None, "2 CPU cores, about 25 minutes",
                  "a proof that the grid works, not a basis for conclusions"),
    # One GPU: the study's 256 px, all training images; at an H200's ~2,800 img/s through
    # fit, 7 x 25 epochs of 2,725 images is about 3 minutes of training per recipe set.
    "full": Form("full", 256, 25, 64, 3e-4, None, "one GPU, at most 10 minutes of GPU time"),
    # Tests: the same path in seconds on a CPU.
    "tiny": Form("tiny", 32, 1, 16, 2e-3, 48, "tests only", "a test of the path that measures nothing"),
}


# ------------------------------------------------------------------------------------
# Selection (validation rows only)
# ------------------------------------------------------------------------------------
def combine(val_rows: list[dict]) -> Recipe:
    """The best combination: the architecture of the best MSE model and the regression loss
    that helped the study's family most, both by validation PSNR."""
    psnr = {row["recipe"]: row["psnr"] for row in val_rows if row["recipe"] != GREY}
    by_name = {recipe.name: recipe for recipe in RECIPES}
    architecture = max(ARCHITECTURE_CANDIDATES, key=lambda name: psnr.get(name, -math.inf))
    loss = max(LOSS_CANDIDATES, key=lambda name: psnr.get(name, -math.inf))
    changes = {**by_name[architecture].changes, "loss": by_name[loss].changes["loss"]}
    return Recipe(COMBINED, f"{architecture}'s architecture with {loss}'s loss (chosen on validation)", changes)


def select(val_rows: list[dict]) -> dict:
    """The recommended (accurate) and vivid settings, from validation rows only.

    Accurate: the highest PSNR among settings whose SSIM is at least the grey floor's (any
    setting if none is). Vivid: among settings above the grey floor in PSNR, the one whose
    colourfulness is closest to the truth's.
    """
    grey = next(row for row in val_rows if row["recipe"] == GREY)
    models = [row for row in val_rows if row["recipe"] != GREY]
    if not models:
        raise InvalidArgument("no evaluated recipe to select from")
    safe = [row for row in models if row["ssim"] >= grey["ssim"]] or models
    accurate = max(safe, key=lambda row: row["psnr"])
    above = [row for row in models if row["psnr"] > grey["psnr"]]
    vivid = min(above, key=lambda row: abs(row["colourfulness"] - row["truth_colourfulness"])) if above else None
    pick = lambda row: None if row is None else {key: row[key] for key in ("recipe", "temperature", "psnr", "ssim", "mse", "colourfulness")}  # noqa: E731
    return {"accurate": pick(accurate), "vivid": pick(vivid), "grey_floor": pick(grey),
            "rule": select.__doc__.split("\n\n")[1].strip().replace("\n    ", " ")}


# ------------------------------------------------------------------------------------
# Running the grid
# ------------------------------------------------------------------------------------
@dataclass
class GridData:
    """The prepared datasets of one grid: (label, folder, split) per evaluated set."""

    train: Path
    sets: list[tuple[str, Path, str]] = field(default_factory=list)


def check_sources(train_source, ood_source) -> None:
    """Both image folders exist and can be read, checked before anything is prepared
    (a misspelt --ood must not wait for the training source's preparation).

    Raises:
        PrepareError: the first folder that cannot be used, named.
    """
    for label, source in (("", train_source), ("--ood ", ood_source)):
        check_source(Path(source).resolve(), label)


def prepare_data(train_source, ood_source, out: Path, form: Form) -> GridData:
    check_sources(train_source, ood_source)
    train_source, ood_source = Path(train_source), Path(ood_source)
    train_dir = out / "data" / f"{train_source.name}-{form.image_size}px"
    ood_dir = out / "data" / f"{ood_source.parent.name}-{ood_source.name}-{form.image_size}px"
    print(f"prepare {train_source} -> {train_dir}", flush=True)
    prepare(train_source, train_dir, PrepareSettings(image_size=form.image_size), progress=False)
    print(f"prepare {ood_source} (evaluation only) -> {ood_dir}", flush=True)
    prepare(ood_source, ood_dir, PrepareSettings(image_size=form.image_size, val_fraction=0, test_fraction=1),
            progress=False)
    in_domain = train_source.name
    out_of_domain = f"{ood_source.parent.name}/{ood_source.name}"
    return GridData(train_dir, [(f"{in_domain} val", train_dir, "val"), (f"{in_domain} test", train_dir, "test"),
                                (f"{out_of_domain} (out of domain)", ood_dir, "test")])


def _evaluate(run_dir: Path, prepared: Path, split: str, temperature):
    """The means of one evaluation, reusing a finished one that is newer than the run's
    best model."""
    run = Run(run_dir)
    folder = run.eval_dir(dataset_identity(PreparedDataset.open(prepared)), split, temperature)
    record = run.fresh_evaluation(folder)
    if record is None:
        record = evaluate_run(run_dir, prepared, split=split, lpips_scorer=None, progress=False,
                              temperature=temperature).record
    return record, folder


def _row(recipe: str, temperature, dataset: str, means: dict, count: int) -> dict:
    return {"recipe": recipe, "temperature": temperature, "dataset": dataset, "n": count,
            "psnr": means["psnr"], "ssim": means["ssim"], "mse": means["mse"],
            "colourfulness": means["colorfulness_pred"], "truth_colourfulness": means["colorfulness_true"]}


def run_grid(train_source, ood_source, out, form: str = "quick", report=None, recipes=None,
             overwrite: bool = False, **config_overrides) -> dict:
    """Train and evaluate the grid; write the report (default ``out/report``).

    Args:
        train_source: image folder to train on (class sub-folders, or train/test/<class>).
        ood_source: image folder from elsewhere, evaluated only.
        out: where the prepared data and the runs go (resumable).
        form: "quick" (2 CPU cores), "full" (one GPU, 256 px) or "tiny" (tests).
        recipes: names to run (default: all, then the best combination).
        overwrite: also replace files of the report's names (`QUALITY_FILES`) in
            ``report`` that quality did not write; without it they are refused before
            any work.
        config_overrides: TrainConfig fields for every recipe (tests: random extractors).
    Returns:
        {"rows": [...], "selection": {...}, "written": {...}}
    """
    if form not in FORMS:
        raise InvalidArgument(f"unknown form {form!r}; expected one of {', '.join(FORMS)}")
    chosen_form = FORMS[form]
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes: one model after another
    wanted = _wanted(recipes)
    out = Path(out)
    report = Path(report) if report is not None else out / "report"
    WrittenFiles(report, "quality", overwrite).check(QUALITY_FILES)  # before hours of work
    data = prepare_data(train_source, ood_source, out, chosen_form)
    started = time.time()
    grid = GridRuns(out / "runs", data, chosen_form, config_overrides)
    for recipe in RECIPES:
        if recipe.name in wanted:
            grid.run(recipe)
    combined = _train_combined(grid) if COMBINED in wanted else None
    selection = select(grid.val_rows())
    meta = {"form": chosen_form.__dict__, "data": {label: str(folder) for label, folder, _ in data.sets},
            "command": f"colorkeras quality {train_source} --ood {ood_source} --form {form}",
            "hardware": _hardware(), "minutes": round((time.time() - started) / 60, 1),
            "train_seconds": grid.timings, "combined": combined.summary if combined else None,
            "recipes": {r.name: r.changes for r in RECIPES if r.name in wanted}}
    written = write_quality_report(grid.rows, selection, meta, grid.folders, data, report, overwrite)
    return {"rows": grid.rows, "selection": selection, "written": written}


def _wanted(recipes) -> list[str]:
    """The recipe names to run: ``recipes``, or every recipe and then the best combination."""
    names = [recipe.name for recipe in RECIPES]
    wanted = list(recipes) if recipes else names + [COMBINED]
    unknown = [name for name in wanted if name not in names + [COMBINED]]
    if unknown:
        raise InvalidArgument(f"unknown recipe(s) {', '.join(unknown)}; known: {', '.join(names + [COMBINED])}")
    needed = [name for name in ARCHITECTURE_CANDIDATES + LOSS_CANDIDATES if name not in wanted]
    if COMBINED in wanted and needed:
        raise InvalidArgument(f"{COMBINED} is chosen from {', '.join(dict.fromkeys(ARCHITECTURE_CANDIDATES + LOSS_CANDIDATES))}: "
                              f"add {', '.join(dict.fromkeys(needed))}, or leave {COMBINED} out")
    return wanted


@dataclass
class GridRuns:
    """The grid's runs as they are trained and evaluated: a row per recipe, temperature
    and evaluated set (and one grey floor row per set), each row's evaluation folder, and
    each run's training seconds."""

    runs: Path
    data: GridData
    form: Form
    config_overrides: dict
    rows: list[dict] = field(default_factory=list)
    folders: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)

    def run(self, recipe: Recipe) -> None:
        """Train ``recipe`` (or resume it) and evaluate it on every set at each temperature."""
        from colorkeras.training.train import train  # Keras starts here, after every check

        run_dir = self.runs / recipe.name
        config = self.form.config(recipe, **self.config_overrides)
        print(f"== {recipe.name}: {recipe.summary}", flush=True)
        result = train(self.data.train, run_dir, config, verbose=2)
        # From the run's log, so a resumed grid still reports each run's own training time.
        self.timings[recipe.name] = round(sum(row.get("seconds", 0.0) for row in Run(run_dir).read_log()), 1)
        print(result.to_text(), flush=True)
        for temperature in recipe.temperatures:
            for label, prepared, split in self.data.sets:
                record, folder = _evaluate(run_dir, prepared, split, temperature)
                self.rows.append(_row(recipe.name, temperature, label, record["mean"][record["model"]],
                                      record["count"]))
                self.folders[(recipe.name, temperature, label)] = folder
                if not any(r["recipe"] == GREY and r["dataset"] == label for r in self.rows):
                    self.rows.append(_row(GREY, None, label, record["mean"][GREY], record["count"]))
                    self.folders[(GREY, None, label)] = folder

    def val_rows(self) -> list[dict]:
        """The rows of the validation split: the only ones any choice looks at."""
        return [row for row in self.rows if row["dataset"] == self.data.sets[0][0]]


def _train_combined(grid: GridRuns) -> Recipe:
    """The best combination, chosen on validation, trained unless a recipe of the grid
    already is that combination."""
    combined = combine(grid.val_rows())
    same = next((recipe for recipe in RECIPES if recipe.changes == combined.changes), None)
    if same is None:
        grid.run(combined)
        return combined
    print(f"== {COMBINED}: the same recipe as {same.name!r} ({combined.summary}); not trained twice", flush=True)
    return Recipe(COMBINED, f"= {same.name} ({combined.summary})", same.changes)


def _hardware() -> str:
    import keras

    gpus = gpu_names()
    device = ", ".join(gpus) if gpus else f"CPU only ({os.cpu_count()} cores)"
    return f"{device}; Keras {keras.__version__} on {keras.backend.backend()}"


# ------------------------------------------------------------------------------------
# The report
# ------------------------------------------------------------------------------------
CSV_COLUMNS = ("recipe", "temperature", "dataset", "n", "psnr", "ssim", "mse", "colourfulness",
               "truth_colourfulness")


def setting_name(row: dict) -> str:
    return row["recipe"] if row["temperature"] is None else f"{row['recipe']} (T={row['temperature']:g})"


def table_csv(rows: list[dict]) -> str:
    return csv_text(list(CSV_COLUMNS), rows)


def table_markdown(rows: list[dict], dataset: str) -> str:
    chosen = [row for row in rows if row["dataset"] == dataset]
    grey = [row for row in chosen if row["recipe"] == GREY]
    models = [row for row in chosen if row["recipe"] != GREY]
    floor = grey[0] if grey else None
    body = []
    for row in models + grey:
        gain = "" if floor is None or row is floor else f"{row['psnr'] - floor['psnr']:+.2f}"
        body.append([setting_name(row), f"{row['psnr']:.2f}", gain, f"{row['ssim']:.4f}", f"{row['mse']:.4f}",
                     f"{row['colourfulness']:.1f}"])
    truth = f"{chosen[0]['truth_colourfulness']:.1f}" if chosen else "?"
    header = ["Recipe", "PSNR (dB)", "vs grey", "SSIM", "MSE (ab)", f"Colourfulness (truth {truth})"]
    return markdown_table(header, body)


def _figure_rows(count: int, per_set: int) -> list[int]:
    return sorted({int(i) for i in np.linspace(0, count - 1, per_set)})


def qualitative_figure(rows: list[dict], folders: dict, data: GridData, per_set: int = 3):
    """The same photos (the first test images of each test set, evenly spaced) for every
    recipe and temperature, with the input L and the truth."""
    from matplotlib.figure import Figure

    tests = [(label, prepared, split) for label, prepared, split in data.sets if split == "test"]
    settings = [(row["recipe"], row["temperature"]) for row in rows
                if row["dataset"] == tests[0][0] and row["recipe"] != GREY]
    columns = ["input L", *(setting_name({"recipe": r, "temperature": t}) for r, t in settings), "truth"]
    images = []
    for label, prepared, split in tests:
        l_array, ab_array = PreparedDataset.open(prepared).arrays(split)
        predictions = [np.load(predictions_path(folders[(recipe, temperature, label)]), mmap_mode="r")
                       for recipe, temperature in settings]
        for index in _figure_rows(len(l_array), per_set):
            images.append((f"{label.split(' ')[0]}\n#{index}", comparison_panels(l_array, ab_array, index, predictions)))
    figure = Figure(figsize=(1.25 * len(columns), 1.35 * len(images) + 0.9), layout="constrained")
    axes = np.asarray(figure.subplots(len(images), len(columns), squeeze=False))
    for i, (name, panels) in enumerate(images):
        for j, (ax, image) in enumerate(zip(axes[i], panels)):
            ax.imshow(image, interpolation="bilinear")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(columns[j].replace("+", "\n+").replace(" (T", "\n(T"), fontsize=6)
        axes[i][0].set_ylabel(name, fontsize=6)
    return figure


def chart_figure(rows: list[dict], datasets: list[str]):
    """PSNR against colourfulness per test set: one point per recipe and temperature, the
    grey floor (a point and a dashed line) and the truth's colourfulness (dotted)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5.2 * len(datasets), 4.6), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(datasets)))
    for ax, dataset in zip(axes, datasets):
        chosen = [row for row in rows if row["dataset"] == dataset]
        for row in chosen:
            grey = row["recipe"] == GREY
            ax.scatter(row["colourfulness"], row["psnr"], marker="s" if grey else "o",
                       color="grey" if grey else None, zorder=3)
            ax.annotate(setting_name(row), (row["colourfulness"], row["psnr"]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
        floor = next((row for row in chosen if row["recipe"] == GREY), None)
        if floor is not None:
            ax.axhline(floor["psnr"], color="grey", linestyle="--", linewidth=0.8, label="grey floor PSNR")
        if chosen:
            ax.axvline(chosen[0]["truth_colourfulness"], color="black", linestyle=":", linewidth=0.8,
                       label="truth's colourfulness")
        ax.set_xlabel("colourfulness (Hasler & Süsstrunk)")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(dataset, fontsize=9)
        ax.legend(fontsize=7, loc="best")
    return figure


# Every file write_quality_report writes into its folder.
QUALITY_FILES = ("table.csv", "selection.csv", "selection.json", "qualitative.png", "psnr_vs_colourfulness.png",
                 "table.md")


def write_quality_report(rows, selection, meta, folders, data: GridData, out, overwrite: bool = False) -> dict[str, Path]:
    """`QUALITY_FILES` into ``out``; files of those names that quality did not write are
    replaced only with ``overwrite`` (see `colorkeras.fileio.WrittenFiles`)."""
    with writing_into(out, "quality", overwrite) as files:
        files.check(QUALITY_FILES)
        return _write_quality_report(rows, selection, meta, folders, data, files)


def _write_quality_report(rows, selection, meta, folders, data: GridData, files: WrittenFiles) -> dict[str, Path]:
    written = {}
    tests = [label for label, _, split in data.sets if split == "test"]
    val = [label for label, _, split in data.sets if split == "val"]
    written["table_csv"] = files.write_text("table.csv", table_csv([r for r in rows if r["dataset"] in tests]))
    written["selection_csv"] = files.write_text("selection.csv", table_csv([r for r in rows if r["dataset"] in val]))
    written["selection"] = files.write_text("selection.json", json.dumps({**selection, "meta": meta}, indent=2) + "\n")
    written["qualitative"] = save_figure(qualitative_figure(rows, folders, data), files, "qualitative.png")
    written["chart"] = save_figure(chart_figure(rows, tests), files, "psnr_vs_colourfulness.png")
    form = meta["form"]
    lines = [f"# Quality ablation ({form['name']} form)", "",
             f"Size and hardware: {form['image_size']} px, {form['epochs']} epoch(s), batch {form['batch_size']}, "
             f"Adam lr {form['learning_rate']:g}, "
             f"{'all' if form['max_train_images'] is None else form['max_train_images']} training images per epoch; "
             f"{meta['hardware']}; this call of the grid took {meta['minutes']} min (a resumed call "
             "reuses finished runs and evaluations).", "", f"Command: `{meta['command']}`",
             *([f"Read it as {form['note']}."] if form["note"] else []), "",
             "Every choice below is made on the validation split; the test rows were not looked at to make it.", ""]
    accurate, vivid = selection["accurate"], selection["vivid"]
    lines += ["## Selected on validation", "",
              f"- accurate (recommended): **{setting_name(accurate)}**",
              f"- vivid: **{setting_name(vivid)}**" if vivid else "- vivid: none of the settings beat the grey floor's PSNR",
              f"- combined (the best combination): {meta['combined']}", f"- rule: {selection['rule']}", ""]
    for dataset in val + tests:
        lines += [f"## {dataset}", "", table_markdown(rows, dataset), ""]
    lines += ["## Figures", "", "![same photos for every recipe](qualitative.png)", "",
              "![PSNR against colourfulness](psnr_vs_colourfulness.png)", "",
              "Training seconds per recipe (from each run's log.csv): " + ", ".join(f"{k} {v:g}" for k, v in meta["train_seconds"].items()), ""]
    written["markdown"] = files.write_text("table.md", "\n".join(lines))
    return written

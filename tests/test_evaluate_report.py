"""Tests of colorkeras.evaluation.evaluate and colorkeras.evaluation.report on a tiny prepared toy city (32x32)."""

from __future__ import annotations

import csv
import json
import math
import re
import shutil

import numpy as np
import pytest
from PIL import Image
from skimage.color import lab2rgb

from colorkeras.data.pipeline import PreparedDataset
from colorkeras.data.prepare import PrepareSettings, prepare
from colorkeras.data.synthetic import write_toy_city
from colorkeras.fileio import LOCK_NAME, RECORD_NAME
from colorkeras.evaluation.evaluate import (
    CSV_COLUMNS,
    GREY_FLOOR,
    EvaluationError,
    evaluate_run,
    grey_floor_verdict,
    is_sun397_urban32,
    urban32_class_names,
)
from colorkeras.evaluation.metrics import LpipsScorer
from colorkeras.evaluation.report import REPORTED_BY_STUDY, ReportError, format_overall_table, write_report

SIZE = 32


def _save_model(run_dir, image_size, seed, config=None):
    import keras

    from colorkeras.models.registry import build_model

    run_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)
    build_model("baseline", image_size).save(run_dir / "best.keras")
    if config is not None:
        (run_dir / "config.json").write_text(json.dumps(config))
    return run_dir


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A prepared toy city and two evaluated runs: one with LPIPS (random mode), one without."""
    root = tmp_path_factory.mktemp("evaluate")
    write_toy_city(root / "city", per_class=3, size=SIZE, seed=0)
    # Two of three images per class in the test split: 8 test images, 4 classes.
    prepare(root / "city", root / "prepared",
            PrepareSettings(image_size=SIZE, val_fraction=0.0, test_fraction=0.67),
            workers=1, progress=False)
    run_a = _save_model(root / "run_a", SIZE, seed=1, config={"model": "baseline", "epochs": 1})
    run_b = _save_model(root / "run_b", SIZE, seed=2)  # no config.json: the Keras name is used
    # TensorFlow is loaded by now, so this also checks that LPIPS (torch) can still start
    # (see metrics._keep_triton_out_after_tensorflow).
    eval_a = evaluate_run(run_a, root / "prepared", batch_size=3,
                          lpips_scorer=LpipsScorer(pretrained=False), progress=False).folder
    eval_b = evaluate_run(run_b, root / "prepared", lpips_scorer=None, progress=False).folder
    return {"root": root, "data": root / "prepared", "run_a": run_a, "run_b": run_b,
            "eval_a": eval_a, "eval_b": eval_b}


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _true_ab_norm(data_root):
    """Normalised true ab straight from the stored uint8, with the storage constants spelled out."""
    ab_u8 = np.load(data_root / "test_ab.npy").astype(np.float64)
    return (ab_u8 * (207.0 / 255.0) - 108.0) / 127.5


# ------------------------------------------------------------------------------- evaluate
def test_per_image_csv_has_a_model_and_a_grey_floor_row_per_image(world):
    dataset = PreparedDataset.open(world["data"])
    count = dataset.count("test")
    assert count == 8
    rows = _read_csv(world["eval_a"] / "per_image.csv")
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 2 * count
    assert [r["model"] for r in rows] == ["baseline"] * count + [GREY_FLOOR] * count
    manifest = sorted(dataset.manifest("test"), key=lambda r: int(r["row"]))
    for label in ("baseline", GREY_FLOOR):
        mine = [r for r in rows if r["model"] == label]
        assert [(r["relpath"], r["class"]) for r in mine] == [(m["relpath"], m["class"]) for m in manifest]
        assert [int(r["row"]) for r in mine] == list(range(count))


@pytest.mark.lpips
def test_lpips_is_computed_where_asked_and_shown_in_the_report(world, tmp_path):
    rows = _read_csv(world["eval_a"] / "per_image.csv")
    assert all(r["lpips"] != "" and math.isfinite(float(r["lpips"])) for r in rows)
    info = json.loads((world["eval_a"] / "evaluation.json").read_text())
    assert info["lpips"]["available"] is True and info["lpips"]["weights"] == "random"
    written = write_report([world["run_a"], world["run_b"]], tmp_path / "report")
    assert "random weights" in written["markdown"].read_text()
    overall_rows = _read_csv(written["overall_csv"])
    assert overall_rows[-1]["lpips"] != ""  # the grey floor comes from the run that computed LPIPS
    assert overall_rows[1]["lpips"] == ""


def test_grey_floor_mse_and_psnr_match_an_independent_computation(world):
    rows = [r for r in _read_csv(world["eval_a"] / "per_image.csv") if r["model"] == GREY_FLOOR]
    true_ab = _true_ab_norm(world["data"])
    per_image = np.mean(true_ab**2, axis=(1, 2, 3))
    np.testing.assert_allclose([float(r["mse"]) for r in rows], per_image, rtol=1e-5)
    assert np.mean([float(r["mse"]) for r in rows]) == pytest.approx(float(np.mean(true_ab**2)), rel=1e-5)
    # PSNR of image 0: scikit-image lab2rgb of (L, 0, 0) against (L, a, b), then the formula.
    lightness = np.load(world["data"] / "test_l.npy")[0].astype(np.float64) * (100.0 / 255.0)
    grey = np.clip(lab2rgb(np.dstack([lightness, np.zeros_like(lightness), np.zeros_like(lightness)])), 0, 1)
    truth = np.clip(lab2rgb(np.dstack([lightness, true_ab[0] * 127.5])), 0, 1)
    expected = 10 * math.log10(1 / np.mean((grey - truth) ** 2))
    assert float(rows[0]["psnr"]) == pytest.approx(expected, rel=1e-3)
    # A grey image has (almost) no colour; the toy city has plenty.
    assert all(float(r["colorfulness_pred"]) < 1.0 for r in rows)
    assert all(float(r["colorfulness_true"]) > 5.0 for r in rows)


def test_predictions_file_matches_the_model_rows(world):
    predictions = np.load(world["eval_a"] / "predictions_ab.npy")
    assert predictions.shape == (8, SIZE, SIZE, 2) and predictions.dtype == np.uint8
    pred_norm = (predictions.astype(np.float64) * (207.0 / 255.0) - 108.0) / 127.5
    mse = np.mean((pred_norm - _true_ab_norm(world["data"])) ** 2, axis=(1, 2, 3))
    rows = [r for r in _read_csv(world["eval_a"] / "per_image.csv") if r["model"] == "baseline"]
    # Storage rounds ab by at most 0.41 (0.0032 normalised), far below these errors.
    np.testing.assert_allclose([float(r["mse"]) for r in rows], mse, rtol=0.05, atol=1e-4)


def test_evaluation_json(world):
    info = json.loads((world["eval_a"] / "evaluation.json").read_text())
    assert info["run"] == "run_a" and info["model"] == "baseline"
    assert info["dataset_root"] == str(world["data"].resolve())
    assert info["dataset_name"] == "prepared"
    assert (info["split"], info["image_size"], info["count"]) == ("test", SIZE, 8)
    assert info["sun397_urban32"] is False
    assert set(info["mean"]) == {"baseline", GREY_FLOOR}
    other = json.loads((world["eval_b"] / "evaluation.json").read_text())
    assert other["model"] == "baseline"  # the Keras model's name, as run_b has no config.json
    assert other["lpips"]["available"] is False and other["lpips"]["reason"]
    assert all(r["lpips"] == "" for r in _read_csv(world["eval_b"] / "per_image.csv"))
    assert not list(world["eval_a"].glob(".*.tmp"))


def test_urban32_flag():
    names = urban32_class_names()
    assert len(names) == 32 and "phone_booth" in names
    assert is_sun397_urban32(sorted(names))
    assert not is_sun397_urban32(["park", "skyline", "street", "waterfront"])
    assert not is_sun397_urban32(sorted(names)[:-1])


def test_missing_model_is_a_clear_error(world, tmp_path):
    with pytest.raises(EvaluationError, match="no best.keras in .* train first"):
        evaluate_run(tmp_path, world["data"], progress=False)
    with pytest.raises(EvaluationError, match="does not exist"):
        evaluate_run(tmp_path / "nowhere", world["data"], progress=False)


def test_a_model_of_another_size_is_evaluated_at_the_data_size(world, tmp_path):
    # Through the full-resolution path of colorize, as users see it (not an error any more).
    run = _save_model(tmp_path / "run64", 64, seed=0)
    evaluation = evaluate_run(run, world["data"], lpips_scorer=None, progress=False)
    assert evaluation.record["model_size"] == 64 and evaluation.record["image_size"] == SIZE


def test_damaged_model_is_a_clear_error(world, tmp_path):
    (tmp_path / "best.keras").write_bytes(b"not a keras file")
    with pytest.raises(EvaluationError, match="cannot load"):
        evaluate_run(tmp_path, world["data"], lpips_scorer=None, progress=False)


def test_missing_dataset_is_a_clear_error(world, tmp_path):
    with pytest.raises(EvaluationError, match="not a prepared dataset"):
        evaluate_run(world["run_a"], tmp_path, lpips_scorer=None, progress=False)


# ------------------------------------------------------------------------------- report
def test_report_of_two_runs(world, tmp_path):
    out = tmp_path / "report"
    written = write_report([world["run_a"], world["run_b"]], out)
    assert set(written) == {"markdown", "html", "overall_csv", "per_class_csv", "qualitative", "gain_per_class"}
    assert all(path.is_file() and path.parent == out for path in written.values())

    markdown = written["markdown"].read_text()
    assert "Dataset: prepared (not SUN397)" in markdown and "8 images" in markdown
    assert "| baseline (run_a) |" in markdown and "| baseline (run_b) |" in markdown
    overall = markdown.split("## Overall")[1].split("##")[0]
    assert overall.count(f"| {GREY_FLOOR} |") == 1
    assert REPORTED_BY_STUDY not in markdown  # not SUN397: the study's rows stay out
    assert "n/a" in markdown and "not requested" in markdown  # run_b had no LPIPS, and says why
    assert "](qualitative.png)" in markdown and "](gain_per_class.png)" in markdown
    assert "best" in markdown and "worst" in markdown

    page = written["html"].read_text()
    assert page.startswith("<!DOCTYPE html>") and "<table>" in page
    assert 'src="qualitative.png"' in page and 'src="gain_per_class.png"' in page  # relative figures
    assert "<link" not in page and "<script" not in page  # nothing fetched from elsewhere

    overall_rows = _read_csv(written["overall_csv"])
    assert [r["model"] for r in overall_rows] == ["baseline (run_a)", "baseline (run_b)", GREY_FLOOR]
    true_ab = _true_ab_norm(world["data"])
    grey = overall_rows[-1]
    assert float(grey["mse"]) == pytest.approx(float(np.mean(true_ab**2)), rel=1e-5)

    per_class = _read_csv(written["per_class_csv"])
    assert len(per_class) == 4 * 3
    park_grey = next(r for r in per_class if r["class"] == "park" and r["model"] == GREY_FLOOR)
    labels = PreparedDataset.open(world["data"]).labels("test")
    park = [i for i, c in enumerate(labels) if c == "park"]
    assert int(park_grey["n"]) == len(park)
    assert float(park_grey["mse"]) == pytest.approx(float(np.mean(true_ab[park] ** 2)), rel=1e-5)

    for name in ("qualitative", "gain_per_class"):
        with Image.open(written[name]) as image:
            image.verify()
        with Image.open(written[name]) as image:
            assert image.format == "PNG" and min(image.size) > 100


def test_report_on_sun397_shows_the_studys_rows_labelled(world, tmp_path):
    run = tmp_path / "sun_run"
    shutil.copytree(world["eval_a"], run / "eval" / "test")
    info_path = run / "eval" / "test" / "evaluation.json"
    info = json.loads(info_path.read_text())
    info["sun397_urban32"] = True
    info_path.write_text(json.dumps(info))
    written = write_report([run], tmp_path / "out", sample_rows=[0, 5])
    markdown = written["markdown"].read_text()
    assert "SUN397 urban-32" in markdown and "not SUN397" not in markdown
    assert f"| CNN + InceptionV3 | 25.10 | 0.9390 | 0.1158 | 0.0073 | — | {REPORTED_BY_STUDY} |" in markdown
    assert "phone_booth" in markdown  # the study's worst classes
    rows = _read_csv(written["overall_csv"])
    assert [r["source"] for r in rows] == ["ours", "ours"] + [REPORTED_BY_STUDY] * 3
    table = format_overall_table([run])
    assert table.splitlines()[0].startswith("Dataset:") and REPORTED_BY_STUDY in table


def test_format_overall_table(world):
    table = format_overall_table([world["run_a"]])
    lines = table.splitlines()
    assert lines[2].startswith("| Model | PSNR")
    assert sum(line.startswith(f"| {GREY_FLOOR} |") for line in lines) == 1
    assert any(line.startswith("| baseline |") for line in lines)


def test_report_errors(world, tmp_path):
    with pytest.raises(ReportError, match="no evaluation of split 'val'"):
        write_report([world["run_a"]], tmp_path / "out", split="val")
    with pytest.raises(ValueError, match="sample_rows"):
        write_report([world["run_a"]], tmp_path / "out", sample_rows=[99])


# ------------------------------------------------------------------------------- full disks
def _limited_cli(limit_bytes, *args):
    """`colorkeras ARGS` with a file-size limit: writes past it fail (EFBIG), like a full disk."""
    import resource
    import signal
    import subprocess
    import sys

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write, do not kill the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, "-m", "colorkeras.cli", *map(str, args)], capture_output=True,
                          text=True, preexec_fn=limit, restore_signals=False)


def _copy_run(world, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(world["run_a"] / "best.keras", run / "best.keras")
    shutil.copy(world["run_a"] / "config.json", run / "config.json")
    return run


def test_evaluate_on_a_full_disk_fails_cleanly_and_a_rerun_starts_clean(world, tmp_path):
    run = _copy_run(world, tmp_path)
    folder = world["eval_a"].relative_to(world["run_a"])  # eval/<dataset>/test
    # 8 x 32 x 32 x 2 bytes of predictions do not fit under 8 KiB.
    result = _limited_cli(8 * 1024, "evaluate", run, "--data", world["data"], "--no-lpips")
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"could not write {run / folder / 'predictions_ab.npy'}: File too large" in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in (run / folder).iterdir()) == []  # nothing partial, nothing hidden
    # A temporary left by a killed evaluation (its process is gone) is removed by the rerun.
    stale = run / folder / ".predictions_ab.999999999.0123abcd.tmp.npy"
    stale.write_bytes(b"\0" * 4096)
    out = evaluate_run(run, world["data"], lpips_scorer=None, progress=False).folder
    assert sorted(p.name for p in out.iterdir()) == ["evaluation.json", "per_image.csv", "predictions_ab.npy"]
    np.testing.assert_array_equal(np.load(out / "predictions_ab.npy"),
                                  np.load(world["eval_a"] / "predictions_ab.npy"))


def test_evaluate_checks_free_space_first(world, tmp_path, monkeypatch):
    import collections

    run = _copy_run(world, tmp_path)
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 5000, 5000))
    with pytest.raises(EvaluationError, match=r"needs about [\d,]+ bytes and 5,000 bytes are free"):
        evaluate_run(run, world["data"], lpips_scorer=None, progress=False)
    assert not (run / "eval").exists()


def test_report_on_a_full_disk_blames_the_output_not_the_dataset(world, tmp_path):
    out = tmp_path / "report"
    # The CSV files fit under 6 KiB; the figures do not.
    result = _limited_cli(6 * 1024, "report", world["run_a"], "--out", out)
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"the report could not be written to {out}: File too large" in result.stderr
    assert "dataset" not in result.stderr and "Traceback" not in result.stderr
    # No temporary file is left: only the folder's lock and the record of what was written.
    assert {p.name for p in out.iterdir() if p.name.startswith(".")} <= {LOCK_NAME, RECORD_NAME}


def test_report_out_that_is_a_file_or_cannot_be_made_is_a_clear_error(world, tmp_path):
    (tmp_path / "file").write_text("mine")
    with pytest.raises(ReportError, match="is a file, not a folder"):
        write_report([world["run_a"]], tmp_path / "file")
    with pytest.raises(ReportError, match=f"could not be written to {tmp_path / 'file' / 'out'}: Not a directory"):
        write_report([world["run_a"]], tmp_path / "file" / "out")
    assert (tmp_path / "file").read_text() == "mine"


def test_report_never_replaces_files_it_did_not_write(world, tmp_path, capsys):
    from colorkeras.cli import main
    from colorkeras.errors import ColorkerasError

    # Issue 22: `report --out` wrote over the user's report.md and overall.csv.
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.md").write_text("my notes")
    (out / "overall.csv").write_text("my,table\n")
    with pytest.raises(ColorkerasError, match="not written by colorkeras report; pass --overwrite"):
        write_report([world["run_a"]], out)
    assert main(["report", str(world["run_a"]), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"colorkeras report: error: {out / 'overall.csv'} and 1 other file") and err.count("\n") == 1
    assert "report.md" in err and "--overwrite" in err
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["overall.csv", "report.md"]
    assert (out / "report.md").read_text() == "my notes" and (out / "overall.csv").read_text() == "my,table\n"
    # --overwrite replaces them; from then on they are report's own, replaced by a rerun...
    assert main(["report", str(world["run_a"]), "--out", str(out), "--overwrite"]) == 0
    assert "my notes" not in (out / "report.md").read_text()
    write_report([world["run_a"]], out)
    # ...until someone edits one: then it is theirs again.
    (out / "report.md").write_text("edited")
    with pytest.raises(ColorkerasError, match=f"{re.escape(str(out / 'report.md'))} exists and was not written"):
        write_report([world["run_a"]], out)
    assert (out / "report.md").read_text() == "edited"


# ------------------------------------------------------------------------------- figures
def test_report_has_a_learning_curve_and_a_grid_that_covers_every_class(world, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(world["run_a"], run)
    (run / "log.csv").write_text("epoch,loss,seconds,val_loss\n1,0.3,5.0,0.2\n2,0.2,5.0,0.1\n")
    written = write_report([run, world["run_b"]], tmp_path / "out")
    assert written["learning_curve"] == tmp_path / "out" / "learning_curve.png"
    with Image.open(written["learning_curve"]) as image:
        assert image.format == "PNG" and min(image.size) > 100
    markdown = written["markdown"].read_text()
    assert "](learning_curve.png)" in markdown
    assert "No learning curve for baseline (run_b): its run folder has no log.csv." in markdown
    caption = re.search(r"truth, for rows ([\d, ]+)\]", markdown)[1]
    labels = PreparedDataset.open(world["data"]).labels("test")
    assert {labels[int(row)] for row in caption.split(", ")} == set(labels)  # all 4 classes


def _fake_data(classes_count, per_class=3):
    from colorkeras.evaluation.results import ReportData, Series

    rows = [{"row": i, "relpath": f"c{i // per_class:02d}/{i}.png", "class": f"c{i // per_class:02d}",
             **{name: float(i) for name in ("psnr", "ssim", "lpips", "mse")}}
            for i in range(classes_count * per_class)]
    return ReportData([Series("m", rows, {}, None, None)], Series(GREY_FLOOR, rows, {}, None, None), "test")


def test_default_sample_rows_cover_the_classes_up_to_a_cap():
    from colorkeras.evaluation.figures import SAMPLE_CLASSES, default_sample_rows

    data = _fake_data(4)
    rows = default_sample_rows(data)
    assert rows[:4] == [0, 1, 11, 10]  # the best two and worst two by MSE come first
    assert {data.grey.rows[r]["class"] for r in rows} == set(data.classes)
    assert len(rows) == len(set(rows))
    many = _fake_data(32)
    rows = default_sample_rows(many)
    shown = {many.grey.rows[r]["class"] for r in rows}
    assert len(rows) <= 4 + SAMPLE_CLASSES and len(shown) >= SAMPLE_CLASSES
    assert {"c00", "c16", "c28"} <= shown  # spread over the class list, not its start


# ------------------------------------------------------------------------------------
# One run, several datasets (an out-of-domain set never replaces the in-domain results)
# ------------------------------------------------------------------------------------
def test_a_run_keeps_one_evaluation_per_dataset_and_report_chooses_with_data(world, tmp_path):
    run = _copy_run(world, tmp_path)
    # Another labelled set, all of it test (prepare --val 0 --test 1).
    write_toy_city(tmp_path / "other_city", per_class=2, size=SIZE, seed=7)
    prepare(tmp_path / "other_city", tmp_path / "other", PrepareSettings(image_size=SIZE, val_fraction=0.0,
            test_fraction=1.0), workers=1, progress=False)
    in_domain = evaluate_run(run, world["data"], lpips_scorer=None, progress=False)
    out_of_domain = evaluate_run(run, tmp_path / "other", lpips_scorer=None, progress=False)
    assert in_domain.folder != out_of_domain.folder and in_domain.folder.parent.parent == run / "eval"
    assert (in_domain.folder / "evaluation.json").is_file()  # still there after the second
    assert (in_domain.record["count"], out_of_domain.record["count"]) == (8, 8)
    # In memory and on disk the same numbers.
    on_disk = json.loads((out_of_domain.folder / "evaluation.json").read_text())
    assert on_disk["mean"] == out_of_domain.means and on_disk["dataset_name"] == "other"
    with pytest.raises(ReportError, match="several datasets .*--data"):
        write_report([run], tmp_path / "r")
    written = write_report([run], tmp_path / "r", data_root=tmp_path / "other")
    assert "Dataset: other" in written["markdown"].read_text()


def test_a_run_evaluated_by_earlier_code_still_reports(world, tmp_path):
    """Before datasets had keys, evaluations sat in eval/<split>/."""
    run = _copy_run(world, tmp_path)
    shutil.copytree(world["eval_a"], run / "eval" / "test")
    written = write_report([run], tmp_path / "r")
    assert "| baseline |" in written["markdown"].read_text()


# ------------------------------------------------------------------------------- verdicts (issue 22, item 14)
def test_evaluate_says_where_the_model_stands_and_that_regression_has_no_temperature(world, tmp_path, capsys):
    from colorkeras.cli import main

    run = _copy_run(world, tmp_path)
    assert main(["evaluate", str(run), "--data", str(world["data"]), "--no-lpips", "--temperature", "0.5"]) == 0
    printed = capsys.readouterr().out
    assert f"note: {run} is a regression run (objective mse): --temperature has no effect" in printed
    record = json.loads(next(run.rglob("evaluation.json")).read_text())
    model, grey = record["mean"]["baseline"]["psnr"], record["mean"][GREY_FLOOR]["psnr"]
    gap = grey_floor_verdict(model, grey)
    assert f"(grey floor {grey:.2f} dB, " in printed and f"): {gap}, on 8 test images" in printed


def test_grey_floor_verdict_in_words():
    assert grey_floor_verdict(21.87, 34.51) == "12.6 dB below the grey floor"
    assert grey_floor_verdict(25.99, 25.36) == "0.6 dB above the grey floor"
    assert grey_floor_verdict(25.00, 25.01).startswith("level with the grey floor")
    assert "no colour" in grey_floor_verdict(30.0, None)  # an inf grey floor: images without colour


def test_report_gives_a_verdict_and_names_a_toy_model(world, tmp_path):
    run = _copy_run(world, tmp_path)
    dataset = {"root": str(world["data"].resolve()), "image_size": SIZE}
    (run / "config.json").write_text(json.dumps({"model": "baseline", "dataset": dataset}))
    evaluation = evaluate_run(run, world["data"], lpips_scorer=None, progress=False)
    markdown = write_report([run], tmp_path / "out")["markdown"].read_text()
    model, grey = evaluation.means["baseline"]["psnr"], evaluation.means[GREY_FLOOR]["psnr"]
    assert f"Verdict, baseline: {grey_floor_verdict(model, grey)} in PSNR ({model:.2f} vs {grey:.2f} dB)" in markdown
    assert "baseline is a toy: trained on the synthetic toy city" in markdown
    # A model trained on photographs is not called a toy.
    assert "is a toy" not in write_report([world["run_b"]], tmp_path / "out_b")["markdown"].read_text()


def test_a_report_of_one_class_shows_no_best_and_worst(world, tmp_path):
    shutil.copytree(world["root"] / "city" / "park", tmp_path / "one" / "park")
    prepare(tmp_path / "one", tmp_path / "prepared", PrepareSettings(image_size=SIZE, val_fraction=0.0,
                                                                     test_fraction=0.67),
            workers=1, progress=False)
    run = _copy_run(world, tmp_path)
    evaluate_run(run, tmp_path / "prepared", lpips_scorer=None, progress=False)
    markdown = write_report([run], tmp_path / "out")["markdown"].read_text()
    assert "· 1 class ·" in markdown and "1 classes" not in markdown
    section = markdown.split("## Best and worst classes by MSE")[1].split("\n## ")[0]
    assert "One class (park): there is no best or worst class to show" in section
    assert "| best |" not in section and "| worst |" not in section



def test_names_that_left_the_report_still_answer_at_the_old_path():
    """0.1's ``colorkeras.report`` had the notebooks' figures; they now live in
    colorkeras.evaluation.figures, and the old path answers with a DeprecationWarning."""
    import warnings

    from colorkeras.evaluation import figures

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from colorkeras import report as old_report
    with pytest.warns(DeprecationWarning, match="colorkeras.report.class_count_figure moved to "
                                                "colorkeras.evaluation.figures.class_count_figure"):
        assert old_report.class_count_figure is figures.class_count_figure
    assert old_report.write_report is write_report  # what stayed is the report's own

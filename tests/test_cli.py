"""The command line: help lists the subcommands; toy-city to colorize run for real; mistakes are one line."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SUBCOMMANDS = ("demo", "toy-city", "prepare", "sun397", "embed", "train", "evaluate", "report", "colorize", "quality",
               "evaluate-video")


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "colorkeras.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def test_help_lists_every_subcommand():
    result = run_cli("--help")
    assert result.returncode == 0
    # argparse lists each subcommand on its own line, indented, before its help text.
    listed = set(re.findall(r"^\s{4}(\S+)\s", result.stdout, flags=re.MULTILINE))
    assert listed >= set(SUBCOMMANDS), sorted(set(SUBCOMMANDS) - listed)
    for name in SUBCOMMANDS:
        assert run_cli(name, "--help").returncode == 0, name


def _last_lines(capsys) -> tuple[list[str], str]:
    captured = capsys.readouterr()
    return captured.out.strip().splitlines(), captured.err


def test_toy_city_prepare_train_evaluate_colorize_end_to_end(tmp_path, capsys):
    """The whole path through `main`, on a tiny toy city: what each command writes and
    prints is what the next one reads, and the numbers printed are the files' numbers."""
    from colorkeras import color
    from colorkeras.cli import main

    city, prepared, run = tmp_path / "city", tmp_path / "prepared", tmp_path / "run"
    assert main(["toy-city", str(city), "--per-class", "6", "--size", "40"]) == 0
    files = sorted(city.rglob("*.png"))
    assert len(files) == 24 and Image.open(files[0]).size == (40, 40) and (city / "toy_city.json").is_file()
    assert main(["prepare", str(city), str(prepared), "--size", "32", "--workers", "1"]) == 0
    out, _ = _last_lines(capsys)
    settings = json.loads((prepared / "settings.json").read_text())
    assert settings["counts"] == {"train": 16, "val": 4, "test": 4} and "  train: 16, val: 4, test: 4" in out
    assert settings["image_size"] == 32 and settings["synthetic"] is True

    train = ["train", str(prepared), "--model", "baseline", "--out", str(run), "--epochs", "1",
             "--batch-size", "8", "--image-size", "32"]
    assert main(train) == 0
    out, _ = _last_lines(capsys)
    saved = json.loads((run / "config.json").read_text())["config"]
    assert (saved["model"], saved["epochs"], saved["batch_size"], saved["image_size"]) == ("baseline", 1, 8, 32)
    assert len((run / "log.csv").read_text().splitlines()) == 2 and out[-1].startswith(f"{run}: 1 epoch(s) done")
    assert main([*train[:-2], "--image-size", "32", "--batch-size", "4"]) == 2  # another recipe: refused
    assert "holds another run" in _last_lines(capsys)[1]

    assert main(["evaluate", str(run), "--data", str(prepared), "--no-lpips"]) == 0
    out, _ = _last_lines(capsys)
    printed = re.fullmatch(rf"{re.escape(str(run))}: baseline PSNR ([\d.]+) dB, MSE ([\d.]+) \(grey floor "
                           r"([\d.]+) dB, [\d.]+\): .*, on 4 test images of prepared; per-image metrics in (.+)",
                           out[-1])
    assert printed, out[-1]
    rows = list(csv.DictReader(open(Path(printed[4]) / "per_image.csv")))
    for model, psnr in (("baseline", printed[1]), ("grey floor", printed[3])):
        values = [float(row["psnr"]) for row in rows if row["model"] == model]
        assert len(values) == 4 and abs(np.mean(values) - float(psnr)) <= 0.005, model
    mse = np.mean([float(row["mse"]) for row in rows if row["model"] == "baseline"])
    assert abs(mse - float(printed[2])) <= 5e-5

    grey = np.repeat(np.asarray(Image.open(files[0]).convert("L").resize((60, 44)))[..., None], 3, -1)
    Image.fromarray(grey).save(tmp_path / "old.png")
    assert main(["colorize", str(run), "--out", str(tmp_path / "out")]) == 2  # a model, nothing to colorize
    assert "is a model: name the photos" in _last_lines(capsys)[1]
    assert main(["colorize", str(run), str(tmp_path / "old.png"), "--out", str(tmp_path / "out")]) == 0
    out, _ = _last_lines(capsys)
    assert "trained on the synthetic toy city" in out[0] and "colorized 1 photo(s)" in " ".join(out)
    colorized = np.asarray(Image.open(tmp_path / "out" / "old.png").convert("RGB"))
    assert colorized.shape == grey.shape  # the photo's own size, and its own lightness
    assert np.percentile(np.abs(color.rgb_to_l(colorized) - color.rgb_to_l(grey)), 99) < 1.0
    assert main(["colorize", str(run), str(tmp_path / "old.png"), "--out", str(tmp_path / "out")]) == 0
    assert "colorized 0 photo(s); 1 already done (kept)" in " ".join(_last_lines(capsys)[0])


def test_user_errors_are_one_line_not_a_traceback(tmp_path):
    result = run_cli("prepare", tmp_path / "missing", tmp_path / "out")
    assert result.returncode == 2
    assert "does not exist" in result.stderr and "Traceback" not in result.stderr


def test_bad_train_settings_are_one_line_with_what_is_allowed(tmp_path):
    for args, message in (
        (["--set", "epochs=abc"], "--set epochs=abc: expected a whole number"),
        (["--set", "augment=maybe"], "--set augment=maybe: expected true or false"),
        (["--set", "jit_compile=banana"], "--set jit_compile=banana: expected auto, true or false"),
        (["--image-size", "33"], "image_size must be a multiple of 8"),
    ):
        result = run_cli("train", tmp_path / "prepared", "--model", "baseline", "--out", tmp_path / "run", *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)
        assert "--size 33" not in result.stderr
    assert not (tmp_path / "run").exists()


def test_train_takes_a_recipe_or_a_model_not_both(tmp_path, prepared_toy_city):
    result = run_cli("train", prepared_toy_city, "--model", "baseline", "--recipe", "study", "--out", tmp_path / "r")
    assert result.returncode == 2 and "not both" in result.stderr
    result = run_cli("train", prepared_toy_city, "--recipe", "nonsense", "--out", tmp_path / "r")
    assert result.returncode == 2 and "invalid choice" in result.stderr
    # A recipe's architecture check runs before any training: a wrong --set stops it at once.
    result = run_cli("train", prepared_toy_city, "--recipe", "study", "--set", "depth=3", "--out", tmp_path / "r")
    assert result.returncode == 2 and "does not take depth" in result.stderr, result.stderr
    assert not (tmp_path / "r").exists()


# ------------------------------------------------------------------------------------
# Mistakes are said at once, as one line with exit code 2 (issue 22, items 11-13)
# ------------------------------------------------------------------------------------
def _photo(path, size=(24, 24)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def test_colorize_with_a_missing_input_is_an_error_and_writes_nothing(tmp_path):
    photo = _photo(tmp_path / "in" / "p.png")
    for args in ([photo, tmp_path / "missing.png"], [tmp_path / "typo_run", photo]):
        result = run_cli("colorize", *args, "--out", tmp_path / "out")
        assert result.returncode == 2, result.stdout + result.stderr
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("colorkeras colorize: error: not found: "), line
        assert not (tmp_path / "out").exists()
    # The first item of several is the model's place: the message says it could be either.
    assert "neither a photo, a video nor a model" in result.stderr


def run_counting_keras(*args):
    """The CLI in a fresh interpreter; stdout ends with whether Keras or TensorFlow was imported."""
    code = ("import sys; from colorkeras.cli import main; rc = main(sys.argv[1:]); "
            "print('imported:', 'keras' in sys.modules or 'tensorflow' in sys.modules); sys.exit(rc)")
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True)


def test_mistakes_that_need_no_model_fail_before_keras_starts(tmp_path, prepared_toy_city):
    run = tmp_path / "run"
    run.mkdir()
    (run / "best.keras").write_bytes(b"never loaded")
    clip = _photo(tmp_path / "frames" / "0001.png")
    src = _photo(tmp_path / "src" / "park" / "a.png").parent.parent
    cases = [
        (["evaluate", tmp_path / "runz", "--data", prepared_toy_city], "run folder"),
        (["evaluate", run, tmp_path / "other_run", "--data", prepared_toy_city], "other_run does not exist"),
        (["evaluate", run, "--data", tmp_path / "nodata"], "not a prepared dataset"),
        (["train", tmp_path / "nodata", "--out", tmp_path / "r"], "not a prepared dataset"),
        (["train", prepared_toy_city, "--image-size", "64", "--out", tmp_path / "r"],
         "train with --image-size 32"),
        (["embed", tmp_path / "nodata", "--extractor", "vit_b16"], "not a prepared dataset"),
        (["evaluate-video", tmp_path / "model.keras", clip.parent, "--out", tmp_path / "ev"], "no saved model"),
        (["evaluate-video", run, tmp_path / "clip.mp4", "--out", tmp_path / "ev"], "not found"),
        (["colorize", "--model", tmp_path / "model.keras", clip, "--out", tmp_path / "o"], "no saved model"),
        (["quality", src, "--ood", tmp_path / "elsewhere", "--out", tmp_path / "q"],
         "--ood " + str(tmp_path / "elsewhere") + ": source folder does not exist"),
    ]
    for args, message in cases:
        result = run_counting_keras(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert result.stderr.startswith(f"colorkeras {args[0]}: error: "), result.stderr
        assert "imported: False" in result.stdout, (args, result.stdout)
    assert not (tmp_path / "q").exists() and not (tmp_path / "r").exists()


def test_bad_temperatures_and_keyframe_intervals_are_refused_when_parsed(tmp_path):
    photo = _photo(tmp_path / "p.png")
    for value in ("0", "-1", "nan", "inf", "warm"):
        for command in (["evaluate", tmp_path / "run", "--data", tmp_path / "d"],
                        ["colorize", photo, "--out", tmp_path / "o"]):
            result = run_cli(*command, "--temperature", value)
            assert result.returncode == 2, (command, value)
            assert "argument --temperature: expected" in result.stderr, result.stderr
    for value in ("0", "-3", "1.5"):
        result = run_cli("evaluate-video", tmp_path / "m.keras", photo, "--out", tmp_path / "e",
                         "--keyframe-every", value)
        assert result.returncode == 2 and "argument --keyframe-every: expected a whole number >= 1" in result.stderr
        result = run_cli("colorize", photo, "--out", tmp_path / "o", "--keyframe-every", value)
        assert result.returncode == 2 and "argument --keyframe-every" in result.stderr
    assert not (tmp_path / "o").exists()


def test_help_and_recipe_lines_say_what_they_mean(tmp_path, prepared_toy_city):
    result = run_cli("report", "--help")
    assert "needed when a run was evaluated on several datasets" in " ".join(result.stdout.split())
    result = run_cli("train", "--help")
    assert "'study' is the study's" not in result.stdout
    # The default recipe's line says how it was chosen and how to choose another, not itself.
    result = run_cli("train", prepared_toy_city, "--image-size", "64", "--out", tmp_path / "r")
    assert "(the recommended recipe, chosen on validation in results/quality; --recipe NAME for another" \
        in result.stdout
    assert "--recipe study for the study's" not in result.stdout
    assert "set image_size" not in result.stderr and "train with --image-size 32" in result.stderr

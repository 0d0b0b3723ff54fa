"""The command line: help lists the subcommands; toy-city and prepare run for real."""

from __future__ import annotations

import subprocess
import sys

from PIL import Image

SUBCOMMANDS = ("demo", "toy-city", "prepare", "sun397", "embed", "train", "evaluate", "report", "colorize", "quality",
               "evaluate-video")


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "colorkeras.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def test_help_lists_every_subcommand():
    import re

    result = run_cli("--help")
    assert result.returncode == 0
    # argparse lists each subcommand on its own line, indented, before its help text.
    listed = set(re.findall(r"^\s{4}(\S+)\s", result.stdout, flags=re.MULTILINE))
    assert listed >= set(SUBCOMMANDS), sorted(set(SUBCOMMANDS) - listed)
    for name in SUBCOMMANDS:
        assert run_cli(name, "--help").returncode == 0, name


def test_toy_city_then_prepare(tmp_path):
    result = run_cli("toy-city", tmp_path / "city", "--per-class", 3, "--size", 24)
    assert result.returncode == 0, result.stderr
    files = sorted((tmp_path / "city").rglob("*.png"))
    assert len(files) == 12 and Image.open(files[0]).size == (24, 24)
    result = run_cli("prepare", tmp_path / "city", tmp_path / "prepared", "--size", 16, "--workers", 1)
    assert result.returncode == 0, result.stderr
    assert "train:" in result.stdout and (tmp_path / "prepared" / "settings.json").is_file()


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

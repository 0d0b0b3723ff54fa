"""The main job on its embedded default: it must beat the grey floor, as CI checks."""

from __future__ import annotations

import subprocess
import sys

import pytest

from colorkeras.data.synthetic import SCENE_CLASSES


@pytest.mark.slow
def test_demo_beats_the_grey_floor_on_every_class_and_writes_its_report(tmp_path, capsys):
    # The demo runs for minutes: its lines are passed through as they come, so a
    # `pytest -s` run (and CI's log on failure) shows where it is.
    process = subprocess.Popen([sys.executable, "-m", "colorkeras.cli", "demo", "--out", str(tmp_path / "demo")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    lines = []
    with capsys.disabled():
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            print(f"  demo | {line}", end="", flush=True)
    assert process.wait(timeout=600) == 0, "\n".join(lines[-60:])
    assert lines[-1].startswith("Grey-floor check: the baseline beats the grey floor overall and on every class")
    assert any(line.startswith("| grey floor |") for line in lines)
    for scene_class in SCENE_CLASSES:
        assert any(line.strip().startswith(scene_class) and line.endswith(": beats") for line in lines), scene_class
    report = tmp_path / "demo" / "report"
    for name in ("report.md", "report.html", "overall.csv", "per_class.csv", "qualitative.png", "gain_per_class.png"):
        assert (report / name).is_file(), name

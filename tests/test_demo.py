"""The main job on its embedded default: it must beat the grey floor, as CI checks."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_demo_beats_the_grey_floor_and_writes_its_report(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "colorkeras.cli", "demo", "--out", str(tmp_path / "demo")],
                               capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    lines = completed.stdout.strip().splitlines()
    assert lines[-1].startswith("Grey-floor check: the baseline beats the grey floor")
    assert any(line.startswith("| grey floor |") for line in lines)
    report = tmp_path / "demo" / "report"
    for name in ("report.md", "report.html", "overall.csv", "per_class.csv", "qualitative.png", "gain_per_class.png"):
        assert (report / name).is_file(), name

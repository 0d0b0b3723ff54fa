"""What machine a benchmark ran on, for the header every benchmark prints."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine_line() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.machine()}, load average {load}"

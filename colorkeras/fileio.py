"""Atomic file writes: a reader never sees a half-written file, and an interrupted write
leaves the previous version intact."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Callable


def write_atomic(path, write: Callable[[Path], None], fsync: bool = False) -> Path:
    """Call ``write(temporary_path)``, then rename the result to ``path``.

    The temporary file sits beside the target with a hidden name that keeps the suffix
    (Keras and matplotlib choose the format by it; image-folder listings skip hidden
    names). ``fsync`` also forces the bytes to disk before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        write(tmp)
        if fsync:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))

"""Atomic file writes: a reader never sees a half-written file, and an interrupted write
leaves the previous version intact."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import IO, Callable

# The temporary files of write_atomic: ".<stem>.<pid>.<8 hex>.tmp<suffix>".
_TEMPORARY_NAME = re.compile(r"\..+\.[0-9]+\.[0-9a-f]{8}\.tmp(\.[^.]*)?", re.DOTALL)
_COPY_CHUNK = 1 << 20


def write_atomic(path, write: Callable[[Path], None], fsync: bool = False) -> Path:
    """Call ``write(temporary_path)``, then rename the result to ``path``.

    The temporary file sits beside the target with a hidden name that keeps the suffix
    (Keras and matplotlib choose the format by it; image-folder listings skip hidden
    names). ``fsync`` also forces the bytes to disk before the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(_temporary_name(path))
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


def _temporary_name(path: Path) -> str:
    return f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp{path.suffix}"


def is_temporary_name(name: str) -> bool:
    """Whether ``name`` (a base name) is that of a :func:`write_atomic` temporary file.

    Such a file outlives its write only when the process was killed (SIGKILL, power
    loss) before it could clean up; it is incomplete by definition.
    """
    return _TEMPORARY_NAME.fullmatch(name) is not None


def write_text_atomic(path, text: str) -> Path:
    return write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


class AtomicWriteError(OSError):
    """:func:`copy_stream_atomic` could not write its target (disk full, no permission...).

    ``errno`` and ``strerror`` are those of the original error (also in ``cause``),
    ``filename`` is the target path.
    """

    def __init__(self, path, cause: OSError) -> None:
        if cause.errno is None:
            super().__init__(f"{cause}: {os.fspath(path)!r}")
            self.filename = os.fspath(path)
        else:
            super().__init__(cause.errno, cause.strerror or str(cause), os.fspath(path))
        self.cause = cause


def copy_stream_atomic(
    source: IO[bytes], path, size: int | None = None, fsync: bool = True
) -> Path:
    """Copy everything ``source.read()`` gives to ``path`` with :func:`write_atomic`.

    The file gets the usual permissions (0666 minus the umask). ``fsync`` (default on)
    makes "the file exists" also mean "its bytes are on disk" after a power loss.

    Args:
        source: a binary reader; it is read to its end, not closed.
        path: the target file.
        size: the expected number of bytes, when known.

    Raises:
        EOFError: ``size`` was given and the source gave another number of bytes.
        AtomicWriteError: writing failed (including creating, syncing or renaming).
        Whatever ``source.read()`` raises, unchanged.
        In every case ``path`` is untouched and no temporary file is left.
    """
    reading = False

    def write(tmp: Path) -> None:
        nonlocal reading
        written = 0
        with open(tmp, "xb") as out:  # exclusive: never through a planted link
            while True:
                reading = True
                chunk = source.read(_COPY_CHUNK)
                reading = False
                if not chunk:
                    break
                out.write(chunk)
                written += len(chunk)
        if size is not None and written != size:
            raise EOFError(f"expected {size:,} bytes for {path}, got {written:,}")

    try:
        return write_atomic(path, write, fsync=fsync)
    except OSError as exc:
        if reading or isinstance(exc, AtomicWriteError):
            raise
        raise AtomicWriteError(path, exc) from exc


def read_json_object(path) -> dict:
    """A JSON file holding an object, as a dict; {} when it is missing, unreadable or not
    an object (records such as a run's config.json are optional and may be damaged)."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (the owner of a temporary file named after it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def free_bytes_if_short(folder, needed: int) -> int | None:
    """The free bytes on ``folder``'s disk when fewer than ``needed``; None when enough.
    (Checked before big writes, so a full disk fails with a message, not half-way.)"""
    free = shutil.disk_usage(folder).free
    return free if free < needed else None

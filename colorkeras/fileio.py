"""Atomic file writes: a reader never sees a half-written file, and an interrupted write
leaves the previous version intact. Folder locks: one colorkeras process at a time writes
into a run or output folder. And the record of what a command wrote into a folder, so
that it never replaces a file it did not write."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import threading
from pathlib import Path
from typing import IO, Callable, Iterator

from colorkeras.errors import ColorkerasError

# The temporary files of write_atomic: ".<stem>.<pid>.<8 hex>.tmp<suffix>".
_TEMPORARY_NAME = re.compile(r"\..+\.[0-9]+\.[0-9a-f]{8}\.tmp(\.[^.]*)?", re.DOTALL)
_COPY_CHUNK = 1 << 20


def write_atomic(path, write: Callable[[Path], None], fsync: bool = False,
                 before_replace: Callable[[Path], None] | None = None) -> Path:
    """Call ``write(temporary_path)``, then rename the result to ``path``.

    The temporary file sits beside the target with a hidden name that keeps the suffix
    (Keras and matplotlib choose the format by it; image-folder listings skip hidden
    names). ``fsync`` also forces the bytes to disk before the rename.
    ``before_replace(temporary_path)`` runs on the complete file just before the rename
    (to record what is about to be put in place).
    """
    path = Path(path)
    tmp = write_staged(path, write, fsync)
    try:
        if before_replace is not None:
            before_replace(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_staged(path, write: Callable[[Path], None], fsync: bool = False) -> Path:
    """The first half of :func:`write_atomic`: ``write(temporary_path)`` (and ``fsync``),
    returning the complete temporary file beside ``path``; the caller puts it in place
    with ``os.replace(temporary_path, path)``, or removes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(_temporary_name(path))
    try:
        write(tmp)
        if fsync:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


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


def update_json_object(path, change: Callable[[dict], None]) -> dict:
    """Read, change and write a JSON record holding an object, under its folder's lock
    (`folder_lock`): ``change(document)`` edits the object as it is on disk now (a
    missing or damaged file reads as {}), and the result is written atomically. Two
    processes that update one record this way lose none of each other's entries."""
    path = Path(path)
    with folder_lock(path.parent):
        document = read_json_object(path)
        change(document)
        write_text_atomic(path, json.dumps(document, indent=1, sort_keys=True) + "\n")
    return document


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


# ------------------------------------------------------------------------------------
# Folder locks
# ------------------------------------------------------------------------------------
# The hidden file a folder lock is taken on. It stays in the folder after the lock is
# released: removing it would let two processes lock two different files of one name.
LOCK_NAME = ".colorkeras.lock"


class FolderInUse(ColorkerasError):
    """Another process holds the folder (a second ``train`` or ``colorize`` into it)."""


# Folders this process holds: resolved path -> [descriptor, depth]. A process may take its
# own lock again (the record helpers do, inside a command that holds the folder).
_HELD: dict[str, list[int]] = {}
_HELD_GUARD = threading.Lock()
# A file system without locks (some network mounts) gets none, rather than no writes.
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


@contextlib.contextmanager
def folder_lock(folder) -> Iterator[Path]:
    """Hold ``folder`` (created if needed) for this process while the block runs.

    An exclusive ``flock`` on the hidden ``LOCK_NAME`` file there, which holds the
    holder's pid: a second process is refused at once, and a process that dies (even by
    SIGKILL) holds nothing, as the kernel releases its locks. Taken again by the same
    process, it is simply held deeper.

    Raises:
        FolderInUse: another process holds it ("DIR is in use by another colorkeras
            process (pid N)").
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(folder)
    with _HELD_GUARD:
        if key in _HELD:
            _HELD[key][1] += 1
        else:
            _HELD[key] = [_acquire(folder), 1]
    try:
        yield folder
    finally:
        with _HELD_GUARD:
            held = _HELD[key]
            held[1] -= 1
            if held[1] == 0:
                del _HELD[key]
                if held[0] >= 0:
                    os.close(held[0])  # releases the lock


def _acquire(folder: Path) -> int:
    """The descriptor of the locked lock file (-1 where locks do not exist)."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no locks to take
        return -1
    descriptor = os.open(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        owner = os.pread(descriptor, 32, 0).decode("ascii", "replace").strip()
        os.close(descriptor)
        raise FolderInUse(f"{folder} is in use by another colorkeras process "
                          f"(pid {owner if owner.isdigit() else 'unknown'})") from None
    except OSError as error:
        os.close(descriptor)
        if error.errno in _NO_LOCKS:
            return -1
        raise
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, f"{os.getpid()}\n".encode("ascii"), 0)
    return descriptor


# ------------------------------------------------------------------------------------
# What a command wrote into a folder
# ------------------------------------------------------------------------------------
# The hidden record of `WrittenFiles`, one per folder (colorize keeps its own, with the
# inputs: colorkeras.inference.manifest.MANIFEST_NAME).
RECORD_NAME = ".colorkeras-written.json"


class NotWrittenByUs(ColorkerasError):
    """A file where a command would write that it did not write (the user's, another
    command's, or one edited since); replaced only with --overwrite."""


def file_digest(path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_COPY_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class WrittenFiles:
    """The files one colorkeras command wrote into ``folder``, and nothing else to replace.

    The hidden ``RECORD_NAME`` record there maps each file name to the command that wrote
    it and the SHA-256 of what it wrote. A file at one of those names is the command's to
    replace while it still holds those bytes; any other file (the user's, another
    command's, one edited since) is replaced only with ``overwrite``. A write is atomic
    (`write_atomic`), and the record learns the new bytes' digest, read-modify-write under
    the folder's lock, just before the rename, so a kill at any moment leaves no file of
    the command's that it would take for someone else's. Use it inside
    ``folder_lock(folder)`` (`writing_into` does both), so no other colorkeras process
    writes there meanwhile.

    Args:
        folder: the output folder.
        command: the command's name as the CLI spells it ("report"), for the record and
            the messages.
        overwrite: also replace files the command did not write (``--overwrite``).
    """

    def __init__(self, folder, command: str, overwrite: bool = False) -> None:
        self.folder = Path(folder)
        self.command = command
        self.overwrite = overwrite
        self.path = self.folder / RECORD_NAME

    def _entries(self) -> dict:
        files = read_json_object(self.path).get("files")
        return files if isinstance(files, dict) else {}

    def _ours(self, name: str, entries: dict) -> bool:
        entry = entries.get(name)
        path = self.folder / name
        if not isinstance(entry, dict) or entry.get("command") != self.command:
            return False
        if path.is_symlink() or not path.is_file():
            return False
        return file_digest(path) in (entry.get("sha256") or [])

    def check(self, names) -> None:
        """Refuse, before anything is written, when a file among ``names`` is in the way
        and the command did not write it (unless ``overwrite``).

        Raises:
            NotWrittenByUs: naming the file(s) and --overwrite.
        """
        if self.overwrite:
            return
        entries = self._entries()
        foreign = [name for name in names
                   if ((self.folder / name).exists() or (self.folder / name).is_symlink())
                   and not self._ours(name, entries)]
        if not foreign:
            return
        first = self.folder / foreign[0]
        if len(foreign) == 1:
            raise NotWrittenByUs(f"{first} exists and was not written by colorkeras {self.command}; "
                                 "pass --overwrite to replace it, or choose another folder")
        others = ", ".join(foreign[1:])
        raise NotWrittenByUs(f"{first} and {len(foreign) - 1} other file(s) there ({others}) exist and were "
                             f"not written by colorkeras {self.command}; pass --overwrite to replace them, "
                             "or choose another folder")

    def write(self, name: str, write: Callable[[Path], None], fsync: bool = False) -> Path:
        """`write_atomic` of ``folder/name``, recorded as the command's (checked first)."""
        self.check([name])

        def record(tmp: Path) -> None:
            digest = file_digest(tmp)

            def change(document: dict) -> None:
                files = document.get("files") if isinstance(document.get("files"), dict) else {}
                # The file there now stays the command's until the new one replaces it.
                kept = [file_digest(self.folder / name)] if self._ours(name, files) else []
                files[name] = {"command": self.command, "sha256": [digest, *(d for d in kept if d != digest)]}
                document["about"] = "files written by colorkeras commands (each never replaces another's)"
                document["files"] = files

            update_json_object(self.path, change)

        return write_atomic(self.folder / name, write, fsync=fsync, before_replace=record)

    def write_text(self, name: str, text: str) -> Path:
        return self.write(name, lambda tmp: tmp.write_text(text, encoding="utf-8"))


@contextlib.contextmanager
def writing_into(folder, command: str, overwrite: bool = False) -> Iterator[WrittenFiles]:
    """``folder`` held (`folder_lock`, created if needed) while the block writes into it
    through the `WrittenFiles` it gets."""
    with folder_lock(folder):
        yield WrittenFiles(folder, command, overwrite)

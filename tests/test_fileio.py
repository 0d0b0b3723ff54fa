"""Tests for colorkeras.fileio: copy_stream_atomic, is_temporary_name, folder locks."""

from __future__ import annotations

import errno
import io
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from colorkeras import fileio
from colorkeras.fileio import AtomicWriteError, copy_stream_atomic, is_temporary_name, write_atomic


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_copy_stream_atomic_copies_with_the_usual_mode(tmp_path: Path) -> None:
    data = os.urandom(3 << 20)  # several chunks
    target = copy_stream_atomic(io.BytesIO(data), tmp_path / "a.jpg", size=len(data))
    assert target == tmp_path / "a.jpg" and target.read_bytes() == data
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0600
    assert _names(tmp_path) == ["a.jpg"]


def test_short_copy_raises_and_leaves_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"old")
    with pytest.raises(EOFError, match="expected 10 bytes"):
        copy_stream_atomic(io.BytesIO(b"12345"), tmp_path / "a.jpg", size=10)
    assert _names(tmp_path) == ["a.jpg"] and (tmp_path / "a.jpg").read_bytes() == b"old"


def test_read_errors_pass_unchanged_and_write_errors_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Broken(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise ConnectionResetError("peer went away")

    with pytest.raises(ConnectionResetError):
        copy_stream_atomic(Broken(), tmp_path / "a.jpg")

    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", full_disk)
    with pytest.raises(AtomicWriteError) as info:
        copy_stream_atomic(io.BytesIO(b"data"), tmp_path / "b.jpg")
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(tmp_path / "b.jpg")
    assert isinstance(info.value, OSError) and isinstance(info.value.cause, OSError)
    assert _names(tmp_path) == []


def test_temporary_names_are_recognised(tmp_path: Path) -> None:
    seen: list[str] = []

    def write(tmp: Path) -> None:
        seen.append(tmp.name)
        tmp.write_bytes(b"x")

    for name in ["sun_1.jpg", "model.keras", "archive.tar.gz", "README", ".hidden"]:
        write_atomic(tmp_path / name, write)
    assert len(seen) == 5 and all(is_temporary_name(name) for name in seen)
    for name in ["sun_1.jpg", ".sun_1.jpg", ".sun397-sun_1.jpg.abcd1234.part", ".x.tmp.jpg"]:
        assert not is_temporary_name(name)


# A process that takes a folder's lock, says so, and waits to be killed.
HOLD_LOCK = """
import sys, time
from colorkeras.fileio import folder_lock
with folder_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(600)
"""
REPO = Path(__file__).resolve().parents[1]


def hold_lock(folder: Path) -> subprocess.Popen:
    """A real second process holding ``folder``'s lock (returns once it holds it)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder)], stdout=subprocess.PIPE,
                              text=True, env=env)
    line = holder.stdout.readline().strip()
    holder.stdout.close()
    assert line == "held"
    return holder


def test_a_folder_lock_refuses_a_second_process_and_dies_with_its_holder(tmp_path: Path) -> None:
    from colorkeras.fileio import LOCK_NAME, FolderInUse, folder_lock

    folder = tmp_path / "out"
    holder = hold_lock(folder)
    try:
        message = f"{re.escape(str(folder))} is in use by another colorkeras process \\(pid {holder.pid}\\)"
        with pytest.raises(FolderInUse, match=message):
            with folder_lock(folder):
                pass
    finally:
        holder.kill()  # SIGKILL: no clean-up of any kind
        holder.wait()
    with folder_lock(folder):  # the kernel released the dead holder's lock
        with folder_lock(folder):  # the same process may take it again
            pass
        assert (folder / LOCK_NAME).read_text() == f"{os.getpid()}\n"
    assert _names(folder) == [LOCK_NAME]
    # Released when the block ends: another process takes it.
    again = hold_lock(folder)
    again.kill()
    again.wait()


def test_written_files_replace_only_their_own_and_survive_a_kill_between_record_and_rename(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from colorkeras.fileio import RECORD_NAME, NotWrittenByUs, WrittenFiles, writing_into

    (tmp_path / "theirs.md").write_text("mine")
    with writing_into(tmp_path, "report") as files:
        files.write_text("a.md", "one")
        files.write_text("a.md", "two")  # its own, unchanged: replaced
        with pytest.raises(NotWrittenByUs, match="theirs.md exists and was not written by colorkeras report"):
            files.write_text("theirs.md", "x")
        # Another command's file is not this one's either.
        with pytest.raises(NotWrittenByUs, match="a.md exists and was not written by colorkeras quality"):
            WrittenFiles(tmp_path, "quality").check(["a.md"])
        WrittenFiles(tmp_path, "quality").write_text("b.md", "b")
        assert sorted(json.loads((tmp_path / RECORD_NAME).read_text())["files"]) == ["a.md", "b.md"]

        # Killed after the record learned the new bytes, before the rename: the old file
        # is still the command's.
        real = os.replace

        def killed(source, target):
            if Path(target).name == "a.md":
                raise KeyboardInterrupt
            return real(source, target)

        with monkeypatch.context() as patch:
            patch.setattr(os, "replace", killed)
            with pytest.raises(KeyboardInterrupt):
                files.write_text("a.md", "three")
        assert (tmp_path / "a.md").read_text() == "two"
        files.write_text("a.md", "four")
        assert (tmp_path / "theirs.md").read_text() == "mine"
        WrittenFiles(tmp_path, "report", overwrite=True).write_text("theirs.md", "replaced")
    assert (tmp_path / "theirs.md").read_text() == "replaced"
    assert _names(tmp_path) == sorted([".colorkeras.lock", RECORD_NAME, "a.md", "b.md", "theirs.md"])

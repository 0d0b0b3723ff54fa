"""SUN397 urban-32: get the study's 32 urban classes without storing the 37 GB archive.

The study trained on 32 urban scene classes of SUN397 (list and expected image counts ship
as package data, ``sun397_urban32.csv``). The official archive is one 39 GB ``.tar.gz``;
only about 12% of its images belong to those classes, so :func:`fetch_urban32` reads the
archive as a stream and writes only the members of the chosen classes, as they pass.

Sources, in the order a user is likely to need them:

* the official URL (default): streamed over HTTP, never stored; a dropped connection is
  resumed with an HTTP range request where the server allows it;
* ``archive=PATH``: a local copy of ``SUN397.tar.gz`` (or the un-gzipped ``.tar``),
  streamed the same way;
* ``extracted=DIR``: an already unpacked SUN397.

Output layout: ``out_dir/<class name>/<original file name>``, one folder per class, which
is what ``colorkeras prepare`` reads. Beside the class folders, ``sun397_report.json``
records the source, the counts and every archive member that was skipped and why.

Safety: an archive is untrusted input. A destination path is never taken from the
archive; it is built from our own class name plus the member's base name, and checked
with ``os.path.realpath`` to lie inside ``out_dir``. Links, device files, FIFOs, absolute
names and names with ``..`` are skipped and reported, never extracted.

Interruptions: every image is written to a temporary file in its class folder and then
renamed (``os.replace``), so a file that exists is complete. A rerun skips files that are
already present with the right size, so a run that was cut off keeps its work and the
next run writes only what is missing.

The generic parts live elsewhere: streaming a tar(.gz) from a file or over resumable
HTTP, and telling unsafe members apart, in :mod:`colorkeras.data.streaming`; atomic writes in
:mod:`colorkeras.fileio`; the class list and the count check in
:mod:`colorkeras.data.sun397_classes` (its names are importable from here too).
"""

from __future__ import annotations

import datetime as _dt
import gzip
import http.client
import io
import json
import os
import stat
import tarfile
import urllib.error
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

from tqdm.auto import tqdm

from colorkeras.data.sun397_classes import (
    ClassCount,
    CountCheck,
    Sun397Error,
    UrbanClass,
    load_urban32,
    resolve_classes,
)
from colorkeras.fileio import AtomicWriteError, copy_stream_atomic, is_temporary_name
from colorkeras.images import IMAGE_EXTENSIONS
from colorkeras.data.streaming import (
    STREAM_ERRORS,
    CountingReader,
    NotAnArchive,
    Readable,
    describe_error,
    open_url,
    stream_tar,
)

__all__ = [
    "SUN397_URL",
    "SUN397_ARCHIVE_BYTES",
    "SUN397_PAGE",
    "REPORT_NAME",
    "UrbanClass",
    "ClassCount",
    "CountCheck",
    "Sun397Error",
    "load_urban32",
    "fetch_urban32",
]

SUN397_URL = "https://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz"
SUN397_ARCHIVE_BYTES = 39_077_296_924
# Where a user can download the archive by hand (named in error messages).
SUN397_PAGE = "https://vision.princeton.edu/projects/2010/SUN/"
REPORT_NAME = "sun397_report.json"

# SUN397 images are JPEGs; other image suffixes are accepted so that a re-packed archive
# works too. Anything else inside a class folder is reported and left out.

# Sent as User-Agent when streaming the archive.
_USER_AGENT = "colorkeras-sun397/1"
# Temporary files of earlier versions (".sun397-<name>.<hex>.part"); a rerun removes them
# from the class folders like the current ones (colorkeras.fileio.is_temporary_name).
_OLD_TMP_PREFIX = ".sun397-"
_OLD_TMP_SUFFIX = ".part"


def fetch_urban32(
    out_dir: str | os.PathLike[str],
    *,
    archive: str | os.PathLike[str] | None = None,
    extracted: str | os.PathLike[str] | None = None,
    url: str = SUN397_URL,
    classes: Iterable[UrbanClass | str] | None = None,
    progress: bool = True,
    timeout: float = 60,
    retries: int = 3,
    force: bool = False,
) -> CountCheck:
    """Put the images of the urban classes into ``out_dir/<class name>/``.

    Args:
        out_dir: output folder (created if needed). Images already there with the right
            size are kept, so rerunning after an interruption completes the rest.
        archive: a local ``SUN397.tar.gz`` (or ``.tar``) to stream instead of the URL.
        extracted: an unpacked SUN397: the folder that contains ``SUN397/``, or
            ``SUN397/`` itself (the one holding the letter folders ``a/``, ``b/``...).
        url: where to stream the archive from when neither ``archive`` nor ``extracted``
            is given.
        classes: the classes to fetch, as :class:`UrbanClass` objects or names from
            :func:`load_urban32`; default: all 32.
        progress: show a progress bar (bytes of the archive, or files when copying).
        timeout: seconds a network connect or read may stall before it counts as failed.
        retries: how many times a dropped download is resumed (HTTP range request)
            before giving up.
        force: fetch again even when an earlier complete fetch left every class with
            its expected count.

    Returns:
        A :class:`CountCheck`; print ``.to_text()`` to show what differs.

    Raises:
        Sun397Error: on every failure a user can act on (offline, cut-off stream, not an
            archive, unwritable output...). What was written before the failure stays.
    """
    if archive is not None and extracted is not None:
        raise Sun397Error("Give either an archive or an extracted folder, not both.")
    run = _Run(out_dir, resolve_classes(classes))
    if not force and _finished_before(run):
        # Every class already holds its expected count after a complete fetch: streaming
        # 39 GB again would only confirm it.
        run.source = "already complete (pass force=True to fetch again)"
        return run.write_report(complete=True, error=None)
    try:
        _read_source(run, archive, extracted, url, progress, timeout, retries)
    except BaseException as exc:
        # Record the partial state for the user (and for us when debugging a report
        # they send), but never let a failing report hide the real error.
        try:
            run.write_report(complete=False, error=str(exc) or type(exc).__name__)
        except (OSError, Sun397Error):
            pass
        raise
    return run.write_report(complete=True, error=None)


def _read_source(run: "_Run", archive, extracted, url: str, progress: bool, timeout: float, retries: int) -> None:
    """Fetch from the one source given: an extracted folder, a local archive, or the URL."""
    if extracted is not None:
        run.source = os.fspath(extracted)
        _copy_extracted(run, Path(extracted), progress)
    elif archive is not None:
        run.source = os.fspath(archive)
        _stream_local_archive(run, Path(archive), progress)
    else:
        run.source = url
        _stream_url(run, url, progress, timeout, retries)


# --------------------------------------------------------------------------------------
# The output folder
# --------------------------------------------------------------------------------------


def _finished_before(run: "_Run") -> bool:
    """An earlier fetch completed and every chosen class holds its expected count."""
    try:
        with open(os.path.join(run.root, REPORT_NAME), encoding="utf-8") as handle:
            previous = json.load(handle)
    except (OSError, ValueError):
        return False
    if not previous.get("complete"):
        return False
    return all(row.found == row.expected for row in run.present_counts())


def _inside(path: str, root: str) -> bool:
    """Whether ``path`` is ``root`` or below it (both already resolved)."""
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives on Windows
        return False


def _is_image_name(name: str) -> bool:
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


class _Run:
    """The state of one fetch: output folders, counters, skipped items, the report."""

    def __init__(self, out_dir: str | os.PathLike[str], classes: list[UrbanClass]) -> None:
        self.classes = classes
        self.by_path = {c.sun397_path: c for c in classes}
        self.written = 0
        self.already_present = 0
        self.skipped: list[tuple[str, str]] = []
        self.source = ""
        out = os.path.abspath(os.fspath(out_dir))
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as exc:
            raise Sun397Error(f"Cannot create the output folder {out}: {exc}") from exc
        if not os.path.isdir(out):
            raise Sun397Error(f"The output path {out} exists and is not a folder.")
        self.out = out
        self.root = os.path.realpath(out)
        # Class folders are checked now (a planted link fails before any download) but
        # created only when their first image arrives: a run that fails at once, or a
        # class the source lacks, leaves no empty folder for `prepare` to trip over.
        self.class_dirs = {cls.name: os.path.join(self.root, cls.name) for cls in classes}
        self._created: set[str] = set()
        for cls in classes:
            if os.path.lexists(self.class_dirs[cls.name]):
                self._class_dir(cls)
                self._remove_stale_temporaries(self.class_dirs[cls.name])

    def _class_dir(self, cls: UrbanClass) -> str:
        """The class folder, created if needed and verified to lie inside the output."""
        class_dir = self.class_dirs[cls.name]
        if cls.name in self._created:
            return class_dir
        try:
            os.makedirs(class_dir, exist_ok=True)
        except OSError as exc:
            raise Sun397Error(f"Cannot create {class_dir}: {exc}") from exc
        # A pre-existing link named like a class could point anywhere; refuse it.
        real = os.path.realpath(class_dir)
        if real != class_dir or not os.path.isdir(real):
            raise Sun397Error(
                f"{class_dir} is a link that leads outside {self.root}, or not a folder; "
                "remove it and rerun."
            )
        self._created.add(cls.name)
        return class_dir

    @staticmethod
    def _remove_stale_temporaries(class_dir: str) -> None:
        # Leftovers of a killed run are incomplete by definition; `prepare` would
        # otherwise report them as unreadable images.
        with os.scandir(class_dir) as entries:
            for entry in entries:
                name = entry.name
                old = name.startswith(_OLD_TMP_PREFIX) and name.endswith(_OLD_TMP_SUFFIX)
                if old or is_temporary_name(name):
                    try:
                        os.unlink(entry.path)
                    except OSError:
                        pass

    def skip(self, item: str, reason: str) -> None:
        self.skipped.append((item, reason))

    def store(
        self,
        cls: UrbanClass,
        basename: str,
        size: int,
        open_source: Callable[[], IO[bytes]],
        item: str,
    ) -> None:
        """Write one image atomically unless a complete copy is already there."""
        # The destination comes from our class name and the base name only; the
        # realpath check also catches a planted link at the destination.
        dest = os.path.join(self._class_dir(cls), basename)
        if not _inside(os.path.realpath(dest), self.root):
            self.skip(item, "its destination would lie outside the output folder")
            return
        try:
            st = os.lstat(dest)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            raise Sun397Error(f"Cannot inspect {dest}: {exc}") from exc
        if st is not None and stat.S_ISREG(st.st_mode) and st.st_size == size:
            self.already_present += 1
            return
        source = open_source()
        try:
            _save(source, dest, size)
        finally:
            source.close()
        self.written += 1

    def present_counts(self) -> list[ClassCount]:
        rows = []
        for cls in self.classes:
            found = 0
            try:
                with os.scandir(self.class_dirs[cls.name]) as entries:
                    for entry in entries:
                        if _is_image_name(entry.name) and entry.is_file(follow_symlinks=False):
                            found += 1
            except OSError:  # no folder yet: nothing of this class arrived
                found = 0
            rows.append(ClassCount(cls.name, cls.expected_images, found))
        return rows

    def kept_summary(self) -> str:
        total = sum(row.found for row in self.present_counts())
        return (
            f"{total:,} images of the chosen classes are in {self.out} "
            f"({self.written:,} written by this run); they are complete and are kept."
        )

    def write_report(self, *, complete: bool, error: str | None) -> CountCheck:
        rows = self.present_counts()
        report_path = os.path.join(self.root, REPORT_NAME)
        check = CountCheck(
            per_class=rows,
            skipped=list(self.skipped),
            written=self.written,
            already_present=self.already_present,
            source=self.source,
            report_path=report_path,
        )
        report = {
            "source": self.source,
            "complete": complete,
            "error": error,
            "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "written": self.written,
            "already_present": self.already_present,
            "counts_match": check.matches,
            "classes": [
                {
                    "name": cls.name,
                    "sun397_path": cls.sun397_path,
                    "expected": row.expected,
                    "found": row.found,
                }
                for cls, row in zip(self.classes, rows)
            ],
            "skipped": [{"item": item, "reason": reason} for item, reason in self.skipped],
        }
        data = (json.dumps(report, indent=2) + "\n").encode("utf-8")
        _save(io.BytesIO(data), report_path, len(data))
        return check

    def extract_tar(self, reader: Readable, bar: tqdm) -> None:
        """Write the chosen classes' images out of a tar(.gz) stream, reading it once.

        Raises what :func:`colorkeras.data.streaming.stream_tar` raises on a broken stream;
        the callers turn that into a message that fits their source.
        """

        def on_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
            _consider_member(self, tar, member)
            bar.set_postfix_str(f"{self.written + self.already_present:,} images", refresh=False)

        stream_tar(reader, on_member, on_unsafe=lambda member, why: self.skip(member.name, why))


def _save(source: IO[bytes], dest: str, size: int) -> None:
    """Copy ``source`` to ``dest`` atomically: a file that exists is complete.

    Errors reading ``source`` propagate unchanged (the caller knows what they mean), as
    does the EOFError of a short copy; errors writing become :class:`Sun397Error`.
    """
    try:
        copy_stream_atomic(source, dest, size)
    except AtomicWriteError as exc:
        raise Sun397Error(
            f"Cannot write {dest}: {exc.cause}. Free some space or choose another output "
            "folder, then rerun: complete images are kept."
        ) from exc


# --------------------------------------------------------------------------------------
# Archive members, and an archive from a file (streaming: colorkeras.data.streaming)
# --------------------------------------------------------------------------------------


def _consider_member(run: _Run, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
    """Store ``member`` if it is an image directly in a chosen class folder (it is safe)."""
    if member.isdir():
        return
    parts = [p for p in member.name.split("/") if p not in ("", ".")]
    if parts and parts[0] == "SUN397":
        parts = parts[1:]
    if len(parts) < 2:
        return
    # Exact folder match: /b/balcony/exterior takes only files directly in it, never
    # files of a deeper folder or of a sibling class such as /c/canal/natural.
    cls = run.by_path.get("/" + "/".join(parts[:-1]))
    if cls is None:
        return
    basename = parts[-1]
    if not _is_image_name(basename):
        run.skip(member.name, "not an image file")
        return

    def open_source() -> IO[bytes]:
        source = tar.extractfile(member)
        assert source is not None  # regular files always have data
        return source

    run.store(cls, basename, member.size, open_source, member.name)


def _progress_bar(total: int | None, desc: str, progress: bool) -> tqdm:
    return tqdm(
        total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, disable=not progress
    )


def _stream_local_archive(run: _Run, path: Path, progress: bool) -> None:
    try:
        size = path.stat().st_size
        raw = open(path, "rb")
    except FileNotFoundError:
        raise Sun397Error(
            f"The archive {path} does not exist. Download SUN397.tar.gz from {SUN397_PAGE} "
            "or leave out --archive to stream it."
        ) from None
    except OSError as exc:
        raise Sun397Error(f"Cannot read the archive {path}: {exc}") from exc
    with raw, _progress_bar(size, "SUN397 archive", progress) as bar:
        reader = CountingReader(raw, bar.update)
        try:
            run.extract_tar(reader, bar)
        except (gzip.BadGzipFile, NotAnArchive) as exc:
            raise Sun397Error(
                f"{path} is not a valid SUN397 .tar.gz ({describe_error(exc)}). "
                f"{run.kept_summary()} Download SUN397.tar.gz again from {SUN397_PAGE}."
            ) from exc
        except STREAM_ERRORS as exc:
            hint = ""
            if size < SUN397_ARCHIVE_BYTES and path.name == "SUN397.tar.gz":
                hint = (
                    f" The file has {size:,} bytes; the complete archive has "
                    f"{SUN397_ARCHIVE_BYTES:,}: the download is probably incomplete."
                )
            raise Sun397Error(
                f"The archive {path} is truncated or damaged: reading stopped at byte "
                f"{reader.position:,} of {size:,} ({describe_error(exc)}).{hint} "
                f"{run.kept_summary()} Complete or repeat the download (e.g. `wget -c "
                f"{SUN397_URL}`), then run the same command again: images already "
                "present are skipped."
            ) from exc


# --------------------------------------------------------------------------------------
# Archive from a URL
# --------------------------------------------------------------------------------------


def _offline_advice() -> str:
    return (
        f"Download SUN397.tar.gz (39 GB) from {SUN397_PAGE} where there is internet "
        "access, then run `colorkeras sun397 OUT --archive SUN397.tar.gz`, or unpack it "
        "and run `colorkeras sun397 OUT --extracted DIR`."
    )


def _stream_url(run: _Run, url: str, progress: bool, timeout: float, retries: int) -> None:
    try:
        source = open_url(url, timeout, retries, user_agent=_USER_AGENT)
    except urllib.error.HTTPError as exc:
        raise Sun397Error(
            f"The server at {url} answered HTTP {exc.code} {exc.reason}. "
            f"The archive may have moved: check {SUN397_PAGE}. {_offline_advice()}"
        ) from exc
    except ValueError as exc:  # urllib's "unknown url type"
        raise Sun397Error(f"{url!r} is not a valid URL ({exc}).") from exc
    except (OSError, http.client.HTTPException) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise Sun397Error(
            f"Could not reach {url} ({reason}). This command streams the SUN397 archive "
            f"from the internet. {_offline_advice()}"
        ) from exc
    with source, _progress_bar(source.total, "SUN397 download", progress) as bar:
        reader = CountingReader(source, bar.update)
        try:
            run.extract_tar(reader, bar)
        except (gzip.BadGzipFile, NotAnArchive) as exc:
            raise Sun397Error(
                f"What {url} sends is not a gzip-compressed tar archive ({describe_error(exc)}); "
                f"a proxy or login page may be in the way. {_offline_advice()}"
            ) from exc
        except STREAM_ERRORS as exc:
            total = f" of {source.total:,}" if source.total else ""
            raise Sun397Error(
                f"The download from {url} stopped early, after {source.position:,}{total} "
                f"bytes ({describe_error(exc)}). {run.kept_summary()} Run the same command "
                "again to complete the rest: images already present are skipped (the "
                "archive is read from its start again, without storing it). If the "
                "connection keeps failing, download the archive with a tool that resumes "
                f"(`wget -c {url}`) and use --archive."
            ) from exc


# --------------------------------------------------------------------------------------
# Extracted SUN397 folder
# --------------------------------------------------------------------------------------


def _find_sun397_root(base: Path, classes: list[UrbanClass]) -> Path:
    if not base.is_dir():
        raise Sun397Error(f"The folder {base} does not exist.")
    # Accept both the folder that contains SUN397/ and SUN397/ itself (letter folders).
    for root in (base / "SUN397", base):
        if any((root / cls.sun397_path.lstrip("/")).is_dir() for cls in classes):
            return root
    example = classes[0].sun397_path.lstrip("/")
    raise Sun397Error(
        f"No SUN397 class folder found under {base} (looked for {base / 'SUN397' / example} "
        f"and {base / example}). Give the folder that contains SUN397/, or SUN397/ itself."
    )


def _copy_extracted(run: _Run, base: Path, progress: bool) -> None:
    root = _find_sun397_root(base, list(run.classes))
    plan: list[tuple[UrbanClass, os.DirEntry[str]]] = []
    for cls in run.classes:
        src_dir = root / cls.sun397_path.lstrip("/")
        if not src_dir.is_dir():
            run.skip(str(src_dir), "class folder missing in the source")
            continue
        try:
            with os.scandir(src_dir) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            raise Sun397Error(f"Cannot list {src_dir}: {exc}") from exc
        for entry in entries:
            # Only files directly in the class folder; sub-folders belong to other
            # classes (or to nothing), and links could lead anywhere.
            if entry.is_symlink():
                run.skip(entry.path, "symbolic link")
            elif entry.is_dir(follow_symlinks=False):
                continue
            elif not entry.is_file(follow_symlinks=False):
                run.skip(entry.path, "not a regular file")
            elif not _is_image_name(entry.name):
                run.skip(entry.path, "not an image file")
            else:
                plan.append((cls, entry))
    with tqdm(total=len(plan), unit="img", desc="SUN397 copy", disable=not progress) as bar:
        for cls, entry in plan:
            try:
                size = entry.stat(follow_symlinks=False).st_size
            except OSError as exc:
                run.skip(entry.path, f"cannot read: {exc}")
                bar.update(1)
                continue

            def open_source(path: str = entry.path) -> IO[bytes]:
                # O_NOFOLLOW: the entry was a regular file when listed; refuse it if it
                # has been swapped for a link since.
                flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
                fd = os.open(path, flags)
                return os.fdopen(fd, "rb")

            try:
                run.store(cls, entry.name, size, open_source, entry.path)
            except (OSError, EOFError) as exc:
                # A source file that cannot be read is reported; the rest is copied.
                run.skip(entry.path, f"cannot read: {describe_error(exc)}")
            bar.update(1)

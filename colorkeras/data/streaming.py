"""Read a large tar(.gz) archive once, front to back, without storing it.

This is for taking a few files out of a big archive (a dataset of tens of GB) that lives
on a web server or on disk, while never writing the archive itself anywhere:

* :func:`open_url` opens an HTTP download as a file-like ``read()`` that survives dropped
  connections: it asks the server for the remaining bytes (``Range: bytes=N-``) and goes
  on, so gzip and tar state in memory stay valid and hours of download are not lost.
* :class:`CountingReader` wraps any reader to count bytes (for progress bars and for
  saying where a stream broke).
* :func:`stream_tar` walks a tar or tar.gz stream member by member and hands each safe
  member to a callback, which may read its bytes; members that must never be extracted
  are reported instead (:func:`unsafe_member_reason` says why).
* :data:`STREAM_ERRORS` lists what a broken stream raises; :func:`describe_error` makes a
  short text of it.

Nothing here knows what an archive holds or where its files should go: callers decide
which members to keep, build destination paths themselves and write them (for instance
with :func:`colorkeras.fileio.copy_stream_atomic`).
"""

from __future__ import annotations

import gzip
import http.client
import re
import tarfile
import time
import urllib.request
import zlib
from collections.abc import Callable
from typing import IO, Protocol

__all__ = [
    "STREAM_ERRORS",
    "CannotResume",
    "NotAnArchive",
    "HTTPSource",
    "CountingReader",
    "Readable",
    "open_url",
    "unsafe_member_reason",
    "stream_tar",
    "describe_error",
]

# What reading a broken or cut-off stream can raise: gzip (EOFError, BadGzipFile, which
# is an OSError), zlib, tarfile, the network.
STREAM_ERRORS = (EOFError, tarfile.TarError, zlib.error, OSError, http.client.HTTPException)

# Pauses before the 1st, 2nd, 3rd... attempt to resume a dropped download.
_RETRY_DELAYS_S = (0.5, 2.0, 8.0, 20.0, 30.0)
_CHUNK = 1 << 20


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class CannotResume(OSError):
    """The server does not answer a range request with the bytes we asked for."""


class NotAnArchive(tarfile.ReadError):
    """The stream holds neither a tar nor a tar.gz archive."""


def describe_error(exc: BaseException) -> str:
    """``"TypeName: message"``, or just the type name when the message is empty."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------


class HTTPSource:
    """A file-like ``read()`` over an HTTP download that resumes after a dropped connection.

    Opening it connects (and raises what ``urllib.request.urlopen`` raises: HTTPError,
    URLError, ValueError for a bad URL). ``read`` raises OSError once the connection
    broke and could not be resumed: the server ignores range requests
    (:class:`CannotResume` in the message), or ``retries`` attempts in a row failed.

    Attributes:
        position: bytes delivered so far.
        total: the Content-Length of the download, or None when the server gave none.
        resumed: how many times the download was resumed.
    """

    def __init__(
        self, url: str, timeout: float, retries: int, user_agent: str = "colorkeras/1"
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.user_agent = user_agent
        self.position = 0
        self.total: int | None = None
        self.resumed = 0
        self._failures = 0
        self._response = self._open(0)

    def _open(self, offset: int) -> http.client.HTTPResponse:
        # Some servers refuse urllib's default User-Agent; name ourselves instead.
        headers = {"User-Agent": self.user_agent}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        request = urllib.request.Request(self.url, headers=headers)
        response = urllib.request.urlopen(request, timeout=self.timeout)
        if offset:
            content_range = response.headers.get("Content-Range", "")
            if response.status != 206 or not content_range.startswith(f"bytes {offset}-"):
                response.close()
                raise CannotResume(
                    f"the server does not support resuming (HTTP {response.status} to a "
                    "range request)"
                )
        else:
            length = response.headers.get("Content-Length")
            self.total = int(length) if length and length.isdigit() else None
        return response

    def read(self, size: int = -1) -> bytes:
        while True:
            error: BaseException | None = None
            try:
                data = self._response.read(size)
            except (OSError, http.client.HTTPException) as exc:
                data, error = b"", exc
            if data:
                self.position += len(data)
                self._failures = 0
                return data
            if error is None and (self.total is None or self.position >= self.total):
                return b""  # the real end of the download
            # The connection broke (an error, or fewer bytes than Content-Length).
            cause = describe_error(error) if error else "the connection closed early"
            self._resume(cause)

    def _resume(self, cause: str) -> None:
        where = f"after {self.position:,}" + (f" of {self.total:,}" if self.total else "")
        while self._failures < self.retries:
            delay = _RETRY_DELAYS_S[min(self._failures, len(_RETRY_DELAYS_S) - 1)]
            self._failures += 1
            time.sleep(delay)
            try:
                self._response.close()
                self._response = self._open(self.position)
                self.resumed += 1
                return
            except CannotResume as exc:
                raise OSError(f"download broke {where} bytes ({cause}); {exc}") from None
            except (OSError, http.client.HTTPException, ValueError) as exc:
                cause = describe_error(exc)
        raise OSError(
            f"download broke {where} bytes and {self.retries} attempt(s) to resume failed "
            f"(last: {cause})"
        )

    def close(self) -> None:
        self._response.close()

    def __enter__(self) -> HTTPSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def open_url(
    url: str, timeout: float = 60, retries: int = 3, *, user_agent: str = "colorkeras/1"
) -> HTTPSource:
    """Start downloading ``url``; see :class:`HTTPSource`.

    Args:
        url: what to download.
        timeout: seconds a connect or a read may stall before it counts as failed.
        retries: resume attempts allowed in a row without receiving any data.
        user_agent: the User-Agent header sent.
    """
    return HTTPSource(url, timeout, retries, user_agent)


# --------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------


class CountingReader:
    """A read-only wrapper that counts the bytes read (``position``).

    Args:
        raw: the reader to wrap.
        on_read: called with the number of bytes of every read, e.g. a progress bar's
            ``update``.
    """

    def __init__(self, raw: Readable, on_read: Callable[[int], object] | None = None) -> None:
        self._raw = raw
        self._on_read = on_read
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.position += len(data)
        if self._on_read is not None:
            self._on_read(len(data))
        return data


class _Prepend:
    """A reader that returns ``head`` before the rest of ``raw`` (for format sniffing)."""

    def __init__(self, head: bytes, raw: Readable) -> None:
        self._head = head
        self._raw = raw

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._raw.read(size)
        if size is None or size < 0:
            data, self._head = self._head + self._raw.read(), b""
            return data
        data, self._head = self._head[:size], self._head[size:]
        return data


# --------------------------------------------------------------------------------------
# Tar
# --------------------------------------------------------------------------------------


def unsafe_member_reason(member: tarfile.TarInfo) -> str | None:
    """Why a member must not be extracted, or None when it is a plain file or folder.

    Unsafe: absolute names (``/x``, ``\\x``, ``C:x``), names with a ``..`` component,
    backslashes or NUL in the name, symbolic and hard links, devices, FIFOs and any other
    type that is neither a regular file nor a folder.
    """
    name = member.name
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        return "absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "path with '..'"
    if "\\" in name or "\x00" in name:
        return "unsafe characters in the name"
    if member.issym():
        return f"symbolic link (to {member.linkname!r})"
    if member.islnk():
        return f"hard link (to {member.linkname!r})"
    if member.ischr() or member.isblk():
        return "device file"
    if member.isfifo():
        return "FIFO"
    if not (member.isreg() or member.isdir()):
        return "not a regular file"
    return None


def stream_tar(
    source: Readable,
    on_member: Callable[[tarfile.TarFile, tarfile.TarInfo], None],
    on_unsafe: Callable[[tarfile.TarInfo, str], None] | None = None,
) -> None:
    """Read a tar or tar.gz stream once and hand every safe member to ``on_member``.

    The format is recognised from the first bytes (gzip or not). ``on_member(tar,
    member)`` is called for each regular file and folder, in archive order; it may read a
    regular file with ``tar.extractfile(member)``, but only during the call (the stream
    moves on afterwards). Members for which :func:`unsafe_member_reason` gives a reason go
    to ``on_unsafe(member, reason)`` instead, or are left out when it is None. Memory
    stays flat however many members the archive has.

    Raises:
        NotAnArchive: the (decompressed) data does not start like a tar archive.
        EOFError: the stream is empty or ends early (anywhere, trailer included).
        gzip.BadGzipFile: broken gzip data or CRC.
        Any other error of :data:`STREAM_ERRORS` the source or tarfile raise; the caller
        turns them into a message that fits its source.
    """
    head = b""
    while len(head) < 2:
        more = source.read(2 - len(head))
        if not more:
            break
        head += more
    if not head:
        raise EOFError("the archive is empty")
    src = _Prepend(head, source)
    # gzip.GzipFile instead of tarfile's "r|gz": tarfile's own stream decompressor
    # silently stops at a cut that happens to fall between two members, and never
    # checks the CRC. GzipFile raises EOFError on any cut and verifies the trailer.
    payload: IO[bytes] | _Prepend
    payload = gzip.GzipFile(fileobj=src, mode="rb") if head == b"\x1f\x8b" else src
    try:
        tar = tarfile.open(fileobj=payload, mode="r|")  # type: ignore[call-overload]
    except tarfile.ReadError as exc:
        # A cut inside the first header surfaces as EOFError from gzip; a ReadError
        # here means the (decompressed) data does not start like a tar archive.
        raise NotAnArchive(f"no tar header at the start ({exc})") from exc
    with tar:
        while True:
            member = tar.next()
            if member is None:
                break
            # Stream mode keeps every TarInfo read so far; we never look back, so drop
            # them to keep memory flat on archives with 100k+ members.
            tar.members = []
            reason = unsafe_member_reason(member)
            if reason is None:
                on_member(tar, member)
            elif on_unsafe is not None:
                on_unsafe(member, reason)
    # Read the rest (tar padding and the gzip trailer) so that the CRC is checked and a
    # cut in the last bytes is still noticed.
    while payload.read(_CHUNK):
        pass

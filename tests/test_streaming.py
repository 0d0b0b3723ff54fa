"""Tests for colorkeras.data.streaming: unsafe tar members, walking a tar(.gz) stream, and an
HTTP download that resumes with a range request after the server drops the connection.

The HTTP server here (fixture ``server``) runs on 127.0.0.1 in a thread; the SUN397
tests use it too.
"""

from __future__ import annotations

import gzip
import http.server
import io
import os
import re
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from colorkeras.data.streaming import (
    CountingReader,
    NotAnArchive,
    describe_error,
    open_url,
    stream_tar,
    unsafe_member_reason,
)

@dataclass
class Server:
    """A local HTTP server for archive bytes.

    Args:
        base: its base URL.
        files: URL path -> body.
        drop_after: URL path -> bytes to send before closing the connection (once).
        ranges: whether range requests are answered with 206.
        requests: (path, Range header) of every request, for assertions.
    """

    base: str
    files: dict[str, bytes] = field(default_factory=dict)
    drop_after: dict[str, int] = field(default_factory=dict)
    ranges: bool = True
    requests: list[tuple[str, str | None]] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(base="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server API)
            rng = self.headers.get("Range")
            state.requests.append((self.path, rng))
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", rng or "")
            if match and state.ranges:
                start = int(match.group(1))
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(body) - start))
            self.send_header("Content-Type", "application/gzip")
            self.end_headers()
            drop = state.drop_after.pop(self.path, None)
            payload = body[start:] if drop is None else body[start : start + drop]
            try:
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up; nothing to do

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # keep pytest output clean

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------------------


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


@pytest.mark.parametrize(
    ("name", "kind", "reason"),
    [
        ("../escape.jpg", tarfile.REGTYPE, "path with '..'"),
        ("data/a/../../../escape.jpg", tarfile.REGTYPE, "path with '..'"),
        ("/etc/passwd", tarfile.REGTYPE, "absolute path"),
        ("\\windows\\x.jpg", tarfile.REGTYPE, "absolute path"),
        ("C:x.jpg", tarfile.REGTYPE, "absolute path"),
        ("data\\x.jpg", tarfile.REGTYPE, "unsafe characters in the name"),
        ("data/link.jpg", tarfile.SYMTYPE, "symbolic link (to '/etc/passwd')"),
        ("data/hard.jpg", tarfile.LNKTYPE, "hard link (to '/etc/passwd')"),
        ("data/dev", tarfile.CHRTYPE, "device file"),
        ("data/disk", tarfile.BLKTYPE, "device file"),
        ("data/pipe", tarfile.FIFOTYPE, "FIFO"),
        ("data/volume", b"V", "not a regular file"),  # GNU volume header
    ],
)
def test_unsafe_members_are_named(name: str, kind: bytes, reason: str) -> None:
    assert unsafe_member_reason(_member(name, kind, "/etc/passwd")) == reason


@pytest.mark.parametrize(
    ("name", "kind"),
    [("data/a/x.jpg", tarfile.REGTYPE), ("data/a", tarfile.DIRTYPE), ("x..y.jpg", tarfile.REGTYPE)],
)
def test_plain_files_and_folders_are_safe(name: str, kind: bytes) -> None:
    assert unsafe_member_reason(_member(name, kind)) is None


def _tar_bytes(compress: bool) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz" if compress else "w") as tar:
        tar.addfile(_member("data", tarfile.DIRTYPE))
        for name, data in [("data/a.bin", b"A" * 5000), ("../up.bin", b"evil")]:
            info = _member(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        tar.addfile(_member("data/link", tarfile.SYMTYPE, "/etc/passwd"))
        info = _member("data/b.bin")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bbb"))
    return buf.getvalue()


def _walk(data: bytes, with_unsafe: bool = True) -> tuple[dict[str, bytes | None], list]:
    seen: dict[str, bytes | None] = {}
    unsafe: list[tuple[str, str]] = []

    def on_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        handle = tar.extractfile(member) if member.isreg() else None
        seen[member.name] = handle.read() if handle else None

    stream_tar(
        io.BytesIO(data),
        on_member,
        (lambda m, why: unsafe.append((m.name, why))) if with_unsafe else None,
    )
    return seen, unsafe


@pytest.mark.parametrize("compress", [True, False])
def test_stream_tar_hands_over_safe_members_and_reports_unsafe_ones(compress: bool) -> None:
    seen, unsafe = _walk(_tar_bytes(compress))
    assert seen == {"data": None, "data/a.bin": b"A" * 5000, "data/b.bin": b"bbb"}
    assert unsafe == [
        ("../up.bin", "path with '..'"),
        ("data/link", "symbolic link (to '/etc/passwd')"),
    ]
    # Without on_unsafe, unsafe members are simply left out.
    assert _walk(_tar_bytes(compress), with_unsafe=False) == (seen, [])


def test_stream_tar_broken_streams() -> None:
    with pytest.raises(NotAnArchive):
        _walk(b"<html>please log in</html>" * 40)
    with pytest.raises(EOFError, match="empty"):
        _walk(b"")
    data = _tar_bytes(compress=True)
    # A cut anywhere, even in the gzip trailer, is noticed.
    for cut in (len(data) // 2, len(data) - 4):
        with pytest.raises(EOFError):
            _walk(data[:cut])
    with pytest.raises(gzip.BadGzipFile):
        _walk(b"\x1f\x8b" + os.urandom(200))


def test_counting_reader() -> None:
    reads: list[int] = []
    reader = CountingReader(io.BytesIO(b"x" * 10), reads.append)
    assert reader.read(4) == b"xxxx" and reader.read() == b"x" * 6 and reader.read() == b""
    assert reader.position == 10 and reads == [4, 6, 0]


def test_describe_error() -> None:
    assert describe_error(EOFError()) == "EOFError"
    assert describe_error(OSError("boom")) == "OSError: boom"


def test_dropped_connection_is_resumed_with_exact_bytes(server: Server) -> None:
    body = os.urandom(300_000)
    server.files["/big.bin"] = body
    server.drop_after["/big.bin"] = 123_457
    with open_url(server.base + "/big.bin", timeout=5, retries=2, user_agent="test/1") as source:
        assert source.total == len(body)
        chunks = []
        while chunk := source.read(10_000):
            chunks.append(chunk)
    assert b"".join(chunks) == body
    assert source.resumed == 1 and source.position == len(body)
    assert server.requests == [("/big.bin", None), ("/big.bin", "bytes=123457-")]


def test_dropped_connection_without_range_support(server: Server) -> None:
    server.ranges = False
    server.files["/big.bin"] = b"z" * 50_000
    server.drop_after["/big.bin"] = 20_000
    with open_url(server.base + "/big.bin", timeout=5, retries=2) as source:
        assert source.read(20_000) == b"z" * 20_000
        expected = "after 20,000 of 50,000 bytes.*does not support resuming"
        with pytest.raises(OSError, match=expected):
            source.read(10_000)

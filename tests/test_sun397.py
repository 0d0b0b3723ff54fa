"""Tests for colorkeras.data.sun397: streaming urban-32 out of a SUN397-shaped archive.

Everything is real: tiny JPEGs written with Pillow, a tar.gz built in tmp_path in the
SUN397 layout (with malicious members), and an HTTP server on 127.0.0.1 in a thread.
"""

from __future__ import annotations

import errno
import io
import json
import os
import random
import re
import socket
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from PIL import Image

from colorkeras.data.sun397 import (
    REPORT_NAME,
    CountCheck,
    Sun397Error,
    UrbanClass,
    fetch_urban32,
    load_urban32,
)
from tests.test_streaming import Server, server  # noqa: F401 (the local HTTP server fixture)

# Urban classes of the fixture archive (real names and paths from the urban-32 list),
# including nested paths whose siblings are NOT urban classes.
ALLEY = UrbanClass("/a/alley", "alley", 3)
BALCONY = UrbanClass("/b/balcony/exterior", "balcony_exterior", 2)
CANAL = UrbanClass("/c/canal/urban", "canal_urban", 3)
SUBSET = [ALLEY, BALCONY, CANAL]

# (archive folder below SUN397/, file names). Order matters for the truncation test:
# alley comes first, canal_urban last.
URBAN_FILES = {
    ALLEY: ["sun_alley1.jpg", "sun_alley2.jpg", "sun_alley3.jpg"],
    BALCONY: ["sun_balc1.jpg", "sun_balc2.jpg"],
    CANAL: ["sun_canal1.jpg", "sun_canal2.jpg", "sun_canal3.jpg"],
}
# Files that must never be extracted: non-urban classes, siblings of nested urban
# classes, and a folder below an urban class.
OTHER_FILES = {
    "/a/abbey": ["sun_abbey1.jpg"],
    "/b/balcony/interior": ["sun_balcin1.jpg"],
    "/c/canal/natural": ["sun_canalnat1.jpg"],
    "/a/alley/deeper": ["sun_deep1.jpg"],
}


def _jpeg(seed: int, size: int = 40) -> bytes:
    # Random pixels: incompressible, so byte offsets in the .tar.gz follow member order
    # closely and a cut at 70% reliably falls after the first classes.
    rng = random.Random(seed)
    img = Image.frombytes("RGB", (size, size), rng.randbytes(size * size * 3))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _expected_files() -> set[str]:
    return {f"{cls.name}/{name}" for cls, names in URBAN_FILES.items() for name in names}


def _add_file(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def _add_special(tar: tarfile.TarFile, name: str, kind: bytes, linkname: str = "") -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    tar.addfile(info)


@dataclass
class Fixture:
    """The fixture archive and what it contains.

    Args:
        archive: path of the .tar.gz.
        data: its bytes.
        escape_targets: paths that an unsafe extraction would create.
    """

    archive: Path
    data: bytes
    escape_targets: list[Path] = field(default_factory=list)


def _build_archive(tmp_path: Path) -> Fixture:
    tmp_path.mkdir(parents=True, exist_ok=True)
    archive = tmp_path / "SUN397.tar.gz"
    abs_target = tmp_path / "abs_escape.jpg"
    seed = 0
    with tarfile.open(archive, "w:gz") as tar:
        _add_special(tar, "SUN397", tarfile.DIRTYPE)
        for cls, names in URBAN_FILES.items():
            _add_special(tar, "SUN397" + cls.sun397_path, tarfile.DIRTYPE)
            for name in names:
                seed += 1
                _add_file(tar, f"SUN397{cls.sun397_path}/{name}", _jpeg(seed, 64))
            if cls is ALLEY:
                # Malicious members next to real images of an urban class.
                _add_file(tar, "SUN397/a/alley/../../../escape.jpg", _jpeg(100))
                _add_file(tar, str(abs_target), _jpeg(101))
                _add_special(tar, "SUN397/a/alley/link.jpg", tarfile.SYMTYPE, "/etc/passwd")
                _add_special(
                    tar, "SUN397/a/alley/hard.jpg", tarfile.LNKTYPE, "SUN397/a/alley/sun_alley1.jpg"
                )
                _add_special(tar, "SUN397/a/alley/pipe.jpg", tarfile.FIFOTYPE)
                _add_special(tar, "SUN397/a/alley/dev.jpg", tarfile.CHRTYPE)
                _add_file(tar, "SUN397/a/alley/notes.txt", b"not an image")
        for folder, names in OTHER_FILES.items():
            for name in names:
                seed += 1
                _add_file(tar, f"SUN397{folder}/{name}", _jpeg(seed))
    return Fixture(
        archive=archive,
        data=archive.read_bytes(),
        escape_targets=[tmp_path.parent / "escape.jpg", tmp_path / "escape.jpg", abs_target],
    )


def _build_extracted(root: Path) -> Path:
    """An unpacked SUN397 under ``root/SUN397`` (same content as the archive)."""
    seed = 0
    for cls, names in URBAN_FILES.items():
        folder = root / "SUN397" / cls.sun397_path.lstrip("/")
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            seed += 1
            (folder / name).write_bytes(_jpeg(seed))
    for folder_name, names in OTHER_FILES.items():
        folder = root / "SUN397" / folder_name.lstrip("/")
        folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            seed += 1
            (folder / name).write_bytes(_jpeg(seed))
    alley = root / "SUN397" / "a" / "alley"
    outside = root / "secret.jpg"
    outside.write_bytes(_jpeg(999))
    (alley / "link.jpg").symlink_to(outside)
    (alley / "notes.txt").write_text("not an image")
    return root


def _files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if not p.is_dir()}


def _assert_output_exact(out: Path) -> None:
    """Exactly the urban images plus the report; nothing else, no leftovers, no links."""
    assert _files_under(out) == _expected_files() | {REPORT_NAME}
    for path in out.rglob("*"):
        assert not path.is_symlink()


@pytest.fixture
def fixture_archive(tmp_path: Path) -> Fixture:
    return _build_archive(tmp_path / "src")


def _skip_reasons(check: CountCheck) -> dict[str, str]:
    return dict(check.skipped)


# --------------------------------------------------------------------------------------


def test_load_urban32_lists_the_study_classes() -> None:
    classes = load_urban32()
    assert len(classes) == 32
    assert sum(c.expected_images for c in classes) == 12_962
    assert len({c.name for c in classes}) == 32
    assert all(c.sun397_path.startswith("/") for c in classes)
    by_name = {c.name: c for c in classes}
    assert by_name["apartment_building_outdoor"] == UrbanClass(
        "/a/apartment_building/outdoor", "apartment_building_outdoor", 527
    )
    assert by_name["canal_urban"].sun397_path == "/c/canal/urban"


def test_stream_from_http(tmp_path: Path, fixture_archive: Fixture, server: Server) -> None:
    server.files["/SUN397.tar.gz"] = fixture_archive.data
    out = tmp_path / "out"
    check = fetch_urban32(out, url=server.base + "/SUN397.tar.gz", classes=SUBSET, progress=True)

    assert check.matches, check.to_text()
    assert check.written == 8 and check.already_present == 0
    _assert_output_exact(out)
    # Files are the archive's bytes, under our class names.
    with tarfile.open(fixture_archive.archive) as tar:
        member = tar.extractfile("SUN397/c/canal/urban/sun_canal2.jpg")
        assert member is not None
        assert (out / "canal_urban" / "sun_canal2.jpg").read_bytes() == member.read()
    for target in fixture_archive.escape_targets:
        assert not target.exists()

    reasons = _skip_reasons(check)
    assert reasons["SUN397/a/alley/../../../escape.jpg"] == "path with '..'"
    assert reasons[str(tmp_path / "src" / "abs_escape.jpg")] == "absolute path"
    assert reasons["SUN397/a/alley/link.jpg"].startswith("symbolic link")
    assert reasons["SUN397/a/alley/hard.jpg"].startswith("hard link")
    assert reasons["SUN397/a/alley/pipe.jpg"] == "FIFO"
    assert reasons["SUN397/a/alley/dev.jpg"] == "device file"
    assert reasons["SUN397/a/alley/notes.txt"] == "not an image file"

    text = check.to_text()
    assert "All 3 classes have the expected number of images (8 in total)." in text
    assert "escape.jpg: path with '..'" in text

    report = json.loads((out / REPORT_NAME).read_text())
    assert report["complete"] is True and report["counts_match"] is True
    assert [c["found"] for c in report["classes"]] == [3, 2, 3]


def test_stream_from_local_archive_and_rerun_is_a_no_op(
    tmp_path: Path, fixture_archive: Fixture
) -> None:
    out = tmp_path / "out"
    first = fetch_urban32(out, archive=fixture_archive.archive, classes=SUBSET, progress=False)
    assert first.matches and first.written == 8
    _assert_output_exact(out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")}

    # After a complete fetch with every count right, a rerun does not read the archive.
    second = fetch_urban32(out, archive=fixture_archive.archive, classes=SUBSET, progress=False)
    assert second.matches and second.written == 0 and "already complete" in second.source
    # force=True reads it again, and keeps every image already in place.
    forced = fetch_urban32(out, archive=fixture_archive.archive, classes=SUBSET, progress=False, force=True)
    assert forced.matches and forced.written == 0 and forced.already_present == 8
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.jpg")} == before
    for target in fixture_archive.escape_targets:
        assert not target.exists()


def test_default_class_list_reports_differences(tmp_path: Path, fixture_archive: Fixture) -> None:
    # All 32 classes against an archive with only three of them: the check must say
    # which classes differ and by how much.
    out = tmp_path / "out"
    check = fetch_urban32(out, archive=fixture_archive.archive, progress=False)
    assert not check.matches
    assert len(check.per_class) == 32
    rows = {row.name: row for row in check.per_class}
    assert rows["alley"].found == 3 and rows["alley"].expected == 324
    assert rows["canal_urban"].found == 3
    assert rows["castle"].found == 0
    assert {d.name for d in check.differences} == {c.name for c in load_urban32()}

    text = check.to_text()
    assert re.search(r"^alley\s+324\s+3\s+-321$", text, re.MULTILINE), text
    assert re.search(r"^castle\s+1,100\s+0\s+-1,100$", text, re.MULTILINE), text
    assert "32 of 32 classes differ from the expected counts; 8 of 12,962 images present." in text
    # Only the images of urban classes were written, and no empty folder was made for
    # a class the archive lacks (prepare would report it as an empty class).
    _assert_output_exact(out)
    assert not (out / "castle").exists()


def test_count_mismatch_in_subset(tmp_path: Path, fixture_archive: Fixture) -> None:
    classes = [UrbanClass("/a/alley", "alley", 5), BALCONY]
    check = fetch_urban32(
        tmp_path / "out", archive=fixture_archive.archive, classes=classes, progress=False
    )
    assert not check.matches
    assert check.differences == [("alley", 5, 3)]
    text = check.to_text()
    assert "1 of 2 classes differ from the expected counts; 5 of 7 images present." in text


def test_classes_by_name(tmp_path: Path, fixture_archive: Fixture) -> None:
    check = fetch_urban32(
        tmp_path / "out", archive=fixture_archive.archive, classes=["canal_urban"], progress=False
    )
    assert check.per_class == [("canal_urban", 490, 3)]
    with pytest.raises(Sun397Error, match="Unknown class 'canal_natural'"):
        fetch_urban32(tmp_path / "out", archive=fixture_archive.archive, classes=["canal_natural"])


@pytest.mark.parametrize("layout", ["parent", "sun397"])
def test_copy_from_extracted_folder(tmp_path: Path, layout: str) -> None:
    root = _build_extracted(tmp_path / "unpacked")
    source = root if layout == "parent" else root / "SUN397"
    out = tmp_path / "out"
    check = fetch_urban32(out, extracted=source, classes=SUBSET, progress=True)
    assert check.matches, check.to_text()
    _assert_output_exact(out)
    reasons = {Path(item).name: reason for item, reason in check.skipped}
    assert reasons == {"link.jpg": "symbolic link", "notes.txt": "not an image file"}

    again = fetch_urban32(out, extracted=source, classes=SUBSET, progress=False, force=True)
    assert again.written == 0 and again.already_present == 8


def test_extracted_folder_without_sun397(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(Sun397Error, match="No SUN397 class folder found"):
        fetch_urban32(tmp_path / "out", extracted=tmp_path / "empty", classes=SUBSET)
    with pytest.raises(Sun397Error, match="does not exist"):
        fetch_urban32(tmp_path / "out", extracted=tmp_path / "missing", classes=SUBSET)


def test_truncated_download_keeps_work_and_rerun_completes(
    tmp_path: Path, fixture_archive: Fixture, server: Server
) -> None:
    cut = int(len(fixture_archive.data) * 0.7)
    server.files["/cut.tar.gz"] = fixture_archive.data[:cut]
    server.files["/SUN397.tar.gz"] = fixture_archive.data
    out = tmp_path / "out"

    with pytest.raises(Sun397Error) as info:
        fetch_urban32(out, url=server.base + "/cut.tar.gz", classes=SUBSET, progress=False)
    message = str(info.value)
    assert "stopped early" in message
    assert "Run the same command again" in message
    assert "are kept" in message

    kept = {p.relative_to(out).as_posix() for p in out.rglob("*.jpg")}
    assert "alley/sun_alley1.jpg" in kept  # extracted before the cut, still there
    assert kept < _expected_files()  # the cut lost the rest
    assert not [p for p in out.rglob(".*")]  # no temporaries
    report = json.loads((out / REPORT_NAME).read_text())
    assert report["complete"] is False and "stopped early" in report["error"]

    check = fetch_urban32(out, url=server.base + "/SUN397.tar.gz", classes=SUBSET, progress=False)
    assert check.matches
    assert check.already_present == len(kept)
    assert check.written == 8 - len(kept)
    _assert_output_exact(out)


def test_truncated_local_archive(tmp_path: Path, fixture_archive: Fixture) -> None:
    short = tmp_path / "short.tar.gz"
    short.write_bytes(fixture_archive.data[: len(fixture_archive.data) // 2])
    with pytest.raises(Sun397Error, match="truncated or damaged"):
        fetch_urban32(tmp_path / "out", archive=short, classes=SUBSET, progress=False)
    assert (tmp_path / "out" / "alley" / "sun_alley1.jpg").is_file()


def test_dropped_connection_is_resumed(
    tmp_path: Path, fixture_archive: Fixture, server: Server
) -> None:
    server.files["/SUN397.tar.gz"] = fixture_archive.data
    server.drop_after["/SUN397.tar.gz"] = len(fixture_archive.data) // 2
    out = tmp_path / "out"
    check = fetch_urban32(out, url=server.base + "/SUN397.tar.gz", classes=SUBSET, progress=False)
    assert check.matches
    _assert_output_exact(out)
    assert server.requests[0] == ("/SUN397.tar.gz", None)
    assert server.requests[1] == ("/SUN397.tar.gz", f"bytes={len(fixture_archive.data) // 2}-")


def test_dropped_connection_without_range_support(
    tmp_path: Path, fixture_archive: Fixture, server: Server
) -> None:
    server.ranges = False
    server.files["/SUN397.tar.gz"] = fixture_archive.data
    server.drop_after["/SUN397.tar.gz"] = int(len(fixture_archive.data) * 0.7)
    out = tmp_path / "out"
    with pytest.raises(Sun397Error, match="does not support resuming"):
        fetch_urban32(out, url=server.base + "/SUN397.tar.gz", classes=SUBSET, progress=False)
    assert (out / "alley" / "sun_alley1.jpg").is_file()


def test_connection_refused_says_what_to_do(tmp_path: Path) -> None:
    # A port that was just free and is now closed: nothing listens there.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(Sun397Error) as info:
        fetch_urban32(tmp_path / "out", url=f"http://127.0.0.1:{port}/SUN397.tar.gz", timeout=5)
    message = str(info.value)
    assert "Could not reach" in message
    assert "--archive" in message and "--extracted" in message
    assert "https://vision.princeton.edu/projects/2010/SUN/" in message
    # Nothing but the report (which records the error) is left behind.
    assert _files_under(tmp_path / "out") == {REPORT_NAME}
    assert [p for p in (tmp_path / "out").iterdir() if p.is_dir()] == []


def test_http_error_status(tmp_path: Path, server: Server) -> None:
    with pytest.raises(Sun397Error, match="HTTP 404"):
        fetch_urban32(tmp_path / "out", url=server.base + "/missing.tar.gz", classes=SUBSET)


def test_not_an_archive(tmp_path: Path, server: Server) -> None:
    server.files["/page.html"] = b"<html>please log in</html>" * 40
    with pytest.raises(Sun397Error, match="not a gzip-compressed tar archive"):
        fetch_urban32(
            tmp_path / "out", url=server.base + "/page.html", classes=SUBSET, progress=False
        )
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"\x1f\x8b" + os.urandom(200))
    with pytest.raises(Sun397Error, match="is not a valid SUN397"):
        fetch_urban32(tmp_path / "out", archive=bogus, classes=SUBSET, progress=False)
    with pytest.raises(Sun397Error, match="does not exist"):
        fetch_urban32(tmp_path / "out", archive=tmp_path / "nope.tar.gz", classes=SUBSET)


def test_uncompressed_tar_is_accepted(tmp_path: Path, fixture_archive: Fixture) -> None:
    import gzip

    plain = tmp_path / "SUN397.tar"
    plain.write_bytes(gzip.decompress(fixture_archive.data))
    check = fetch_urban32(tmp_path / "out", archive=plain, classes=SUBSET, progress=False)
    assert check.matches
    _assert_output_exact(tmp_path / "out")


def test_stale_temporaries_are_removed_and_partial_files_replaced(
    tmp_path: Path, fixture_archive: Fixture
) -> None:
    out = tmp_path / "out"
    (out / "alley").mkdir(parents=True)
    # What a killed run could leave: a temporary, and (from some other tool) a file
    # of the wrong size under the final name.
    (out / "alley" / ".sun397-sun_alley1.jpg.abcd1234.part").write_bytes(b"half")  # old name
    (out / "alley" / ".sun_alley3.4242.0123abcd.tmp.jpg").write_bytes(b"half")  # fileio's
    (out / "alley" / "sun_alley2.jpg").write_bytes(b"wrong size")
    check = fetch_urban32(out, archive=fixture_archive.archive, classes=SUBSET, progress=False)
    assert check.matches and check.written == 8
    _assert_output_exact(out)


def test_write_error_names_the_file_and_keeps_complete_images(
    tmp_path: Path, fixture_archive: Fixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def fsync_fails_on_the_third_file(fd: int) -> None:
        calls.append(fd)
        if len(calls) >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync_fails_on_the_third_file)
    out = tmp_path / "out"
    with pytest.raises(Sun397Error) as info:
        fetch_urban32(out, archive=fixture_archive.archive, classes=SUBSET, progress=False)
    message = str(info.value)
    assert f"Cannot write {out / 'alley' / 'sun_alley3.jpg'}" in message
    assert "No space left on device" in message and "complete images are kept" in message
    assert _files_under(out) == {"alley/sun_alley1.jpg", "alley/sun_alley2.jpg"}


def test_link_in_output_leading_outside_is_refused(
    tmp_path: Path, fixture_archive: Fixture
) -> None:
    out = tmp_path / "out"
    elsewhere = tmp_path / "elsewhere"
    (out / "alley").mkdir(parents=True)
    elsewhere.mkdir()
    # A planted link at a destination must not be written through.
    (out / "alley" / "sun_alley1.jpg").symlink_to(elsewhere / "victim.jpg")
    (out / "canal_urban").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(Sun397Error, match="leads outside"):
        fetch_urban32(out, archive=fixture_archive.archive, classes=SUBSET, progress=False)
    (out / "canal_urban").unlink()
    check = fetch_urban32(out, archive=fixture_archive.archive, classes=SUBSET, progress=False)
    assert _skip_reasons(check)["SUN397/a/alley/sun_alley1.jpg"].startswith("its destination")
    assert not (elsewhere / "victim.jpg").exists()
    assert list(elsewhere.iterdir()) == []


def test_archive_and_extracted_together_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(Sun397Error, match="not both"):
        fetch_urban32(tmp_path / "out", archive=tmp_path / "a", extracted=tmp_path / "b")

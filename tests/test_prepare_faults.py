"""Preparation under bad input and hostile conditions (issue 14): overlapping folders,
full disks, odd file names, killed runs, links, unreadable folders, unusual splits."""

from __future__ import annotations

import csv
import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorkeras.data.pipeline import PreparedDataset
from colorkeras.data.prepare import PrepareError, PrepareSettings, prepare
from colorkeras.errors import InvalidArgument

SMALL = PrepareSettings(image_size=16)
ROOT = os.geteuid() == 0
NOBODY = 65534
REPO = Path(__file__).resolve().parents[1]


def _photos(folder: Path, count: int, seed: int = 0, size: int = 16) -> list[Path]:
    """`count` small colour PNGs (real files, real encoding)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        path = folder / f"photo_{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def _two_classes(source: Path, per_class: int = 4) -> Path:
    _photos(source / "park", per_class, seed=1)
    _photos(source / "street", per_class, seed=2)
    return source


def _skipped(out: Path) -> dict[str, str]:
    with open(out / "skipped.csv", newline="", encoding="utf-8") as handle:
        return {row["relpath"]: row["reason"] for row in csv.DictReader(handle)}


def _manifest(out: Path) -> list[dict]:
    with open(out / "manifest.csv", newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _cli(*args, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-m", "colorkeras.cli", "prepare", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120, **kwargs)


# ------------------------------------------------------------------------------------
# 1. The destination never swallows the source, and only a dataset is ever replaced
# ------------------------------------------------------------------------------------
def test_a_destination_holding_the_source_is_refused_and_nothing_is_deleted(tmp_path):
    data = tmp_path / "data"
    source = _two_classes(data / "photos")
    (data / "notes.txt").write_text("my notes")
    before = sorted(p for p in data.rglob("*"))
    for out in (data, tmp_path, source, source / "park" / "out"):
        with pytest.raises(PrepareError, match="overlap"):
            prepare(source, out, SMALL, workers=1, overwrite=True, progress=False)
    # A link cannot hide the overlap.
    (tmp_path / "link").symlink_to(data)
    with pytest.raises(PrepareError, match="overlap"):
        prepare(source, tmp_path / "link", SMALL, workers=1, overwrite=True, progress=False)
    assert sorted(p for p in data.rglob("*")) == before
    assert (data / "notes.txt").read_text() == "my notes"


def test_overwrite_replaces_only_a_prepared_dataset(tmp_path):
    source = _two_classes(tmp_path / "src")
    folder = tmp_path / "someone_elses"
    folder.mkdir()
    (folder / "thesis.txt").write_text("keep me")
    with pytest.raises(PrepareError, match="not a prepared dataset.*not even with --overwrite"):
        prepare(source, folder, SMALL, workers=1, overwrite=True, progress=False)
    # A settings.json of some other program does not make a folder ours.
    (folder / "settings.json").write_text(json.dumps({"theme": "dark"}))
    with pytest.raises(PrepareError, match="not a prepared dataset"):
        prepare(source, folder, SMALL, workers=1, overwrite=True, progress=False)
    assert (folder / "thesis.txt").read_text() == "keep me"

    # An empty folder is fine, and a dataset of ours is replaced with --overwrite.
    out = tmp_path / "empty"
    out.mkdir()
    prepare(source, out, SMALL, workers=1, progress=False)
    prepare(source, out, PrepareSettings(image_size=16, seed=3), workers=1, overwrite=True, progress=False)
    assert json.loads((out / "settings.json").read_text())["seed"] == 3
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_overwrite_refuses_a_dataset_holding_files_prepare_did_not_write(tmp_path):
    # Issue 22: --overwrite deleted the user's files put inside a prepared dataset.
    source = _two_classes(tmp_path / "src")
    out = tmp_path / "out"
    prepare(source, out, SMALL, workers=1, progress=False)
    (out / "notes.txt").write_text("mine")
    (out / "embeddings" / "mine").mkdir(parents=True)
    (out / "embeddings" / "mine" / "features.npy").write_bytes(b"my features")
    other = PrepareSettings(image_size=16, seed=3)
    with pytest.raises(PrepareError, match=r"holds files prepare did not write: embeddings/mine/features\.npy, "
                                           r"notes\.txt; they are never deleted"):
        prepare(source, out, other, workers=1, overwrite=True, progress=False)
    result = _cli(source, out, "--size", "16", "--seed", "3", "--workers", "1", "--overwrite")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("colorkeras prepare: error: ") and "notes.txt" in result.stderr
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "embeddings" / "mine" / "features.npy").read_bytes() == b"my features"
    assert json.loads((out / "settings.json").read_text())["seed"] == 0
    # Without them, a dataset holding only what prepare (and embed's cache) wrote is replaced.
    (out / "notes.txt").unlink()
    (out / "embeddings" / "mine" / "features.npy").rename(out / "embeddings" / "mine" / "train.npy")
    (out / "embeddings" / "mine" / "val.progress.json").write_text('{"rows_done": 1}')
    prepare(source, out, other, workers=1, overwrite=True, progress=False)
    assert json.loads((out / "settings.json").read_text())["seed"] == 3 and not (out / "embeddings").exists()


# ------------------------------------------------------------------------------------
# 2. A full disk is a clear error, and leaves nothing behind
# ------------------------------------------------------------------------------------
def test_too_little_free_space_is_refused_before_writing(tmp_path, monkeypatch):
    source = _two_classes(tmp_path / "src")
    real = shutil.disk_usage
    monkeypatch.setattr(shutil, "disk_usage", lambda path: real(path)._replace(free=1000))
    with pytest.raises(PrepareError, match=r"needs about [\d,]+ bytes .*1,000 bytes .* are free"):
        prepare(source, tmp_path / "out", SMALL, workers=1, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def _limit_file_size(limit: int):
    def apply():
        # Writing past the limit then fails with EFBIG, as a full disk fails with ENOSPC
        # (the default action of SIGXFSZ would kill the process instead).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_running_out_of_space_while_writing_is_one_clear_line_and_a_rerun_completes(tmp_path):
    source = _two_classes(tmp_path / "src", per_class=20)
    out = tmp_path / "out"
    # 40 images at 32 px: 40 KiB of L, 80 KiB of ab; the limit lets the small files and
    # the first rows through, so the failure comes in the middle of the arrays.
    failed = _cli(source, out, "--size", "32", "--workers", "1", preexec_fn=_limit_file_size(30_000))
    assert failed.returncode == 2, failed.stderr
    message = failed.stderr.strip().splitlines()[-1]  # the lines above are the progress bar
    assert "Traceback" not in failed.stderr and message.startswith("colorkeras prepare: error:")
    assert str(tmp_path) in message and "disk filled up" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"], "partial output left behind"
    done = _cli(source, out, "--size", "32", "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert len(_manifest(out)) == 40


# ------------------------------------------------------------------------------------
# 3. File and folder names that are not UTF-8
# ------------------------------------------------------------------------------------
def test_names_that_are_not_utf8_are_prepared_under_an_escaped_name(tmp_path):
    source = _two_classes(tmp_path / "src")
    latin1 = os.path.join(source / "park", os.fsdecode(b"caf\xe9.png"))  # as Latin-1 writes it
    Image.open(source / "street" / "photo_000.png").transpose(Image.FLIP_LEFT_RIGHT).save(latin1, "PNG")
    odd_class = Path(os.path.join(source, os.fsdecode(b"gr\xfcn")))
    _photos(odd_class, 3, seed=9)
    report = prepare(source, tmp_path / "out", SMALL, workers=1, progress=False)
    assert sum(report.prepared.values()) == 4 + 1 + 4 + 3
    rows = _manifest(tmp_path / "out")
    names = {row["relpath"] for row in rows}
    assert "park/caf\\xe9.png" in names
    assert {row["class"] for row in rows} == {"park", "street", "gr\\xfcn"}
    report.to_text().encode("utf-8")  # printable as it is


# ------------------------------------------------------------------------------------
# 4. Workers end with a killed preparation
# ------------------------------------------------------------------------------------
def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.add(int(entry))
    return found


def _spawned(pids: set[int]) -> set[int]:
    """The pool's worker processes among pids (the resource tracker is a child too)."""
    found = set()
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                if b"spawn_main" in handle.read():
                    found.add(pid)
        except OSError:
            pass
    return found


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table in /proc")
def test_workers_end_when_the_preparation_is_killed(tmp_path):
    source = tmp_path / "src"
    for index, name in enumerate(("park", "street", "river")):
        _photos(source / name, 100, seed=index, size=32)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen(
        [sys.executable, "-m", "colorkeras.cli", "prepare", str(source), str(tmp_path / "out"),
         "--size", "64", "--workers", "2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    workers: set[int] = set()
    try:
        deadline = time.time() + 60
        # Both workers (and the resource tracker with them), so that none goes unwatched.
        while len(_spawned(workers)) < 2 and parent.poll() is None and time.time() < deadline:
            workers |= _children(parent.pid)
            time.sleep(0.05)
        assert parent.poll() is None and len(_spawned(workers)) == 2, "workers not seen before the end"
        parent.kill()
        parent.wait()
        deadline = time.time() + 10
        while any(map(_running, workers)) and time.time() < deadline:
            time.sleep(0.1)
        survivors = [pid for pid in workers if _running(pid)]
        assert not survivors, f"worker processes outlived their killed parent: {survivors}"
    finally:
        for pid in workers:  # only the processes this test started
            if _running(pid):
                os.kill(pid, signal.SIGKILL)


# ------------------------------------------------------------------------------------
# 5. Links and folders that cannot be read
# ------------------------------------------------------------------------------------
def test_linked_class_folders_never_count_an_image_twice_nor_leave_the_source(tmp_path):
    source = _two_classes(tmp_path / "src")
    _photos(tmp_path / "elsewhere", 2, seed=7)
    (source / "everything").symlink_to(source)
    (source / "above").symlink_to(tmp_path)
    (source / "outside").symlink_to(tmp_path / "elsewhere")
    (source / "park_again").symlink_to(source / "park")
    (source / "alias").symlink_to(source / "park")  # sorts before park: it must not take park's photos
    (source / "street" / "twin.png").symlink_to(source / "park" / "photo_001.png")
    (source / "park" / "a_twin.png").symlink_to(source / "street" / "photo_002.png")
    report = prepare(source, tmp_path / "out", SMALL, workers=1, progress=False)
    rows = _manifest(tmp_path / "out")
    assert len(rows) == 8 and sum(report.prepared.values()) == 8
    assert len({row["sha256"] for row in rows}) == 8
    # A linked class folder is a second path to its class, not a class of its own.
    assert {row["class"] for row in rows} == {"park", "street"}
    assert sorted(row["relpath"] for row in rows if row["class"] == "park") == [
        f"park/photo_{i:03d}.png" for i in range(4)]
    assert json.loads((tmp_path / "out" / "settings.json").read_text())["classes"] == ["park", "street"]
    skipped = _skipped(tmp_path / "out")
    assert "not followed" in skipped["everything"] and "not followed" in skipped["above"]
    assert "outside the source" in skipped["outside"]
    for link in ("alias", "park_again"):
        assert skipped[link] == ("symbolic link to the class folder park: a second path to the same "
                                 "folder, whose images are listed once, under park")
    assert skipped["street/twin.png"] == "same file as park/photo_001.png (listed once)"
    # A linked file is listed under the folder it really lies in, whichever name sorts first.
    assert skipped["park/a_twin.png"] == "same file as street/photo_002.png (listed once)"
    assert "same file" in report.to_text() and not report.empty_classes


def test_exact_copies_of_a_photo_are_prepared_once_and_listed(tmp_path):
    source = _two_classes(tmp_path / "src")
    shutil.copy(source / "park" / "photo_001.png", source / "street" / "copy_of_park.png")
    shutil.copy(source / "park" / "photo_001.png", source / "park" / "photo_001_copy.png")
    shutil.copy(source / "street" / "photo_003.png", source / "park" / "z_from_street.png")
    settings = PrepareSettings(image_size=16, val_fraction=0.25, test_fraction=0.25)
    report = prepare(source, tmp_path / "out", settings, workers=1, progress=False)
    rows = _manifest(tmp_path / "out")
    assert len(rows) == 8 and len({row["sha256"] for row in rows}) == 8  # no photo twice, in any split
    # The first by relpath is kept, whatever its folder.
    assert {row["relpath"] for row in rows} == {*(f"park/photo_{i:03d}.png" for i in range(4)),
                                                "park/z_from_street.png",
                                                *(f"street/photo_{i:03d}.png" for i in range(3))}
    skipped = _skipped(tmp_path / "out")
    assert skipped["street/copy_of_park.png"] == "same content as park/photo_001.png"
    assert skipped["park/photo_001_copy.png"] == "same content as park/photo_001.png"
    assert skipped["street/photo_003.png"] == "same content as park/z_from_street.png"
    document = json.loads((tmp_path / "out" / "settings.json").read_text())
    assert document["skipped"] == 3 and sum(document["counts"].values()) == 8
    assert "same content as park/photo_001.png" in report.to_text()
    # The arrays hold the kept photos only, row for row with the manifest.
    for split in ("train", "val", "test"):
        assert len(np.load(tmp_path / "out" / f"{split}_l.npy")) == sum(r["split"] == split for r in rows)


@pytest.fixture
def shared_dir():
    """A folder an unprivileged user can reach (pytest's own tmp folders are private)."""
    path = Path(tempfile.mkdtemp(prefix="colorkeras-test-"))
    path.chmod(0o777)
    yield path
    for folder, _, _ in os.walk(path):
        os.chmod(folder, 0o755)
    shutil.rmtree(path)


# Root reads and writes any folder whatever its mode, so the mode-bit cases run as nobody.
# The interpreter may live under /root, out of nobody's reach: the process starts as root,
# imports all that `prepare --workers 1` uses, and only then drops to nobody.
_AS_NOBODY = f"""
import os, sys
import numpy as np, PIL.Image, tqdm.auto
from colorkeras import cli
from colorkeras import color
from colorkeras.data import prepare
color.rgb_to_lab(np.zeros((8, 8, 3), np.uint8))  # imports its lazy modules now
PIL.Image.init(); cli.build_parser()  # the parser imports more modules
os.setgroups([]); os.setgid({NOBODY}); os.setuid({NOBODY})
sys.exit(cli.main(sys.argv[1:]))
"""


def _cli_unprivileged(*args) -> subprocess.CompletedProcess:
    if not ROOT:
        return _cli(*args)
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", _AS_NOBODY, "prepare", *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=120, cwd="/")


def test_a_folder_that_cannot_be_listed_is_reported_as_unreadable_not_empty(shared_dir):
    source = _two_classes(shared_dir / "src")
    _photos(source / "locked", 2)
    (source / "locked").chmod(0o000)
    (source / "street" / "sub").mkdir()
    (source / "street" / "sub").chmod(0o000)
    done = _cli_unprivileged(source, shared_dir / "out", "--size", "16", "--workers", "1")
    assert done.returncode == 0, done.stderr
    skipped = _skipped(shared_dir / "out")
    assert skipped["locked"] == "cannot list folder (Permission denied)"
    assert skipped["street/sub"] == "cannot list folder (Permission denied)"
    assert "without images" not in done.stdout and "cannot list folder" in done.stdout


def test_a_source_that_can_be_listed_but_not_entered_is_one_clear_line(shared_dir):
    source = _two_classes(shared_dir / "src")
    source.chmod(0o644)
    failed = _cli_unprivileged(source, shared_dir / "out", "--size", "16", "--workers", "1")
    assert failed.returncode == 2
    message = failed.stderr.strip()
    assert "\n" not in message and "cannot read the source folder" in message and str(source) in message


def test_a_read_only_destination_parent_is_one_line_naming_the_path(shared_dir):
    source = _two_classes(shared_dir / "src")
    parent = shared_dir / "readonly"
    parent.mkdir()
    parent.chmod(0o555)
    failed = _cli_unprivileged(source, parent / "out", "--size", "16", "--workers", "1")
    assert failed.returncode == 2
    message = failed.stderr.strip()
    assert "\n" not in message and "Permission denied" in message and str(parent / "out") in message


# ------------------------------------------------------------------------------------
# 6. Every left-out entry a user may have meant as an image is reported
# ------------------------------------------------------------------------------------
def test_unreadable_kinds_links_and_special_files_are_reported(tmp_path):
    source = _two_classes(tmp_path / "src")
    street = source / "street"
    (street / "logo.svg").write_text("<svg/>")
    (street / "phone.HEIC").write_bytes(b"\0" * 32)
    (street / "notes.txt").write_text("not meant as an image")
    (street / "gone.jpg").symlink_to(street / "deleted.jpg")
    (street / "loop.jpg").symlink_to(street / "loop.jpg")
    os.mkfifo(street / "pipe.png")
    (source / "stray.jpg").write_bytes((street / "photo_000.png").read_bytes())
    report = prepare(source, tmp_path / "out", SMALL, workers=1, progress=False)
    assert sum(report.prepared.values()) == 8
    skipped = _skipped(tmp_path / "out")
    assert set(skipped) == {"street/logo.svg", "street/phone.HEIC", "street/gone.jpg", "street/loop.jpg",
                            "street/pipe.png", "stray.jpg"}
    assert skipped["street/logo.svg"].startswith(".svg images are not read")
    assert skipped["street/gone.jpg"].startswith("broken symbolic link")
    assert skipped["street/loop.jpg"] == "symbolic link loop"
    assert skipped["street/pipe.png"].startswith("not a regular file")
    assert "outside a class folder" in skipped["stray.jpg"]
    assert "skipped 6 file(s)" in report.to_text()


# ------------------------------------------------------------------------------------
# 7. Leftovers of killed runs
# ------------------------------------------------------------------------------------
def test_leftovers_of_dead_runs_are_removed_and_a_dataset_moved_aside_is_restored(tmp_path):
    source = _two_classes(tmp_path / "src")
    out = tmp_path / "out"
    prepare(source, out, SMALL, workers=1, progress=False)
    # A run killed between its two renames: OUT gone, the old dataset moved aside. Pid
    # 2**22 + 1 is above Linux's largest pid, so its owner is surely gone.
    dead = 2**22 + 1
    (tmp_path / f".out.old-{dead}-0badf00d").mkdir()
    os.replace(out, tmp_path / f".out.old-{dead}-0badf00d" / "old")
    (tmp_path / f".out.partial-{dead}-12345678").mkdir()
    (tmp_path / ".out.partial-k2j4_x9q").mkdir()  # an older version's name: not prepare's now, kept
    in_use = tmp_path / f".out.partial-{os.getppid()}-abcdef01"  # a live owner
    in_use.mkdir()
    (tmp_path / ".other.partial-1-12345678").mkdir()  # another dataset's
    report = prepare(source, out, SMALL, workers=1, progress=False)
    assert report.already_done and "restored" in report.to_text()
    assert (out / "settings.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == sorted([
        ".other.partial-1-12345678", ".out.partial-k2j4_x9q", in_use.name])


def test_leftover_cleanup_leaves_what_prepare_did_not_leave(tmp_path):
    # Issue 22: any sibling named .<OUT>.old-* or .<OUT>.partial-* whose suffix was not a
    # live pid was deleted unread, a user's .myds.old-backup included.
    source = _two_classes(tmp_path / "src")
    out = tmp_path / "myds"
    prepare(source, out, SMALL, workers=1, progress=False)
    dead = 2**22 + 1
    kept = {
        ".myds.old-backup": "photo.jpg",  # not prepare's name at all
        ".myds.partial-k2j4_x9q": "all_l.tmp",  # an older version's name: left alone too
        f".myds.old-{dead}-notatokn": "old",  # a pid, but not prepare's token
        f".myds.partial-{dead}-0badf00d": "thesis.docx",  # prepare's name, someone else's content
        f".myds.old-{dead}-12345678": "photos",  # likewise: a trash folder holds only old/
    }
    for name, inside in kept.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / inside).write_bytes(b"precious")
    (tmp_path / f".myds.old-{dead}-abcdef01" / "old").mkdir(parents=True)  # old/ that is not a dataset
    (tmp_path / f".myds.old-{dead}-abcdef01" / "old" / "mine.txt").write_text("mine")
    kept[f".myds.old-{dead}-abcdef01"] = "old/mine.txt"
    # What prepare does leave behind is still cleaned: an empty work folder, a half-done one.
    (tmp_path / f".myds.partial-{dead}-00000000").mkdir()
    half = tmp_path / f".myds.partial-{dead}-11111111"
    half.mkdir()
    (half / "all_l.tmp").write_bytes(b"rows")
    (half / "train_l.npy").write_bytes(b"rows")
    prepare(source, out, SMALL, workers=1, progress=False)
    for name, inside in kept.items():
        assert (tmp_path / name / inside).is_file(), name
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == sorted(kept)


# ------------------------------------------------------------------------------------
# 8. An all-test dataset (to evaluate a trained model on new photos)
# ------------------------------------------------------------------------------------
def test_an_all_test_dataset_can_be_prepared_and_has_no_training_images(tmp_path):
    source = _two_classes(tmp_path / "src", per_class=3)
    report = prepare(source, tmp_path / "out", PrepareSettings(image_size=16, val_fraction=0, test_fraction=1.0),
                     workers=1, progress=False)
    assert report.prepared == {"train": 0, "val": 0, "test": 6}
    assert "evaluation only" in report.to_text() and not report.thin_classes
    dataset = PreparedDataset.open(tmp_path / "out")
    assert dataset.count("train") == 0  # what train checks for "has no training images"
    assert dataset.arrays("test")[0].shape == (6, 16, 16)


@pytest.mark.parametrize("val, test", [(0.5, 0.5), (1.0, 0.0), (0.1, 1.0), (0.0, 1.5), (-0.1, 0.1),
                                       (0.1, math.nan), (0.0, 1.0000001)])
def test_other_fractions_without_training_images_are_refused(val, test):
    with pytest.raises(InvalidArgument, match="fraction"):
        PrepareSettings(val_fraction=val, test_fraction=test)


def test_training_on_an_all_test_dataset_says_so(tmp_path):
    source = _two_classes(tmp_path / "src", per_class=2)
    prepare(source, tmp_path / "out", PrepareSettings(image_size=16, val_fraction=0, test_fraction=1),
            workers=1, progress=False)
    from colorkeras.training.config import TrainConfig
    from colorkeras.training.train import TrainingError, train

    with pytest.raises(TrainingError, match="has no training images"):
        train(tmp_path / "out", tmp_path / "run", TrainConfig.smoke(image_size=16, epochs=1))


# ------------------------------------------------------------------------------------
# 9. Ordinary mistakes about the destination
# ------------------------------------------------------------------------------------
def test_a_destination_that_is_a_file_or_under_a_file_is_a_clear_error(tmp_path):
    source = _two_classes(tmp_path / "src")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(PrepareError, match="exists and is not a folder"):
        prepare(source, tmp_path / "afile", SMALL, workers=1, progress=False)
    with pytest.raises(PrepareError, match=f"cannot create the dataset folder {tmp_path / 'afile' / 'out'}"):
        prepare(source, tmp_path / "afile" / "out", SMALL, workers=1, progress=False)
    assert (tmp_path / "afile").read_text() == "x"


def test_a_source_that_is_a_file_and_a_bad_worker_count_are_clear_errors(tmp_path):
    source = _two_classes(tmp_path / "src")
    with pytest.raises(PrepareError, match="the source is not a folder"):
        prepare(source / "park" / "photo_000.png", tmp_path / "out", SMALL, workers=1, progress=False)
    with pytest.raises(InvalidArgument, match="workers must be at least 1, got 0"):
        prepare(source, tmp_path / "out", SMALL, workers=0, progress=False)
    assert not (tmp_path / "out").exists()

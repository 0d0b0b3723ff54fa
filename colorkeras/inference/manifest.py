"""The record of what colorize wrote into an output folder, for photos and films alike.

``colorkeras colorize`` never replaces a file it did not write: every output it puts in a
folder is noted in a hidden manifest there (`MANIFEST_NAME`), and ``--overwrite`` redoes
only outputs whose file still carries the stamp (size and modification time) it had when
colorize wrote it. `colorkeras.inference.colorize` (photos) and `colorkeras.inference.video`
(films) keep the same record, so one folder may hold both, and say what they did in the
same form (`BatchReport`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from colorkeras.fileio import update_json_object

# The record of what colorize wrote, one per output folder; hidden, so image listings
# (and a rerun over a folder that holds its own outputs) pass it by.
MANIFEST_NAME = ".colorkeras-colorize.json"


@dataclass
class BatchReport:
    """What a colorize run over files did.

    Args:
        written: what was written in this run (output paths, or a report per output).
        existing: inputs whose output already existed and was kept (a resumed run).
        skipped: (input, reason) for every input that could not be colorized, including
            one whose output path holds a file colorize did not write (left alone).
        warnings: notes on the run and its inputs, e.g. a model trained on the
            synthetic toy city, a temperature the model ignores.
    """

    written: list = field(default_factory=list)
    existing: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    noun: ClassVar[str] = "file(s)"  # what was colorized, in the report's first line

    @property
    def ok(self) -> bool:
        """True when no input was skipped for a problem."""
        return not self.skipped

    def written_lines(self) -> list[str]:
        """Lines on each output written (none by default)."""
        return []

    def to_text(self) -> str:
        lines = [f"colorized {len(self.written)} {self.noun}; {len(self.existing)} already done (kept); "
                 f"{len(self.skipped)} skipped", *self.written_lines()]
        lines += [f"  skipped {path}: {reason}" for path, reason in self.skipped]
        lines += [f"  warning: {message}" for message in self.warnings]
        if self.existing:
            lines.append("  (existing outputs are kept; rerun with --overwrite to redo them)")
        return "\n".join(lines)


class OutputPlan:
    """The (input, output) ``jobs`` of a run and the (input, reason) it ``skipped``: one
    output, one input."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Path, Path]] = []
        self.skipped: list[tuple[Path, str]] = []
        self._owners: dict[Path, Path] = {}

    def add(self, source: Path, target: Path) -> None:
        """``source`` to be colorized into ``target``, unless another input has that output
        already (then ``source`` is skipped, saying so)."""
        key = target.resolve()
        if key in self._owners:
            self.skipped.append((source, f"output {target} is already the output of {self._owners[key]}"))
        else:
            self._owners[key] = source
            self.jobs.append((source, target))


def file_stamp(path: Path) -> list[int] | None:
    """Size and modification time of the file itself (a symlink is not followed)."""
    try:
        status = path.lstat()
    except OSError:
        return None
    return [status.st_size, status.st_mtime_ns]


def occupied(path: Path) -> bool:
    """Whether anything is at ``path`` (a file, a folder, a dangling link)."""
    return path.exists() or path.is_symlink()  # a dangling link is still someone's


class OutputManifest:
    """The files colorize wrote into one output folder, kept in ``MANIFEST_NAME`` there.

    An entry maps an output (relative to the folder) to the input it was made from
    (path and size/mtime stamp, so a moved input folder is still recognised) and the
    output's own stamp once it is in place (``output``). A file at an output path is
    colorize's to replace only while it still carries that stamp: a file put there by the
    user, or edited since, is theirs. An output about to be renamed into place is noted
    first with the stamp of its complete temporary file (``pending``; a rename keeps size
    and mtime), so a kill between the rename and the record still leaves it colorize's;
    an entry whose file never got there (a failed or killed write) claims nothing.
    """

    def __init__(self, out_dir) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / MANIFEST_NAME
        self.unreadable = False
        self.entries: dict[str, dict] = {}
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
            self.entries = dict(document["outputs"])
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError):
            # Losing the record only makes colorize more careful: every existing output
            # counts as not its own.
            self.unreadable = True

    def _key(self, target: Path) -> str:
        return target.relative_to(self.out_dir).as_posix()

    def owns(self, target: Path) -> bool:
        """Whether the file at ``target`` is one colorize put there, unchanged since."""
        entry = self.entries.get(self._key(target))
        stamp = file_stamp(target)
        return (isinstance(entry, dict) and stamp is not None
                and stamp in (entry.get("output"), entry.get("pending")))

    def conflict(self, source: Path, target: Path) -> str | None:
        """Why ``target`` may not be (re)written for ``source``; None when it may."""
        if not occupied(target):
            return None
        if not self.owns(target):
            return (
                f"its output {target} already exists and was not written by colorize; "
                "left alone (move it away or choose another --out)"
            )
        entry = self.entries[self._key(target)]
        same_path = entry.get("input") == str(source.resolve())
        stamp = file_stamp(source.resolve())
        same_file = stamp is not None and entry.get("input_stamp") == stamp
        if not (same_path or same_file):
            return (
                f"its output {target} is the colorized copy of another photo, "
                f"{entry.get('input')}; left alone (give a --suffix or another --out)"
            )
        return None

    def expect(self, items: list[tuple[Path, Path, list[int] | None]]) -> None:
        """Record outputs about to be renamed into place: (input, output, stamp of the
        complete temporary file). Saved before the renames (crash-safe both ways)."""
        for source, target, stamp in items:
            resolved = source.resolve()
            self.entries[self._key(target)] = {
                "input": str(resolved),
                "input_stamp": file_stamp(resolved),
                # The file there now stays colorize's until the new one replaces it.
                "output": file_stamp(target) if self.owns(target) else None,
                "pending": stamp,
            }
        self.save([self._key(target) for _, target, _ in items])

    def confirm(self, targets: list[Path]) -> None:
        """Record the stamps of outputs now in place."""
        for target in targets:
            entry = self.entries[self._key(target)]
            entry["output"] = file_stamp(target)
            entry.pop("pending", None)
        self.save([self._key(target) for target in targets])

    def save(self, keys: list[str]) -> None:
        """Write the entries ``keys`` into the record: read, changed and written under the
        folder's lock, so entries another writer saved meanwhile are kept."""
        changes = {key: self.entries[key] for key in keys}

        def merge(document: dict) -> None:
            outputs = document.get("outputs")
            document["about"] = "outputs written by colorkeras colorize"
            document["outputs"] = {**(outputs if isinstance(outputs, dict) else {}), **changes}

        if changes:
            update_json_object(self.path, merge)

"""SUN397 urban-32's class list, and the per-class counts a fetch is checked against.

The study trained on 32 urban scene classes of SUN397; their archive folders, output
names and expected image counts ship as package data (``sun397_urban32.csv``).
``colorkeras.data.sun397`` fetches them; this module says which classes there are, checks
a class list before anything is written, and reports the counts a fetch found.
"""

from __future__ import annotations

import csv
import dataclasses
import importlib.resources
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from colorkeras.errors import ColorkerasError

# A class name becomes a folder name: keep it a single, plain path component.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# How many skipped members to_text() lists before it points to the report file.
_TEXT_SKIPPED_LIMIT = 20

class Sun397Error(ColorkerasError):
    """A failure the user can act on; the message says what happened and what to do."""


@dataclass(frozen=True)
class UrbanClass:
    """One SUN397 class used by the study.

    Args:
        sun397_path: the class folder inside the archive's ``SUN397/`` folder, with a
            leading slash, e.g. ``/a/apartment_building/outdoor``. Only files directly in
            this folder belong to the class.
        name: the output folder name, e.g. ``apartment_building_outdoor``.
        expected_images: how many images SUN397 has in this class.
    """

    sun397_path: str
    name: str
    expected_images: int


class ClassCount(NamedTuple):
    """Images of one class found in the output folder, against the expected number."""

    name: str
    expected: int
    found: int


@dataclass
class CountCheck:
    """Per-class image counts after a fetch, and what the fetch did.

    Args:
        per_class: one row (name, expected, found) per class, in class-list order;
            ``found`` counts the images present in ``out_dir/<name>/`` after the run.
        skipped: (source member or file, reason) for everything left out on purpose:
            unsafe archive members (links, devices, absolute or ``..`` names), non-image
            files in a class folder, class folders missing from an extracted source.
        written: images written by this run.
        already_present: images that were already in place (complete) and were kept.
        source: the URL, archive path or folder that was read.
        report_path: the JSON report written beside the class folders.
    """

    per_class: list[ClassCount]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    written: int = 0
    already_present: int = 0
    source: str = ""
    report_path: str | None = None

    @property
    def matches(self) -> bool:
        """True when every class has exactly the expected number of images."""
        return all(row.found == row.expected for row in self.per_class)

    @property
    def differences(self) -> list[ClassCount]:
        """The rows whose found count differs from the expected count."""
        return [row for row in self.per_class if row.found != row.expected]

    def to_text(self) -> str:
        """A short human-readable summary: a table of the classes that differ, if any."""
        expected_total = sum(row.expected for row in self.per_class)
        found_total = sum(row.found for row in self.per_class)
        n = len(self.per_class)
        lines = [f"Wrote {self.written:,} images; {self.already_present:,} were already present."]
        diffs = self.differences
        if not diffs:
            lines.append(
                f"All {n} classes have the expected number of images ({found_total:,} in total)."
            )
        else:
            width = max(len("class"), *(len(row.name) for row in diffs))
            lines.append(f"{'class':<{width}}  {'expected':>8}  {'found':>8}  {'difference':>10}")
            for row in diffs:
                lines.append(
                    f"{row.name:<{width}}  {row.expected:>8,}  {row.found:>8,}  "
                    f"{row.found - row.expected:>+10,}"
                )
            lines.append(
                f"{len(diffs)} of {n} classes differ from the expected counts; "
                f"{found_total:,} of {expected_total:,} images present."
            )
            if found_total == 0:
                lines.append(
                    "No image of these classes was found: is the source really SUN397 "
                    "(folders like SUN397/a/alley/)?"
                )
        if self.skipped:
            lines.append(f"Skipped {len(self.skipped):,} item(s) on purpose:")
            for name, reason in self.skipped[:_TEXT_SKIPPED_LIMIT]:
                lines.append(f"  {name}: {reason}")
            rest = len(self.skipped) - _TEXT_SKIPPED_LIMIT
            if rest > 0:
                where = f" (all listed in {self.report_path})" if self.report_path else ""
                lines.append(f"  ... and {rest:,} more{where}")
        return "\n".join(lines)


def load_urban32() -> list[UrbanClass]:
    """The study's 32 urban SUN397 classes with their expected image counts."""
    text = (
        importlib.resources.files("colorkeras.data")
        .joinpath("sun397_urban32.csv")
        .read_text(encoding="utf-8")
    )
    reader = csv.DictReader(io.StringIO(text))
    wanted = {"sun397_path", "class", "expected_images"}
    if not wanted <= set(reader.fieldnames or ()):
        raise Sun397Error(
            f"Package data sun397_urban32.csv lacks columns {sorted(wanted)}; "
            "reinstall colorkeras."
        )
    return [
        UrbanClass(
            sun397_path=row["sun397_path"].strip(),
            name=row["class"].strip(),
            expected_images=int(row["expected_images"]),
        )
        for row in reader
    ]


def resolve_classes(classes: Iterable[UrbanClass | str] | None) -> list[UrbanClass]:
    if classes is None:
        items: list[UrbanClass | str] = list(load_urban32())
    else:
        items = list(classes)
    by_name: dict[str, UrbanClass] | None = None
    resolved: list[UrbanClass] = []
    for item in items:
        if isinstance(item, str):
            if by_name is None:
                by_name = {c.name: c for c in load_urban32()}
            if item not in by_name:
                raise Sun397Error(
                    f"Unknown class {item!r}; the urban classes are: {', '.join(sorted(by_name))}."
                )
            item = by_name[item]
        elif not isinstance(item, UrbanClass):
            raise TypeError(f"classes must hold UrbanClass objects or names, got {item!r}")
        resolved.append(_checked_class(item))
    if not resolved:
        raise Sun397Error("No classes to fetch.")
    names = [c.name for c in resolved]
    paths = [c.sun397_path for c in resolved]
    if len(set(names)) != len(names) or len(set(paths)) != len(paths):
        raise Sun397Error("The class list repeats a class name or a SUN397 path.")
    return resolved


def _checked_class(cls: UrbanClass) -> UrbanClass:
    # The name becomes a folder in out_dir and the path is matched against archive
    # names: reject anything that could make either ambiguous or escape.
    if not _SAFE_NAME.fullmatch(cls.name) or cls.name in {".", ".."}:
        raise Sun397Error(f"Class name {cls.name!r} is not a plain folder name.")
    path = cls.sun397_path.rstrip("/")
    parts = path.split("/")
    if not path.startswith("/") or any(p in {"", ".", ".."} for p in parts[1:]):
        raise Sun397Error(
            f"SUN397 path {cls.sun397_path!r} of class {cls.name!r} must look like /a/alley."
        )
    if cls.expected_images < 0:
        raise Sun397Error(f"Class {cls.name!r} has a negative expected count.")
    return dataclasses.replace(cls, sun397_path=path)

"""Photos and films colorized for an interactive face: what the app does, without a page.

`ColorizeService` holds the models it offers, each loaded once (`Predictor.open`), and
answers requests with the knobs of each (decode temperature, chroma upsampling): photos
are read by `colorkeras.images.read_rgb`, colorized by the Predictor and written by
`colorkeras.images.save_rgb`, as ``colorkeras colorize`` does; films go through
`colorkeras.inference.video.colorize_video` with the same Predictor. Everything it writes
(uploads, previews, results, zips) stays in its own temporary folder (`Workspace`): a
session's files are removed when it asks for new results or ends, and the folder when
the service closes. `colorkeras.app` puts a Gradio page around it; this module imports no
Gradio, so it is used and tested in plain Python.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import threading
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from colorkeras.errors import ColorkerasError, InvalidArgument
from colorkeras.images import IMAGE_EXTENSIONS, ImageReadError, read_rgb, save_rgb
from colorkeras.inference.predictor import Predictor, small_photo_warning
from colorkeras.inference.reference import read_reference
from colorkeras.inference.video import VideoReport, colorize_video
from colorkeras.inference.video_io import VideoError, probe_video
from colorkeras.training.shipped import NoShippedModel, default_model_dir, exemplar_model_dir

# A 24 MP camera photo and a 600 dpi scan of a 6x9 inch print pass; each megapixel costs
# about 0.4 s and 30 MB on a 2-core CPU (colorkeras.inference.colorize), so one photo at the limit
# holds the queue for about 20 s. `colorkeras colorize` takes up to 120 MP.
APP_MAX_PIXELS = 50_000_000
# Films: a short clip (flow mode runs at about 3 frames/s at 640x360 on 2 cores, so 30 s
# of 25 fps film holds the queue for about 4 minutes). Frames up to
# colorkeras.inference.video_io.MAX_VIDEO_PIXELS, as in `colorkeras colorize`.
MAX_CLIP_SECONDS = 30.0
# The before/after slider shows photos at up to this side; downloads are full size.
PREVIEW_SIDE = 2048

SHIPPED_LABEL = "default (ships with colorkeras)"
EXEMPLAR_LABEL = "exemplar (ships with colorkeras; needs a reference photo)"
TRANSFER_LABELS = {"global": "global colour transfer (needs a reference photo)",
                   "welsh": "Welsh colour transfer (needs a reference photo)"}
TEMPORAL_MODES = ("per frame", "flow", "keyframes")


# ------------------------------------------------------------------------------------
# The temporary folder
# ------------------------------------------------------------------------------------
class Workspace:
    """The app's own temporary folder, and which session uses which file in it.

    Gradio's uploads land in ``root/<content hash>/<name>`` (the app points
    ``GRADIO_TEMP_DIR`` here while it serves), outputs in ``root/out/<n>-<kind>/``. A
    session's earlier output of a kind is removed when it makes a new one, its uploads
    when it no longer uses them or closes its page (`end_session`); an upload another
    session also uses (the same file, the same hash) stays until neither does.
    """

    def __init__(self, parent=None):
        self.root = Path(tempfile.mkdtemp(prefix="colorkeras-app-", dir=parent)).resolve()
        self._lock = threading.Lock()
        self._uploads: dict[tuple[str, str], set[Path]] = {}
        self._outputs: dict[tuple[str, str], Path] = {}
        self._numbers = itertools.count()

    def output_folder(self, session: str, kind: str) -> tuple[Path, Path | None]:
        """A new, empty folder for a session's results of ``kind``, and its previous one
        (None if none), which the caller removes (`remove_folder`) once it has taken what
        it keeps from it."""
        with self._lock:
            old = self._outputs.pop((session, kind), None)
            folder = self.root / "out" / f"{next(self._numbers):06d}-{kind}"
            folder.mkdir(parents=True)
            self._outputs[(session, kind)] = folder
        return folder, old

    def remove_folder(self, folder: Path | None) -> None:
        if folder is not None and self.root in folder.parents:
            shutil.rmtree(folder, ignore_errors=True)

    def use_uploads(self, session: str, kind: str, paths) -> None:
        """The session's uploads of ``kind`` are now ``paths``; ones it dropped are removed."""
        inside = {Path(path).resolve() for path in paths if path}
        inside = {path for path in inside if self.root in path.parents}
        with self._lock:
            dropped = self._uploads.get((session, kind), set()) - inside
            self._uploads[(session, kind)] = inside
            unused = self._unused(dropped)
        self._remove(unused)

    def end_session(self, session: str) -> None:
        """Remove everything a closed session left (its outputs and its uploads)."""
        with self._lock:
            outputs = [self._outputs.pop(key) for key in list(self._outputs) if key[0] == session]
            dropped = set()
            for key in [key for key in self._uploads if key[0] == session]:
                dropped |= self._uploads.pop(key)
            unused = self._unused(dropped)
        for folder in outputs:
            shutil.rmtree(folder, ignore_errors=True)
        self._remove(unused)

    def _unused(self, paths: set[Path]) -> set[Path]:
        held = set().union(*self._uploads.values()) if self._uploads else set()
        return paths - held

    def _remove(self, paths) -> None:
        for path in paths:
            try:
                path.unlink(missing_ok=True)
                if path.parent != self.root and self.root in path.parent.parents:
                    path.parent.rmdir()  # Gradio's per-upload folder, once empty
            except OSError:
                pass  # not empty (another upload of the same content) or already gone

    def files(self) -> list[Path]:
        """Every file now in the folder."""
        return sorted(path for path in self.root.rglob("*") if path.is_file())

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


# ------------------------------------------------------------------------------------
# Models
# ------------------------------------------------------------------------------------
@dataclass
class ModelInfo:
    """What the page says about a model and which knobs it shows."""

    label: str
    path: Path
    family: str
    objective: str
    image_size: int
    temperature: float | None  # the default decode temperature; None: the model has no knob
    toy_warning: str | None
    takes_reference: bool = False  # the model colours from a reference photo

    def note(self) -> str:
        """Markdown for the page: what the model is, and a toy's warning."""
        text = (f"**Model** `{self.label}`: {self.family}, {self.objective} objective, "
                f"{self.image_size} px input")
        if self.takes_reference:
            text += "; it takes its colours from the reference photo you give"
        if self.toy_warning:
            text += f"\n\n**Toy model.** Warning: {self.toy_warning}"
        return text


def model_choices(models=None) -> dict[str, Path]:
    """Label -> path of the models the page offers: those given (run folders or ``.keras``
    files), then the shipped default where it is installed.

    Raises:
        InvalidArgument: a given model does not exist, or no model at all.
    """
    choices: dict[str, Path] = {}
    for item in models or []:
        path = Path(item).expanduser()
        if not (path.is_file() or path.is_dir()):
            raise InvalidArgument(f"{item}: not found (give a run folder or a .keras file)")
        label = path.resolve().name if path.is_file() else (path.resolve().name or str(path))
        base, number = label, 2
        while label in choices:
            label, number = f"{base} ({number})", number + 1
        choices[label] = path
    try:
        choices[SHIPPED_LABEL] = default_model_dir()
    except NoShippedModel as error:
        if not choices:
            raise InvalidArgument(f"no model to serve: {error}. Start the app with --model RUN_OR_MODEL "
                                  "(a run folder or a .keras file)") from error
    try:
        choices[EXEMPLAR_LABEL] = exemplar_model_dir()
    except NoShippedModel:
        pass  # an installation without it offers the classical transfers only
    choices.update({label: name for name, label in TRANSFER_LABELS.items()})
    return choices


# ------------------------------------------------------------------------------------
# Results
# ------------------------------------------------------------------------------------
@dataclass
class PhotoResult:
    name: str  # the uploaded file's name
    width: int
    height: int
    before: Path  # preview of the photo as read (longest side up to PREVIEW_SIDE)
    after: Path  # preview of the result
    download: Path  # the result at the photo's full size
    seconds: float  # read, colorize and write
    note: str | None = None  # e.g. a photo smaller than the model input


def _take_over(earlier, paths) -> "PhotoResult | str | None":
    """An earlier outcome for the same upload and settings, its files linked to ``paths``
    (None: there is none, or its files are gone)."""
    if earlier is None or isinstance(earlier, str):
        return earlier
    try:
        for old, new in zip((earlier.before, earlier.after, earlier.download), paths):
            os.link(old, new)
    except OSError:
        return None
    before, after, download = paths
    return PhotoResult(earlier.name, earlier.width, earlier.height, before, after, download, 0.0, earlier.note)


@dataclass
class PhotoBatch:
    results: list[PhotoResult] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # one per photo refused, and notes
    archive: Path | None = None  # every result in one zip
    seconds: float = 0.0
    new: int = 0  # results made in this call (the others were taken over from the last)

    def summary(self, total: int) -> str:
        """Markdown for the page."""
        again = len(self.results) - self.new
        kept = f" ({again} unchanged since the last run)" if again else ""
        names = ", ".join(result.name for result in self.results[:5]) + (", ..." if len(self.results) > 5 else "")
        lines = [f"Colorized {len(self.results)} of {total} photo(s){kept} in {self.seconds:.1f} s"
                 + (f": {names}." if names else ".")]
        lines += [f"- {message}" for message in self.messages]
        lines += [f"- {result.name}: {result.note}" for result in self.results if result.note]
        return "\n".join(lines)


@dataclass
class FilmResult:
    output: Path | None
    messages: list[str] = field(default_factory=list)
    report: VideoReport | None = None  # when colorized

    def summary(self) -> str:
        lines = []
        report = self.report
        if report is not None:
            audio = (f"{report.audio_packets} audio packets copied" if report.audio_packets
                     else "no audio")
            lines.append(f"Colorized {report.frames} frames ({report.model_frames} through the model), "
                         f"{report.width}x{report.height}, {len(report.cuts)} scene cut(s), {audio}.")
        lines += [f"- {message}" for message in self.messages]
        return "\n".join(lines)


def _preview(rgb: np.ndarray, path: Path, side: int) -> Path:
    """A JPEG preview of ``rgb`` at ``path``, its longest side at most ``side``."""
    image = Image.fromarray(rgb)
    if max(image.size) > side:
        image.thumbnail((side, side), Image.Resampling.BILINEAR)
    image.save(path, format="JPEG", quality=90)
    return path


def _header_size(path: Path) -> tuple[int, int] | None:
    """A photo's size from its header (None: unreadable, `read_rgb` says why)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.size
    except Image.DecompressionBombError:
        return (Image.MAX_IMAGE_PIXELS * 2, 1)  # more than Pillow opens at all
    except Exception:  # noqa: BLE001 - read_rgb reports it in its own words
        return None


def _output_paths(files: list[Path], folder: Path) -> list[tuple[Path, Path, Path]]:
    """(before preview, after preview, full-size result) in ``folder`` for each upload;
    results are named ``<stem>_color<ext>`` (``_color_2``... for a name taken twice)."""
    taken: set[str] = set()
    paths = []
    for index, source in enumerate(files):
        suffix = source.suffix.lower() if source.suffix.lower() in IMAGE_EXTENSIONS else ".png"
        stem, number = f"{source.stem}_color", 2
        while f"{stem}{suffix}" in taken:
            stem, number = f"{source.stem}_color_{number}", number + 1
        taken.add(f"{stem}{suffix}")
        paths.append((folder / f"{index:03d}-before.jpg", folder / f"{index:03d}-after.jpg",
                      folder / f"{stem}{suffix}"))
    return paths


# ------------------------------------------------------------------------------------
# The service
# ------------------------------------------------------------------------------------
class ColorizeService:
    """The models and the work behind the app's page.

    Args:
        models: run folders or ``.keras`` files offered besides the shipped default (the
            first one is preselected).
        max_pixels: photos above this are refused before decoding.
        max_clip_seconds: films longer than this are refused before decoding.
        temp_parent: where the temporary folder is made (default: the system's).
        preview_side: the longest side of the before/after previews.

    Raises:
        InvalidArgument: a model that does not exist, or no model at all.
    """

    def __init__(self, models=None, *, max_pixels: int = APP_MAX_PIXELS,
                 max_clip_seconds: float = MAX_CLIP_SECONDS, temp_parent=None,
                 preview_side: int = PREVIEW_SIDE):
        if max_pixels < 1 or not max_clip_seconds > 0:
            raise InvalidArgument("the photo and film limits must be > 0")
        self.models = model_choices(models)
        self.max_pixels = int(max_pixels)
        self.max_clip_seconds = float(max_clip_seconds)
        self.preview_side = int(preview_side)
        self.workspace = Workspace(temp_parent)
        self._loaded: dict[str, Predictor] = {}
        self._load_lock = threading.Lock()
        self._previous: dict[str, tuple] = {}  # session -> (settings, {upload: outcome}) of its last photos
        self._previous_lock = threading.Lock()

    # ----------------------------------------------------------------- models
    @property
    def default_label(self) -> str:
        return next(iter(self.models))

    def _base(self, label: str) -> Predictor:
        """The label's predictor, loaded once (and run once, so the first photo is not slow)."""
        if label not in self.models:
            raise InvalidArgument(f"unknown model {label!r}; choose one of {', '.join(self.models)}")
        with self._load_lock:
            if label not in self._loaded:
                predictor = Predictor.open(self.models[label], batch_size=1)
                size = predictor.image_size
                warm_reference = [np.full((8, 8, 3), (50.0, 20.0, 20.0), np.float32)] if predictor.takes_reference else None
                predictor.predict_normalized(np.zeros((1, size, size, 1), np.float32), warm_reference)
                self._loaded[label] = predictor
            return self._loaded[label]

    def model_info(self, label: str) -> ModelInfo:
        base = self._base(label)
        return ModelInfo(label, self.models[label], base.model.family, base.objective.name, base.image_size,
                         base.temperature, base.synthetic_warning(), base.takes_reference)

    @staticmethod
    def reference_for(predictor: Predictor, reference) -> tuple[np.ndarray | None, str | None]:
        """(the reference photo's LAB or None, a message or None) for a model and an upload:
        a model that needs one without one, one for a model that takes none, or a grey or
        unreadable photo is a message for the page."""
        if not predictor.takes_reference:
            note = None if not reference else "The reference photo is not used: this model colours without one."
            return None, note
        if not reference:
            return None, "This model takes its colours from a reference photo: upload one (a colour photo of the place)."
        try:
            return read_reference(reference), None
        except (ColorkerasError, OSError) as error:
            return None, f"Reference photo not used: {getattr(error, 'reason', None) or error}"

    def predictor(self, label: str, temperature: float | None = None, chroma_upsampling: str = "auto") -> Predictor:
        """A `Predictor` on the label's loaded model with these knobs (nothing is loaded again;
        a temperature is ignored by a model without one)."""
        return Predictor.open(self._base(label), chroma_upsampling=chroma_upsampling, temperature=temperature)

    # ----------------------------------------------------------------- photos
    def colorize_photos(self, files, model: str | None = None, temperature: float | None = None,
                        chroma_upsampling: str = "auto", session: str = "local",
                        progress=None, reference=None) -> PhotoBatch:
        """Colorize uploaded photo files into a new output folder of the session.

        Every photo that cannot be colorized (not an image, damaged, over ``max_pixels``)
        gets a message and the rest go on. A photo the session's previous call already
        colorized with the same model and knobs is taken over from it, not done again (the
        page sends the whole list each time a photo is added). ``progress(done, total,
        name)`` is called before each photo. ``reference``: a reference photo's path, for a
        model that colours from one (`reference_for`).
        """
        start = time.perf_counter()
        files = [Path(item) for item in (files or []) if item]
        self.workspace.use_uploads(session, "photos", files)
        batch = PhotoBatch()
        if not files:
            return batch
        label = model or self.default_label
        predictor = self.predictor(label, temperature, chroma_upsampling)
        lab, note = self.reference_for(predictor, reference)
        batch.messages += [note] if note else []
        if predictor.takes_reference and lab is None:
            return batch
        settings = (label, predictor.temperature, predictor.chroma_upsampling, self.max_pixels, reference)
        with self._previous_lock:
            earlier_settings, earlier = self._previous.pop(session, (None, {}))
        if earlier_settings != settings:
            earlier = {}
        folder, old = self.workspace.output_folder(session, "photos")
        done: dict[str, PhotoResult | str] = {}
        try:
            for index, (source, paths) in enumerate(zip(files, _output_paths(files, folder))):
                if progress is not None:
                    progress(index, len(files), source.name)
                outcome = _take_over(earlier.get(str(source)), paths)
                if outcome is None:
                    outcome = self._colorize_photo(predictor, source, source.name, paths, lab)
                    batch.new += isinstance(outcome, PhotoResult)
                done[str(source)] = outcome
                if isinstance(outcome, PhotoResult):
                    batch.results.append(outcome)
                else:
                    batch.messages.append(outcome)
        finally:
            self.workspace.remove_folder(old)
            with self._previous_lock:
                self._previous[session] = (settings, done)
        if batch.results:
            batch.archive = folder / "colorized.zip"
            with zipfile.ZipFile(batch.archive, "w", zipfile.ZIP_STORED) as archive:
                for result in batch.results:
                    archive.write(result.download, result.download.name)
        batch.seconds = time.perf_counter() - start
        return batch

    def _colorize_photo(self, predictor: Predictor, source: Path, name: str, paths,
                        reference: np.ndarray | None = None) -> PhotoResult | str:
        """One photo read, colorized and written (the result), or why not (a message)."""
        begin = time.perf_counter()
        size = _header_size(source)
        if size is not None and size[0] * size[1] > self.max_pixels:
            width, height = size
            return (f"{name}: refused, {width}x{height} is {width * height / 1e6:.3g} MP, over this app's "
                    f"limit of {self.max_pixels / 1e6:g} MP (scale it down, or use `colorkeras colorize`, "
                    "which takes up to 120 MP)")
        try:
            rgb = read_rgb(source, max_pixels=self.max_pixels)
        except ImageReadError as error:
            return f"{name}: not colorized, {error.reason}"
        height, width = rgb.shape[:2]
        before, after, download = paths
        _preview(rgb, before, self.preview_side)
        try:
            [[item]] = predictor.colorize_many([(name, rgb) if reference is None else (name, rgb, reference)])
            del rgb
            colored = item.rgb()
            save_rgb(colored, download)
        except (ColorkerasError, OSError, MemoryError) as error:
            return f"{name}: not colorized, {error}"
        seconds = time.perf_counter() - begin
        _preview(colored, after, self.preview_side)
        note = small_photo_warning(width, height, predictor.image_size)
        return PhotoResult(name, width, height, before, after, download, seconds, note)

    # ----------------------------------------------------------------- films
    def _film_refusal(self, source: Path) -> str | None:
        """Why a film is not colorized (not a video, no frames, over the length or frame-size
        limit, damaged), read from its header; None when it may be."""
        name = source.name
        try:
            info = probe_video(source)
        except VideoError as error:
            return f"{name}: not colorized, {str(error).removeprefix(f'{source}: ')}"
        if info.seconds is None:
            return f"{name}: not colorized, its length cannot be read (the limit is {self.max_clip_seconds:g} s)"
        if info.seconds > self.max_clip_seconds:
            return (f"{name}: refused, it is {info.seconds:.1f} s long, over this app's limit of "
                    f"{self.max_clip_seconds:g} s (cut it, or use `colorkeras colorize`)")
        if info.frames == 0 or info.seconds == 0:
            return f"{name}: not colorized, it has no frames"
        return None

    def colorize_film(self, file, model: str | None = None, mode: str = "flow", keyframe_every: int = 8,
                      session: str = "local", progress: bool = False, temperature: float | None = None,
                      chroma_upsampling: str = "auto", reference=None) -> FilmResult:
        """Colorize an uploaded film into a new output folder of the session (.mp4, its
        audio copied where MP4 holds it), with the same Predictor and knobs as photos. A
        film that cannot be colorized gets a message (`_film_refusal`, or the error)."""
        self.workspace.use_uploads(session, "film", [file] if file else [])
        if not file:
            return FilmResult(None, ["Upload a film first."])
        if mode not in TEMPORAL_MODES:
            raise InvalidArgument(f"temporal mode must be one of {', '.join(TEMPORAL_MODES)}, got {mode!r}")
        source = Path(file)
        refusal = self._film_refusal(source)
        if refusal:
            return FilmResult(None, [refusal])
        temporal = "off" if mode == "per frame" else "flow"
        every = int(keyframe_every) if mode == "keyframes" else None
        predictor = self.predictor(model or self.default_label, temperature, chroma_upsampling)
        lab, note = self.reference_for(predictor, reference)
        if predictor.takes_reference and lab is None:
            return FilmResult(None, [note])
        folder, old = self.workspace.output_folder(session, "film")
        self.workspace.remove_folder(old)
        target = folder / f"{source.stem}_color.mp4"
        try:
            report = colorize_video(predictor, source, target, temporal, every, progress=progress, reference=lab)
        except (ColorkerasError, OSError, MemoryError) as error:
            for path in folder.iterdir():  # what a failed encode left (a film without frames)
                path.unlink(missing_ok=True)
            message = str(error).removeprefix(f"{source}: ")
            return FilmResult(None, [f"{source.name}: not colorized, {message}"])
        return FilmResult(target, [note] * bool(note) + list(report.warnings), report)

    def end_session(self, session: str) -> None:
        """Forget a closed session and remove its files."""
        with self._previous_lock:
            self._previous.pop(session, None)
        self.workspace.end_session(session)

    def close(self) -> None:
        """Remove the temporary folder."""
        self.workspace.close()

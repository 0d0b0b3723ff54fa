"""The colorkeras app: drop old photos (or a short film) on a page and see them in colour.

``colorkeras app`` (or `launch` in a notebook cell, Colab included) serves a Gradio page.
It is a thin face on the package, with no colour code of its own: photos are read by
`colorkeras.images.read_rgb`, colorized by `colorkeras.inference.predictor.Predictor` and written by
`colorkeras.images.save_rgb`, as ``colorkeras colorize`` does; films go through
`colorkeras.inference.video.colorize_video`. `ColorizeApp` holds the models, each loaded once, and
does the work in plain Python (`colorize_photos`, `colorize_film`), so it can be used and
tested without a browser; `ColorizeApp.build` puts the page around it.

Requests are served one after another (one queue for photos and films; the page shows a
waiting request its place in it). Everything the app writes (Gradio's uploads, previews,
results, zips) stays in its own temporary folder (`Workspace`): a session's files are
removed when it asks for new results or closes its page, and the folder when the app stops.
Gradio is imported only when the page is built.
"""

import contextlib
import itertools
import os
import shutil
import signal
import tempfile
import threading
import time
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from colorkeras.errors import ColorkerasError, InvalidArgument

# A 24 MP camera photo and a 600 dpi scan of a 6x9 inch print pass; each megapixel costs
# about 0.4 s and 30 MB on a 2-core CPU (colorkeras.inference.colorize), so one photo at the limit
# holds the queue for about 20 s. `colorkeras colorize` takes up to 120 MP.
APP_MAX_PIXELS = 50_000_000
# Films: a short clip (flow mode runs at about 3 frames/s at 640x360 on 2 cores, so 30 s
# of 25 fps film holds the queue for about 4 minutes). Frames up to
# colorkeras.inference.video.MAX_VIDEO_PIXELS, as in `colorkeras colorize`.
MAX_CLIP_SECONDS = 30.0
# Gradio refuses larger uploads before they reach the app.
MAX_UPLOAD = "500mb"
# The before/after slider shows photos at up to this side; downloads are full size.
PREVIEW_SIDE = 2048
# Requests waiting beyond this many get "queue full" from Gradio.
QUEUE_SIZE = 32

SHIPPED_LABEL = "default (ships with colorkeras)"
TEMPORAL_MODES = ("per frame", "flow", "keyframes")
CHROMA_MODES = ("auto", "guided", "resize")
PHOTO_FORMATS = "JPEG, PNG, TIFF, WebP, BMP, and HEIC or AVIF where the installed Pillow reads them"
FILM_FORMATS = ".mp4 .mov .avi .mkv .webm, animated .gif"


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

    def note(self) -> str:
        """Markdown for the page: what the model is, and a toy's warning."""
        text = (f"**Model** `{self.label}`: {self.family}, {self.objective} objective, "
                f"{self.image_size} px input")
        if self.toy_warning:
            text += f"\n\n**Toy model.** Warning: {self.toy_warning}"
        return text


def model_choices(models=None) -> dict[str, Path]:
    """Label -> path of the models the page offers: those given (run folders or ``.keras``
    files), then the shipped default where it is installed.

    Raises:
        InvalidArgument: a given model does not exist, or no model at all.
    """
    from colorkeras.models.shipped import NoShippedModel, default_model_dir

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
    report: object = None  # the colorkeras.inference.video.VideoReport, when colorized

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


def _display_name(path: Path) -> str:
    return Path(path).name


def _preview(rgb: np.ndarray, path: Path, side: int) -> Path:
    from PIL import Image

    image = Image.fromarray(rgb)
    if max(image.size) > side:
        image.thumbnail((side, side), Image.Resampling.BILINEAR)
    image.save(path, format="JPEG", quality=90)
    return path


def _header_size(path: Path) -> tuple[int, int] | None:
    """A photo's size from its header (None: unreadable, `read_rgb` says why)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                return image.size
    except Image.DecompressionBombError:
        return (Image.MAX_IMAGE_PIXELS * 2, 1)  # more than Pillow opens at all
    except Exception:  # noqa: BLE001 - read_rgb reports it in its own words
        return None


# ------------------------------------------------------------------------------------
# The app
# ------------------------------------------------------------------------------------
class ColorizeApp:
    """The models and the work behind the page.

    Args:
        models: run folders or ``.keras`` files offered besides the shipped default (the
            first one is preselected).
        max_pixels: photos above this are refused before decoding.
        max_clip_seconds: films longer than this are refused before decoding.
        temp_parent: where the temporary folder is made (default: the system's).

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
        self._loaded: dict[str, object] = {}
        self._load_lock = threading.Lock()
        self._previous: dict[str, tuple] = {}  # session -> (settings, {upload: outcome}) of its last photos
        self._previous_lock = threading.Lock()
        self.demo = None
        self._environment = None  # GRADIO_TEMP_DIR before `launch` set it

    # ----------------------------------------------------------------- models
    @property
    def default_label(self) -> str:
        return next(iter(self.models))

    def _base(self, label: str):
        """The label's predictor, loaded once (and run once, so the first photo is not slow)."""
        from colorkeras.inference.predictor import Predictor

        if label not in self.models:
            raise InvalidArgument(f"unknown model {label!r}; choose one of {', '.join(self.models)}")
        with self._load_lock:
            if label not in self._loaded:
                predictor = Predictor.open(self.models[label], batch_size=1)
                size = predictor.image_size
                predictor.predict_normalized(np.zeros((1, size, size, 1), np.float32))
                self._loaded[label] = predictor
            return self._loaded[label]

    def model_info(self, label: str) -> ModelInfo:
        base = self._base(label)
        return ModelInfo(label, self.models[label], base.model.family, base.objective.name, base.image_size,
                         base.temperature, base.synthetic_warning())

    def predictor(self, label: str, temperature: float | None = None, chroma_upsampling: str = "auto"):
        """A `Predictor` on the label's loaded model with these knobs (nothing is loaded again)."""
        from colorkeras.inference.predictor import Predictor

        base = self._base(label)
        return Predictor(base.model, base.objective, 1, source_run=base.source_run,
                         chroma_upsampling=chroma_upsampling,
                         temperature=temperature if base.temperature is not None else None)

    # ----------------------------------------------------------------- photos
    def colorize_photos(self, files, model: str | None = None, temperature: float | None = None,
                        chroma_upsampling: str = "auto", session: str = "local",
                        progress=None) -> PhotoBatch:
        """Colorize uploaded photo files into a new output folder of the session.

        Every photo that cannot be colorized (not an image, damaged, over ``max_pixels``)
        gets a message and the rest go on. A photo the session's previous call already
        colorized with the same model and knobs is taken over from it, not done again (the
        page sends the whole list each time a photo is added). ``progress(done, total,
        name)`` is called before each photo.
        """
        from colorkeras.images import IMAGE_EXTENSIONS

        start = time.perf_counter()
        files = [Path(item) for item in (files or []) if item]
        self.workspace.use_uploads(session, "photos", files)
        batch = PhotoBatch()
        if not files:
            return batch
        label = model or self.default_label
        predictor = self.predictor(label, temperature, chroma_upsampling)
        settings = (label, predictor.temperature, predictor.chroma_upsampling, self.max_pixels)
        with self._previous_lock:
            earlier_settings, earlier = self._previous.pop(session, (None, {}))
        if earlier_settings != settings:
            earlier = {}
        folder, old = self.workspace.output_folder(session, "photos")
        done: dict[str, PhotoResult | str] = {}
        try:
            taken: set[str] = set()
            for index, source in enumerate(files):
                name = _display_name(source)
                if progress is not None:
                    progress(index, len(files), name)
                suffix = source.suffix.lower() if source.suffix.lower() in IMAGE_EXTENSIONS else ".png"
                stem, number = f"{source.stem}_color", 2
                while f"{stem}{suffix}" in taken:
                    stem, number = f"{source.stem}_color_{number}", number + 1
                taken.add(f"{stem}{suffix}")
                paths = (folder / f"{index:03d}-before.jpg", folder / f"{index:03d}-after.jpg",
                         folder / f"{stem}{suffix}")
                outcome = _take_over(earlier.get(str(source)), paths)
                if outcome is None:
                    outcome = self._colorize_photo(predictor, source, name, paths)
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

    def _colorize_photo(self, predictor, source: Path, name: str, paths) -> "PhotoResult | str":
        """One photo read, colorized and written (the result), or why not (a message)."""
        from colorkeras.images import ImageReadError, read_rgb, save_rgb
        from colorkeras.inference.predictor import small_photo_warning

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
            [[item]] = predictor.colorize_many([(name, rgb)])
            del rgb
            colour = item.rgb()
            save_rgb(colour, download)
        except (ColorkerasError, OSError, MemoryError) as error:
            return f"{name}: not colorized, {error}"
        seconds = time.perf_counter() - begin
        _preview(colour, after, self.preview_side)
        note = small_photo_warning(width, height, predictor.image_size)
        return PhotoResult(name, width, height, before, after, download, seconds, note)

    # ----------------------------------------------------------------- films
    def colorize_film(self, file, model: str | None = None, mode: str = "flow", keyframe_every: int = 8,
                      session: str = "local", progress: bool = False,
                      temperature: float | None = None) -> FilmResult:
        """Colorize an uploaded film into a new output folder of the session (.mp4, its
        audio copied where MP4 holds it). A film that cannot be colorized (not a video,
        no frames, over the length or frame-size limit, damaged) gets a message."""
        from colorkeras.inference.video import colorize_video
        from colorkeras.inference.video_io import VideoError, probe_video

        self.workspace.use_uploads(session, "film", [file] if file else [])
        if not file:
            return FilmResult(None, ["Upload a film first."])
        if mode not in TEMPORAL_MODES:
            raise InvalidArgument(f"temporal mode must be one of {', '.join(TEMPORAL_MODES)}, got {mode!r}")
        source = Path(file)
        name = _display_name(source)
        try:
            info = probe_video(source)
        except VideoError as error:
            return FilmResult(None, [f"{name}: not colorized, {str(error).removeprefix(f'{source}: ')}"])
        if info.seconds is None:
            return FilmResult(None, [f"{name}: not colorized, its length cannot be read (the limit is "
                                     f"{self.max_clip_seconds:g} s)"])
        if info.seconds > self.max_clip_seconds:
            return FilmResult(None, [f"{name}: refused, it is {info.seconds:.1f} s long, over this app's limit of "
                                     f"{self.max_clip_seconds:g} s (cut it, or use `colorkeras colorize`)"])
        if info.frames == 0 or info.seconds == 0:
            return FilmResult(None, [f"{name}: not colorized, it has no frames"])
        temporal = "off" if mode == "per frame" else "flow"
        every = int(keyframe_every) if mode == "keyframes" else None
        predictor = self.predictor(model or self.default_label, temperature)
        folder, old = self.workspace.output_folder(session, "film")
        self.workspace.remove_folder(old)
        target = folder / f"{source.stem}_color.mp4"
        try:
            report = colorize_video(predictor, source, target, temporal, every, progress=progress)
        except (ColorkerasError, OSError, MemoryError) as error:
            for path in folder.iterdir():  # what a failed encode left (a film without frames)
                path.unlink(missing_ok=True)
            message = str(error).removeprefix(f"{source}: ")
            return FilmResult(None, [f"{name}: not colorized, {message}"])
        return FilmResult(target, list(report.warnings), report)

    def end_session(self, session: str) -> None:
        """Forget a closed session and remove its files."""
        with self._previous_lock:
            self._previous.pop(session, None)
        self.workspace.end_session(session)

    # ----------------------------------------------------------------- the page
    def build(self):
        """The Gradio page (a `gradio.Blocks`), queued one request at a time."""
        import gradio as gr

        labels = list(self.models)
        first = self.model_info(self.default_label)

        def knob(info: ModelInfo):
            if info.temperature is None:
                return gr.update(visible=False)
            return gr.update(visible=True, value=info.temperature, info=_knob_text(info))

        def choose_model(label):
            with _on_page():
                info = self.model_info(label)
            return knob(info), info.note()

        def session_of(request) -> str:
            return getattr(request, "session_hash", None) or "local"

        def photos(files, label, temperature, chroma, request: gr.Request, progress=gr.Progress()):
            def step(done, total, name):
                progress((done, total), desc=f"colorizing {name}", unit="photos")

            files = _upload_paths(files)
            with _on_page():
                batch = self.colorize_photos(files, label, temperature, chroma, session_of(request), step)
            results = [(r.name, str(r.before), str(r.after), f"{r.width}x{r.height}") for r in batch.results]
            names = [r[0] for r in results]
            shown = (results[0][1], results[0][2]) if results else None
            return (gr.update(value=shown, label=_slider_label(results[0]) if results else "Before / after"),
                    gr.update(choices=names, value=names[0] if names else None, visible=len(names) > 1),
                    batch.summary(len(files)) if files else "",
                    [str(r.download) for r in batch.results] or None,
                    gr.update(value=str(batch.archive) if batch.archive else None, visible=batch.archive is not None),
                    results)

        def pick_photo(name, results):
            for result in results or []:
                if result[0] == name:
                    return gr.update(value=(result[1], result[2]), label=_slider_label(result))
            return gr.update()

        def film(file, label, mode, every, temperature, request: gr.Request,
                 progress=gr.Progress(track_tqdm=True)):
            file = next(iter(_upload_paths(file)), None)
            with _on_page():
                result = self.colorize_film(file, label, mode, every, session_of(request), progress=True,
                                            temperature=temperature)
            output = str(result.output) if result.output else None
            return output, output, result.summary()

        def hold_film(file, request: gr.Request):
            self.workspace.use_uploads(session_of(request), "film", _upload_paths(file))

        def end(request: gr.Request):
            self.end_session(session_of(request))

        limits = (f"Photos up to {self.max_pixels / 1e6:.0f} MP ({PHOTO_FORMATS}); films up to "
                  f"{self.max_clip_seconds:g} s ({FILM_FORMATS}); uploads up to {MAX_UPLOAD}. Requests are "
                  "served one at a time: a waiting one shows its place in the queue.")
        with gr.Blocks(title="colorkeras", analytics_enabled=False) as demo:
            gr.Markdown("# colorkeras\nColour for old black-and-white photos and films. " + limits)
            with gr.Row():
                model = gr.Dropdown(labels, value=self.default_label, label="Model", elem_id="model", scale=2)
                temperature = gr.Slider(0.1, 3.0, step=0.05, value=first.temperature or 1.0,
                                        label="Vividness (decode temperature)", elem_id="temperature", scale=2,
                                        visible=first.temperature is not None, info=_knob_text(first))
            note = gr.Markdown(first.note(), elem_id="model-note")
            with gr.Tab("Photos", elem_id="photos-tab"):
                with gr.Row():
                    with gr.Column(scale=1):
                        photo_in = gr.File(file_count="multiple", label=f"Photos ({PHOTO_FORMATS})",
                                           elem_id="photos-input")
                        chroma = gr.Radio(list(CHROMA_MODES), value="auto", label="Chroma upsampling",
                                          info="guided: colour follows the photo's own edges; resize: plain "
                                               "bilinear; auto: guided for photos at least 3x the model's size",
                                          elem_id="chroma")
                        again = gr.Button("Colorize again", elem_id="photos-again")
                        photo_msg = gr.Markdown(elem_id="photo-messages")
                    with gr.Column(scale=2):
                        slider = gr.ImageSlider(label="Before / after", type="filepath", interactive=False,
                                                buttons=["fullscreen"], elem_id="photo-slider", max_height=640)
                        pick = gr.Dropdown([], label="Photo", visible=False, elem_id="photo-pick")
                        downloads = gr.Files(label="Downloads, at each photo's full resolution", interactive=False,
                                             elem_id="photo-downloads")
                        archive = gr.DownloadButton("Download all (zip)", visible=False, elem_id="photo-zip")
                results = gr.State([])
            with gr.Tab("Films", elem_id="films-tab"):
                with gr.Row():
                    with gr.Column(scale=1):
                        film_in = gr.File(label=f"Film ({FILM_FORMATS}; up to {self.max_clip_seconds:g} s)",
                                          elem_id="film-input")
                        mode = gr.Radio(list(TEMPORAL_MODES), value="flow", label="Temporal mode",
                                        info="per frame: each frame on its own; flow: colour carried along the "
                                             "motion, no flicker; keyframes: the model on every K-th frame only "
                                             "(faster)", elem_id="temporal")
                        every = gr.Slider(2, 30, value=8, step=1, label="Keyframe every K frames", visible=False,
                                          elem_id="keyframe-every")
                        go = gr.Button("Colorize film", variant="primary", elem_id="film-go")
                        film_msg = gr.Markdown(elem_id="film-messages")
                    with gr.Column(scale=2):
                        film_out = gr.Video(label="Result, with its audio", format=None, interactive=False,
                                            elem_id="film-output")
                        film_file = gr.File(label="Download", interactive=False, elem_id="film-download")

            model.change(choose_model, [model], [temperature, note], concurrency_id="model")
            # preprocess=False: gr.File's preprocessing (gradio 6.31) leaves an empty temporary
            # file in the upload folder per file and call; Gradio still checks that the paths
            # are its own uploads before the handler sees them.
            photo_args = dict(inputs=[photo_in, model, temperature, chroma],
                              outputs=[slider, pick, photo_msg, downloads, archive, results],
                              concurrency_id="model", preprocess=False)
            photo_in.upload(photos, **photo_args)
            again.click(photos, **photo_args)
            pick.input(pick_photo, [pick, results], [slider], queue=False)
            mode.change(lambda value: gr.update(visible=value == "keyframes"), [mode], [every], queue=False)
            film_in.upload(hold_film, [film_in], None, queue=False, preprocess=False)
            go.click(film, [film_in, model, mode, every, temperature], [film_out, film_file, film_msg],
                     concurrency_id="model", preprocess=False)
            demo.unload(end)
        demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
        return demo

    # ----------------------------------------------------------------- serving
    def launch(self, host: str = "127.0.0.1", port: int | None = None, *, share: bool = False,
               inline: bool | None = None, block: bool = True, quiet: bool = False):
        """Serve the page. ``block``: until interrupted (Ctrl-C, SIGTERM), then `close`;
        otherwise return at once (a notebook cell; call `close` to stop). In a notebook,
        Colab included, the page is shown in the cell's output."""
        # Gradio keeps uploads and what it serves in GRADIO_TEMP_DIR: the app's own folder.
        self._environment = (os.environ.get("GRADIO_TEMP_DIR"),)
        os.environ["GRADIO_TEMP_DIR"] = str(self.workspace.root)
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
        self.demo = self.build()
        if not quiet:
            print(f"colorkeras app: temporary folder {self.workspace.root} (removed when the app stops)",
                  flush=True)
        self.demo.launch(server_name=host, server_port=port, share=share, inline=inline, quiet=quiet,
                         prevent_thread_lock=True, max_file_size=MAX_UPLOAD, ssr_mode=False,
                         allowed_paths=[str(self.workspace.root)], show_error=True)
        if not block:
            return self.demo.local_url
        try:
            while self.demo.is_running:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass
        finally:
            self.close()
        return None

    @property
    def url(self) -> str | None:
        return getattr(self.demo, "local_url", None)

    def close(self) -> None:
        """Stop serving and remove the temporary folder."""
        if self.demo is not None:
            self.demo.close(verbose=False)
        self.workspace.close()
        if self._environment is not None:
            [before], self._environment = self._environment, None
            if before is None:
                os.environ.pop("GRADIO_TEMP_DIR", None)
            else:
                os.environ["GRADIO_TEMP_DIR"] = before


def _knob_text(info: ModelInfo) -> str | None:
    """What the vividness knob does for this model's objective (None: it has none)."""
    if info.temperature is None:
        return None
    if info.objective == "confidence":
        return ("1 paints as trained; above 1 keeps colour only where the model is sure, below 1 paints "
                "sure colour more vividly")
    return "1 the mean (accurate); smaller goes towards the most likely colour (vivid)"


@contextlib.contextmanager
def _on_page():
    """A colorkeras error (a model that cannot be loaded, a bad value) as a message on the
    page (gradio.Error) instead of Gradio's bare "Error"."""
    import gradio as gr

    try:
        yield
    except ColorkerasError as error:
        raise gr.Error(str(error)) from error


def _upload_paths(value) -> list[str]:
    """The file paths in a gr.File value as the page sends it (a file's dict, a list of
    them, or paths)."""
    if value is None:
        return []
    if isinstance(value, (str, os.PathLike, dict)):
        value = [value]
    paths = []
    for item in value:
        path = item.get("path") if isinstance(item, dict) else item
        if path:
            paths.append(str(path))
    return paths


def _slider_label(result) -> str:
    name, _, _, size = result
    return f"Before / after: {name} ({size})"


def launch(models=None, host: str = "127.0.0.1", port: int | None = None, *, share: bool = False,
           inline: bool | None = None, block: bool = False, **limits) -> ColorizeApp:
    """Start the app (in a notebook cell: shown inline, Colab included) and return it;
    ``app.close()`` stops it. ``models``: run folders or .keras files besides the shipped
    default; ``limits``: ``max_pixels``, ``max_clip_seconds`` (see `ColorizeApp`)."""
    app = ColorizeApp(models, **limits)
    app.launch(host, port, share=share, inline=inline, block=block)
    return app


def serve(models=None, host: str = "127.0.0.1", port: int | None = None, *, share: bool = False,
          **limits) -> None:
    """What ``colorkeras app`` runs: serve until Ctrl-C or SIGTERM, then clean up."""
    app = ColorizeApp(models, **limits)
    info = app.model_info(app.default_label)  # load the first model before taking requests
    print(f"model: {info.label} ({info.path})", flush=True)
    if info.toy_warning:
        print(f"warning: {info.toy_warning}", flush=True)

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        app.launch(host, port, share=share, block=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        app.close()
    print("colorkeras app: stopped; temporary folder removed", flush=True)

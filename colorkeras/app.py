"""The colorkeras app: drop old photos (or a short film) on a page and see them in colour.

``colorkeras app`` (or `launch` in a notebook cell, Colab included) serves a Gradio page.
It is a thin face: `colorkeras.inference.service.ColorizeService` does the work in plain
Python (the models, each loaded once through `Predictor.open`; photos as ``colorkeras
colorize`` does them; films through `colorkeras.inference.video.colorize_video` with the
same Predictor and knobs; the app's own temporary folder), and `ColorizeApp` puts the
page around it (`ColorizeApp.build`) and serves it.

Requests are served one after another (one queue for photos and films; the page shows a
waiting request its place in it). Everything the app writes (Gradio's uploads, previews,
results, zips) stays in its own temporary folder: a session's files are removed when it
asks for new results or closes its page, and the folder when the app stops. Gradio is
imported only when the page is built.
"""

import contextlib
import os
import signal
import time

from colorkeras.errors import ColorkerasError
from colorkeras.inference.service import TEMPORAL_MODES, ColorizeService, ModelInfo
from colorkeras.inference.upsample import METHODS

# Gradio refuses larger uploads before they reach the app.
MAX_UPLOAD = "500mb"
# Requests waiting beyond this many get "queue full" from Gradio.
QUEUE_SIZE = 32

PHOTO_FORMATS = "JPEG, PNG, TIFF, WebP, BMP, and HEIC or AVIF where the installed Pillow reads them"
FILM_FORMATS = ".mp4 .mov .avi .mkv .webm, animated .gif"
CHROMA_INFO = ("guided: colour follows each photo's or frame's own edges; resize: plain bilinear; auto: "
               "guided where the photo or frame is at least 3x the model's size")
TEMPORAL_INFO = ("per frame: each frame on its own; flow: colour carried along the motion, no flicker; "
                 "keyframes: the model on every K-th frame only (faster)")


class ColorizeApp(ColorizeService):
    """The page around a `ColorizeService` (same arguments), and serving it."""

    def __init__(self, models=None, **limits):
        super().__init__(models, **limits)
        self.demo = None
        self._environment = None  # GRADIO_TEMP_DIR before `launch` set it

    # ----------------------------------------------------------------- the page
    def build(self):
        """The Gradio page (a `gradio.Blocks`), queued one request at a time."""
        import gradio as gr

        first = self.model_info(self.default_label)
        limits = (f"Photos up to {self.max_pixels / 1e6:.0f} MP ({PHOTO_FORMATS}); films up to "
                  f"{self.max_clip_seconds:g} s ({FILM_FORMATS}); uploads up to {MAX_UPLOAD}. Requests are "
                  "served one at a time: a waiting one shows its place in the queue.")
        with gr.Blocks(title="colorkeras", analytics_enabled=False) as demo:
            gr.Markdown("# colorkeras\nColour for old black-and-white photos and films. " + limits)
            with gr.Row():
                model = gr.Dropdown(list(self.models), value=self.default_label, label="Model", elem_id="model",
                                    scale=2)
                temperature = gr.Slider(0.1, 3.0, step=0.05, value=first.temperature or 1.0,
                                        label="Vividness (decode temperature)", elem_id="temperature", scale=2,
                                        visible=first.temperature is not None, info=_knob_text(first))
                chroma = gr.Radio(list(METHODS), value="auto", label="Chroma upsampling", info=CHROMA_INFO,
                                  elem_id="chroma", scale=2)
            note = gr.Markdown(first.note(), elem_id="model-note")
            knobs = [model, temperature, chroma]
            with gr.Tab("Photos", elem_id="photos-tab"):
                self._photo_tab(gr, knobs)
            with gr.Tab("Films", elem_id="films-tab"):
                self._film_tab(gr, knobs)
            model.change(self._choose_model(gr), [model], [temperature, note], concurrency_id="model")

            def end(request: gr.Request):
                self.end_session(_session_of(request))

            demo.unload(end)
        demo.queue(default_concurrency_limit=1, max_size=QUEUE_SIZE)
        return demo

    def _choose_model(self, gr):
        """The handler of the model menu: its knob and note."""

        def choose_model(label):
            with _on_page():
                info = self.model_info(label)
            if info.temperature is None:
                return gr.update(visible=False), info.note()
            return gr.update(visible=True, value=info.temperature, info=_knob_text(info)), info.note()

        return choose_model

    def _photo_tab(self, gr, knobs) -> None:
        """The Photos tab: uploads in; a before/after slider, downloads and a zip out."""
        with gr.Row():
            with gr.Column(scale=1):
                photo_in = gr.File(file_count="multiple", label=f"Photos ({PHOTO_FORMATS})", elem_id="photos-input")
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

        def photos(files, label, temperature, chroma, request: gr.Request, progress=gr.Progress()):
            def step(done, total, name):
                progress((done, total), desc=f"colorizing {name}", unit="photos")

            files = _upload_paths(files)
            with _on_page():
                batch = self.colorize_photos(files, label, temperature, chroma, _session_of(request), step)
            shown = [(r.name, str(r.before), str(r.after), f"{r.width}x{r.height}") for r in batch.results]
            names = [r[0] for r in shown]
            return (gr.update(value=(shown[0][1], shown[0][2]) if shown else None,
                              label=_slider_label(shown[0]) if shown else "Before / after"),
                    gr.update(choices=names, value=names[0] if names else None, visible=len(names) > 1),
                    batch.summary(len(files)) if files else "",
                    [str(r.download) for r in batch.results] or None,
                    gr.update(value=str(batch.archive) if batch.archive else None, visible=batch.archive is not None),
                    shown)

        def pick_photo(name, shown):
            for result in shown or []:
                if result[0] == name:
                    return gr.update(value=(result[1], result[2]), label=_slider_label(result))
            return gr.update()

        # preprocess=False: gr.File's preprocessing (gradio 6.31) leaves an empty temporary
        # file in the upload folder per file and call; Gradio still checks that the paths
        # are its own uploads before the handler sees them.
        photo_args = dict(inputs=[photo_in, *knobs], outputs=[slider, pick, photo_msg, downloads, archive, results],
                          concurrency_id="model", preprocess=False)
        photo_in.upload(photos, **photo_args)
        again.click(photos, **photo_args)
        pick.input(pick_photo, [pick, results], [slider], queue=False)

    def _film_tab(self, gr, knobs) -> None:
        """The Films tab: a film in; the colour film, playable and downloadable, out."""
        with gr.Row():
            with gr.Column(scale=1):
                film_in = gr.File(label=f"Film ({FILM_FORMATS}; up to {self.max_clip_seconds:g} s)",
                                  elem_id="film-input")
                mode = gr.Radio(list(TEMPORAL_MODES), value="flow", label="Temporal mode", info=TEMPORAL_INFO,
                                elem_id="temporal")
                every = gr.Slider(2, 30, value=8, step=1, label="Keyframe every K frames", visible=False,
                                  elem_id="keyframe-every")
                go = gr.Button("Colorize film", variant="primary", elem_id="film-go")
                film_msg = gr.Markdown(elem_id="film-messages")
            with gr.Column(scale=2):
                film_out = gr.Video(label="Result, with its audio", format=None, interactive=False,
                                    elem_id="film-output")
                film_file = gr.File(label="Download", interactive=False, elem_id="film-download")

        def film(file, mode, every, label, temperature, chroma, request: gr.Request,
                 progress=gr.Progress(track_tqdm=True)):
            file = next(iter(_upload_paths(file)), None)
            with _on_page():
                result = self.colorize_film(file, label, mode, every, _session_of(request), progress=True,
                                            temperature=temperature, chroma_upsampling=chroma)
            output = str(result.output) if result.output else None
            return output, output, result.summary()

        def hold_film(file, request: gr.Request):
            self.workspace.use_uploads(_session_of(request), "film", _upload_paths(file))

        mode.change(lambda value: gr.update(visible=value == "keyframes"), [mode], [every], queue=False)
        film_in.upload(hold_film, [film_in], None, queue=False, preprocess=False)
        go.click(film, [film_in, mode, every, *knobs], [film_out, film_file, film_msg],
                 concurrency_id="model", preprocess=False)

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
        super().close()
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


def _session_of(request) -> str:
    """The Gradio session a request belongs to ("local" outside a page)."""
    return getattr(request, "session_hash", None) or "local"


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

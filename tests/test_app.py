"""The app (issue 20): the work behind the page in plain Python, then the page itself in a
real browser (headless Chromium from Debian's packages, driven by Playwright).

Models are tiny and built here (a tinted random baseline that paints a clear colour, and a
run trained for one epoch on the toy city): nothing depends on the shipped weights."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from colorkeras import color
from colorkeras.errors import InvalidArgument

MODEL_SIZE = 32
TINT_AB = (20.0, 30.0)  # what the tinted model paints everywhere (see tests/test_colorize.py)
REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tinted_model(tmp_path_factory):
    from colorkeras.models.registry import build_model

    model = build_model("baseline", MODEL_SIZE)
    last_conv = model.get_layer("decoder").get_layer("decoder_conv5")
    last_conv.bias.assign(np.arctanh(np.array(TINT_AB) / color.AB_SCALE).astype("float32"))
    path = tmp_path_factory.mktemp("model") / "tinted.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def toy_run(prepared_toy_city, tmp_path_factory):
    """A run of the efficient family with the confidence objective (a temperature knob),
    trained for one epoch on the toy city: a toy."""
    from colorkeras.training.config import TrainConfig
    from colorkeras.training.train import train

    run = tmp_path_factory.mktemp("runs") / "toy_efficient"
    config = TrainConfig(model="efficient", loss="confidence", image_size=16, epochs=1, batch_size=8,
                         base_filters=8, depth=2)
    train(prepared_toy_city, run, config, verbose=0)
    return run


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Good and bad uploads, named as a user's files would be."""
    root = tmp_path_factory.mktemp("photos")
    ramp = np.tile(np.linspace(0, 255, 160, dtype=np.uint8), (120, 1))
    ramp[40:80, 60:100] = 200
    Image.fromarray(ramp).save(root / "street.png")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (90, 130, 3), dtype=np.uint8)).save(root / "square.jpg", quality=90)
    (root / "notes.jpg").write_text("a text file renamed .jpg\n")
    data = (root / "square.jpg").read_bytes()
    (root / "cut.jpg").write_bytes(data[: len(data) // 2])
    Image.fromarray(ramp).save(root / "scan.tif")
    Image.fromarray(ramp).save(root / "web.webp", lossless=True)
    Image.new("L", (10_000, 10_000), 128).save(root / "huge.png", compress_level=1)  # 100 MP
    return root


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory):
    """A clip with audio, one over a 0.5 s limit, a truncated one, a text file and a clip
    without frames."""
    import av

    from colorkeras.data.clips import pan_clip, write_clip

    root = tmp_path_factory.mktemp("clips")
    write_clip(pan_clip(frames=12), root / "pan.mp4")
    container = av.open(str(root / "long.mkv"), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
    for frame in pan_clip(frames=40).frames:
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
    container.mux(stream.encode(None))
    container.close()
    data = (root / "long.mkv").read_bytes()
    (root / "cut.mkv").write_bytes(data[: len(data) // 2])
    (root / "notes.mp4").write_text("not a film\n")
    container = av.open(str(root / "empty.mp4"), "w")
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    container.start_encoding()  # a header, and not one frame
    container.mux(stream.encode(None))
    container.close()
    return root


@pytest.fixture
def app(tinted_model, tmp_path):
    from colorkeras.app import ColorizeApp

    app = ColorizeApp([tinted_model], temp_parent=tmp_path)
    yield app
    app.close()


def _chroma(rgb: np.ndarray) -> float:
    lab = color.rgb_to_lab(np.asarray(rgb, np.uint8))
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())


# ------------------------------------------------------------------------------------
# Photos, without a browser
# ------------------------------------------------------------------------------------
def test_photos_are_what_colorize_writes_at_full_size_and_bad_ones_get_a_message(app, photos, tinted_model,
                                                                                 tmp_path):
    from colorkeras.inference.colorize import colorize_paths

    uploads = [photos / name for name in ("street.png", "notes.jpg", "cut.jpg", "huge.png", "scan.tif",
                                          "web.webp", "square.jpg", "street.png")]
    batch = app.colorize_photos(uploads, session="one")
    assert [result.name for result in batch.results] == ["street.png", "scan.tif", "web.webp", "square.jpg",
                                                         "street.png"]
    text = batch.summary(len(uploads))
    assert text.startswith("Colorized 5 of 8 photo(s)")
    assert "notes.jpg: not colorized, not a recognisable image" in text
    assert "cut.jpg: not colorized, corrupt or truncated image data" in text
    assert "huge.png: refused, 10000x10000 is 100 MP, over this app's limit of 50 MP" in text
    # Same core, no second path: the download is, pixel for pixel, what `colorize` writes.
    colorize_paths(tinted_model, [photos / "street.png"], tmp_path / "cli", progress=False)
    cli = np.asarray(Image.open(tmp_path / "cli" / "street.png"))
    street = batch.results[0]
    assert street.download.name == "street_color.png" and (street.width, street.height) == (160, 120)
    assert np.array_equal(np.asarray(Image.open(street.download)), cli)
    assert _chroma(cli) > 20  # the tinted model paints
    assert batch.results[-1].download.name == "street_color_2.png"
    assert Image.open(batch.results[1].download).format == "TIFF"
    for result in batch.results:
        assert Image.open(result.before).size == Image.open(result.after).size == (result.width, result.height)
        assert Image.open(result.download).size == (result.width, result.height)
    with zipfile.ZipFile(batch.archive) as archive:
        assert sorted(archive.namelist()) == sorted(result.download.name for result in batch.results)


def test_the_workspace_keeps_a_session_s_latest_results_and_nothing_after_it_closes(app, photos, tmp_path):
    root = app.workspace.root
    assert root.parent == tmp_path and root.name.startswith("colorkeras-app-")
    # Uploads as Gradio stores them, in the app's folder.
    uploads = []
    for name in ("street.png", "square.jpg"):
        upload = root / f"hash-{name}" / name
        upload.parent.mkdir()
        shutil.copy(photos / name, upload)
        uploads.append(upload)
    first = app.colorize_photos(uploads, session="a")
    second = app.colorize_photos(uploads[:1], session="a")  # one photo taken off the list
    assert first.new == 2 and second.new == 0, "the photo done before is taken over"
    assert np.array_equal(np.asarray(Image.open(second.results[0].download)),
                          np.asarray(Image.open(app.colorize_photos(uploads[:1], session="c").results[0].download)))
    other = app.colorize_photos(uploads[:1], session="b")  # another user, the same upload
    assert not first.archive.parent.exists() and second.archive.exists() and other.archive.exists()
    assert not uploads[1].exists() and uploads[0].exists()
    app.workspace.end_session("a")
    assert uploads[0].exists(), "session b still uses it"
    app.end_session("b")
    app.end_session("c")
    assert app.workspace.files() == []
    assert all(root in path.parents for path in (second.archive, other.archive))
    app.close()
    assert not root.exists() and list(tmp_path.iterdir()) == []


def test_models_are_loaded_once_and_a_toy_run_is_labelled_with_its_knob(tinted_model, toy_run, photos, tmp_path):
    from colorkeras.app import ColorizeApp
    from colorkeras.inference.service import SHIPPED_LABEL, TRANSFER_LABELS

    app = ColorizeApp([toy_run, tinted_model], temp_parent=tmp_path)
    try:
        toy, tinted, *shipped = list(app.models)
        assert toy == "toy_efficient" and app.default_label == toy
        # the model that ships comes after those given; the reference-photo models last
        assert shipped[0] == SHIPPED_LABEL and shipped[-2:] == list(TRANSFER_LABELS.values())
        info = app.model_info(toy)
        assert info.family == "efficient" and info.objective == "confidence" and info.temperature == 1.0
        assert "synthetic toy city" in info.toy_warning and "**Toy model.**" in info.note()
        assert app.model_info(tinted).temperature is None and app.model_info(tinted).toy_warning is None
        assert app._base(toy) is app._base(toy)  # loaded once
        shared = app.predictor(toy, temperature=3.0, chroma_upsampling="resize")
        assert shared.model is app._base(toy).model and shared.temperature == 3.0
        grey = [photos / "street.png"]
        muted = app.colorize_photos(grey, toy, temperature=3.0, session="s")
        muted = np.asarray(Image.open(muted.results[0].download))
        vivid = app.colorize_photos(grey, toy, temperature=0.3, session="s")
        vivid = np.asarray(Image.open(vivid.results[0].download))
        assert _chroma(vivid) > _chroma(muted)
        with pytest.raises(InvalidArgument, match="unknown model"):
            app.predictor("nothing")
    finally:
        app.close()


def test_without_a_shipped_model_the_app_asks_for_one(monkeypatch, tmp_path):
    from colorkeras.inference import service
    from colorkeras.inference.service import SHIPPED_LABEL, TRANSFER_LABELS, model_choices
    from colorkeras.training.shipped import NoShippedModel

    def missing():
        raise NoShippedModel("the default model is missing from this installation")

    monkeypatch.setattr(service, "default_model_dir", missing)
    monkeypatch.setattr(service, "exemplar_model_dir", missing)
    with pytest.raises(InvalidArgument, match="pass --model|--model RUN_OR_MODEL"):
        model_choices(None)
    with pytest.raises(InvalidArgument, match="not found"):
        model_choices([tmp_path / "nothing.keras"])
    monkeypatch.setattr(service, "default_model_dir", lambda: tmp_path)
    transfers = {label: name for name, label in TRANSFER_LABELS.items()}
    assert model_choices(None) == {SHIPPED_LABEL: tmp_path, **transfers}


def test_the_command_line_takes_models_host_port_and_limits():
    from colorkeras.cli import build_parser
    from colorkeras.inference.service import APP_MAX_PIXELS, MAX_CLIP_SECONDS

    args = build_parser().parse_args(["app", "--model", "a.keras", "--model", "run", "--port", "8000"])
    assert args.model == ["a.keras", "run"] and args.port == 8000 and args.host == "127.0.0.1"
    assert args.max_megapixels * 1e6 == APP_MAX_PIXELS and args.max_seconds == MAX_CLIP_SECONDS


# ------------------------------------------------------------------------------------
# Films, without a browser
# ------------------------------------------------------------------------------------
def test_films_go_through_the_video_code_and_bad_ones_get_a_message(app, clips_dir):
    import av

    for mode in ("per frame", "flow", "keyframes"):
        result = app.colorize_film(clips_dir / "pan.mp4", mode=mode, keyframe_every=4, session="f")
        assert result.output.name == "pan_color.mp4" and result.report.frames == 12
        assert result.report.model_frames == (12 if mode != "keyframes" else 3)
    with av.open(str(result.output)) as container:
        assert container.streams.audio and container.streams.video[0].codec_context.width == 96
    summary = result.summary()
    assert "Colorized 12 frames (3 through the model)" in summary and "audio packets copied" in summary

    cut = app.colorize_film(clips_dir / "cut.mkv", session="f")
    assert cut.output is not None and cut.report.frames < 40
    app.max_clip_seconds = 1.0
    long = app.colorize_film(clips_dir / "long.mkv", session="f")
    assert long.output is None and "long.mkv: refused, it is 1.6 s long, over this app's limit of 1 s" in long.summary()
    for name, reason in (("notes.mp4", "cannot open as a video"), ("empty.mp4", "has no video stream")):
        bad = app.colorize_film(clips_dir / name, session="f")
        assert bad.output is None and f"{name}: not colorized, {reason}" in bad.summary()
    assert app.colorize_film(None).summary() == "- Upload a film first."
    with pytest.raises(InvalidArgument, match="temporal mode"):
        app.colorize_film(clips_dir / "pan.mp4", mode="sideways")


# ------------------------------------------------------------------------------------
# The page, in a real browser
# ------------------------------------------------------------------------------------
def chromium_path() -> str | None:
    """Debian's Chromium (installed by .ci/run), or COLORKERAS_CHROMIUM."""
    for candidate in (os.environ.get("COLORKERAS_CHROMIUM"), "/usr/lib/chromium/chromium",
                      shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_app(models, workdir: Path, *extra) -> tuple[subprocess.Popen, str, Path]:
    """`colorkeras app` in a subprocess, with its own TMPDIR and working folder; returns the
    process, its URL and its temporary folder once the page answers."""
    (workdir / "tmp").mkdir(parents=True)
    (workdir / "cwd").mkdir()
    port = free_port()
    command = [sys.executable, "-m", "colorkeras.cli", "app", "--port", str(port), *extra]
    for model in models:
        command += ["--model", str(model)]
    env = {**os.environ, "TMPDIR": str(workdir / "tmp"), "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(command, cwd=workdir / "cwd", env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the app stopped: {process.stdout.read()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                break
        except OSError:
            time.sleep(0.5)
    else:
        process.kill()
        raise AssertionError("the app did not answer within 240 s")
    [temp] = list((workdir / "tmp").iterdir())
    return process, url, temp


def stop_app(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        output, _ = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 0, output[-3000:]
    return output


def upload(page, selector: str, files) -> None:
    page.locator(f"{selector} input[type=file]").set_input_files([str(path) for path in files])


def wait_for_text(page, selector: str, text: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = page.inner_text(selector)
        if text in content:
            return content
        time.sleep(0.2)
    raise AssertionError(f"{text!r} not in {selector}: {page.inner_text(selector)!r}")


def fetch_image(page, href: str) -> np.ndarray:
    import io

    response = page.request.get(href)
    assert response.ok, href
    return np.asarray(Image.open(io.BytesIO(response.body())).convert("RGB"))


@pytest.mark.slow
def test_the_page_in_a_browser(tinted_model, toy_run, photos, clips_dir, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api", reason="pip install -r requirements-test.txt")
    executable = chromium_path()
    if executable is None:
        pytest.skip("needs Chromium: apt-get install chromium (.ci/run installs it)")
    process, url, temp = start_app([tinted_model, toy_run], tmp_path)
    try:
        with playwright.sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=executable, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url)
            page.wait_for_selector("#photos-input")
            assert "tinted.keras" in page.inner_text("#model-note")

            # A photo: the result has its size and is in colour where the model paints.
            upload(page, "#photos-input", [photos / "street.png"])
            wait_for_text(page, "#photo-messages", "Colorized 1 of 1")
            links = page.locator("#photo-downloads a").evaluate_all("links => links.map(link => link.href)")
            result = fetch_image(page, next(link for link in links if "street_color.png" in link))
            assert result.shape == (120, 160, 3) and _chroma(result) > 20
            images = page.locator("#photo-slider img")
            assert images.count() == 2
            sizes = images.evaluate_all("images => images.map(i => [i.naturalWidth, i.naturalHeight])")
            assert sizes == [[160, 120], [160, 120]]
            before, after = (fetch_image(page, images.nth(i).get_attribute("src")) for i in range(2))
            assert _chroma(before) < 2 and _chroma(after) > 15

            # The slider moves.
            clip_before = images.nth(1).evaluate("image => image.style.clipPath")
            box = page.locator("#photo-slider img").nth(0).bounding_box()
            page.mouse.click(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2)
            page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] / 2, steps=8)
            page.mouse.up()
            clip_after = images.nth(1).evaluate("image => image.style.clipPath")
            assert clip_after != clip_before, clip_after

            # A bad file, added to the list: a message on the page, and the app keeps
            # serving; the photo already done is taken over, not done again.
            upload(page, "#photos-input", [photos / "notes.jpg"])
            message = wait_for_text(page, "#photo-messages", "Colorized 1 of 2 photo(s) (1 unchanged")
            assert "notes.jpg: not colorized, not a recognisable image" in message

            # Two users at once: both are served, one after the other.
            other = browser.new_page()
            other.goto(url)
            other.wait_for_selector("#photos-input")
            upload(page, "#photos-input", [photos / "square.jpg", photos / "scan.tif"])
            upload(other, "#photos-input", [photos / "web.webp"])
            wait_for_text(page, "#photo-messages", "Colorized 3 of 4")
            wait_for_text(other, "#photo-messages", "Colorized 1 of 1")
            assert page.locator("#photo-downloads a").count() == 3
            other.close()

            # The toy model: labelled in the page, with its vividness knob.
            page.locator("#model input").click()
            page.get_by_role("option", name="toy_efficient").click()
            wait_for_text(page, "#model-note", "Toy model")
            assert page.locator("#temperature").is_visible()

            # A film: played with its audio, downloadable.
            page.get_by_role("tab", name="Films").click()
            upload(page, "#film-input", [clips_dir / "pan.mp4"])
            page.get_by_label("keyframes").check()
            page.locator("#film-go").click()
            wait_for_text(page, "#film-messages", "Colorized 12 frames", timeout=120)
            assert page.locator("#film-output video").get_attribute("src")
            page.locator("#film-input button[aria-label='Clear']").click()
            upload(page, "#film-input", [clips_dir / "notes.mp4"])
            page.locator("#film-go").click()
            wait_for_text(page, "#film-messages", "notes.mp4: not colorized")
            page.close()

            # A closed page leaves no file behind.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and [p for p in temp.rglob("*") if p.is_file()]:
                time.sleep(0.5)
            assert [p for p in temp.rglob("*") if p.is_file()] == []
            browser.close()
    finally:
        if process.poll() is None:
            output = stop_app(process)
    assert "temporary folder removed" in output
    assert list((tmp_path / "tmp").iterdir()) == [] and list((tmp_path / "cwd").iterdir()) == []

"""The app's speed and staying power, measured from a real browser (issue 20).

Starts ``colorkeras app`` (with its own TMPDIR, so its temporary folder can be watched),
drives it with headless Chromium (Debian's, through Playwright) and prints:

* **first result for a 1 MP photo**: from handing the file to the page's upload field to
  the colour image loaded in the before/after slider, for several different 1 MP photos
  (each alone on the page); target 3 s on the 2-core CPU with the default model;
* **the page's own overhead**: that time minus the colorize time of the same photo in this
  process (read_rgb, Predictor.colorize, save_rgb: what ``colorkeras colorize`` does per
  photo, the model warm); target under 0.5 s;
* **20 uploads in a row**, good and bad mixed: the time and the page's message for each, the
  app still answering afterwards, and the files in its temporary folder once the page is
  closed (target: none);
* **two users at once**: both served, the second after the first, and what its page showed
  while it waited.

``--screenshots DIR`` also writes screenshots of the photo and film tabs there.

    python bench/bench_app.py --model RUN_OR_MODEL [--repeats 5] [--screenshots results/app]

Photos come from ``../shared/data/spb-facades`` (CC0), made grey and brought to 1 MP;
without that folder, generated toy-city pictures are used.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from machine import machine_line  # noqa: E402

PHOTOS = REPO.parent / "shared" / "data" / "spb-facades" / "test" / "facade"
MEGAPIXEL = (1155, 866)  # 1,000,230 pixels, 4:3


# ------------------------------------------------------------------------------------
# Inputs
# ------------------------------------------------------------------------------------
def source_pictures(count: int) -> list[np.ndarray]:
    files = sorted(PHOTOS.glob("*.jpg"))[:count] if PHOTOS.is_dir() else []
    if len(files) >= count:
        return [np.asarray(Image.open(path).convert("RGB")) for path in files]
    from colorkeras.data.clips import city_picture

    return [city_picture(512, ("street", "skyline", "park", "waterfront")[i % 4], seed=i) for i in range(count)]


def grey_photo(rgb: np.ndarray, size, path: Path, **options) -> Path:
    image = Image.fromarray(rgb).convert("L").resize(size, Image.Resampling.BICUBIC)
    image.save(path, **options)
    return path


def make_inputs(folder: Path, repeats: int) -> dict:
    pictures = source_pictures(repeats + 17)
    megapixel = [grey_photo(pictures[i], MEGAPIXEL, folder / f"megapixel_{i}.jpg", quality=92)
                 for i in range(repeats)]
    mixed = []
    sizes = [(640, 480), (1155, 866), (1600, 1200), (800, 600), (1024, 768), (480, 640), (2000, 1500),
             (900, 600), (1280, 960), (700, 700), (1500, 1000), (1100, 800), (1200, 900), (600, 800),
             (1400, 1050)]
    formats = [(".jpg", {"quality": 90}), (".png", {}), (".tif", {}), (".webp", {"quality": 90})]
    for i, size in enumerate(sizes):
        suffix, options = formats[i % len(formats)]
        mixed.append(grey_photo(pictures[repeats + i], size, folder / f"good_{i}{suffix}", **options))
    (folder / "notes.jpg").write_text("a text file renamed .jpg\n")
    data = mixed[0].read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    Image.new("L", (10_000, 10_000), 128).save(folder / "huge_100mp.png", compress_level=1)
    (folder / "letter.txt").write_text("not a photo\n")
    (folder / "empty.png").write_bytes(b"")
    bad = ["notes.jpg", "truncated.jpg", "huge_100mp.png", "letter.txt", "empty.png"]
    order, good = [], iter(mixed)
    for i in range(20):  # 20 uploads: a bad one every fourth, the rest good
        order.append(folder / bad[i // 4] if i % 4 == 3 else next(good))
    users = [grey_photo(pictures[-1], MEGAPIXEL, folder / "user_a.jpg", quality=92),
             grey_photo(pictures[-2], MEGAPIXEL, folder / "user_b.jpg", quality=92)]
    return {"megapixel": megapixel, "mixed": order, "users": users}


def make_film(folder: Path) -> Path:
    """A 4 s grey camera move over a photo, with a tone, for the film tab's screenshot."""
    from colorkeras.data.clips import camera_clip, write_clip

    picture = source_pictures(1)[0]
    grey = np.repeat(np.asarray(Image.fromarray(picture).convert("L"))[..., None], 3, axis=-1)
    clip = camera_clip(grey, frames=100, width=640, height=360, pan=(1.0, 0.2), cover=0.7)
    return write_clip(clip, folder / "street_film.mp4")


# ------------------------------------------------------------------------------------
# The app and the browser
# ------------------------------------------------------------------------------------
def chromium() -> str:
    for candidate in (os.environ.get("COLORKERAS_CHROMIUM"), "/usr/lib/chromium/chromium",
                      shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    sys.exit("needs Chromium: apt-get install chromium")


def start_app(model: str | None, work: Path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (work / "tmp").mkdir()
    command = [sys.executable, "-m", "colorkeras.cli", "app", "--port", str(port)]
    if model:
        command += ["--model", model]
    env = {**os.environ, "TMPDIR": str(work / "tmp"), "PYTHONPATH": str(REPO)}
    log = open(work / "app.log", "w")
    process = subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    while True:
        if process.poll() is not None:
            sys.exit(f"the app stopped:\n{(work / 'app.log').read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                break
        except OSError:
            time.sleep(0.5)
    print(f"app answering after {time.perf_counter() - started:.1f} s (start-up, model load and warm-up)")
    [temp] = list((work / "tmp").iterdir())
    return process, url, temp


def files_in(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()]


def clear_and_upload(page, path: Path) -> float:
    clear = page.locator("#photos-input button[aria-label='Clear']")
    if clear.count():
        clear.first.click()
        page.wait_for_selector("#photos-input input[type=file]", state="attached")
    start = time.perf_counter()
    page.locator("#photos-input input[type=file]").set_input_files(str(path))
    return start


def wait_result(page, stem: str, start: float, timeout: float = 300) -> float:
    """Seconds from ``start`` until the slider shows ``stem``'s colour image, loaded."""
    page.wait_for_function(
        """stem => {
            const images = document.querySelectorAll('#photo-slider img');
            return images.length == 2 && images[1].src.includes('-after.jpg') && images[1].complete
                && images[1].naturalWidth > 0 && document.querySelector('#photo-slider label').innerText.includes(stem);
        }""", arg=stem, polling=20, timeout=timeout * 1000)
    return time.perf_counter() - start


def wait_message(page, pattern: str, timeout: float = 300) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = page.inner_text("#photo-messages")
        if re.search(pattern, text):
            return text
        time.sleep(0.05)
    raise TimeoutError(f"{pattern!r} never shown; the page says {page.inner_text('#photo-messages')!r}")


# ------------------------------------------------------------------------------------
# Measurements
# ------------------------------------------------------------------------------------
class Colorize:
    """What `colorize` spends on a photo (read, colorize, write), the model loaded and warm,
    in this process: timed right after the app did the same photo, under the same load."""

    def __init__(self, model: str | None, warm: Path, out: Path):
        from colorkeras.training.shipped import default_model_dir
        from colorkeras.inference.predictor import Predictor

        self.predictor = Predictor.open(model or default_model_dir(), batch_size=1)
        self.out = out
        out.mkdir()
        self(warm)

    def __call__(self, path: Path) -> float:
        from colorkeras.images import read_rgb, save_rgb

        start = time.perf_counter()
        save_rgb(self.predictor.colorize(read_rgb(path)), self.out / path.name)
        return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a run folder or .keras file (default: the shipped model)")
    parser.add_argument("--repeats", type=int, default=5, help="1 MP photos timed")
    parser.add_argument("--screenshots", type=Path, help="write the page's screenshots here")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temporary folder)")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    import gradio

    print(f"bench_app: {time.strftime('%Y-%m-%d %H:%M')}; {machine_line()}")
    print(f"Python {platform.python_version()}, gradio {gradio.__version__}, model {args.model or 'shipped default'}")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-app-"))
    work.mkdir(parents=True, exist_ok=True)
    inputs = make_inputs(work, args.repeats)
    colorize_photo = Colorize(args.model, inputs["users"][0], work / "colorize")
    process, url, temp = start_app(args.model, work)
    try:
        with sync_playwright() as driver:
            browser = driver.chromium.launch(executable_path=chromium(), headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url)
            page.wait_for_selector("#photos-input")

            # 1 MP photos, each alone on the page.
            app_seconds, handler_seconds, colorize = [], [], []
            for path in inputs["megapixel"]:
                start = clear_and_upload(page, path)
                app_seconds.append(wait_result(page, path.name, start))
                text = wait_message(page, rf"Colorized 1 of 1 photo\(s\) in .*{re.escape(path.name)}")
                handler_seconds.append(float(re.search(r" in ([0-9.]+) s", text)[1]))
                time.sleep(0.5)  # the page settles
                colorize.append(colorize_photo(path))

            # 20 uploads in a row, good and bad mixed.
            rows = []
            for path in inputs["mixed"]:
                start = clear_and_upload(page, path)
                text = wait_message(page, rf"Colorized [01] of 1 photo\(s\)[\s\S]*{re.escape(path.name)}")
                rows.append((path.name, time.perf_counter() - start, text.splitlines()[-1]))
            with urllib.request.urlopen(url, timeout=10) as response:
                answering = response.status == 200
            start = clear_and_upload(page, inputs["megapixel"][0])
            answering = answering and wait_result(page, inputs["megapixel"][0].name, start) > 0
            files_open = len(files_in(temp))

            # Two users at once.
            other = browser.new_page(viewport={"width": 1280, "height": 1000})
            other.goto(url)
            other.wait_for_selector("#photos-input")
            start_a = clear_and_upload(page, inputs["users"][0])
            start_b = clear_and_upload(other, inputs["users"][1])
            seen_b = set()
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and "Colorized" not in other.inner_text("#photo-messages"):
                status = other.locator("#photo-slider [data-testid='status-tracker']").inner_text()
                if status.strip():
                    seen_b.add(" ".join(status.split()))
                time.sleep(0.05)
            user_a = wait_result(page, inputs["users"][0].name, start_a)
            user_b = wait_result(other, inputs["users"][1].name, start_b)
            other.close()

            if args.screenshots:
                screenshots(page, args.screenshots, work)
            page.close()
            browser.close()
        deadline = time.monotonic() + 60  # the closed pages' files go when Gradio sees them gone
        while time.monotonic() < deadline and files_in(temp):
            time.sleep(0.5)
        files_closed = files_in(temp)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    temp_removed = not temp.exists()

    print(f"\n1 MP photos ({MEGAPIXEL[0]}x{MEGAPIXEL[1]}), {args.repeats} different ones, each alone on the page\n")
    print("| photo | upload to result shown (browser) | in the app's handler | colorize (read, model, write) | "
          "page overhead |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for path, app_s, handler_s, colorize_s in zip(inputs["megapixel"], app_seconds, handler_seconds, colorize):
        print(f"| {path.name} | {app_s:.2f} s | {handler_s:.1f} s | {colorize_s:.2f} s | {app_s - colorize_s:.2f} s |")
    median_app, median_colorize = statistics.median(app_seconds), statistics.median(colorize)
    overhead = median_app - median_colorize
    print(f"| median | {median_app:.2f} s | | {median_colorize:.2f} s | {overhead:.2f} s |")
    print(f"\nfirst result within 3 s: {'PASS' if max(app_seconds) <= 3 else 'MISS'} (worst {max(app_seconds):.2f} s); "
          f"page overhead under 0.5 s: {'PASS' if overhead < 0.5 else 'MISS'} (median {overhead:.2f} s)")

    print("\n20 uploads in a row (each alone on the page)\n")
    print("| # | file | seconds | the page's message |")
    print("| ---: | --- | ---: | --- |")
    for number, (name, seconds, message) in enumerate(rows, 1):
        print(f"| {number} | {name} | {seconds:.2f} | {message} |")
    print(f"\nstill answering afterwards: {'yes' if answering else 'NO'}; files in the temporary folder with the "
          f"page open: {files_open} (its current upload and results); after the pages closed: {len(files_closed)} "
          f"({'PASS' if not files_closed else 'MISS'}); folder removed when the app stopped: "
          f"{'yes' if temp_removed else 'NO'}")
    print(f"\ntwo users at once, a 1 MP photo each: first {user_a:.2f} s, second {user_b:.2f} s; the second page "
          f"showed while waiting: {sorted(seen_b) or 'nothing'}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def screenshots(page, folder: Path, work: Path) -> None:
    """The photo tab with a result and the slider moved; the film tab at work and done."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = grey_photo(source_pictures(1)[0], (1024, 768), work / "facade.jpg", quality=92)
    start = clear_and_upload(page, photo)
    wait_result(page, photo.name, start)
    box = page.locator("#photo-slider img").nth(0).bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.35, y, steps=10)
    page.mouse.up()
    time.sleep(0.5)
    page.screenshot(path=str(folder / "photos.png"), full_page=True)
    page.get_by_role("tab", name="Films").click()
    page.locator("#film-input input[type=file]").set_input_files(str(make_film(work)))
    page.locator("#film-go").click()
    page.wait_for_selector("#film-output [data-testid='status-tracker']:not(.hide)", timeout=60_000)
    time.sleep(4)
    page.screenshot(path=str(folder / "film_progress.png"), full_page=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and "Colorized" not in page.inner_text("#film-messages"):
        time.sleep(0.5)
    page.locator("#film-output video").evaluate("video => { video.currentTime = 2; }")
    time.sleep(1.5)
    page.screenshot(path=str(folder / "film.png"), full_page=True)
    print(f"screenshots in {folder}")


if __name__ == "__main__":
    sys.exit(main())

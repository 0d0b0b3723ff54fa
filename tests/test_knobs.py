"""Every knob of inference reaches every medium, and does the same there (issue 21).

One tiny real model (an efficient colorizer with random weights and the confidence
objective, so the decode temperature matters) in a run folder that says it was trained on
the toy city (so it carries the toy warning). Each knob setting is walked through each
medium: a photo through ``colorize_paths``, the same picture as the frames of a film
through ``colorize_video``, the app's photo function, the app's and the command line's
film path, and evaluation. The reference is `Predictor.colorize` with the same knobs:
lossless outputs must equal it byte for byte, lossy (H.264) ones must move with it.
"""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from PIL import Image

from colorkeras import color
from colorkeras.data import clips
from colorkeras.inference.colorize import colorize_paths
from colorkeras.inference.predictor import Predictor
from colorkeras.inference.video import colorize_video, colorize_video_paths

MODEL_SIZE = 16
TINT_AB = (20.0, 30.0)  # what the head's bias paints, so chroma is clear of grey
# (temperature, chroma upsampling): the defaults, each knob alone, and both together.
SETTINGS = [(None, "auto"), (0.5, "auto"), (3.0, "auto"), (None, "resize"), (3.0, "resize")]
WIDTH, HEIGHT = 64, 48  # 4x the model's side: "auto" is guided here, and differs from "resize"


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A run folder as training leaves one (best.keras, config.json) for a random efficient
    colorizer with the confidence objective, recorded as trained on the toy city."""
    import keras

    from colorkeras.models.registry import build_model

    keras.utils.set_random_seed(0)
    model = build_model("efficient", MODEL_SIZE, output_channels=3, base_filters=8, depth=2)
    head = model.get_layer("head")
    kernel, bias = head.get_weights()
    # A clear tint, and a log-variance about the tint's squared chroma: confidence near
    # 1/2, so temperatures above and below 1 both change the colour.
    bias[:2] = np.arctanh(np.array(TINT_AB) / color.AB_SCALE)
    bias[2] = np.log(0.08)
    head.set_weights([kernel * 4, bias])
    run = tmp_path_factory.mktemp("runs") / "toy"
    run.mkdir()
    model.save(run / "best.keras")
    (run / "config.json").write_text(json.dumps({
        "model": "efficient", "objective": {"name": "confidence", "weight": 0.1, "temperature": 1.0},
        "dataset": {"synthetic": True}}))
    return run


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """Three frames of a toy-city pan: as photos and as the numbered frames of a film."""
    clip = clips.pan_clip(3, WIDTH, HEIGHT)
    folder = tmp_path_factory.mktemp("film") / "pan"
    folder.mkdir()
    for index, rgb in enumerate(clip.frames):
        Image.fromarray(rgb).save(folder / f"{index}.png")
    return folder, list(clip.frames)


@pytest.fixture(scope="module")
def references(toy_run, frames):
    """(temperature, chroma) -> the colour of each frame by `Predictor.colorize`."""
    _, rgbs = frames
    return {setting: [_predictor(toy_run, setting).colorize(rgb) for rgb in rgbs] for setting in SETTINGS}


def _predictor(run, setting) -> Predictor:
    temperature, chroma = setting
    return Predictor.open(run, temperature=temperature, chroma_upsampling=chroma)


def _chroma(rgb) -> float:
    lab = color.rgb_to_lab(np.asarray(rgb, np.uint8))
    return float(np.hypot(lab[..., 1], lab[..., 2]).mean())


def _decoded(path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def test_each_knob_changes_the_colour_and_in_the_expected_direction(references):
    outputs = {setting: np.stack(rgbs) for setting, rgbs in references.items()}
    for first in SETTINGS:
        for second in SETTINGS:
            if first != second:
                assert not np.array_equal(outputs[first], outputs[second]), (first, second)
    # The confidence decode: above 1 shrinks unsure colour towards grey, below 1 paints it more.
    assert _chroma(outputs[(3.0, "auto")]) < _chroma(outputs[(None, "auto")]) < _chroma(outputs[(0.5, "auto")])


@pytest.mark.parametrize("setting", SETTINGS)
def test_a_photo_and_a_film_frame_get_the_same_colour(setting, toy_run, frames, references, tmp_path):
    folder, _ = frames
    temperature, chroma = setting
    # One photo a model call, as films and the reference go: a batch of several may move
    # the model's float output in its last bits.
    photos = colorize_paths(toy_run, [folder], tmp_path / "photos", progress=False, batch_size=1,
                            temperature=temperature, chroma_upsampling=chroma)
    assert len(photos.written) == 3
    film = colorize_video(toy_run, folder, tmp_path / "film", temporal="off", progress=False,
                          temperature=temperature, chroma_upsampling=chroma)
    assert film.frames == 3
    for index, expected in enumerate(references[setting]):
        photo = np.asarray(Image.open(tmp_path / "photos" / f"{index}.png"))
        frame = np.asarray(Image.open(tmp_path / "film" / f"frame_{index:06d}.png"))
        np.testing.assert_array_equal(photo, expected)
        np.testing.assert_array_equal(frame, expected)


def test_the_app_colours_photos_and_films_as_the_core_does(toy_run, frames, references, tmp_path):
    from colorkeras.app import ColorizeApp

    folder, _ = frames
    film_path = clips.write_clip(clips.pan_clip(3, WIDTH, HEIGHT), tmp_path / "pan.mp4", audio=False)
    app = ColorizeApp([toy_run], temp_parent=tmp_path)
    try:
        label = app.default_label
        films = {}
        for setting in SETTINGS:
            temperature, chroma = setting
            batch = app.colorize_photos([folder / "0.png"], label, temperature, chroma, session="s")
            np.testing.assert_array_equal(np.asarray(Image.open(batch.results[0].download)), references[setting][0])
            result = app.colorize_film(film_path, label, "per frame", session="s", temperature=temperature,
                                       chroma_upsampling=chroma)
            films[setting] = np.stack(_decoded(result.output)).astype(float)
    finally:
        app.close()
    # H.264 is lossy, and more so on a busy machine: each film is nearer the core's colour
    # for its own knobs than the core's colour for knobs that colour clearly otherwise
    # (settings the core colours within a few levels of each other cannot be told apart
    # through the codec), and the films' colourfulness follows the temperature as the core's does.
    for setting in SETTINGS:
        truth = np.stack(references[setting]).astype(float)
        errors = {other: np.abs(films[other] - truth).mean() for other in SETTINGS}
        distinct = [other for other in SETTINGS
                    if np.abs(np.stack(references[other]).astype(float) - truth).mean() > 3.0]
        assert distinct and all(errors[setting] < errors[other] for other in distinct), errors
    assert _chroma(films[(3.0, "auto")]) < _chroma(films[(None, "auto")]) < _chroma(films[(0.5, "auto")])


def test_the_command_line_passes_the_knobs_to_films(toy_run, frames, tmp_path, capsys):
    from colorkeras.cli import main

    folder, _ = frames
    chroma = {}
    for temperature in ("0.5", "3"):
        out = tmp_path / temperature
        assert main(["colorize", str(toy_run), str(folder), "--frames", "--out", str(out),
                     "--temporal", "off", "--temperature", temperature]) == 0
        chroma[temperature] = _chroma(np.stack(_decoded(out / "pan.mp4")))
    printed = capsys.readouterr().out
    assert chroma["3"] < chroma["0.5"]
    assert "applies to photos only" not in printed
    assert printed.count("warning: this model was trained on the synthetic toy city") == 4  # at once, and in the report


def test_the_toy_warning_and_the_temperature_note_reach_every_medium(toy_run, frames, tmp_path):
    from colorkeras.app import ColorizeApp
    from colorkeras.models.registry import build_model

    folder, _ = frames
    warning = Predictor.open(toy_run).synthetic_warning()
    assert "trained on the synthetic toy city" in warning
    assert warning in colorize_paths(toy_run, [folder], tmp_path / "photos", progress=False).warnings
    assert warning in colorize_video_paths(toy_run, [folder], tmp_path / "films", progress=False).warnings
    app = ColorizeApp([toy_run], temp_parent=tmp_path)
    try:
        assert app.model_info(app.default_label).toy_warning == warning
    finally:
        app.close()
    regression = tmp_path / "regression.keras"
    build_model("baseline", MODEL_SIZE).save(regression)
    note = "the model's objective (mse) is a regression: --temperature has no effect"
    assert note in colorize_paths(regression, [folder], tmp_path / "p2", progress=False, temperature=0.5).warnings
    assert note in colorize_video_paths(regression, [folder], tmp_path / "f2", progress=False,
                                        temperature=0.5).warnings


def test_evaluation_decodes_at_the_temperature_it_is_given(toy_run, prepared_toy_city):
    from colorkeras.data.pipeline import PreparedDataset
    from colorkeras.evaluation.evaluate import evaluate_run
    from colorkeras.training.run import predictions_path

    l_array, ab_array = PreparedDataset.open(prepared_toy_city).arrays("test")
    l_norm, _ = color.stored_to_normalized(np.asarray(l_array, np.float32), np.asarray(ab_array, np.float32))
    chroma = {}
    for temperature in (0.5, 3.0):
        evaluation = evaluate_run(toy_run, prepared_toy_city, lpips_scorer=None, progress=False,
                                  temperature=temperature)
        stored = np.load(predictions_path(evaluation.folder))
        core = Predictor.open(toy_run, batch_size=32, temperature=temperature).predict_at_size(l_norm)
        np.testing.assert_array_equal(stored, color.quantize_ab(color.denormalize_ab(core)))
        ab = color.dequantize_ab(stored.astype(np.float32))
        chroma[temperature] = np.hypot(ab[..., 0], ab[..., 1]).mean()
    assert chroma[3.0] < chroma[0.5]

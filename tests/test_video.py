"""Video colorization: real clips encoded and decoded with PyAV, a real random-weight
baseline saved and loaded as a .keras file, real optical flow."""

from __future__ import annotations

import json
import math
import os
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from colorkeras import color
from colorkeras.data import clips
from colorkeras.errors import ColorkerasError, InvalidArgument
from colorkeras.evaluation.video_evaluate import clip_quality
from colorkeras.inference.frames import colorize_frames, work_shape
from colorkeras.inference.predictor import Predictor, lightness
from colorkeras.inference.temporal import DEFAULT_WORK_SIDE, TemporalStabilizer, temporal_warping_error, warp_backward
from colorkeras.inference.video import colorize_video, colorize_video_paths
from colorkeras.inference.video_io import VideoError

MODEL_SIZE = 32


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A random-weight baseline whose last conv is scaled up: untrained models predict
    almost grey, and a colour that flickers is what the temporal tests need to see."""
    import keras

    from colorkeras.models.registry import build_model

    keras.utils.set_random_seed(0)
    model = build_model("baseline", MODEL_SIZE)
    conv = model.get_layer("decoder").get_layer("decoder_conv5")
    kernel, bias = conv.get_weights()
    conv.set_weights([kernel * 40, bias])
    path = tmp_path_factory.mktemp("model") / "random.keras"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def predictor(model_path):
    return Predictor.open(model_path)


@pytest.fixture(scope="module")
def pan(tmp_path_factory):
    clip = clips.pan_clip(16, 96, 64)
    path = clips.write_clip(clip, tmp_path_factory.mktemp("pan") / "pan.mp4")
    return clip, path


@pytest.fixture(scope="module")
def cut(tmp_path_factory):
    clip = clips.cut_clip(16, 8, 96, 64)
    path = clips.write_clip(clip, tmp_path_factory.mktemp("cut") / "cut.mp4")
    return clip, path


def _probe(path):
    """Frames (RGB), video pts, size, average rate and the audio packets of a file."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        frames, pts, packets = [], [], []
        for packet in container.demux(*([video] + ([audio] if audio else []))):
            if packet.stream.index == video.index:
                for frame in packet.decode():
                    frames.append(frame.to_ndarray(format="rgb24"))
                    pts.append(float(frame.pts * frame.time_base))
            elif packet.dts is not None:
                packets.append((bytes(packet), float(packet.pts * packet.time_base)))
        return {"frames": np.stack(frames), "pts": pts, "size": (video.codec_context.width,
                video.codec_context.height), "rate": video.average_rate, "audio": packets,
                "audio_codec": audio.codec_context.name if audio else None}


def _ab(frames):
    return color.rgb_to_lab(frames)[..., 1:]


class _Counting(Predictor):
    """The real predictor, counting the frames it is asked for; fails on request, to
    interrupt a run."""

    def __init__(self, inner, fail_at=None):
        super().__init__(inner.model, inner.objective)
        self.fail_at, self.frames = fail_at, 0

    def predict_normalized(self, l_norm):
        self.frames += len(l_norm)
        if self.fail_at is not None and self.frames >= self.fail_at:
            raise RuntimeError("interrupted")
        return super().predict_normalized(l_norm)


# ------------------------------------------------------------------------------------
def test_clip_truth_flow_explains_the_motion(pan):
    clip, _ = pan
    lab = color.rgb_to_lab(clip.frames)
    true_error = temporal_warping_error(lab, clip.flows, clip.masks)
    still_error = temporal_warping_error(lab, np.zeros_like(clip.flows), clip.masks)
    assert clip.masks[1:].mean() > 0.9 and not clip.masks[0].any()
    assert true_error < 0.3 * still_error


def test_round_trip_keeps_frames_size_fps_timing_and_audio(pan, predictor, tmp_path):
    clip, src = pan
    out = tmp_path / "out.mp4"
    report = colorize_video(predictor, src, out, temporal="flow", progress=False)
    before, after = _probe(src), _probe(out)
    assert len(after["frames"]) == len(before["frames"]) == len(clip) == report.frames
    assert after["size"] == before["size"] == (96, 64)
    assert after["rate"] == before["rate"] == Fraction(25)
    assert after["pts"] == before["pts"]
    assert after["audio_codec"] == "aac" and len(after["audio"]) > 20
    assert after["audio"] == before["audio"]  # the same bytes at the same times
    assert report.audio_packets == len(before["audio"])
    # Colour was added, on the input's own lightness.
    assert clip_quality(after["frames"], before["frames"])["colorfulness_pred"].mean() > 3
    lightness_gap = np.abs(color.rgb_to_l(after["frames"]) - color.rgb_to_l(before["frames"]))
    assert lightness_gap.mean() < 2.5


@pytest.mark.parametrize("src_suffix, out_suffix", [(".webm", ".webm"), (".gif", ".mkv"), ("", "")])
def test_odd_sizes_gif_webm_and_frame_folders(src_suffix, out_suffix, predictor, tmp_path):
    clip = clips.pan_clip(12, 65, 49)
    src = tmp_path / f"in{src_suffix}"
    if src_suffix == ".gif":
        images = [Image.fromarray(f) for f in clip.frames]
        images[0].save(src, save_all=True, append_images=images[1:], duration=40, loop=0)
    elif src_suffix == "":
        src.mkdir()
        for i, frame in enumerate(clip.frames):  # unpadded numbers: natural order needed
            Image.fromarray(frame).save(src / f"f{i}.png")
    else:
        clips.write_clip(clip, src)
    out = tmp_path / f"out{out_suffix}"
    report = colorize_video(predictor, src, out, progress=False)
    if out_suffix:
        result = _probe(out)["frames"]
    else:
        names = sorted(os.listdir(out))
        assert names == [f"frame_{i:06d}.png" for i in range(12)]
        result = np.stack([np.asarray(Image.open(out / n)) for n in names])
    assert report.frames == 12 and result.shape == (12, 49, 65, 3)
    # Frame order survives: each output's lightness follows its own input frame.
    lightness = color.rgb_to_l(result)
    truth = color.rgb_to_l(clip.frames)
    for t in (0, 11):
        errors = [np.abs(lightness[t] - truth[s]).mean() for s in range(12)]
        assert int(np.argmin(errors)) == t


def test_input_never_overwritten_and_no_partial_output(pan, predictor, tmp_path):
    _, src = pan
    original = src.read_bytes()
    with pytest.raises(InvalidArgument):
        colorize_video(predictor, src, src, progress=False, overwrite=True)
    link = tmp_path / "link.mp4"
    os.link(src, link)
    with pytest.raises(InvalidArgument):
        colorize_video(predictor, src, link, progress=False, overwrite=True)
    assert src.read_bytes() == original

    for out in (tmp_path / "broken.mp4", tmp_path / "broken_frames"):
        with pytest.raises(RuntimeError, match="interrupted"):
            colorize_video(_Counting(predictor, fail_at=6), src, out, temporal="off", progress=False)
        assert not out.exists()
    assert sorted(os.listdir(tmp_path)) == ["link.mp4"]  # no hidden temporary left behind

    existing = tmp_path / "existing.mp4"
    existing.write_bytes(b"mine")
    with pytest.raises(VideoError, match="exists"):
        colorize_video(predictor, src, existing, progress=False)
    assert existing.read_bytes() == b"mine"
    with pytest.raises(ColorkerasError):
        colorize_video(predictor, tmp_path / "missing.mp4", tmp_path / "x.mp4", progress=False)


def test_flow_mode_cuts_the_warping_error(pan, predictor, tmp_path):
    clip, src = pan
    errors = {}
    for mode in ("off", "flow"):
        out = colorize_video(predictor, src, tmp_path / f"{mode}.mp4", temporal=mode,
                             progress=False).output
        errors[mode] = temporal_warping_error(_ab(_probe(out)["frames"]), clip.flows, clip.masks)
    assert errors["off"] > 0.5  # the random model does flicker
    assert errors["flow"] < 0.7 * errors["off"], errors


def test_scene_cut_resets_to_the_fresh_prediction(cut, predictor, tmp_path):
    clip, src = cut
    frames = _probe(src)["frames"]  # the decoded clip, as colorize_video sees it
    fresh = list(colorize_frames(predictor, frames, "off"))
    stable = list(colorize_frames(predictor, frames, "flow"))
    assert [t for t, r in enumerate(stable) if r.info.cut] == [8]
    assert np.array_equal(stable[8].ab, fresh[8].ab)  # nothing carried across the cut
    assert np.array_equal(stable[8].rgb, fresh[8].rgb)
    assert not np.allclose(stable[7].ab, fresh[7].ab, atol=0.5)  # before it, it did carry
    report = colorize_video(predictor, src, tmp_path / "cut.mp4", progress=False)
    assert report.cuts == [8]


def test_keyframe_mode_runs_the_model_on_fewer_frames(pan, cut, predictor, tmp_path):
    _, pan_src = pan
    counting = _Counting(predictor)
    report = colorize_video(counting, pan_src, tmp_path / "key.mp4", keyframe_every=4, progress=False)
    assert counting.frames == report.model_frames == 4  # frames 0, 4, 8, 12
    assert report.frames == 16 and len(_probe(report.output)["frames"]) == 16
    counting = _Counting(predictor)
    colorize_video(counting, cut[1], tmp_path / "cut.mp4", keyframe_every=100, progress=False)
    assert counting.frames == 2  # the first frame and the cut


@pytest.mark.parametrize("zoom", [1.0, 1.02])
def test_flow_halves_the_flicker_and_keyframes_flicker_no_more(zoom, predictor):
    clip = clips.pan_clip(16, 96, 64, pan=(1.5, 0.5), zoom=zoom)  # 96x64: below the work side, so ab is at the frame's size
    errors = {}
    for name, every in (("off", None), ("flow", None), ("keyframes", 4)):
        results = list(colorize_frames(predictor, clip.frames, "off" if name == "off" else "flow", every))
        errors[name] = temporal_warping_error([r.ab for r in results], clip.flows, clip.masks)
    assert errors["off"] > 0.5  # the random model does flicker
    assert errors["flow"] < 0.5 * errors["off"], errors  # the issue's 2x
    assert errors["keyframes"] <= errors["flow"], errors


def _film_tail_before_issue_21(predictor, frames, temporal, keyframe_every):
    """Frames colorized as films were before issue 21, by their own tail: the model's ab
    resized bilinearly to the working size, stabilised there, and resized bilinearly
    onto the frame's own L (no guided chroma)."""
    import cv2

    stabilizer = TemporalStabilizer(temporal, keyframe_every)
    for rgb in frames:
        full_l = lightness(rgb)
        work_h, work_w = work_shape(*full_l.shape, DEFAULT_WORK_SIDE)
        work_l = full_l if (work_h, work_w) == full_l.shape else cv2.resize(
            full_l, (work_w, work_h), interpolation=cv2.INTER_AREA)

        def predict(rgb=rgb, work_h=work_h, work_w=work_w):
            ab = color.denormalize_ab(predictor.predict_normalized(predictor.model_input(rgb)[None])[0])
            return color.resize_ab(ab, work_h, work_w)

        ab, _ = stabilizer.step(work_l, predict)
        yield color.merge_l_ab(full_l, ab)


@pytest.mark.parametrize("temporal, every", [("off", None), ("flow", None), ("flow", 3)])
def test_resize_chroma_gives_the_film_output_of_before_byte_for_byte(temporal, every, predictor):
    frames = clips.pan_clip(5, 400, 240).frames  # above the working side: both resizes run
    before = list(_film_tail_before_issue_21(predictor, frames, temporal, every))
    resized = [r.rgb for r in colorize_frames(predictor, frames, temporal, every, chroma_upsampling="resize")]
    for old, new in zip(before, resized, strict=True):
        np.testing.assert_array_equal(new, old)
    # The default ("auto": guided, the model's 32 px being a tenth of the working side) is the fix.
    default = [r.rgb for r in colorize_frames(predictor, frames, temporal, every)]
    assert not any(np.array_equal(old, new) for old, new in zip(before, default))


def test_colorize_video_paths(pan, model_path, tmp_path):
    _, src = pan
    folder = tmp_path / "shots"
    folder.mkdir()
    for i, frame in enumerate(clips.pan_clip(12, 64, 48).frames):
        Image.fromarray(frame).save(folder / f"{i:03d}.png")
    out_dir = tmp_path / "out"
    report = colorize_video_paths(model_path, [src, folder, tmp_path / "nope.mp4"], out_dir,
                                  "flow", None, False, progress=False)
    assert sorted(p.name for p in out_dir.iterdir()) == [".colorkeras-colorize.json", ".colorkeras.lock", "pan.mp4",
                                                         "shots.mp4"]
    assert [r.frames for r in report.written] == [16, 12]
    assert report.skipped == [(tmp_path / "nope.mp4", "not found")]
    again = colorize_video_paths(model_path, [src], out_dir, "flow", None, False, progress=False)
    assert again.existing == [src] and not again.written
    with pytest.raises(InvalidArgument):
        colorize_video_paths(model_path, [src], src.parent, "flow", None, True, progress=False)
    with pytest.raises(InvalidArgument):
        colorize_video_paths(model_path, [src], out_dir, "sideways", None, True, progress=False)


def test_a_failed_video_claims_no_output_path(pan, model_path, tmp_path, monkeypatch):
    # Issue 22: the record entry of a failed video claimed its output path for ever: a
    # file the user put there later was replaced by --overwrite, or taken for done.
    _, src = pan
    out = tmp_path / "out"
    real = Predictor.predict_normalized
    calls = []

    def interrupted_at_the_fourth_frame(self, l_norm):
        calls.append(len(l_norm))
        if len(calls) >= 4:
            raise RuntimeError("interrupted")
        return real(self, l_norm)

    with monkeypatch.context() as patch:
        patch.setattr(Predictor, "predict_normalized", interrupted_at_the_fourth_frame)
        with pytest.raises(RuntimeError, match="interrupted"):
            colorize_video_paths(model_path, [src], out, "off", None, False, progress=False)
    (out / "pan.mp4").write_bytes(b"the user's own file")
    for overwrite in (True, False):
        report = colorize_video_paths(model_path, [src], out, "off", None, overwrite, progress=False)
        assert (out / "pan.mp4").read_bytes() == b"the user's own file"
        assert not report.written and not report.existing
        assert "pan.mp4 already exists and was not written by colorize" in report.skipped[0][1]


def test_warping_error_is_zero_for_colour_that_moves_with_the_scene():
    rng = np.random.default_rng(0)
    field = rng.normal(size=(40, 50, 2)).astype(np.float32) * 20
    flow = np.zeros((40, 50, 2), np.float32)
    flow[..., 0] = 2.0  # each pixel was 2 px to the right in the previous frame
    moved = warp_backward(field, flow)
    masks = np.ones((2, 40, 50), bool)
    masks[1, :, -2:] = False
    assert temporal_warping_error([field, moved], [flow, flow], masks) < 1e-4
    assert temporal_warping_error([field, field], [flow, flow], masks) > 5


def test_the_cli_routes_videos_and_photos_and_overwrite_spares_a_foreign_file(model_path, pan, tmp_path):
    from colorkeras.cli import main

    _, clip_path = pan
    photo = tmp_path / "photo.png"
    Image.fromarray(np.full((40, 50, 3), 128, np.uint8)).save(photo)
    out = tmp_path / "out"
    assert main(["colorize", str(model_path), str(clip_path), str(photo), "--out", str(out),
                 "--keyframe-every", "4"]) == 0
    video_out, photo_out = out / "pan.mp4", out / "photo.png"
    assert _probe(video_out)["frames"].shape == _probe(clip_path)["frames"].shape
    assert Image.open(photo_out).size == (50, 40)
    # A file that colorize did not write, at a video's output path, survives --overwrite.
    video_out.write_bytes(b"the user's own file")
    assert main(["colorize", str(model_path), str(clip_path), "--out", str(out), "--overwrite"]) == 1
    assert video_out.read_bytes() == b"the user's own file"


def test_clip_evaluation_measures_flicker_per_mode_beside_the_grey_floor(predictor, cut, tmp_path):
    from colorkeras.evaluation.video_evaluate import GREY_FLOOR, evaluate_clip, write_clip_evaluation

    clip, _ = cut
    evaluation = evaluate_clip(predictor, clip, ("off", "flow", "keyframes"), keyframe_every=4)
    summary = evaluation.summary()
    assert evaluation.frames == len(clip) and set(summary) == {"off", "flow", "keyframes", GREY_FLOOR}
    assert summary[GREY_FLOOR]["warping_error"] == 0.0 and summary[GREY_FLOOR]["model_frames"] == 0
    assert summary["flow"]["warping_error"] < 0.7 * summary["off"]["warping_error"]
    assert summary["keyframes"]["model_frames"] < summary["off"]["model_frames"] == len(clip)
    written = write_clip_evaluation(evaluation, tmp_path / "eval")
    rows = written["per_frame"].read_text().splitlines()
    assert len(rows) == 1 + 4 * len(clip) and rows[0].startswith("frame,mode,warping_error")
    assert Image.open(written["flicker"]).size[0] > 0 and "| grey floor |" in written["table"].read_text()


def test_evaluate_video_cli_on_a_file_estimates_the_motion(model_path, pan, tmp_path):
    from colorkeras.cli import main

    _, path = pan
    assert main(["evaluate-video", str(model_path), str(path), "--out", str(tmp_path / "ev"),
                 "--keyframe-every", "4"]) == 0
    summary = __import__("json").loads((tmp_path / "ev" / "pan" / "summary.json").read_text())
    means = summary["mean"]
    assert means["flow"]["warping_error"] < means["off"]["warping_error"]
    assert means["keyframes"]["model_frames"] == 4


def test_evaluate_video_never_replaces_files_it_did_not_write(model_path, pan, tmp_path, capsys):
    from colorkeras.cli import main

    # Issue 22: `evaluate-video --out` wrote over the user's summary.json and table.md.
    _, path = pan
    out = tmp_path / "ev"
    (out / "pan").mkdir(parents=True)
    (out / "pan" / "summary.json").write_text('{"mine": true}')
    command = ["evaluate-video", str(model_path), str(path), "--out", str(out)]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err == (f"colorkeras evaluate-video: error: {out / 'pan' / 'summary.json'} exists and was not "
                   "written by colorkeras evaluate-video; pass --overwrite to replace it, or choose another "
                   "folder\n")
    assert [p.name for p in (out / "pan").iterdir() if not p.name.startswith(".")] == ["summary.json"]
    assert (out / "pan" / "summary.json").read_text() == '{"mine": true}'
    assert main(command + ["--overwrite"]) == 0
    assert __import__("json").loads((out / "pan" / "summary.json").read_text())["clip"] == "pan.mp4"
    assert main(command) == 0  # its own files now


def test_lightness_match_trusts_flat_areas_and_refuses_mismatched_lightness():
    from colorkeras.inference.temporal import TemporalStabilizer, flow_confidence, lightness_match

    previous = np.full((40, 40), 120, np.uint8)
    previous[:, 20:] = 200  # a flat area and an edge
    noisy_flow = np.random.default_rng(0).normal(0, 1.5, (40, 40, 2)).astype(np.float32)
    # Inconsistent flow (forward is not minus backward): the consistency check distrusts it...
    assert flow_confidence(noisy_flow, noisy_flow, consistency_px=1.0).mean() < 0.3
    # ...but where the lightness it carries matches, the lightness match trusts it,
    trust = lightness_match(previous, previous, noisy_flow, match_l=2.0)
    assert trust[8:32, 8:13].min() > 0.9
    # and where the lightness differs (another object arrived) it does not.
    changed = previous.copy()
    changed[:, :20] = 40
    assert lightness_match(changed, previous, noisy_flow, match_l=2.0)[8:32, 8:13].max() < 0.01
    with pytest.raises(InvalidArgument, match="match_l must be None or > 0"):
        TemporalStabilizer("flow", match_l=0)


# ------------------------------------------------------------------------------------
# Issue 22: frame-size limit, giant GIFs, truncated files, leftovers of a killed run
# ------------------------------------------------------------------------------------
def _giant_gif(path, width=15000, height=15000):
    """An animated GIF whose header declares ``width`` x ``height`` (the issue's 335 KB
    bomb, in a few hundred bytes): two 2x2 frames on a huge logical screen."""
    small = [Image.new("P", (2, 2), i) for i in (0, 1)]
    small[0].save(path, save_all=True, append_images=small[1:], duration=40, loop=0)
    data = bytearray(path.read_bytes())
    data[6:10] = width.to_bytes(2, "little") + height.to_bytes(2, "little")  # the logical screen
    path.write_bytes(bytes(data))
    return path


def test_videos_over_the_frame_size_limit_are_refused_before_decoding(model_path, pan, tmp_path, monkeypatch):
    from colorkeras.cli import VIDEO_LIMIT
    from colorkeras.inference import video_io

    assert VIDEO_LIMIT.startswith(f"{video_io.MAX_VIDEO_PIXELS / 1e6:.0f} MP ({video_io.MAX_VIDEO_PIXELS:,} pixels")
    _, src = pan  # 96x64
    monkeypatch.setattr(video_io, "MAX_VIDEO_PIXELS", 96 * 64 - 1)
    monkeypatch.setattr(video_io.Source, "items", lambda self: pytest.fail("a frame was decoded"))
    report = colorize_video_paths(model_path, [src], tmp_path / "out", progress=False)
    assert not report.written and len(report.skipped) == 1
    assert report.skipped[0][0] == src
    assert "96x64 = 6,144 pixels a frame, more than the video limit of 6,143" in report.skipped[0][1]
    assert not (tmp_path / "out" / "pan.mp4").exists()


def test_a_giant_gif_is_a_reported_skip_never_a_traceback(model_path, tmp_path, capsys):
    from colorkeras.cli import main

    gif = _giant_gif(tmp_path / "bomb.gif")
    folder = tmp_path / "photos"
    folder.mkdir()
    _giant_gif(folder / "bomb.gif")
    Image.fromarray(np.full((40, 50, 3), 128, np.uint8)).save(folder / "photo.png")
    (folder / "drawing.svg").write_text("<svg/>")
    assert main(["colorize", str(model_path), str(gif), "--out", str(tmp_path / "out")]) == 1
    printed = capsys.readouterr().out
    assert f"skipped {gif}: 15000x15000 = 225,000,000 pixels a frame, more than the video limit of " \
           "36,000,000" in printed
    # In a folder it is reported too, not left out without a word (as is every file left out).
    assert main(["colorize", str(model_path), str(folder), "--out", str(tmp_path / "out2")]) == 1
    printed = capsys.readouterr().out
    assert "colorized 1 photo(s); 0 already done (kept); 2 skipped" in printed
    assert f"skipped {folder / 'bomb.gif'}: 15000x15000 = 225,000,000 pixels a frame" in printed
    assert f"skipped {folder / 'drawing.svg'}: .svg images are not read" in printed
    # evaluate-video: one line, exit 2.
    assert main(["evaluate-video", str(model_path), str(gif), "--out", str(tmp_path / "ev")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("colorkeras evaluate-video: error: ") and "more than the video limit" in error
    assert len(error.splitlines()) == 1


def _faststart(src, dst):
    """``src`` remuxed with its index (moov) first, as streaming files are: cut short, it
    still opens and its header still counts every frame."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "faststart"}) as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)
    return dst


def test_a_truncated_video_says_it_has_fewer_frames_than_its_header(model_path, tmp_path, capsys):
    from colorkeras.cli import main

    clip = clips.pan_clip(40, 96, 64)
    whole = _faststart(clips.write_clip(clip, tmp_path / "whole.mp4", audio=False), tmp_path / "fast.mp4")
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with av.open(str(cut)) as container:
        assert container.streams.video[0].frames == 40  # the header still promises 40
    assert main(["colorize", str(model_path), str(cut), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    frames = len(_probe(tmp_path / "out" / "cut.mp4")["frames"])
    assert 0 < frames < 40
    assert f"cut.mp4: {frames} frames decoded where its header says 40" in printed
    report = colorize_video_paths(model_path, [cut], tmp_path / "out3", progress=False).written[0]
    assert report.frames == frames and report.header_frames == 40
    assert any("header says 40" in warning for warning in report.warnings)
    # A whole file says nothing of the kind.
    whole_report = colorize_video_paths(model_path, [whole], tmp_path / "out2", progress=False).written[0]
    assert whole_report.frames == whole_report.header_frames == 40 and not whole_report.warnings


def test_a_rerun_removes_the_temporary_of_a_killed_encode_and_nothing_else(model_path, tmp_path):
    import re
    import signal
    import subprocess
    import sys
    import time

    src = clips.write_clip(clips.pan_clip(150, 96, 64, pan=(0.4, 0.1)), tmp_path / "long.mp4", audio=False)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "colorkeras.cli", "colorize", str(model_path), str(src), "--out", str(out)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    temporary = re.compile(r"\.long\.[0-9]+\.[0-9a-f]{8}\.tmp\.mp4")
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if out.is_dir() and any(temporary.fullmatch(p.name) for p in out.iterdir()):
                time.sleep(0.3)  # mid-encode
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    left = sorted(p.name for p in out.iterdir() if temporary.fullmatch(p.name))
    assert len(left) == 1, sorted(p.name for p in out.iterdir())  # what a kill -9 leaves
    # Look-alikes that are not a dead run's temporary of this output stay.
    alive = out / f".long.{os.getpid()}.0123abcd.tmp.mp4"  # a live process's
    others = [out / ".long.999999999.0123abcd.tmp.mp4.mine", out / ".other.999999999.0123abcd.tmp.mp4",
              out / ".long.999999999.0123abcd.tmp.mkv", out / "long.999999999.0123abcd.tmp.mp4"]
    for path in [alive, *others]:
        path.write_bytes(b"keep me")
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (out / left[0]).exists()
    assert all(path.read_bytes() == b"keep me" for path in [alive, *others])
    assert len(_probe(out / "long.mp4")["frames"]) == 150


def test_stale_frame_folder_temporaries_go_only_when_they_hold_nothing_but_our_frames(tmp_path):
    from colorkeras.inference.video_io import remove_stale_temporaries

    out = tmp_path / "frames"
    ours = tmp_path / ".frames.999999999.0123abcd.tmp"
    mixed = tmp_path / ".frames.999999998.0123abcd.tmp"
    for folder in (ours, mixed):
        folder.mkdir()
        (folder / "frame_000000.png").write_bytes(b"png")
    (mixed / "notes.txt").write_text("mine")
    assert remove_stale_temporaries(out) == [ours]
    assert not ours.exists() and (mixed / "notes.txt").read_text() == "mine"


# ------------------------------------------------------------------------------------
# Messages and checks (issue 22, item 13)
# ------------------------------------------------------------------------------------
def test_a_corrupt_frame_skips_its_folder_and_the_other_inputs_go_on(model_path, tmp_path, capsys):
    from colorkeras.cli import main

    frames = clips.pan_clip(6, 48, 32).frames
    for name in ("good", "bad"):
        (tmp_path / name).mkdir()
        for i, frame in enumerate(frames):
            Image.fromarray(frame).save(tmp_path / name / f"{i:03d}.png")
    (tmp_path / "bad" / "003.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (tmp_path / "bad2").mkdir()
    (tmp_path / "bad2" / "000.png").write_bytes(b"not a frame at all")
    code = main(["colorize", str(model_path), str(tmp_path / "bad"), str(tmp_path / "bad2"), str(tmp_path / "good"),
                 "--frames", "--out", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert code == 1  # inputs were skipped, as for photos
    assert len(_probe(tmp_path / "out" / "good.mp4")["frames"]) == 6
    assert f"skipped {tmp_path / 'bad'}: frame 003.png cannot be read" in printed
    assert f"skipped {tmp_path / 'bad2'}: frame 000.png cannot be read" in printed
    assert not (tmp_path / "out" / "bad.mp4").exists() and not (tmp_path / "out" / "bad2.mp4").exists()


def test_photo_only_options_given_with_videos_are_named(model_path, pan, tmp_path, capsys):
    from colorkeras.cli import main

    _, clip_path = pan
    assert main(["colorize", str(model_path), str(clip_path), "--out", str(tmp_path / "out"),
                 "--format", "png", "--keyframe-every", "8"]) == 0
    printed = capsys.readouterr().out
    assert "note: --format png applies to photos only; videos keep their container" in printed
    assert (tmp_path / "out" / "pan.mp4").is_file()


def test_a_grayscale_clip_has_an_exact_grey_floor_and_says_it_has_no_colour(predictor, tmp_path):
    from colorkeras.evaluation.video_evaluate import GREY_FLOOR, evaluate_clip, write_clip_evaluation

    grey = color.rgb_to_l(clips.pan_clip(4, 48, 32).frames)
    frames = np.repeat(np.round(grey * 2.55).clip(0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    (tmp_path / "grey").mkdir()
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / "grey" / f"{i}.png")
    evaluation = evaluate_clip(predictor, tmp_path / "grey", ("off", "flow"))
    summary = evaluation.summary()
    assert not math.isnan(summary[GREY_FLOOR]["psnr"]) and summary[GREY_FLOOR]["psnr"] > 40
    assert not evaluation.has_color
    table = evaluation.table()
    assert "keyframes every" not in table  # keyframe mode was not measured
    assert "This clip has no colour" in table and "| grey floor |" in table and "nan" not in table
    summary_json = json.loads(write_clip_evaluation(evaluation, tmp_path / "ev")["summary"].read_text())
    assert summary_json["has_colour"] is False and "no colour" in summary_json["note"]
    assert summary_json["keyframe_every"] is None

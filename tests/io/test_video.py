import errno
import hashlib
import json
import threading
from fractions import Fraction
from types import SimpleNamespace

import av
import cv2
import numpy as np
import pandas as pd
import pytest
from media import (
    box_outline,
    damage,
    decodable_frame_times,
    decode_all,
    decode_frames,
    make_clip,
    share_tinted,
    without_decoder,
)

import fer
from fer.engine.settings import Settings
from fer.io import video
from fer.io.facelog import read_provenance
from fer.io.outputs import OutputError
from fer.io.video import VideoCancelled, VideoError, VideoInfo


@pytest.fixture(scope="module")
def clip_with_audio(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clips") / "face.mp4", frames=12, audio="aac")


def annotate(rec, src, dst, **kwargs):
    return rec.annotate_video(src, dst, **kwargs)


def outputs(folder):
    return sorted(p.name for p in folder.iterdir())


def test_annotated_video_plays_everywhere_and_keeps_frames_timing_and_audio(tiny_recognizer, clip_with_audio, tmp_path):
    calls = []
    summary = annotate(tiny_recognizer, clip_with_audio, tmp_path / "out.mp4", progress=lambda *a: calls.append(a))
    before, after = decode_all(clip_with_audio), decode_all(tmp_path / "out.mp4")
    assert after["frames"] == before["frames"] == summary.frames == 12
    assert (after["codec"], after["pix_fmt"], after["size"]) == ("h264", "yuv420p", (320, 240))
    assert after["rate"] == before["rate"] == 15 and after["times"] == pytest.approx(before["times"])
    assert after["duration"] == pytest.approx(before["duration"], abs=1e-3) == summary.duration
    assert after["audio"] == ["aac"] and summary.audio == "copied (aac)"
    assert calls[-1] == (12, 12, 0.0)
    with av.open(str(tmp_path / "out.mp4")):  # +faststart: the index comes before the media data
        pass
    data = (tmp_path / "out.mp4").read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    assert outputs(tmp_path) == ["out.csv", "out.json", "out.mp4"]


def test_each_frame_shows_the_boxes_of_its_log_rows(tiny_recognizer, clip_with_audio, tmp_path):
    annotate(tiny_recognizer, clip_with_audio, tmp_path / "out.mp4")
    rows = pd.read_csv(tmp_path / "out.csv", comment="#").dropna(subset=["x1"])
    before, after = decode_frames(clip_with_audio), decode_frames(tmp_path / "out.mp4")
    assert len(rows) >= 10
    for row in rows.itertuples():
        box = (row.x1, row.y1, row.x2, row.y2)
        # the default green along the box, which the camera's frame does not have there
        assert share_tinted(box_outline(after[row.frame], box), 1) > 0.6
        assert share_tinted(box_outline(before[row.frame], box), 1) == 0


def test_log_has_one_row_per_face_per_frame(tiny_recognizer, clip_with_audio, tmp_path):
    summary = annotate(tiny_recognizer, clip_with_audio, tmp_path / "out.mp4")
    rows = pd.read_csv(tmp_path / "out.csv", comment="#")
    records = pd.read_json(tmp_path / "out.json", orient="table")
    classes = tiny_recognizer.class_names
    assert len(rows) == len(records) == summary.face_rows + summary.frames_without_face
    assert summary.face_rows >= 10  # the face is found in (nearly) every frame
    assert sorted(rows.frame) == list(range(12))  # one face: one row per frame, with or without it
    assert list(records.columns) == ["frame", "time", "track_id", "box", "label", "confidence", *classes,
                                     *(f"raw_{c}" for c in classes)]
    assert rows.time.iloc[-1] == pytest.approx(11 / 15, abs=1e-3)
    faces = rows[rows.label != "no face"]
    assert np.allclose(faces[classes].sum(axis=1), 1, atol=1e-3)
    assert np.allclose(faces[[f"raw_{c}" for c in classes]].sum(axis=1), 1, atol=1e-3)
    # smoothing 0.6 by default: after the first frame the label's probabilities are not the raw ones
    assert not np.allclose(faces[classes].to_numpy()[1:], faces[[f"raw_{c}" for c in classes]].to_numpy()[1:])
    assert sum(summary.labels.values()) == summary.face_rows


def test_log_carries_its_provenance(tiny_recognizer, tiny_model_file, clip_with_audio, tmp_path):
    annotate(tiny_recognizer, clip_with_audio, tmp_path / "out.mp4", settings=Settings(smoothing=0.3))
    csv_header = read_provenance(tmp_path / "out.csv")
    assert csv_header == read_provenance(tmp_path / "out.json") == json.loads((tmp_path / "out.json").read_text())[
        "provenance"]
    assert csv_header["fer_version"] == fer.__version__
    model = csv_header["model"]
    assert model["file"] == "tiny.pt" and model["sha256"] == hashlib.sha256(tiny_model_file.read_bytes()).hexdigest()
    assert model["device"] == "cpu" and model["private_test_accuracy"] is None  # no metrics file beside it
    assert csv_header["settings"]["smoothing"] == 0.3 and csv_header["settings"]["display_size"] == [640, 480]
    (source,) = csv_header["inputs"]
    assert source == {"kind": "video", "path": str(clip_with_audio), "width": 320, "height": 240, "fps": 15.0,
                      "frames": 12, "duration": pytest.approx(0.8), "codec": "h264"}


def test_results_do_not_depend_on_timing(tiny_recognizer, clip_with_audio, tmp_path):
    """Decoding, full scans and encoding run on worker threads; the log is the same every run."""
    for name in ("a.mp4", "b.mp4"):
        annotate(tiny_recognizer, clip_with_audio, tmp_path / name, log=tmp_path / f"{name}.csv")
    assert (tmp_path / "a.mp4.csv").read_text() == (tmp_path / "b.mp4.csv").read_text()


def test_audio_that_mp4_cannot_carry_is_reencoded_to_aac(tiny_recognizer, tmp_path):
    src = make_clip(tmp_path / "pcm.mov", frames=8, audio="pcm_s16le")
    summary = annotate(tiny_recognizer, src, tmp_path / "out.mp4", log=False)
    assert decode_all(tmp_path / "out.mp4")["audio"] == ["aac"] and "re-encoded" in summary.audio


def test_rotation_is_honoured(tiny_recognizer, tmp_path):
    src = make_clip(tmp_path / "phone.mp4", frames=6, size=(240, 320), rotation=90)  # stored 320x240, shown 240x320
    summary = annotate(tiny_recognizer, src, tmp_path / "out.mp4", log=False)
    assert decode_all(tmp_path / "out.mp4")["size"] == (240, 320)
    assert summary.face_rows >= 5  # upright, so the face is found


def test_variable_frame_rate_keeps_every_timestamp(tiny_recognizer, tmp_path):
    src = make_clip(tmp_path / "vfr.mp4", frames=10, vfr_ms=[20, 50, 33])
    annotate(tiny_recognizer, src, tmp_path / "out.mp4", log=False)
    before, after = decode_all(src), decode_all(tmp_path / "out.mp4")
    assert after["frames"] == before["frames"] == 10
    assert after["times"] == pytest.approx(before["times"], abs=1e-3)


def test_odd_width_and_height(tiny_recognizer, tmp_path):
    src = make_clip(tmp_path / "odd.mp4", frames=6, size=(321, 241))
    summary = annotate(tiny_recognizer, src, tmp_path / "out.mp4", log=False)
    after = decode_all(tmp_path / "out.mp4")
    assert after["frames"] == 6 and after["size"] == (322, 242) and after["pix_fmt"] == "yuv420p"
    assert (summary.width, summary.height) == (322, 242)


def test_video_without_faces_has_a_no_face_row_per_frame(tiny_recognizer, tmp_path):
    src = make_clip(tmp_path / "empty.mp4", frames=6, face=False)
    summary = annotate(tiny_recognizer, src, tmp_path / "out.mp4")
    assert decode_all(tmp_path / "out.mp4")["frames"] == 6 and summary.face_rows == 0
    assert summary.frames_without_face == 6
    for rows in (pd.read_csv(tmp_path / "out.csv", comment="#"), pd.read_json(tmp_path / "out.json", orient="table")):
        assert list(rows.frame) == list(range(6)) and set(rows.label) == {"no face"}
        assert rows.track_id.isna().all() and rows.happy.isna().all()


def test_mp4_without_video_stream(tiny_recognizer, tmp_path):
    src = make_clip(tmp_path / "audio.mp4", frames=6, audio="aac", video=False)
    with pytest.raises(VideoError, match="no video stream"):
        annotate(tiny_recognizer, src, tmp_path / "out.mp4")
    assert outputs(tmp_path) == ["audio.mp4"]


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_mp4(tiny_recognizer, clip_with_audio, tmp_path, keep):
    data = clip_with_audio.read_bytes()  # written with the index at the end, like most cameras
    (tmp_path / "cut.mp4").write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(VideoError, match="damaged or truncated"):
        annotate(tiny_recognizer, tmp_path / "cut.mp4", tmp_path / "out.mp4")
    assert outputs(tmp_path) == ["cut.mp4"]


def test_truncated_mp4_with_the_index_first(tiny_recognizer, clip_with_audio, tmp_path):
    annotate(tiny_recognizer, clip_with_audio, tmp_path / "fast.mp4", log=False)  # our output is +faststart
    data = (tmp_path / "fast.mp4").read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="truncated"):
        annotate(tiny_recognizer, tmp_path / "cut.mp4", tmp_path / "out.mp4")
    assert outputs(tmp_path) == ["cut.mp4", "fast.mp4"]


@pytest.mark.parametrize("content, message", [(b"", "empty"), (b"hello, not a video\n" * 50, "not a video")])
def test_empty_and_non_video_files(tiny_recognizer, tmp_path, content, message):
    (tmp_path / "in.mp4").write_bytes(content)
    with pytest.raises(VideoError, match=message):
        annotate(tiny_recognizer, tmp_path / "in.mp4", tmp_path / "out.mp4")
    with pytest.raises(VideoError, match="does not exist"):
        annotate(tiny_recognizer, tmp_path / "missing.mp4", tmp_path / "out.mp4")
    assert outputs(tmp_path) == ["in.mp4"]


def test_cancel_leaves_nothing_behind(tiny_recognizer, clip_with_audio, tmp_path):
    asked = []
    with pytest.raises(VideoCancelled, match="after 3 of 12 frames"):
        annotate(tiny_recognizer, clip_with_audio, tmp_path / "out.mp4",
                 cancel=lambda: asked.append(1) or len(asked) > 3)
    event = threading.Event()
    event.set()
    with pytest.raises(VideoCancelled):
        annotate(tiny_recognizer, clip_with_audio, tmp_path / "out.mp4", cancel=event)
    assert outputs(tmp_path) == []


def test_output_names_are_checked(tiny_recognizer, clip_with_audio, tmp_path):
    with pytest.raises(VideoError, match=r"\*\.mp4"):
        annotate(tiny_recognizer, clip_with_audio, tmp_path / "out.avi")
    with pytest.raises(VideoError, match="input itself"):
        annotate(tiny_recognizer, clip_with_audio, clip_with_audio)
    with pytest.raises(VideoError, match=".csv or .json"):
        annotate(tiny_recognizer, clip_with_audio, tmp_path / "out.mp4", log=tmp_path / "log.txt")


def test_single_log_file(tiny_recognizer, clip_with_audio, tmp_path):
    summary = annotate(tiny_recognizer, clip_with_audio, tmp_path / "out.mp4", log=tmp_path / "faces.json")
    assert outputs(tmp_path) == ["faces.json", "out.mp4"] and summary.logs == [tmp_path / "faces.json"]


def test_video_info(clip_with_audio):
    info = VideoInfo.read(clip_with_audio)
    assert (info.width, info.height, info.frames, info.audio) == (320, 240, 12, "aac")
    assert info.fps == 15 and info.duration == pytest.approx(0.8, abs=0.01)


def test_damaged_frames_are_skipped_counted_and_timing_is_kept(tiny_recognizer, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=150, fps=30)
    src = damage(clip, tmp_path / "damaged.mp4", 0.35, 0.40)
    expected = decodable_frame_times(src)
    assert 100 < len(expected) < 150  # the damage is real, and most of the clip decodes
    summary = annotate(tiny_recognizer, src, tmp_path / "out.mp4")
    assert summary.frames == len(expected) and summary.skipped == 150 - len(expected)
    out = decode_all(tmp_path / "out.mp4")
    assert out["frames"] == len(expected)
    assert out["times"] == pytest.approx([t - expected[0] for t in expected], abs=1e-3)  # each frame at its time
    assert summary.duration == pytest.approx(150 / 30, abs=0.04)


def test_a_video_where_nothing_decodes_is_refused(tiny_recognizer, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=30, fps=30)
    src = damage(clip, tmp_path / "damaged.mp4", 0.02, 0.9)  # the index at the end stays
    with pytest.raises(VideoError, match="no frame could be decoded"):
        annotate(tiny_recognizer, src, tmp_path / "out.mp4")
    assert outputs(tmp_path) == ["clip.mp4", "damaged.mp4"]


def test_files_joined_end_to_end_play_as_one(tiny_recognizer, tmp_path):
    """Concatenated MPEG-TS files restart their clocks: the second part follows the first,
    picture and (copied) sound, instead of being squeezed into one tick."""
    part = make_clip(tmp_path / "part.ts", frames=12, audio="aac")
    src = tmp_path / "joined.ts"
    src.write_bytes(part.read_bytes() * 2)
    summary = annotate(tiny_recognizer, src, tmp_path / "out.mp4")
    out = decode_all(tmp_path / "out.mp4")
    assert out["frames"] == summary.frames == 24 and out["audio"] == ["aac"] and summary.audio == "copied (aac)"
    assert np.diff(out["times"]) == pytest.approx(np.full(23, 1 / 15), abs=1e-3)
    assert summary.duration == pytest.approx(1.6, abs=1e-3)
    times = pd.read_csv(tmp_path / "out.csv", comment="#").time
    assert np.diff(times) == pytest.approx(np.full(23, 1 / 15), abs=1e-3)
    assert audio_seconds(tmp_path / "out.mp4") == pytest.approx(2 * audio_seconds(part), abs=1e-3)


def audio_seconds(path) -> float:
    """The length of the audio stream's packets together."""
    with av.open(str(path)) as c:
        return sum(float(p.duration * p.time_base) for p in c.demux(audio=0) if p.size)


@pytest.mark.parametrize("sizes", [((320, 240), (160, 120)), ((160, 120), (320, 240))])
def test_a_size_change_midway_is_scaled_into_the_first_size(tiny_recognizer, tmp_path, sizes):
    first, second = (make_clip(tmp_path / f"{i}.ts", frames=6, size=size) for i, size in enumerate(sizes))
    src = tmp_path / "joined.ts"
    src.write_bytes(first.read_bytes() + second.read_bytes())
    summary = annotate(tiny_recognizer, src, tmp_path / "out.mp4")
    out = decode_all(tmp_path / "out.mp4")
    assert out["frames"] == summary.frames == 12 and out["size"] == sizes[0] == (summary.width, summary.height)
    rows = pd.read_csv(tmp_path / "out.csv", comment="#")
    assert rows[rows.frame >= 6].x2.max() <= sizes[1][0]  # boxes in each frame's own pixels
    shown, source = decode_frames(tmp_path / "out.mp4")[-1], cv2.resize(decode_frames(second)[-1], sizes[0])
    assert np.abs(shown.astype(int) - source).mean() < 15  # scaled whole, not cropped or padded


def test_reencoded_audio_starts_with_the_picture(tiny_recognizer, tmp_path):
    src = make_clip(tmp_path / "late.mov", frames=12, audio="pcm_s16le", start=0.5)
    summary = annotate(tiny_recognizer, src, tmp_path / "out.mp4", log=False)
    assert summary.audio == "re-encoded to AAC (from pcm_s16le)"
    assert sound_onset(tmp_path / "out.mp4") == pytest.approx(sound_onset(src), abs=0.02)
    assert sound_onset(src) == pytest.approx(0.5, abs=0.01)


def sound_onset(path) -> float:
    """Seconds at which the first clearly audible sample plays."""
    with av.open(str(path)) as c:
        for frame in c.decode(audio=0):
            loud = np.flatnonzero(np.abs(frame.to_ndarray().astype(np.float32).ravel()) > 0.05 * (
                32767 if frame.format.name.startswith("s16") else 1))
            if loud.size:
                return float(frame.time) + loud[0] / frame.sample_rate
    raise AssertionError(f"{path} is silent")


@pytest.mark.parametrize("rotation, shown", [(0, Fraction(4, 3)), (90, Fraction(3, 4))])
def test_non_square_pixels_keep_their_aspect(tiny_recognizer, tmp_path, rotation, shown):
    src = make_clip(tmp_path / "dv.mp4", frames=4, size=(240, 240), sar=Fraction(4, 3), rotation=rotation)
    annotate(tiny_recognizer, src, tmp_path / "out.mp4", log=False)
    with av.open(str(tmp_path / "out.mp4")) as c:
        assert c.streams.video[0].codec_context.sample_aspect_ratio == shown


class _FailingOutput:
    """The encoder's output container, failing on one method with a given error."""

    def __init__(self, container, method: str, error: BaseException):
        self._container, self._method, self._error = container, method, error

    def __getattr__(self, name):
        attribute = getattr(self._container, name)
        if name != self._method:
            return attribute

        def fail(*args):
            attribute(*args)
            raise self._error
        return fail


@pytest.mark.parametrize("method, error, raised, message", [
    ("close", OSError(errno.ENOSPC, "No space left on device"), OutputError, "no space left on the device"),
    ("mux", av.error.InvalidDataError(errno.EINVAL, "Invalid data found"), VideoError,
     r"cannot be written as an mp4 \(Invalid data found\)")])
def test_a_failure_writing_the_mp4_is_one_error_and_keeps_nothing(tiny_recognizer, clip_with_audio, tmp_path,
                                                                  monkeypatch, method, error, raised, message):
    """Closing writes the mp4's index (and with +faststart rewrites the file): a full disk
    there must not leave a truncated video in place as if complete."""
    opened = video._Encoder.__init__

    def failing(self, *args, **kwargs):
        opened(self, *args, **kwargs)
        self.output = _FailingOutput(self.output, method, error)
    monkeypatch.setattr(video._Encoder, "__init__", failing)
    with pytest.raises(raised, match=message):
        annotate(tiny_recognizer, clip_with_audio, tmp_path / "out.mp4")
    assert outputs(tmp_path) == []


def returns_while(lock: threading.Lock, stop) -> bool:
    """Whether ``stop()`` returns while ``lock`` is held, as Ctrl-C can leave a queue's lock
    (see video.STOP_WAIT_S); run on a helper thread so that a hang fails, not the suite."""
    lock.acquire()
    try:
        helper = threading.Thread(target=stop, daemon=True)
        helper.start()
        helper.join(30)
        return not helper.is_alive()
    finally:
        lock.release()


def test_the_decoder_and_encoder_threads_stop_even_with_their_queue_lock_left_taken(tmp_path, monkeypatch):
    monkeypatch.setattr(video, "STOP_WAIT_S", 0.5)
    prefetch = video.Prefetch(iter(range(100)), size=1)  # its worker waits on the full queue
    assert returns_while(prefetch.queue.mutex, prefetch.close)
    encoder = video._Encoder(tmp_path / "out.mp4", SimpleNamespace(audio_left_out=False))
    encoder.start()
    assert returns_while(encoder.queue.mutex, encoder.abort)


def test_audio_without_a_decoder_is_left_out_and_said_so(tiny_recognizer, tmp_path):
    src = without_decoder(make_clip(tmp_path / "clip.mkv", frames=6, audio="aac"), tmp_path / "odd.mkv", "audio")
    assert VideoInfo.read(src).audio == "undecodable"
    summary = annotate(tiny_recognizer, src, tmp_path / "out.mp4", log=False)
    assert summary.audio == "left out (a codec FFmpeg cannot decode)"
    out = decode_all(tmp_path / "out.mp4")
    assert out["frames"] == summary.frames == 6 and out["audio"] == []


def test_video_without_a_decoder_is_refused(tiny_recognizer, tmp_path):
    src = without_decoder(make_clip(tmp_path / "clip.mkv", frames=6), tmp_path / "odd.mkv", "video")
    with pytest.raises(VideoError, match="odd.mkv has its video in a codec FFmpeg cannot decode"):
        annotate(tiny_recognizer, src, tmp_path / "out.mp4")
    assert outputs(tmp_path) == ["clip.mkv", "odd.mkv"]


def test_a_frame_out_of_order_keeps_its_place_and_a_restarted_clock_goes_on():
    """One frame a frame early (a broken file) moves on by a tick; a jump back by more than
    a few frames (files joined end to end) shifts the rest to follow on."""
    from types import SimpleNamespace

    reader = video._Reader.__new__(video._Reader)  # the timestamp logic alone, without a file
    reader.first_pts = reader.last_pts = None
    reader.last_duration, reader.shift = 0, 0
    reader.video = SimpleNamespace(average_rate=Fraction(30), guessed_rate=None, time_base=Fraction(1, 90_000))
    given = (0, 3000, 9000, 6000, 12000, 15000, 18000, 0, 3000)
    stamps = [reader._timestamp(SimpleNamespace(pts=pts, duration=3000)) for pts in given]
    assert stamps == [0, 3000, 9000, 9001, 12000, 15000, 18000, 21000, 24000]

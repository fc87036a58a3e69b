"""The live page's parts that are not layout: ICE configuration and the per-stream session."""

from __future__ import annotations

import json

import pytest

from fer.app.live import ICE_ENV, rtc_configuration


def test_no_ice_servers_by_default(monkeypatch):
    monkeypatch.delenv(ICE_ENV, raising=False)
    assert rtc_configuration() == {"iceServers": []}  # an empty list, never {} (public STUN fallback)


def test_ice_servers_from_environment_then_secrets(monkeypatch):
    turn = [{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]
    stun = [{"urls": "stun:stun.example.org:3478"}]
    monkeypatch.setenv(ICE_ENV, json.dumps(turn))
    assert rtc_configuration({"ice_servers": stun}) == {"iceServers": turn}
    monkeypatch.delenv(ICE_ENV)
    assert rtc_configuration({"ice_servers": stun}) == {"iceServers": stun}


@pytest.mark.parametrize("raw", ["not json", '{"urls": "stun:x"}', '[{"url": "stun:x"}]', "[1]", '["stun:x"]'])
def test_bad_ice_configuration_says_what_is_expected(monkeypatch, raw):
    monkeypatch.setenv(ICE_ENV, raw)
    with pytest.raises(ValueError, match="ICE|JSON"):
        rtc_configuration()


@pytest.mark.parametrize("command", ["app", "booth"])
@pytest.mark.parametrize("name, raw, message", [
    ("FER_MAX_STREAMS", "two", "FER_MAX_STREAMS must be a positive integer, got 'two'"),
    (ICE_ENV, '["stun:x"]', "ICE servers must be a list of objects with 'urls', got ['stun:x']"),
    ("FER_WEIGHTS", "/", "FER_WEIGHTS=/: a folder; name a model file in it"),
    ("FER_WEIGHTS", "/no/model.pt", "FER_WEIGHTS=/no/model.pt: no such file")])
def test_the_app_refuses_a_bad_operator_environment_before_starting(capsys, monkeypatch, command, name, raw, message):
    from fer.app import launch
    from fer.cli import main

    monkeypatch.setenv(name, raw)
    monkeypatch.setattr(launch, "run_app", lambda args: pytest.fail("the server started"))
    with pytest.raises(SystemExit) as e:
        main([command])
    assert e.value.code == 2 and capsys.readouterr().err == f"fer {command}: error: {message}\n"


def test_live_log_download_carries_provenance_raw_probabilities_and_no_face_rows(tiny_recognizer, tiny_model_file,
                                                                                  tmp_path):
    import hashlib
    import io

    import numpy as np
    import pandas as pd
    from media import face_frame

    from fer.app.live import LiveSession
    from fer.engine.settings import Settings
    from fer.io.facelog import read_provenance

    session = LiveSession(tiny_recognizer.new_stream(Settings(smoothing=0.5)), tiny_recognizer.class_names)
    for frame in [face_frame(320, 240)] * 3 + [np.full((240, 320, 3), 90, np.uint8)]:
        session.process(frame)
    data = session.log_csv()
    rows = pd.read_csv(io.BytesIO(data), comment="#")
    assert rows.frame.tolist() == [0, 1, 2, 3] and rows.label.tolist()[3] == "no face"
    classes = tiny_recognizer.class_names
    assert rows[[f"raw_{c}" for c in classes]].iloc[:3].sum(axis=1).round(3).tolist() == [1, 1, 1]
    assert not np.allclose(rows[classes].iloc[1:3], rows[[f"raw_{c}" for c in classes]].iloc[1:3])  # smoothed
    (tmp_path / "live.csv").write_bytes(data)
    found = read_provenance(tmp_path / "live.csv")
    assert set(found) == {"fer_version", "model", "settings", "inputs"}
    assert found["model"]["sha256"] == hashlib.sha256(tiny_model_file.read_bytes()).hexdigest()
    assert found["settings"]["smoothing"] == 0.5
    assert found["inputs"] == [{"kind": "camera", "width": 320, "height": 240, "frames": 4,
                                "fps": found["inputs"][0]["fps"], "first_logged_frame": 0}]


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_nobody_in_view_for_a_while_makes_the_stream_idle_and_the_next_visitor_starts_afresh(tiny_recognizer,
                                                                                           monkeypatch):
    import numpy as np
    from media import face_frame

    from fer.app import live
    from fer.app.live import LiveSession
    from fer.engine.settings import Settings

    clock = FakeClock()
    monkeypatch.setattr(live.time, "monotonic", clock)
    session = LiveSession(tiny_recognizer.new_stream(Settings(), camera=True), tiny_recognizer.class_names)
    face, empty = face_frame(320, 240), np.full((240, 320, 3), 90, np.uint8)

    def show(frame, seconds: float):
        clock.now += seconds
        session.process(frame)
        return session.stats()

    assert session.stats().idle  # nobody yet
    stats = show(face, 0.1)
    assert not stats.idle and stats.main_label in tiny_recognizer.class_names + ["uncertain"]
    show(face, 0.1)
    stats = show(empty, 0.1)  # a short gap: still the same visitor, but the chart's line breaks there
    assert not stats.idle and stats.main_label is None and stats.labels == []
    show(face, 0.1)
    history = session.history()
    assert history.segment.nunique() == 2 and history.seconds.max() == 0
    first_id = session.pipeline.tracker.tracks[0].track_id
    for _ in range(10):
        stats = show(empty, 0.4)  # 4 s without a face
    assert stats.idle and len(session.history()) == 0  # no stale "now"
    show(face, 0.1)
    assert session.pipeline.tracker.tracks[0].track_id == 1 == first_id  # ids restart: a fresh visitor
    assert not session.stats().idle


def test_the_chart_says_which_face_it_follows_by_its_number_in_the_picture(tiny_recognizer):
    import numpy as np
    from media import face_patch

    from fer.app.live import LiveSession, chart_title
    from fer.engine.settings import Settings

    def frame(*faces: tuple[int, int]) -> np.ndarray:  # (left edge, side) per face
        rgb = np.full((480, 640, 3), 90, np.uint8)
        for x, side in faces:
            rgb[100:100 + side, x:x + side] = face_patch(side)
        return rgb

    session = LiveSession(tiny_recognizer.new_stream(Settings(mirror=True), camera=True), tiny_recognizer.class_names)
    big_right, small_left = (400, 200), (40, 130)
    for _ in range(3):
        session.process(frame(big_right, small_left))
    assert session.stats().faces == 2
    history = session.history()
    # The larger face is on the camera's right: shown on the left of the mirrored picture, as 1.
    assert set(history.face) == {1} and chart_title(history) == "Face 1, the largest in view"
    session.process(frame(small_left))  # the larger face leaves: the chart follows the other, alone now
    history = session.history()
    assert history.face.iloc[-1] == 0 and chart_title(history) == "The face in view"
    assert history.segment.nunique() == 2  # no line from one face to the other


def test_another_model_takes_over_the_stream_and_its_log_starts_afresh(tiny_recognizer, tiny_model_file, tmp_path):
    import shutil

    import pandas as pd
    from media import face_frame

    from fer.app.live import LiveSession
    from fer.io.facelog import read_provenance
    from fer.recognizer import EmotionRecognizer

    shutil.copy(tiny_model_file, tmp_path / "other.pt")
    other = EmotionRecognizer(tmp_path / "other.pt")
    session = LiveSession(tiny_recognizer.new_stream(), tiny_recognizer.class_names)
    stream = session.stream()
    for _ in range(2):
        session.process(face_frame(320, 240))
    session.use_model(other.new_stream(), other.class_names)
    session.process(face_frame(320, 240))
    assert session.stream() is stream and session.stats().frames == 1
    (tmp_path / "live.csv").write_bytes(session.log_csv())
    assert pd.read_csv(tmp_path / "live.csv", comment="#").frame.tolist() == [0]
    assert read_provenance(tmp_path / "live.csv")["model"]["file"] == "other.pt"

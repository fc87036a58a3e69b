"""The Video page driven by Streamlit's AppTest: a batch of videos, one of them damaged,
annotated in the background; the zip; page switches, Cancel, two sessions at once."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from pathlib import Path

import av
import pandas as pd
import pytest
from appdata import REPO, check_batch_zip, download
from media import make_clip
from streamlit.testing.v1 import AppTest

from fer.app.video_batch import CANCELLED, DONE, FAILED, VideoWorkspace

TIMEOUT = 60


@pytest.fixture
def app(app_env) -> AppTest:
    return new_session()


def new_session() -> AppTest:
    """A browser tab: its own session and session state."""
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=TIMEOUT)
    at.switch_page("fer/app/views/video.py").run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def gate(monkeypatch):
    """Holds every video annotation at its start until the test sets the event, so the
    test knows the batch is running when it acts."""
    from fer.recognizer import EmotionRecognizer

    opened, original = threading.Event(), EmotionRecognizer.annotate_video

    def held(self, *args, **kwargs):
        opened.wait(TIMEOUT)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(EmotionRecognizer, "annotate_video", held)
    yield opened
    opened.set()


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, bytes]:
    """Two short face clips (20 and 12 frames, one with sound) and a damaged one: the
    first half of a clip, which has no index (an interrupted download)."""
    folder = tmp_path_factory.mktemp("clips")
    whole = make_clip(folder / "whole.mp4", frames=20).read_bytes()
    return {"a.mp4": whole, "broken.mp4": whole[: len(whole) // 2],
            "b.mp4": make_clip(folder / "b.mp4", frames=12, audio="aac").read_bytes()}


def upload(app: AppTest, files: dict[str, bytes]) -> AppTest:
    app.file_uploader[0].set_value([(name, data, "video/mp4") for name, data in files.items()]).run()
    assert not app.exception, app.exception
    return app


def workspace(app: AppTest) -> VideoWorkspace:
    return app.session_state["fer.video"]


def finish(app: AppTest) -> AppTest:
    """Wait for the session's batch to end, then draw the page again."""
    assert workspace(app).batch.wait(TIMEOUT), "the batch did not end"
    app.run()
    assert not app.exception, app.exception
    return app


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def frames_of(data: bytes) -> int:
    with av.open(io.BytesIO(data)) as f:
        return sum(1 for _ in f.decode(video=0))


def test_a_batch_with_a_damaged_clip_gives_one_zip_of_the_others(app, media_managers, clips, tmp_path):
    finish(upload(app, clips))
    batch = workspace(app).batch
    assert [f.state for f in batch.files] == [DONE, FAILED, DONE]

    # The damaged file is reported by name, beside its place in the list; the others went on.
    assert len(app.error) == 1
    assert app.error[0].value.startswith("broken.mp4 could not be processed: ")
    assert str(batch.files[1].src) not in app.error[0].value  # the user's name, not our copy's path

    # One download for everything: both videos, their logs and the combined log.
    archive = zipfile.ZipFile(io.BytesIO(download(app, media_managers, "Download all")))
    check_batch_zip(archive, {"a.mp4": 20, "b.mp4": 12}, tmp_path)

    # Each finished video is shown and downloadable on its own.
    assert app.selectbox(key="fer.video.shown").options == ["a.mp4", "b.mp4"]
    assert frames_of(download(app, media_managers, "Download annotated MP4")) == 20
    app.selectbox(key="fer.video.shown").set_value("b.mp4").run()
    assert frames_of(download(app, media_managers, "Download annotated MP4")) == 12
    assert len(app.get("vega_lite_chart")) == 1  # b.mp4's faces over time, one line per face
    faces = app.dataframe[0].value  # and its per-face table, as fer annotate --summary writes it
    assert list(faces.columns[:4]) == ["track_id", "first", "last", "seconds"] and len(faces) >= 1


def test_the_batch_goes_on_while_another_page_is_shown(app, gate, clips):
    upload(app, {"a.mp4": clips["a.mp4"], "b.mp4": clips["b.mp4"]})
    batch = workspace(app).batch
    assert batch.running
    assert app.get("progress")[0].proto.text.startswith("0 of 2 videos done")
    assert app.file_uploader[0].disabled  # one batch at a time

    app.switch_page("fer/app/views/settings.py").run()
    app.switch_page("fer/app/views/video.py").run()
    assert not app.exception
    assert workspace(app).batch is batch and batch.running and not batch.cancelled
    assert "0 of 2 videos done" in app.get("progress")[0].proto.text

    gate.set()
    finish(app)
    assert [f.state for f in batch.files] == [DONE, DONE]
    assert not app.file_uploader[0].disabled


def test_cancel_stops_the_batch_and_process_again_restarts_it(app, gate, clips):
    upload(app, {"a.mp4": clips["a.mp4"], "b.mp4": clips["b.mp4"]})
    next(b for b in app.button if b.label == "Cancel").click().run()
    gate.set()
    finish(app)
    batch = workspace(app).batch
    assert batch.cancelled and [f.state for f in batch.files] == [CANCELLED, CANCELLED]
    assert batch.zip is None and not any(b.label.startswith("Download all") for b in app.get("download_button"))
    assert "cancelled" in app.info[0].value

    next(b for b in app.button if b.label == "Process again with the current settings").click().run()
    again = workspace(app).batch
    assert again is not batch and not batch.folder.exists()  # the cancelled batch's files are gone
    finish(app)
    assert [f.state for f in again.files] == [DONE, DONE] and again.zip.is_file()


def test_two_sessions_run_batches_at_once_and_keep_their_own_results(app_env, gate, clips):
    first, second = new_session(), new_session()
    upload(first, {"a.mp4": clips["a.mp4"]})
    upload(second, {"b.mp4": clips["b.mp4"], "broken.mp4": clips["broken.mp4"]})
    assert workspace(first).batch.running and workspace(second).batch.running
    gate.set()
    finish(first), finish(second)
    with zipfile.ZipFile(workspace(first).batch.zip) as z:
        assert sorted(z.namelist()) == ["a-fer.csv", "a-fer.mp4", "fer-log.csv"]
    with zipfile.ZipFile(workspace(second).batch.zip) as z:
        assert sorted(z.namelist()) == ["b-fer.csv", "b-fer.mp4", "fer-log.csv"]
    assert not first.error and "broken.mp4" in second.error[0].value
    assert first.selectbox(key="fer.video.shown").options == ["a.mp4"]
    assert second.selectbox(key="fer.video.shown").options == ["b.mp4"]
    assert workspace(first).root != workspace(second).root


def test_a_batch_over_the_total_limit_is_refused(app, monkeypatch):
    from fer.app import video_batch

    monkeypatch.setattr(video_batch, "batch_limit_mb", lambda per_file_mb: 1)
    upload(app, {"one.mp4": b"\0" * 600_000, "two.mp4": b"\0" * 600_000})
    assert "add up to 1 MB; a batch holds at most 1 MB" in app.error[0].value
    assert workspace(app).batch is None


def test_uploads_the_server_has_no_room_for_are_an_error_and_leave_nothing(app, monkeypatch, clips):
    import errno

    from fer.app import video_batch

    def full_disk(source, target):
        target.write(source.read(100))
        raise OSError(errno.ENOSPC, "No space left on device")
    with monkeypatch.context() as patched:
        patched.setattr(video_batch.shutil, "copyfileobj", full_disk)
        upload(app, clips)
    assert [e.value for e in app.error] == [
        "These videos could not be received: the server could not keep them: no space left on the device. "
        "Try fewer or shorter ones, or tell the operator."]
    assert workspace(app).batch is None and not (workspace(app).root / "inputs").exists()
    app.run()  # not tried again: the uploader is empty
    assert not app.error and not app.file_uploader[0].value


def test_a_disconnected_tab_loses_its_batch_and_its_files(app, gate, clips):
    from streamlit.runtime import caching

    upload(app, {"a.mp4": clips["a.mp4"]})
    old = workspace(app)
    batch = old.batch
    assert batch.running and any(old.root.iterdir())
    caching.clear_session_resource_cache("test session id")  # what AppSession does when its tab disconnects
    assert batch.cancelled
    gate.set()
    assert batch.wait(TIMEOUT) and batch.files[0].state == CANCELLED and batch.zip is None
    wait_for(lambda: not old.root.exists(), "the session's folder to be deleted")

    app.run()  # the same session reconnecting (a reload would be a new, empty session)
    assert "lost its connection" in app.info[0].value
    assert workspace(app) is not old and workspace(app).batch is None


def test_repeated_names_stay_apart(app, clips):
    finish(upload(app, {"clip.mp4": clips["a.mp4"], "clip.MP4": clips["b.mp4"]}))
    batch = workspace(app).batch
    assert [(f.name, f.video_name) for f in batch.files] == [("clip.mp4", "clip-fer.mp4"),
                                                            ("clip (2).MP4", "clip (2)-fer.mp4")]
    with zipfile.ZipFile(batch.zip) as z, z.open("fer-log.csv") as log:
        sources = set(pd.read_csv(log, comment="#")["source"])
    assert sources == {"clip.mp4", "clip (2).MP4"}
    assert Path(batch.zip).name == "videos-fer.zip"


def test_a_new_upload_replaces_the_finished_batch(app, clips):
    finish(upload(app, {"broken.mp4": clips["broken.mp4"]}))
    first = workspace(app).batch
    assert len(app.error) == 1 and first.zip is None and not app.get("download_button")
    app.run()  # a rerun shows the same result without processing again
    assert workspace(app).batch is first

    finish(upload(app, {"a.mp4": clips["a.mp4"]}))
    assert workspace(app).batch is not first and not first.folder.exists()
    assert not app.error and workspace(app).batch.files[0].state == DONE


def test_changed_settings_offer_to_process_the_batch_again(app, clips):
    from fer.engine.settings import Settings

    finish(upload(app, {"a.mp4": clips["a.mp4"]}))
    first = workspace(app).batch
    assert not app.info and not any(b.label.startswith("Process again") for b in app.button)
    app.session_state["fer.settings"] = Settings(smoothing=0.3)  # as the Settings page stores them
    app.run()
    assert "The settings or the model have changed" in app.info[0].value
    next(b for b in app.button if b.label.startswith("Process again")).click().run()
    finish(app)
    assert workspace(app).batch is not first and workspace(app).batch.settings == Settings(smoothing=0.3)
    assert workspace(app).batch.files[0].state == DONE

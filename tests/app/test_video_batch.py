"""The Video page's batch without Streamlit: progress of the whole batch, a failure that
releases its resources at once, output names, the zip streamed from disk."""

from __future__ import annotations

import gc
import os
import threading
import zipfile

import pytest
from media import make_clip

from fer.app.video_batch import (
    DONE,
    FAILED,
    RUNNING,
    WAITING,
    VideoBatch,
    unique_names,
    unique_stems,
    write_zip,
)
from fer.engine.settings import Settings

TIMEOUT = 60


class Stepped:
    """An engine that annotates one frame each time the test says so (a real clip is
    copied as the "annotated" video, with an empty log), so the test reads progress at
    known points."""

    def __init__(self):
        self.step = threading.Semaphore(0)

    def annotate_video(self, src, dst, progress, cancel, log, settings):
        from fer.io.facelog import FaceLog
        from fer.io.video import VideoSummary

        total = 10
        for done in range(1, total + 1):
            while not self.step.acquire(timeout=0.05):
                if cancel():
                    raise RuntimeError("cancelled")
            progress(done, total, 0.5 * (total - done))
        with FaceLog([(log, log)]):
            pass
        dst.write_bytes(src.read_bytes())
        return VideoSummary(dst, [log], total, 320, 240, 15.0, total / 15, 0, "none", 0.1)


def wait_until(condition, what: str, timeout: float = TIMEOUT):
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_progress_of_the_batch_and_of_each_file(tmp_path):
    clips = [make_clip(tmp_path / f"{n}.mp4", frames=10) for n in ("a", "b")]
    engine = Stepped()
    batch = VideoBatch(engine, Settings(), [("a.mp4", clips[0]), ("b.mp4", clips[1])], tmp_path / "out").start()
    a, b = batch.files
    wait_until(lambda: a.state == RUNNING, "the first file to start")
    for _ in range(4):
        engine.step.release()
    wait_until(lambda: batch.file_progress(a).done == 4, "four frames")
    assert b.state == WAITING and b.frames_expected == 10  # from the header
    overall = batch.progress()
    assert (overall.files_ended, overall.files, overall.frames_done, overall.frames_total) == (0, 2, 4, 20)
    assert overall.fraction() == pytest.approx(0.2)
    assert overall.fps > 0 and overall.eta_s == pytest.approx(16 / overall.fps)
    assert overall.text().startswith("0 of 2 videos done · ") and "s left" in overall.text()
    assert batch.file_progress(a).text() == "4 / 10 frames, about 3 s left"

    for _ in range(16):
        engine.step.release()
    assert batch.wait(TIMEOUT)
    assert [f.state for f in batch.files] == [DONE, DONE]
    assert batch.progress().fraction() == 1.0 and batch.progress().text().startswith("2 of 2 videos done")
    assert batch.changes == 3  # each file's end, and the batch's


def test_a_failed_file_releases_its_decoder_threads_at_once(tmp_path, tiny_recognizer):
    """A file whose header lists more frames than its data holds fails after decoding
    started; the batch keeps its reason, not the exception that holds the decoder."""
    clip = make_clip(tmp_path / "clip.mp4", frames=60)
    faststart = tiny_recognizer.annotate_video(clip, tmp_path / "faststart.mp4").output  # index first
    data = faststart.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: int(len(data) * 0.6)])

    def threads() -> int:
        return len(os.listdir("/proc/self/task"))  # FFmpeg's threads too, not only Python's

    gc.collect()
    gc.disable()  # the resources must go when the batch lets go of them, not at a later collection
    try:
        before = threads()
        batch = VideoBatch(tiny_recognizer, Settings(), [("cut.mp4", tmp_path / "cut.mp4")], tmp_path / "out")
        assert batch.start().wait(TIMEOUT)
        assert batch.files[0].state == FAILED
        assert batch.files[0].error.startswith("cut.mp4 is truncated or damaged")
        wait_until(lambda: threads() <= before, "the failed file's threads to end", timeout=5)
    finally:
        gc.enable()


def test_output_names_are_unique_in_a_batch():
    names = unique_names(["clip.mp4", "clip.mp4", "Clip.MP4", "clip.mov", "dir/x.mp4", ""])
    assert names == ["clip.mp4", "clip (2).mp4", "Clip (3).MP4", "clip.mov", "x.mp4", "video"]
    assert unique_stems(names) == ["clip", "clip (2)", "Clip (3)", "clip.mov", "x", "video"]
    assert unique_stems(["a.mp4", "a.mov", "a.mov.mp4", "a"]) == ["a", "a.mov", "a.mov.mp4", "a (2)"]


def test_the_zip_is_streamed_from_disk(tmp_path, monkeypatch):
    import builtins
    import io

    video, log = tmp_path / "v.mp4", tmp_path / "v.csv"
    video.write_bytes(os.urandom(3_000_000))
    log.write_text("frame,time\n" * 1000)
    reads: list[int] = []

    class Counting(io.BufferedReader):
        def read(self, size=-1):
            reads.append(size)
            return super().read(size)

    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda path, mode="r", *args, **kwargs: Counting(io.FileIO(path, "rb"))
                        if str(path) == str(video) else real_open(path, mode, *args, **kwargs))
    write_zip([(video, "v-fer.mp4"), (log, "v-fer.csv")], tmp_path / "all.zip")
    monkeypatch.undo()
    assert reads and all(0 < size <= 1 << 20 for size in reads)  # small chunks, never the whole video
    with zipfile.ZipFile(tmp_path / "all.zip") as z:
        assert z.read("v-fer.mp4") == video.read_bytes() and z.read("v-fer.csv") == log.read_bytes()
        assert z.getinfo("v-fer.mp4").compress_type == zipfile.ZIP_STORED
        assert z.getinfo("v-fer.csv").compress_type == zipfile.ZIP_DEFLATED


def test_a_zip_that_cannot_be_completed_leaves_nothing(tmp_path):
    video = tmp_path / "v.mp4"
    video.write_bytes(b"\0" * 1000)
    with pytest.raises(FileNotFoundError):
        write_zip([(video, "v-fer.mp4"), (tmp_path / "missing.csv", "v-fer.csv")], tmp_path / "all.zip")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]

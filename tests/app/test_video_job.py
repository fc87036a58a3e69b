"""The Video page's background job: a failed job lets go of its threads and memory at
once (the error it keeps for the page holds no frames, decoder or pipeline)."""

import gc
import os

import pytest
from browser import wait_for
from media import make_clip

from fer.app.video_job import VideoJob
from fer.io.video import VideoError


def os_threads() -> int:
    """Threads of this process, FFmpeg's decoder and encoder threads included, once what
    nothing refers to any more is collected: FFmpeg's codec objects can sit in reference
    cycles until the garbage collector runs (when it runs is not this test's question;
    whether a kept job still holds them is)."""
    gc.collect()
    return len(os.listdir("/proc/self/task"))


def test_a_failed_job_releases_its_threads_at_once(tiny_recognizer, tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=30)
    fast = tmp_path / "fast.mp4"
    tiny_recognizer.annotate_video(clip, fast, log=False)  # our output has its index first
    (tmp_path / "cut.mp4").write_bytes(fast.read_bytes()[: fast.stat().st_size // 2])  # decodes, then fails

    job = VideoJob(tiny_recognizer, tiny_recognizer.settings, clip, tmp_path / "ok.mp4", tmp_path / "ok.csv").start()
    assert job.wait(120) and job.succeeded

    def failed_job() -> VideoJob:
        job = VideoJob(tiny_recognizer, tiny_recognizer.settings, tmp_path / "cut.mp4", tmp_path / "out.mp4",
                       tmp_path / "out.csv").start()
        assert job.wait(120) and isinstance(job.error, VideoError) and "truncated" in str(job.error)
        return job

    failed_job()  # pools that live for the process, and start on a first failure, are started by now
    before = os_threads()
    job = failed_job()  # kept alive, as the page keeps it: its threads must be gone all the same
    assert job.error.__traceback__ is None
    # Polled: a joined thread can stay listed for a moment while the kernel reaps it; a
    # thread the kept job still holds never goes.
    wait_for(lambda: os_threads() <= before, 10, "the failed job's threads to end")
    with pytest.raises(VideoError):
        raise job.error  # still usable by the page

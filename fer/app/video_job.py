"""Annotating an uploaded video off the page's script thread, so the page can draw its
progress bar and a Cancel button stops the work cleanly.

Streamlit interrupts a running page script when the user clicks a button; the page then
calls :meth:`VideoJob.cancel`, and the engine, which polls ``cancel`` between frames,
stops and leaves no partial output.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from fer.engine.settings import Settings
from fer.io.video import VideoSummary


@dataclass(frozen=True)
class Progress:
    done: int = 0
    total: int = 0
    eta_s: float | None = None

    def fraction(self) -> float:
        return min(self.done / self.total, 1.0) if self.total else 0.0

    def text(self) -> str:
        if not self.total:
            return f"{self.done} frames"
        eta = f", about {self.eta_s:.0f} s left" if self.eta_s is not None else ""
        return f"{self.done} / {self.total} frames{eta}"


def detached(error: Exception) -> Exception:
    """``error`` without its traceback and chained exceptions: they hold the frames of the
    failed run (decoder, pipeline, queued frames), and so FFmpeg's threads and the
    frames' memory, for as long as the page keeps the error to show it."""
    error.__traceback__ = error.__context__ = error.__cause__ = None
    return error


class VideoJob:
    """``recognizer.annotate_video(src, dst, log=log, settings=settings)`` on a background thread.

    >>> job = VideoJob(rec, settings, "in.mp4", "out.mp4", "out.csv").start()   # doctest: +SKIP
    >>> while not job.wait(0.25): print(job.progress().text())      # doctest: +SKIP
    """

    def __init__(self, recognizer, settings: Settings, src: str | Path, dst: str | Path, log: str | Path):
        self.recognizer, self.settings = recognizer, settings
        self.src, self.dst, self.log = Path(src), Path(dst), Path(log)
        self._lock = threading.Lock()
        self._progress = Progress()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fer-video-job", daemon=True)
        self.error: Exception | None = None
        self.summary: VideoSummary | None = None

    def start(self) -> VideoJob:
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.summary = self.recognizer.annotate_video(self.src, self.dst, progress=self._report,
                                                          cancel=self._cancel.is_set, log=self.log,
                                                          settings=self.settings)
        except Exception as e:  # noqa: BLE001 - handed to the page thread, which decides what to show
            self.error = detached(e)

    def _report(self, done: int, total: int, eta_seconds: float | None = None) -> None:
        with self._lock:
            self._progress = Progress(done, total, eta_seconds)

    def progress(self) -> Progress:
        with self._lock:
            return self._progress

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds; True once the job has finished."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def cancel(self) -> None:
        """Ask the engine to stop after the current frame; returns at once (:meth:`wait`
        says when it has stopped)."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def succeeded(self) -> bool:
        return not self._thread.is_alive() and self.error is None and not self.cancelled and self.dst.is_file()

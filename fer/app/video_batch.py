"""Annotating a batch of uploaded videos on a background thread, one after another, so
that the Video page only reads where the batch stands: it can draw progress, be left for
another page and come back, and offer each result as soon as it is written.

A :class:`VideoBatch` runs one :class:`~fer.app.video_job.VideoJob` per file. A file that
fails (damaged, not a video) is recorded with its reason and the next one starts. When
the last file has ended, the batch gathers the per-frame logs of the annotated videos
into one log with a ``source`` column (the rows and columns of ``fer annotate --log``)
and packs videos and logs into a zip, streaming each file from disk, so no step holds
more than one frame of video in memory.

A :class:`VideoWorkspace` is one browser session's temporary folder: the uploaded copies
and the current batch's outputs, deleted when the session's tab disconnects.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
import uuid
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from fer.app.video_job import Progress, VideoJob
from fer.engine.settings import Settings
from fer.io.facelog import FaceLog
from fer.io.outputs import OutputError, reason_of
from fer.io.video import VideoCancelled, VideoError, VideoInfo, VideoSummary

#: The largest batch, in megabytes of uploads (each file also obeys ``server.maxUploadSize``):
#: Streamlit holds uploads in the server's memory until they are copied to disk.
BATCH_LIMIT_MB = 500
ZIP_NAME = "videos-fer.zip"
COMBINED_LOG = "fer-log.csv"  # never a per-file log's name: those end in "-fer.csv"

WAITING, RUNNING, DONE, FAILED, CANCELLED = "waiting", "running", "done", "failed", "cancelled"
ENDED = (DONE, FAILED, CANCELLED)


def batch_limit_mb(per_file_mb: int) -> int:
    """The batch limit, never below the per-file limit (one largest file always fits)."""
    return max(BATCH_LIMIT_MB, per_file_mb)


@dataclass
class BatchFile:
    """One video of a batch and what became of it."""

    name: str  # the upload's name, unique in the batch: shown, and the combined log's ``source``
    stem: str  # base of the outputs' names, unique in the batch (case-insensitively)
    src: Path
    dst: Path
    log: Path
    state: str = WAITING
    frames_expected: int | None = None  # from the header, read when the batch starts
    frames_done: int = 0  # once ended: frames processed before it ended
    summary: VideoSummary | None = None
    error: str | None = None  # why it failed, naming the user's file rather than our copy
    input_error: bool = True  # False: an unexpected failure, not something wrong with the file

    @property
    def video_name(self) -> str:
        return f"{self.stem}-fer.mp4"

    @property
    def log_name(self) -> str:
        return f"{self.stem}-fer.csv"


@dataclass(frozen=True)
class BatchProgress:
    """Where a whole batch stands."""

    files_ended: int
    files: int
    frames_done: int
    frames_total: int | None  # None while a waiting file's length is unknown
    fps: float  # frames annotated per second of the batch's wall-clock time
    eta_s: float | None

    def fraction(self) -> float:
        if self.frames_total:
            return min(self.frames_done / self.frames_total, 1.0)
        return self.files_ended / self.files if self.files else 0.0

    def text(self) -> str:
        parts = [f"{self.files_ended} of {self.files} videos done"]
        if self.fps:
            parts.append(f"{self.fps:.0f} frames/s")
        if self.eta_s is not None:
            parts.append(f"about {self.eta_s:.0f} s left")
        return " · ".join(parts)


class VideoBatch:
    """Annotate ``inputs`` (pairs of a name to show and a path) into ``folder``, one after
    another, on a background thread.

    >>> batch = VideoBatch(rec, Settings(), [("a.mp4", path_a), ("b.mov", path_b)], folder).start()  # doctest: +SKIP
    >>> while not batch.wait(0.5): print(batch.progress().text())      # doctest: +SKIP
    >>> batch.zip                                                       # doctest: +SKIP
    """

    def __init__(self, recognizer, settings: Settings, inputs: Sequence[tuple[str, str | Path]],
                 folder: str | Path, model: str = ""):
        self.recognizer, self.settings, self.model = recognizer, settings, model
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        names = unique_names([name for name, _ in inputs])
        self.files = [BatchFile(name, stem, Path(src), self.folder / f"{i:03d}.mp4", self.folder / f"{i:03d}.csv")
                      for i, (name, stem, (_, src)) in enumerate(zip(names, unique_stems(names), inputs))]
        self.zip: Path | None = None  # every annotated video with its log, and the combined log
        self.combined_log: Path | None = None
        self.error: str | None = None  # the zip could not be written, or the batch itself failed
        self.changes = 0  # counts files ending and the batch ending: the page redraws on a change
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._job: VideoJob | None = None
        self._current: BatchFile | None = None
        self._started = 0.0
        self._thread = threading.Thread(target=self._run, name="fer-video-batch", daemon=True)

    def start(self) -> VideoBatch:
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def cancel(self) -> None:
        """Stop after the current frame; files not started yet are not started. Returns at
        once: :meth:`wait` says when the batch has ended (the zip then holds the videos
        annotated before)."""
        with self._lock:  # the batch's thread starts each job under this lock, after looking here
            self._cancel.set()
            if self._job is not None:
                self._job.cancel()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to ``timeout`` seconds; True once the batch has ended."""
        self._thread.join(timeout)
        return self.ended

    def close(self) -> None:
        """Cancel, wait for the end, and delete everything the batch wrote."""
        self.cancel()
        if self._thread.ident is not None:
            self._thread.join()
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def ended(self) -> bool:
        return self._thread.ident is not None and not self._thread.is_alive()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def file_progress(self, f: BatchFile) -> Progress:
        with self._lock:
            if f is self._current and self._job is not None:
                return self._job.progress()
        return Progress(f.frames_done, f.frames_done if f.state in ENDED else f.frames_expected or 0)

    def progress(self) -> BatchProgress:
        with self._lock:
            live = self._job.progress() if self._job is not None else None
            done = remaining = 0
            known = True
            for f in self.files:
                if f is self._current and live is not None:
                    done += live.done
                    total = live.total or f.frames_expected
                    known &= total is not None
                    remaining += max((total or 0) - live.done, 0)
                elif f.state in ENDED:
                    done += f.frames_done
                elif f.frames_expected is None:
                    known = False
                else:
                    remaining += f.frames_expected
            ended = sum(f.state in ENDED for f in self.files)
        elapsed = time.perf_counter() - self._started
        fps = done / elapsed if done and elapsed > 0 else 0.0
        return BatchProgress(ended, len(self.files), done, done + remaining if known else None, fps,
                             remaining / fps if known and fps else None)

    # ------------------------------------------------------------ the batch's thread

    def _run(self) -> None:
        try:
            for f in self.files:
                f.frames_expected = expected_frames(f.src)
            for f in self.files:
                with self._lock:
                    if self._cancel.is_set():
                        break
                    job = self._job = VideoJob(self.recognizer, self.settings, f.src, f.dst, f.log)
                    self._current, f.state = f, RUNNING
                job.start()
                job.wait()
                self._record(f, job)
            self._pack()
        except Exception as e:  # noqa: BLE001 - a bug in the batch itself: shown on the page, not lost on a thread
            self.error = f"{type(e).__name__}: {e}"
        finally:
            with self._lock:
                for f in self.files:
                    if f.state in (WAITING, RUNNING):
                        f.state = CANCELLED
                self._job = self._current = None
                self.changes += 1

    def _record(self, f: BatchFile, job: VideoJob) -> None:
        done = job.progress().done
        with self._lock:
            if job.succeeded:
                f.state, f.summary, f.frames_done = DONE, job.summary, job.summary.frames
            elif job.cancelled or isinstance(job.error, VideoCancelled):
                f.state, f.frames_done = CANCELLED, done
            else:
                f.state, f.frames_done = FAILED, done
                f.input_error = isinstance(job.error, VideoError)
                reason = str(job.error) if f.input_error else f"{type(job.error).__name__}: {job.error}"
                f.error = reason.replace(str(f.src), f.name)  # the user's name, not our temporary path
                job.error = None  # its traceback holds the failed run's decoder and encoder: free them now
            self._job = self._current = None
            self.changes += 1

    def _pack(self) -> None:
        """The combined log and the zip, from the files annotated (also after a cancel)."""
        done = [f for f in self.files if f.state == DONE]
        if not done:
            return
        log, archive = self.folder / COMBINED_LOG, self.folder / ZIP_NAME
        try:
            write_combined_log([(f.name, f.log) for f in done], log)
            entries = [item for f in done for item in ((f.dst, f.video_name), (f.log, f.log_name))]
            write_zip([*entries, (log, COMBINED_LOG)], archive)
        except OSError as e:
            self.error = f"the zip could not be written ({e.strerror or e})"
            return
        self.combined_log, self.zip = log, archive


class VideoWorkspace:
    """One browser session's videos: copies of the uploads and the batch annotating them,
    in a temporary folder, deleted by :meth:`close` (or, failing that, when the object
    is garbage-collected)."""

    def __init__(self) -> None:
        self.id = uuid.uuid4().hex
        self._folder = tempfile.TemporaryDirectory(prefix="fer-video-")
        self.root = Path(self._folder.name)
        self.inputs: list[tuple[str, Path]] = []
        self.batch: VideoBatch | None = None
        self.closed = False  # its files are deleted: the page starts a new workspace
        self._batches = 0

    def upload(self, files: Iterable[tuple[str, BinaryIO]]) -> None:
        """Replace the uploaded videos (and any batch of the earlier ones) with copies of
        ``files``, pairs of a name and a readable binary file. Raises :class:`OutputError`,
        and keeps none of them, when the server has no room for them all."""
        self.discard()
        inputs = self.root / "inputs"
        shutil.rmtree(inputs, ignore_errors=True)
        self.inputs = []
        try:
            inputs.mkdir()
            for i, (name, data) in enumerate(files):
                path = inputs / f"{i:03d}{Path(name).suffix.lower() or '.mp4'}"
                with open(path, "wb") as out:
                    shutil.copyfileobj(data, out)
                self.inputs.append((name, path))
        except OSError as e:
            shutil.rmtree(inputs, ignore_errors=True)
            self.inputs = []
            raise OutputError(f"the server could not keep them: {reason_of(e)}") from None

    def start(self, recognizer, settings: Settings, model: str = "") -> VideoBatch:
        """Annotate the uploaded videos with ``settings``, replacing any earlier batch."""
        self.discard()
        self._batches += 1
        self.batch = VideoBatch(recognizer, settings, self.inputs, self.root / f"batch-{self._batches}", model)
        return self.batch.start()

    def discard(self) -> None:
        """Stop the current batch and delete its outputs."""
        if self.batch is not None:
            self.batch.close()
            self.batch = None

    def close(self) -> None:
        """What happens when the session's tab disconnects: cancel the batch and delete
        every file of the session. Returns at once (Streamlit calls it on its event loop);
        the batch stops after its current frame, then the folder goes."""
        self.closed = True
        if self.batch is not None:
            self.batch.cancel()
        threading.Thread(target=self._delete, name="fer-video-cleanup", daemon=True).start()

    def _delete(self) -> None:
        self.discard()
        self._folder.cleanup()


# ---------------------------------------------------------------- names and files

def unique_names(names: Sequence[str]) -> list[str]:
    """The uploads' names, made unique by numbering repeats (``clip.mp4``, ``clip (2).mp4``),
    so that each file's rows in the combined log can be told apart."""
    taken: set[str] = set()
    unique = []
    for name in names:
        path = Path(Path(name).name or "video")
        candidate, n = path.name, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{path.stem} ({n}){path.suffix}"
        taken.add(candidate.lower())
        unique.append(candidate)
    return unique


def unique_stems(names: Sequence[str]) -> list[str]:
    """Bases of the outputs' names: the name without its suffix, or the whole name when
    another file has the same stem (``clip.mp4`` and ``clip.mov`` give ``clip`` and
    ``clip.mov``), numbered if still taken."""
    taken: set[str] = set()
    stems = []
    for name in names:
        stem = Path(name).stem or "video"
        for candidate in (stem, name, *(f"{stem} ({n})" for n in range(2, len(names) + 2))):
            if candidate.lower() not in taken:
                break
        taken.add(candidate.lower())
        stems.append(candidate)
    return stems


def expected_frames(src: Path) -> int | None:
    """Frames the header announces (for the batch's time left); None when it does not
    say, 0 for a file that cannot be opened (it will fail at once)."""
    try:
        return VideoInfo.read(src).expected_frames()
    except VideoError:
        return 0


def write_combined_log(parts: Sequence[tuple[str, Path]], dst: Path) -> None:
    """One CSV log with a ``source`` column from per-file CSV logs, in order."""
    partial = dst.with_name(dst.name + ".partial")
    try:
        with FaceLog([(partial, dst)], source=True) as combined:
            for source, log in parts:
                combined.add_log(log, source=source)
        partial.replace(dst)
    finally:
        partial.unlink(missing_ok=True)


def write_zip(entries: Sequence[tuple[Path, str]], dst: Path) -> None:
    """A zip of ``(path, name in the zip)`` entries, each streamed from disk in small
    chunks; videos are stored as they are (H.264 does not compress further)."""
    partial = dst.with_name(dst.name + ".partial")
    try:
        with zipfile.ZipFile(partial, "w") as archive:
            for path, name in entries:
                kind = zipfile.ZIP_STORED if path.suffix.lower() == ".mp4" else zipfile.ZIP_DEFLATED
                archive.write(path, name, compress_type=kind)
        partial.replace(dst)
    finally:
        partial.unlink(missing_ok=True)

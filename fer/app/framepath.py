"""The live frame path: camera frames in, annotated frames out, the newest frame first.

streamlit-webrtc's own processing path (``video_frame_callback`` with
``async_processing``) drops stale frames only in front of the callback: its output track
returns one frame per camera frame (the last result, repeated), and aiortc's
``MediaRelay`` queues those, without bound, in front of the encoder; when the encoder
cannot keep up with the camera's rate the queue grows and the picture falls further and
further behind (see the README, "Live latency"). This path uses streamlit-webrtc's sink
and source tracks instead::

    camera track -> FrameSink (event loop: hands over the newest frame, counts the rest)
      -> Mailbox -> worker thread (processes the newest frame only)
      -> ProcessedTrack (gives the encoder the newest result, once) -> browser

so a camera frame waits at most for the frame being processed, and only processed frames
are encoded. The worker thread holds the stream's server slot (:mod:`fer.app.admission`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Generic, TypeVar

import av
import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from fer.app.admission import StreamSlots
from fer.io.video import fit_frame

T = TypeVar("T")
VIDEO_CLOCK_HZ = 90_000  # RTP's clock for video
VIDEO_TIME_BASE = Fraction(1, VIDEO_CLOCK_HZ)
log = logging.getLogger(__name__)


class Mailbox(Generic[T]):
    """A one-item hand-over between threads where the newest item wins: :meth:`put`
    replaces an item not taken yet (and counts it as dropped)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self._closed = False
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def take(self, timeout: float | None = None) -> T | None:
        """The newest item, waiting for one; None after :meth:`close` or ``timeout``."""
        with self._cond:
            self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            return None if self._closed else item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class ProcessedTrack(MediaStreamTrack):
    """The annotated video sent back: each :meth:`recv` returns the newest processed frame
    that was not sent yet, waiting for one, stamped with the time it leaves (90 kHz from
    the track's first frame). Not with its camera frame's time: results leave at uneven
    intervals (processing time varies), and the browser sizes its jitter buffer to the
    difference between how frames are stamped and when they arrive; stamped as they
    leave, they arrive as they are stamped. Results are handed in from the worker thread
    with :meth:`deliver`, each with a stamp (any value); a result replaced before it was
    asked for is counted in ``dropped``. ``on_sent(stamp)`` is called as each frame leaves
    for the encoder."""

    kind = "video"

    def __init__(self, on_sent: Callable[[object], None] | None = None):
        super().__init__()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Event | None = None
        self._frame: tuple[av.VideoFrame, object] | None = None
        self._finished = False
        self._on_sent = on_sent
        self._started: float | None = None
        self.dropped = 0

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the track is read on (streamlit-webrtc's); called from it."""
        self._loop, self._ready = loop, asyncio.Event()

    def deliver(self, frame: av.VideoFrame, stamp: object = None) -> None:
        """Hand over a processed frame (from any thread)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._put, (frame, stamp))

    def finish(self) -> None:
        """End the track (from any thread): the reader gets MediaStreamError."""
        self._finished = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake)

    def _put(self, item: tuple[av.VideoFrame, object]) -> None:
        if self._frame is not None:
            self.dropped += 1
        self._frame = item
        self._ready.set()

    def _wake(self) -> None:
        if self._ready is not None:
            self._ready.set()

    async def recv(self) -> av.VideoFrame:
        if self._ready is None:
            self.bind(asyncio.get_running_loop())
        while True:
            if self._finished or self.readyState != "live":
                self.stop()
                raise MediaStreamError
            if self._frame is not None:
                (frame, stamp), self._frame = self._frame, None
                self._ready.clear()
                now = time.monotonic()
                self._started = now if self._started is None else self._started
                frame.pts, frame.time_base = round((now - self._started) * VIDEO_CLOCK_HZ), VIDEO_TIME_BASE
                if self._on_sent is not None:
                    self._on_sent(stamp)
                return frame
            self._ready.clear()
            await self._ready.wait()


class LiveStream:
    """One started stream: the sink the camera track feeds (streamlit-webrtc's
    ``sink_video_track``), the worker thread that processes the newest frame with
    ``process(rgb) -> annotated rgb``, and the :class:`ProcessedTrack` sent back
    (``source_video_track``). It asks ``slots`` for a slot when the camera track starts;
    when refused it processes nothing and ``refused`` is True. ``on_delay(seconds)``
    receives, for each frame sent back, the time since its camera frame reached the
    server.

    Implements streamlit-webrtc's ``MediaSink`` protocol (addTrack, hasTrack, start,
    stop); a stream that ended stays ended (``ended``): make a new one for the next Start.
    """

    def __init__(self, process: Callable[[np.ndarray], np.ndarray], slots: StreamSlots,
                 on_delay: Callable[[float], None] | None = None):
        self._process = process
        self._slots = slots
        self._on_delay = on_delay
        self._mailbox: Mailbox[tuple[float, av.VideoFrame]] = Mailbox()
        self.output = ProcessedTrack(on_sent=self._sent)
        self._input: MediaStreamTrack | None = None
        self._task: asyncio.Task | None = None
        self._worker: threading.Thread | None = None
        self.refused = False
        self.ended = False
        self.frames_in = 0

    @property
    def dropped(self) -> int:
        """Camera frames never processed because a newer one came first."""
        return self._mailbox.dropped

    # MediaSink protocol (called by streamlit-webrtc on its event loop)
    def addTrack(self, track: MediaStreamTrack) -> None:
        self._input = track

    def hasTrack(self) -> bool:
        return self._input is not None

    def start(self) -> None:
        if self._task is not None or self.ended:
            return
        loop = asyncio.get_running_loop()
        self.output.bind(loop)
        if not self._slots.admit(self):
            self.refused = True
            self.stop()
            return
        self._worker = threading.Thread(target=self._work, name="fer-live-frames", daemon=True)
        self._worker.start()
        self._task = loop.create_task(self._read(self._input))

    def stop(self) -> None:
        """End the stream: stop reading, let the worker finish its frame, end the output
        track and give the slot back. Safe to call more than once, from any thread."""
        self.ended = True
        if self._task is not None and not self._task.done():
            self._task.get_loop().call_soon_threadsafe(self._task.cancel)
        self._mailbox.close()
        self.output.finish()
        self._slots.release(self)

    async def _read(self, track: MediaStreamTrack) -> None:
        """Take every camera frame as it is decoded (so nothing queues in front of this
        stream) and hand the newest to the worker."""
        try:
            while True:
                frame = await track.recv()
                self.frames_in += 1
                self._mailbox.put((time.monotonic(), frame))
        except (MediaStreamError, asyncio.CancelledError):
            pass
        finally:
            self.stop()

    def _work(self) -> None:
        while (item := self._mailbox.take()) is not None:
            arrived, frame = item
            try:
                annotated = self._process(frame.to_ndarray(format="rgb24"))
            except Exception:  # the stream outlives one bad frame (process() records its own errors)
                log.exception("live frame failed")
                continue
            h, w = annotated.shape[:2]
            if w % 2 or h % 2:  # H.264 (Safari's first choice) takes even sides only: its sender would stop
                annotated = fit_frame(annotated, w + w % 2, h + h % 2)
            out = av.VideoFrame.from_ndarray(annotated, format="rgb24")
            self._slots.touch(self)
            self.output.deliver(out, arrived)

    def _sent(self, arrived: object) -> None:
        if self._on_delay is not None:
            self._on_delay(time.monotonic() - arrived)

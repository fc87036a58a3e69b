"""The live frame path without a browser: latest frame wins at every hand-over, admission
control, graceful degradation and the light chart data."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from fractions import Fraction

import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from fer.app.admission import (
    MAX_STREAMS_ENV,
    STALE_S,
    StreamSlots,
    max_streams_from_env,
)
from fer.app.degrade import BUDGET_MS, WINDOW, Degrader
from fer.app.framepath import LiveStream, Mailbox
from fer.engine.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_slots_admit_up_to_the_limit_and_take_back_released_and_silent_ones():
    clock = Clock()
    slots = StreamSlots(2, clock=clock)
    assert slots.admit("a") and slots.admit("b")
    assert not slots.admit("c") and slots.full() and not slots.holds("c")
    assert slots.admit("a")  # a holder keeps its slot
    slots.release("a")
    assert slots.admit("c") and slots.running() == 2
    clock.now += STALE_S / 2
    slots.touch("b")  # b shows frames, c does not
    clock.now += STALE_S / 2 + 1
    assert slots.holds("b") and not slots.holds("c") and slots.admit("d")


def test_stream_limit_comes_from_the_environment_else_the_cores(monkeypatch):
    monkeypatch.setenv(MAX_STREAMS_ENV, "3")
    assert max_streams_from_env() == 3
    monkeypatch.delenv(MAX_STREAMS_ENV)
    for cores, streams in ((1, 1), (2, 1), (3, 1), (8, 4)):  # one per two cores, at least one
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, n=cores: set(range(n)), raising=False)
        assert max_streams_from_env() == streams
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(MAX_STREAMS_ENV, bad)
        with pytest.raises(ValueError, match=MAX_STREAMS_ENV):
            max_streams_from_env()


def test_mailbox_gives_the_newest_item_and_counts_the_ones_it_replaced():
    box: Mailbox[int] = Mailbox()
    for i in range(5):
        box.put(i)
    assert box.take() == 4 and box.dropped == 4
    assert box.take(timeout=0.01) is None  # nothing new
    waiter = threading.Thread(target=lambda: result.append(box.take()))
    result: list[int | None] = []
    waiter.start()
    box.close()
    waiter.join(5)
    assert result == [None]  # close wakes a waiting taker


class Camera(MediaStreamTrack):
    """A fast camera: ``n`` small frames, one every ``interval`` seconds, each filled with
    its index."""

    kind = "video"

    def __init__(self, n: int, interval: float):
        super().__init__()
        self.n, self.interval, self.sent = n, interval, 0

    async def recv(self) -> av.VideoFrame:
        if self.sent >= self.n:
            raise MediaStreamError
        await asyncio.sleep(self.interval)
        frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), self.sent, np.uint8), format="rgb24")
        frame.pts, frame.time_base = self.sent, Fraction(1, 90_000)
        self.sent += 1
        return frame


def test_a_slow_stream_processes_the_newest_frames_and_its_delay_stays_bounded():
    """Camera frames every 10 ms, 50 ms to process each: the stream skips frames instead of
    queueing them, sends each result once, in order, and gives its slot back at the end.
    Had every frame been queued, the last would have waited 60 x 40 ms = 2.4 s."""
    processed: list[int] = []

    def process(rgb: np.ndarray) -> np.ndarray:
        processed.append(int(rgb[0, 0, 0]))
        time.sleep(0.05)
        return rgb

    async def run() -> tuple[LiveStream, list[av.VideoFrame], list[float]]:
        delays: list[float] = []
        stream = LiveStream(process, slots, on_delay=delays.append)
        stream.addTrack(Camera(60, 0.01))
        stream.start()
        assert slots.holds(stream)
        sent = []
        with pytest.raises(MediaStreamError):
            while True:
                sent.append(await asyncio.wait_for(stream.output.recv(), 10))
        return stream, sent, delays

    slots = StreamSlots(1)
    stream, sent, delays = asyncio.run(run())
    assert stream.ended and not slots.holds(stream) and slots.running() == 0
    assert stream.dropped > 0 and stream.dropped >= 60 - len(processed) - 1  # skipped, not queued
    assert processed == sorted(set(processed))  # newer and newer
    shown = [int(f.to_ndarray(format="rgb24")[0, 0, 0]) for f in sent]
    assert sent and shown == sorted(set(shown)) and set(shown) <= set(processed)  # each result once, in order
    # Stamped as they leave (90 kHz), so the browser's jitter buffer sees no processing jitter.
    assert [f.pts for f in sent] == sorted({f.pts for f in sent}) and all(f.time_base == Fraction(1, 90_000)
                                                                          for f in sent)
    assert len(delays) == len(sent) and max(delays) < 1.0


def test_frames_fitted_to_an_odd_size_leave_with_even_sides_for_h264():
    """Fitting a 640x480 camera into an 800x470 display gives 627x470: x264 refuses odd
    sides, and aiortc's sender would stop for good (Safari offers H.264 first)."""
    from aiortc.codecs.h264 import H264Encoder

    async def run() -> av.VideoFrame:
        stream = LiveStream(lambda rgb: np.zeros((470, 627, 3), np.uint8), StreamSlots(1))
        stream.addTrack(Camera(1000, 0.01))
        stream.start()
        try:
            return await asyncio.wait_for(stream.output.recv(), 10)
        finally:
            stream.stop()

    sent = asyncio.run(run())
    assert (sent.width, sent.height) == (628, 470)
    packets, _ = H264Encoder().encode(sent)
    assert packets


def test_a_stream_beyond_the_limit_is_refused_and_its_video_ends():
    async def run() -> tuple[LiveStream, LiveStream]:
        first, second = LiveStream(lambda rgb: rgb, slots), LiveStream(lambda rgb: rgb, slots)
        for stream in (first, second):
            stream.addTrack(Camera(1000, 0.01))
            stream.start()
        with pytest.raises(MediaStreamError):
            await asyncio.wait_for(second.output.recv(), 5)
        assert not first.refused and (await asyncio.wait_for(first.output.recv(), 5)) is not None
        first.stop()
        return first, second

    slots = StreamSlots(1)
    _, second = asyncio.run(run())
    assert second.refused and second.ended and slots.running() == 0


def test_degrader_turns_costly_options_off_under_load_and_back_on_after():
    degrader = Degrader()
    wanted = Settings(tencrop=True, full_scan_every=5)
    for _ in range(WINDOW):
        degrader.observe(BUDGET_MS * 2, wanted)
    assert degrader.notes(wanted) == ["ten-crop off"]
    assert degrader.settings(wanted) == Settings(tencrop=False, full_scan_every=5)
    for _ in range(WINDOW):
        degrader.observe(BUDGET_MS * 2, wanted)
    assert degrader.settings(wanted) == Settings(tencrop=False, full_scan_every=15)
    for _ in range(3 * WINDOW):  # a third slow window: nothing more to turn off
        degrader.observe(BUDGET_MS * 2, wanted)
    assert degrader.level == 2
    for _ in range(2 * WINDOW):
        degrader.observe(BUDGET_MS / 4, wanted)
    assert degrader.settings(wanted) == wanted and degrader.notes(wanted) == []
    # Steps that would change nothing are skipped: without ten-crop the first step is the scans.
    for _ in range(WINDOW):
        degrader.observe(BUDGET_MS * 2, Settings())
    assert degrader.notes(Settings()) == ["whole-frame scans every 15 frames"]


def test_live_session_degrades_its_pipeline_and_reports_it(tiny_recognizer):
    from media import face_frame

    from fer.app.degrade import Degrader
    from fer.app.live import LiveSession

    session = LiveSession(tiny_recognizer.new_stream(Settings()), tiny_recognizer.class_names, slots=StreamSlots(1))
    session._degrader = Degrader(budget_ms=0.0)  # every frame over budget
    session.set_settings(Settings(tencrop=True))
    for _ in range(WINDOW + 1):
        session.process(face_frame(320, 240))
    assert session.stats().degraded == ["ten-crop off"]
    assert session.pipeline.settings.tencrop is False


def test_chart_history_is_thinned_to_a_point_per_step(tiny_recognizer):
    from fer.app.live import LiveSession

    session = LiveSession(tiny_recognizer.new_stream(Settings()), tiny_recognizer.class_names, slots=StreamSlots(1))
    n = len(session.class_names)
    with session._lock:
        session._history.extend((i / 30, 0, 0, [1.0 / n] * n) for i in range(300))  # 10 s at 30 fps, one segment
    full, thin = session.history(), session.history(step_s=0.25)
    assert len(full) == 300 * n
    assert 35 * n <= len(thin) <= 41 * n  # a point every 8 frames (0.27 s)
    assert thin.seconds.max() == full.seconds.max()  # the newest included
    assert np.diff(sorted(set(thin.seconds))).min() >= 0.25 - 1e-9

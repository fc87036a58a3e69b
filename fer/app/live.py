"""The live page's moving parts that are not layout: one stream's state shared between
the WebRTC callback thread and the page, and the ICE server configuration.

Frames reach :meth:`LiveSession.process` from the stream's worker thread
(:mod:`fer.app.framepath`, newest frame first); it runs the frame pipeline and records
figures under its lock; the page's fragment reads a consistent snapshot of them once a
second.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fer.app.admission import StreamSlots, server_slots
from fer.app.degrade import Degrader
from fer.app.framepath import LiveStream
from fer.engine.draw import face_numbers, numbered_labels
from fer.engine.settings import Settings
from fer.engine.track import Presence
from fer.io.facelog import csv_text, no_face_record
from fer.io.images import encode_image
from fer.io.provenance import provenance

ICE_ENV = "FER_ICE_SERVERS"


def rtc_configuration(secrets: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The WebRTC configuration: ``$FER_ICE_SERVERS`` (a JSON list of ICE servers), else
    ``ice_servers`` in Streamlit secrets, else none.

    No ICE servers is right on localhost and on a LAN, and it is what works offline: with
    none configured streamlit-webrtc would fall back to a public STUN server. An empty
    list must be passed explicitly for that (an empty dict triggers the fallback).

    >>> rtc_configuration({})
    {'iceServers': []}
    """
    raw = os.environ.get(ICE_ENV)
    if raw:
        try:
            servers = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ValueError(f"{ICE_ENV} is not valid JSON ({e}); expected e.g. "
                             '[{"urls": ["turn:turn.example.org:3478"], "username": "u", "credential": "p"}]') from None
    else:
        servers = (secrets or {}).get("ice_servers", [])
    if not isinstance(servers, (list, tuple)) or not all(isinstance(s, Mapping) and "urls" in s for s in servers):
        raise ValueError(f"ICE servers must be a list of objects with 'urls', got {servers!r}")
    return {"iceServers": [dict(s) for s in servers]}


@dataclass
class LiveStats:
    """A consistent snapshot of one stream's figures, for display."""

    frames: int = 0
    fps: float = 0.0  # frames processed per second over the last couple of seconds
    latency_ms: float = 0.0  # median processing time per frame, recent frames
    delay_ms: float | None = None  # median time from a camera frame reaching the server to its result leaving
    dropped: int = 0  # camera frames skipped because a newer one came first
    degraded: list[str] = field(default_factory=list)  # what graceful degradation turned off for now
    faces: int = 0
    labels: list[str] = field(default_factory=list)  # "happy 83%" per face, current frame
    first_label_s: float | None = None  # seconds from the stream's first frame to its first label
    main_label: str | None = None  # the largest face's label, current frame (the one the chart follows)
    idle: bool = True  # no face for LiveSession.IDLE_AFTER_S seconds (or none yet)
    error: str | None = None
    log_rows: int = 0


class LiveSession:
    """One browser tab's live stream: its own frame pipeline (tracking state is never
    shared between tabs), and the figures, recent history and log the page shows.

    :meth:`stream` gives the page the tracks of the current stream; :meth:`process` runs
    on its worker thread; the page reads through :meth:`stats`, :meth:`history`,
    :meth:`log_csv` and :meth:`last_frame_png`.
    """

    LOG_ROWS = 36_000  # per-frame log kept for download: 20 min of one face at 30 fps
    HISTORY_S = 20.0  # seconds of emotions in the live chart
    FPS_WINDOW_S = 2.0
    IDLE_AFTER_S = 3.0  # seconds without a face before the stream is idle and forgets its visitors

    def __init__(self, pipeline, class_names: list[str], slots: StreamSlots | None = None, keep: bool = True):
        self.pipeline = pipeline
        self.class_names = list(class_names)
        self.slots = slots if slots is not None else server_slots()
        self.keep = keep  # False: no per-frame log and no last frame (the booth stores nothing of a visitor)
        self._requested: Settings = pipeline.settings
        self._degrader = Degrader()
        self._stream: LiveStream | None = None
        self._lock = threading.Lock()
        self.reset()

    def stream(self) -> LiveStream:
        """The stream to hand to ``webrtc_streamer`` (``sink_video_track=stream``,
        ``source_video_track=stream.output``): the current one, or a new one once it ended."""
        if self._stream is None or self._stream.ended:
            self._stream = LiveStream(self.process, self.slots, on_delay=self.record_delay)
        return self._stream

    def use_model(self, pipeline, class_names: list[str]) -> None:
        """Run another model's pipeline from the next frame on, in the same stream (a new
        session would wait for the stream slot this one holds). The figures and the log
        start afresh: a log's provenance names one model."""
        with self._lock:
            self.pipeline = pipeline
            self.class_names = list(class_names)
        self.reset()

    def set_settings(self, settings: Settings) -> None:
        """The settings the visitor chose; the stream runs them, minus what graceful
        degradation turned off for the moment."""
        with self._lock:
            self._requested = settings
        self.pipeline.update_settings(self._degrader.settings(settings))

    def record_delay(self, seconds: float) -> None:
        """The time from a camera frame reaching the server to its result leaving for the
        browser (called by the stream for every frame sent back)."""
        with self._lock:
            self._delay.append(seconds)

    def reset(self) -> None:
        """Start afresh: a new stream gets new track ids, empty figures and an empty log."""
        self.pipeline.reset()
        with self._lock:
            self._frames = 0
            self._t0: float | None = None
            self._first_label: float | None = None
            self._times: deque[float] = deque(maxlen=256)
            self._latency: deque[float] = deque(maxlen=32)
            self._delay: deque[float] = deque(maxlen=32)
            self._records: list[dict[str, Any]] = []
            # time, segment, the face's number in the picture (0: the only face), probabilities
            self._history: deque[tuple[float, int, int, list[float]]] = deque()
            self._followed: int | None = None  # track id of the face the chart follows
            self._log: deque[dict[str, Any]] = deque(maxlen=self.LOG_ROWS if self.keep else 0)
            self._last_frame: np.ndarray | None = None
            self._size = (0, 0)  # width, height of the camera's frames
            self._error: str | None = None
            self._presence = Presence(self.IDLE_AFTER_S)
            self._segment = 0  # the chart's lines break where no face was seen

    def process(self, rgb: np.ndarray) -> np.ndarray:
        start = time.monotonic()
        pipeline = self.pipeline
        try:
            annotated, faces = pipeline.process(rgb)
            records = faces.to_records()
        except Exception as e:  # noqa: BLE001 - on this thread an error would silently end the stream
            with self._lock:
                self._error = f"{type(e).__name__}: {e}"
            return rgb
        end = time.monotonic()
        with self._lock:
            if pipeline is not self.pipeline:  # another model took over meanwhile: its log starts after this frame
                return annotated
            requested, level = self._requested, self._degrader.level
            self._degrader.observe(1000 * (end - start), requested)
            if self._degrader.level != level:
                self.pipeline.update_settings(self._degrader.settings(requested))
            if self._t0 is None:
                self._t0 = start
            t = end - self._t0
            self._frames += 1
            self._times.append(end)
            self._latency.append(end - start)
            self._records = records
            if records and self._first_label is None:
                self._first_label = t
            self._log.extend({"frame": self._frames - 1, "time": round(t, 4), **r}
                             for r in records or [no_face_record(self.class_names)])
            self._size = rgb.shape[1], rgb.shape[0]
            if self._presence.update(t, len(records)):  # nobody for a while: the next visitor starts afresh
                self.pipeline.reset()
                self._history.clear()
            if records:  # the chart follows the largest face, under its number in the picture
                numbers = face_numbers(np.array([r["box"] for r in records]), rgb.shape[1], self._mirrored())
                main = max(range(len(records)), key=lambda i: _area(records[i]))
                if records[main]["track_id"] != self._followed and self._history:
                    self._segment += 1  # another face is now the largest: no line from one to the other
                self._followed = records[main]["track_id"]
                self._history.append((t, self._segment, int(numbers[main]) if len(records) > 1 else 0,
                                      [float(records[main][c]) for c in self.class_names]))
            elif self._history and self._history[-1][1] == self._segment:
                self._segment += 1
            while self._history and self._history[0][0] < t - self.HISTORY_S:
                self._history.popleft()
            self._last_frame = annotated if self.keep else None
            self._error = None
        return annotated

    def stats(self) -> LiveStats:
        with self._lock:
            now = time.monotonic()
            recent = [t for t in self._times if t >= now - self.FPS_WINDOW_S]
            fps = (len(recent) - 1) / (recent[-1] - recent[0]) if len(recent) > 2 else 0.0
            return LiveStats(
                frames=self._frames, fps=fps,
                latency_ms=1000 * float(np.median(self._latency)) if self._latency else 0.0,
                delay_ms=1000 * float(np.median(self._delay)) if self._delay and recent else None,
                dropped=self._stream.dropped if self._stream is not None else 0,
                degraded=self._degrader.notes(self._requested),
                faces=len(self._records) if recent else 0,
                labels=numbered_labels(self._records, self._size[0], self._mirrored()) if recent else [],
                first_label_s=self._first_label, error=self._error,
                log_rows=len(self._log),
                main_label=max(self._records, key=_area)["label"] if self._records and recent else None,
                idle=self._presence.idle or not recent)

    def _mirrored(self) -> bool:
        """Whether the visitor sees the frames mirrored (numbers follow what they see)."""
        return self.pipeline.camera and self.pipeline.settings.mirror

    def refused(self) -> bool:
        """Whether the current stream was turned away because the server had no slot left."""
        return self._stream is not None and self._stream.refused

    def history(self, step_s: float = 0.0) -> pd.DataFrame:
        """The largest face's probabilities over the last seconds: columns seconds (0 = the
        last frame, negative = ago), segment (a new one after each frame without a face and
        whenever another face becomes the largest), face (its number in the picture, 0 when
        it was the only face: a lone face has no number), emotion, probability; at most one
        frame every ``step_s`` seconds."""
        with self._lock:
            rows = list(self._history)
            now = self._times[-1] - self._t0 if self._times and self._t0 is not None else 0.0
        if step_s > 0 and rows:
            kept = [rows[-1]]  # the newest always, then back in time
            for row in reversed(rows[:-1]):
                if kept[-1][0] - row[0] >= step_s:
                    kept.append(row)
            rows = kept[::-1]
        return pd.DataFrame([(t - now, segment, face, name, p) for t, segment, face, probs in rows
                             for name, p in zip(self.class_names, probs)],
                            columns=["seconds", "segment", "face", "emotion", "probability"])

    def log_csv(self) -> bytes:
        """The per-frame log, in the format of :mod:`fer.io.facelog` (as video logs have):
        the provenance first (with the settings in use now), then a row per face per
        frame and a "no face" row per frame without one."""
        with self._lock:
            rows = list(self._log)
            elapsed = self._times[-1] - self._t0 if self._times and self._t0 is not None else 0.0
            camera = {"kind": "camera", "width": self._size[0], "height": self._size[1], "frames": self._frames,
                      "fps": round((self._frames - 1) / elapsed, 2) if elapsed > 0 else None,
                      "first_logged_frame": rows[0]["frame"] if rows else None}
        header = provenance(self.pipeline.classifier, self.pipeline.settings, [camera])
        return csv_text(rows, header, self.class_names).encode()

    def last_frame_png(self) -> bytes:
        with self._lock:
            frame = self._last_frame
        return b"" if frame is None else encode_image(frame, "png")


def chart_title(history: pd.DataFrame) -> str:
    """Whose emotions the chart of :meth:`LiveSession.history` shows, by the number the
    picture gives that face now.

    >>> chart_title(pd.DataFrame({"face": [0, 2]}))
    'Face 2, the largest in view'
    >>> chart_title(pd.DataFrame({"face": [2, 0]}))
    'The face in view'
    """
    face = int(history.face.iloc[-1])
    return f"Face {face}, the largest in view" if face else "The face in view"


def _area(record: dict[str, Any]) -> float:
    x1, y1, x2, y2 = record["box"]
    return float((x2 - x1) * (y2 - y1))


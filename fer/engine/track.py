"""Keep each face's identity across frames and smooth its probabilities over time.

One :class:`Tracker` belongs to one stream (a webcam session, a video file): two
streams never share one, so their ids and histories never mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fer.engine.detect import box_iou


@dataclass
class Track:
    track_id: int
    box: np.ndarray  # (4,) int xyxy, where the face was last seen
    smoothed: np.ndarray  # (K,) exponential moving average of the face's probabilities
    missed: int = 0  # frames in a row without a matching detection


class Tracker:
    """Greedy IoU association of detections to tracks, with per-track EMA smoothing.

    A track survives ``max_missed`` frames without a detection, then ends; a face seen
    again later gets a new id.

    >>> import numpy as np
    >>> t = Tracker()
    >>> ids, _ = t.update(np.array([[10, 10, 60, 60]]), np.full((1, 7), 1 / 7), smoothing=0.5)
    >>> ids2, _ = t.update(np.array([[14, 12, 64, 62]]), np.full((1, 7), 1 / 7), smoothing=0.5)
    >>> ids.tolist() == ids2.tolist() == [1]
    True
    """

    def __init__(self, iou_threshold: float = 0.25, max_missed: int = 8):
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.tracks: list[Track] = []
        self._next_id = 1

    def reset(self) -> None:
        self.tracks = []
        self._next_id = 1

    def boxes(self) -> np.ndarray:
        """Where the live tracks' faces were last seen: (T, 4)."""
        return np.array([t.box for t in self.tracks], np.int64).reshape(-1, 4)

    def update(self, boxes: np.ndarray, probs: np.ndarray, smoothing: float) -> tuple[np.ndarray, np.ndarray]:
        """Associate this frame's faces with tracks and update their averages.

        ``boxes`` (N, 4), ``probs`` (N, K); ``smoothing`` is the weight of the past in the
        moving average (0 = no smoothing). Returns track ids (N,) and smoothed
        probabilities (N, K), in the order of ``boxes``.
        """
        n = len(boxes)
        ids = np.zeros(n, np.int64)
        smoothed = np.array(probs, np.float32, copy=True)
        matched_tracks: set[int] = set()
        if n and self.tracks:
            iou = box_iou(boxes, self.boxes())
            for flat in np.argsort(-iou, axis=None):
                d, t = np.unravel_index(flat, iou.shape)
                if iou[d, t] < self.iou_threshold:
                    break
                if ids[d] or t in matched_tracks:
                    continue
                track = self.tracks[t]
                track.smoothed = smoothing * track.smoothed + (1 - smoothing) * smoothed[d]
                track.box, track.missed = np.asarray(boxes[d]), 0
                ids[d], smoothed[d] = track.track_id, track.smoothed
                matched_tracks.add(int(t))
        for i, track in enumerate(self.tracks):
            if i not in matched_tracks:
                track.missed += 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        for d in np.flatnonzero(ids == 0):
            self.tracks.append(Track(self._next_id, np.asarray(boxes[d]), smoothed[d].copy()))
            ids[d] = self._next_id
            self._next_id += 1
        return ids, smoothed


class Presence:
    """Whether anyone has been in view lately: a live stream turns *idle* when no face has
    been seen for ``idle_after_s`` seconds, so a booth can invite the next visitor and
    start them afresh (new tracks, no chart of the last one).

    >>> p = Presence(idle_after_s=3.0)
    >>> p.update(0.0, faces=1), p.update(2.0, faces=0), p.update(3.5, faces=0), p.idle
    (False, False, True, True)
    >>> p.update(4.0, faces=0), p.update(5.0, faces=2), p.idle
    (False, False, False)
    """

    def __init__(self, idle_after_s: float = 3.0):
        self.idle_after_s = idle_after_s
        self.idle = True  # nobody seen yet
        self._last_seen: float | None = None

    def update(self, t: float, faces: int) -> bool:
        """Record a frame at time ``t`` (seconds) with ``faces`` faces; True on the frame
        that turns the stream idle (once per absence)."""
        if faces:
            self._last_seen, self.idle = t, False
            return False
        if not self.idle and self._last_seen is not None and t - self._last_seen >= self.idle_after_s:
            self.idle = True
            return True
        return False

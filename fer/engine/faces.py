"""The faces found in one frame: parallel arrays, one row per face.

A :class:`Faces` is what inference returns and what annotators and logs consume, so
drawing, the app's tables and the per-frame logs all read the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fer.classes import CLASS_NAMES

#: Label shown instead of an emotion when the top probability is below
#: :attr:`fer.engine.settings.Settings.uncertain_below`.
UNCERTAIN = "uncertain"
#: Label of a log row for a processed frame (or picture) in which no face was found.
NO_FACE = "no face"
#: Prefix of the keys holding the classifier's own output for one frame, before smoothing.
RAW_PREFIX = "raw_"


@dataclass
class Faces:
    """Faces of one frame, after classification and tracking.

    ``boxes`` are ``x1, y1, x2, y2`` in pixels of the frame that was analysed (``x2``,
    ``y2`` exclusive). ``probs`` are the classifier's output for this frame, ``smoothed``
    the track's moving average; ``labels`` and ``confidences`` come from ``smoothed``.

    >>> faces = Faces.empty()
    >>> len(faces), faces.to_records()
    (0, [])
    """

    boxes: np.ndarray  # (N, 4) int
    track_ids: np.ndarray  # (N,) int
    probs: np.ndarray  # (N, K) float32
    smoothed: np.ndarray  # (N, K) float32
    labels: list[str]
    confidences: np.ndarray  # (N,) float32
    class_names: tuple[str, ...] = field(default=CLASS_NAMES)

    def __post_init__(self) -> None:
        n, k = len(self.boxes), len(self.class_names)
        self.boxes = np.asarray(self.boxes, dtype=np.int64).reshape(n, 4)
        self.track_ids = np.asarray(self.track_ids, dtype=np.int64).reshape(-1)
        self.probs = np.asarray(self.probs, dtype=np.float32).reshape(-1, k)
        self.smoothed = np.asarray(self.smoothed, dtype=np.float32).reshape(-1, k)
        self.confidences = np.asarray(self.confidences, dtype=np.float32).reshape(-1)
        self.labels = list(self.labels)
        self.class_names = tuple(self.class_names)
        lengths = {len(self.track_ids), len(self.probs), len(self.smoothed), len(self.labels), len(self.confidences)}
        if lengths != {n}:
            raise ValueError(f"Faces arrays disagree on the number of faces: boxes {n}, others {sorted(lengths)}")

    @classmethod
    def empty(cls, class_names: Sequence[str] = CLASS_NAMES) -> Faces:
        k = len(class_names)
        return cls(np.zeros((0, 4), np.int64), np.zeros(0, np.int64), np.zeros((0, k), np.float32),
                   np.zeros((0, k), np.float32), [], np.zeros(0, np.float32), tuple(class_names))

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index: np.ndarray | slice | Sequence[int]) -> Faces:
        """Select faces with a boolean mask, an index array or a slice."""
        idx = np.arange(len(self))[index]
        return Faces(self.boxes[idx], self.track_ids[idx], self.probs[idx], self.smoothed[idx],
                     [self.labels[i] for i in idx], self.confidences[idx], self.class_names)

    def to_records(self) -> list[dict[str, Any]]:
        """One JSON-able dict per face: ``box``, ``track_id``, ``label``, ``confidence``,
        one key per class name holding the (smoothed) probability behind the label, and
        ``raw_<class>`` per class holding the classifier's output for this frame alone.

        >>> import pandas as pd                                   # doctest: +SKIP
        >>> pd.DataFrame(faces.to_records())[list(faces.class_names)]  # doctest: +SKIP
        """
        records = []
        for i in range(len(self)):
            record: dict[str, Any] = {
                "box": [int(v) for v in self.boxes[i]],
                "track_id": int(self.track_ids[i]),
                "label": self.labels[i],
                "confidence": round(float(self.confidences[i]), 6),
            }
            record.update({name: round(float(p), 6) for name, p in zip(self.class_names, self.smoothed[i])})
            record.update({RAW_PREFIX + name: round(float(p), 6) for name, p in zip(self.class_names, self.probs[i])})
            records.append(record)
        return records

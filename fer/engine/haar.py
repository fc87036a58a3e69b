"""Face detection with OpenCV's frontal-face Haar cascade: the default detector.

The detector, not the CNN, is the cost to beat on two CPU cores: one Haar pass over a
full 640x480 frame costs 15-70 ms. Two things keep it small:

* every search runs on a downscaled grayscale copy, scaled so that the smallest face
  asked for just fills the cascade's window (smaller faces could not be found anyway);
* between full scans, :meth:`HaarDetector.detect_near` only searches a window around
  each known face, at sizes close to the face's last size.

The cascade knows upright, frontal faces only: a head tilted by 30 degrees or a hand
over the eyes is usually lost (see the robustness table in the README).
"""

from __future__ import annotations

import cv2
import numpy as np

from fer.engine.detect import CropFit, Detections, dedupe, to_gray
from fer.engine.settings import Settings

CASCADE_FILE = "haarcascade_frontalface_default.xml"
#: Side in pixels, in the downscaled image, that the smallest wanted face is mapped to:
#: the cascade's own window. The cost of a scan grows with the downscaled image's area.
DETECT_WINDOW = 24
#: FER2013 faces are cropped about as tightly as Haar boxes: on PublicTest faces padded
#: by repeating their edge, this cascade's boxes need 1.02 times their side and no
#: shift (on 200 in the photo-like scenes of ``fer robustness``, which prints the fit
#: as ``crop_fit``: 1.04 and 0.00).
CROP_FIT = CropFit(scale=1.02, offset=0.0)


class HaarDetector:
    """Haar cascade face detector.

    >>> import numpy as np
    >>> len(HaarDetector().detect(np.zeros((480, 640), np.uint8)))
    0
    """

    crop = CROP_FIT

    def __init__(self, scale_factor: float = 1.1, min_neighbors: int = 5, min_face: float = 0.12,
                 equalize: bool = False, search_margin: float = 0.5, search_range: float = 1.3):
        self.cascade = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
        if self.cascade.empty():
            raise RuntimeError(f"OpenCV could not load {CASCADE_FILE} from {cv2.data.haarcascades}")
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face = min_face  # fraction of the frame's shorter side
        self.equalize = equalize
        self.search_margin = search_margin  # search window around a known face, per side, in face sides
        self.search_range = search_range  # sizes searched near a known face: its size / range .. * range

    def configure(self, settings: Settings) -> None:
        self.scale_factor, self.min_neighbors = settings.scale_factor, settings.min_neighbors
        self.min_face, self.equalize = settings.min_face, settings.equalize

    def detect(self, frame: np.ndarray) -> Detections:
        """Full scan of a frame for faces at least ``min_face`` of its shorter side."""
        gray = to_gray(frame)
        min_px = max(self.min_face * min(gray.shape[:2]), 1.0)
        return Detections(self._search(gray, scale=min(1.0, DETECT_WINDOW / min_px), min_px=min_px))

    def detect_near(self, frame: np.ndarray, boxes: np.ndarray) -> Detections:
        """Search only around ``boxes`` (faces seen recently) for faces of similar size."""
        gray = to_gray(frame)
        h, w = gray.shape[:2]
        found = []
        for x1, y1, x2, y2 in np.asarray(boxes).reshape(-1, 4):
            side = max(x2 - x1, y2 - y1, 1)
            pad = int(side * self.search_margin)
            rx1, ry1, rx2, ry2 = max(x1 - pad, 0), max(y1 - pad, 0), min(x2 + pad, w), min(y2 + pad, h)
            if rx2 - rx1 < 2 or ry2 - ry1 < 2:
                continue
            # A face was just seen here: fewer confirming windows are needed than in a full
            # scan (and a small window offers fewer), so ask for at most 3 neighbours.
            roi_boxes = self._search(gray[ry1:ry2, rx1:rx2], scale=min(1.0, DETECT_WINDOW * self.search_range / side),
                                     min_px=side / self.search_range, max_px=side * self.search_range,
                                     min_neighbors=min(self.min_neighbors, 3))
            found.append(Detections(roi_boxes + [rx1, ry1, rx1, ry1]))
        return dedupe(Detections.concat(found))

    def _search(self, gray: np.ndarray, scale: float, min_px: float, max_px: float | None = None,
                min_neighbors: int | None = None) -> np.ndarray:
        """Run the cascade on ``gray`` downscaled by ``scale``, for faces of ``min_px``..``max_px``
        pixels in ``gray``; boxes come back in ``gray``'s pixels."""
        small = gray if scale >= 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if self.equalize:
            small = cv2.equalizeHist(small)
        lo = max(24, int(round(min_px * scale)))
        hi = int(max_px * scale) if max_px else 0
        if min(small.shape[:2]) < lo or (hi and hi < lo):
            return np.zeros((0, 4), np.int64)
        rects = self.cascade.detectMultiScale(small, scaleFactor=self.scale_factor,
                                              minNeighbors=min_neighbors or self.min_neighbors,
                                              minSize=(lo, lo), maxSize=(hi, hi) if hi else (0, 0))
        if len(rects) == 0:
            return np.zeros((0, 4), np.int64)
        rects = np.asarray(rects, dtype=np.float64) / scale
        left, top, width, height = rects.T
        boxes = np.round(np.column_stack([left, top, left + width, top + height]))
        h, w = gray.shape[:2]
        return np.clip(boxes, 0, [w, h, w, h]).astype(np.int64)

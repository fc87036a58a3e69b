"""Face detection with OpenCV's frontal-face Haar cascade, and the face crops the
classifier sees.

The detector, not the CNN, is the cost to beat on two CPU cores: one Haar pass over a
full 640x480 frame costs 15-70 ms. Two things keep it small:

* every search runs on a downscaled grayscale copy, scaled so that the smallest face
  asked for just fills the cascade's window (smaller faces could not be found anyway);
* between full scans, :meth:`FaceDetector.detect_near` only searches a window around
  each known face, at sizes close to the face's last size.
"""

from __future__ import annotations

import cv2
import numpy as np

from fer.classes import FACE_SIZE

CASCADE_FILE = "haarcascade_frontalface_default.xml"
#: Side in pixels, in the downscaled image, that the smallest wanted face is mapped to:
#: the cascade's own window. The cost of a scan grows with the downscaled image's area.
DETECT_WINDOW = 24
#: Crop side over Haar box side. FER2013 faces are cropped about as tightly as Haar
#: boxes: padded PublicTest faces detected by this cascade give a median ratio of 1.02.
CROP_SCALE = 1.02


class FaceDetector:
    """Haar cascade face detector returning ``(N, 4)`` int ``x1, y1, x2, y2`` boxes.

    >>> import numpy as np
    >>> FaceDetector().detect(np.zeros((480, 640), np.uint8)).shape
    (0, 4)
    """

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

    def detect(self, gray: np.ndarray) -> np.ndarray:
        """Full scan of a grayscale frame for faces at least ``min_face`` of its shorter side."""
        min_px = max(self.min_face * min(gray.shape[:2]), 1.0)
        return self._search(gray, scale=min(1.0, DETECT_WINDOW / min_px), min_px=min_px)

    def detect_near(self, gray: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """Search only around ``boxes`` (faces seen recently) for faces of similar size."""
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
            found.append(roi_boxes + [rx1, ry1, rx1, ry1])
        if not found:
            return np.zeros((0, 4), np.int64)
        return dedupe(np.concatenate(found))

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
        boxes = np.round(np.column_stack([rects[:, 0], rects[:, 1], rects[:, 0] + rects[:, 2], rects[:, 1] + rects[:, 3]]))
        h, w = gray.shape[:2]
        return np.clip(boxes, 0, [w, h, w, h]).astype(np.int64)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) xyxy boxes -> (N, M) intersection over union."""
    a = np.asarray(a, np.float64).reshape(-1, 1, 4)
    b = np.asarray(b, np.float64).reshape(1, -1, 4)
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


def dedupe(boxes: np.ndarray, iou: float = 0.4) -> np.ndarray:
    """Drop boxes overlapping an earlier one (the same face found from two search windows)."""
    keep: list[int] = []
    overlaps = box_iou(boxes, boxes)
    for i in range(len(boxes)):
        if not any(overlaps[i, j] > iou for j in keep):
            keep.append(i)
    return boxes[keep]


def crop_faces(gray: np.ndarray, boxes: np.ndarray, size: int = FACE_SIZE, scale: float = CROP_SCALE) -> np.ndarray:
    """Square crops around ``boxes``, ``scale`` times their side, resized to ``size``:
    ``(N, size, size)`` uint8. Parts of a crop outside the frame repeat the frame's edge,
    so faces at the border keep their proportions."""
    boxes = np.asarray(boxes).reshape(-1, 4)
    faces = np.zeros((len(boxes), size, size), np.uint8)
    h, w = gray.shape[:2]
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        side = max(int(round(max(x2 - x1, y2 - y1) * scale)), 1)
        cx, cy = (x1 + x2) // 2, (y1 + y2) // 2
        sx1, sy1 = cx - side // 2, cy - side // 2
        sx2, sy2 = sx1 + side, sy1 + side
        crop = gray[max(sy1, 0):min(sy2, h), max(sx1, 0):min(sx2, w)]
        if crop.size == 0:
            continue
        if (sx1, sy1, sx2, sy2) != (max(sx1, 0), max(sy1, 0), min(sx2, w), min(sy2, h)):
            crop = cv2.copyMakeBorder(crop, max(-sy1, 0), max(sy2 - h, 0), max(-sx1, 0), max(sx2 - w, 0),
                                      cv2.BORDER_REPLICATE)
        interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        faces[i] = cv2.resize(crop, (size, size), interpolation=interp)
    return faces


def to_gray(frame_rgb: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) or gray (H, W) uint8 -> gray (H, W) uint8."""
    return frame_rgb if frame_rgb.ndim == 2 else cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)


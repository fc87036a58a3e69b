"""Face detection behind one interface, and the FER2013-style crops cut from what it finds.

Two backends implement :class:`FaceDetector`: OpenCV's frontal-face Haar cascade
(:mod:`fer.engine.haar`, the default: fast, but it loses tilted, turned and half-covered
faces) and BlazeFace, MediaPipe's face detector run by OpenCV's dnn module
(:mod:`fer.engine.blazeface`: finds those faces too, and their eyes). Each backend is
imported only when chosen. Both return :class:`Detections`; the frame pipeline, the
tracker and the search near known faces work the same with either.

The classifier was trained on FER2013's framing, so each backend carries the
:class:`CropFit` that turns its boxes into crops framed like FER2013's faces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import import_module
from typing import Protocol

import cv2
import numpy as np

from fer.classes import FACE_SIZE
from fer.engine.settings import DETECTORS, Settings

#: Where each backend of :data:`fer.engine.settings.DETECTORS` lives: module, class.
_BACKENDS = {"haar": ("fer.engine.haar", "HaarDetector"),
             "blazeface": ("fer.engine.blazeface", "BlazeFaceDetector"),
             "blazeface-full": ("fer.engine.blazeface", "FullRangeBlazeFaceDetector")}
assert set(_BACKENDS) == set(DETECTORS), "every detector named in Settings needs a backend"


@dataclass(frozen=True)
class Detections:
    """Faces found in one frame: ``boxes`` (N, 4) int ``x1, y1, x2, y2`` and ``angles``
    (N,), each face's roll in degrees (the slope of the line through its eyes, positive
    when the face's left eye, on the image's right, is lower); 0 where the detector
    cannot tell.

    >>> len(Detections.empty())
    0
    """

    boxes: np.ndarray
    angles: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, np.int64).reshape(-1, 4)
        angles = np.zeros(len(boxes)) if self.angles is None else np.asarray(self.angles, np.float64).reshape(-1)
        if len(angles) != len(boxes):
            raise ValueError(f"{len(boxes)} boxes but {len(angles)} angles")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "angles", angles)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.int64))

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, index) -> Detections:
        return Detections(self.boxes[index], self.angles[index])

    @classmethod
    def concat(cls, parts: list[Detections]) -> Detections:
        if not parts:
            return cls.empty()
        return cls(np.concatenate([p.boxes for p in parts]), np.concatenate([p.angles for p in parts]))


@dataclass(frozen=True)
class CropFit:
    """How a detector's box maps to a FER2013-framed crop: a square ``scale`` times the
    box's side, its centre ``offset`` box sides below the box's centre (along the face's
    own vertical when the face is turned upright)."""

    scale: float = 1.0
    offset: float = 0.0


class FaceDetector(Protocol):
    """What the frame pipeline needs from a face detector. Instances are not
    thread-safe: a thread that detects needs its own."""

    #: Box-to-crop mapping fitted on PublicTest faces (see :mod:`fer.robustness`).
    crop: CropFit

    def detect(self, frame: np.ndarray) -> Detections:
        """Full scan of an RGB (or grayscale) frame."""

    def detect_near(self, frame: np.ndarray, boxes: np.ndarray) -> Detections:
        """Search only around ``boxes`` (faces seen recently) for faces of similar size."""

    def configure(self, settings: Settings) -> None:
        """Take up the settings' detection options."""


def make_detector(settings: Settings | None = None) -> FaceDetector:
    """The detector that ``settings.detector`` names, configured by ``settings``.

    >>> type(make_detector(Settings(detector="haar"))).__name__
    'HaarDetector'
    """
    settings = settings or Settings()
    module, name = _BACKENDS[settings.detector]
    detector = getattr(import_module(module), name)()
    detector.configure(settings)
    return detector


#: Degrees of lean left alone when faces are turned upright: the classifier was trained
#: on faces turned by up to 10 degrees either way (``fer.training.augment``), so only
#: the lean beyond that is undone, and near-upright faces are cropped exactly as without
#: alignment (levelling them too cost end-to-end accuracy on some PublicTest samples
#: and gained none).
LEAN_KEPT = 10.0


def upright_turn(angles: np.ndarray) -> np.ndarray:
    """The roll to undo for faces leaning by ``angles`` degrees: the lean beyond
    :data:`LEAN_KEPT`, so that no face leans more than that.

    >>> upright_turn(np.array([5.0, 40.0, -30.0])).tolist()
    [0.0, 30.0, -20.0]
    """
    return np.asarray(angles, np.float64) - np.clip(angles, -LEAN_KEPT, LEAN_KEPT)


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


def dedupe(found: Detections, iou: float = 0.4) -> Detections:
    """Drop faces overlapping an earlier one (the same face found from two search windows)."""
    keep: list[int] = []
    overlaps = box_iou(found.boxes, found.boxes)
    for i in range(len(found)):
        if not any(overlaps[i, j] > iou for j in keep):
            keep.append(i)
    return found[keep]


def crop_faces(gray: np.ndarray, boxes: np.ndarray, size: int = FACE_SIZE, fit: CropFit = CropFit(),
               angles: np.ndarray | None = None) -> np.ndarray:
    """Square crops around ``boxes`` framed by ``fit``, resized to ``size``:
    ``(N, size, size)`` uint8. With ``angles`` (degrees, see :class:`Detections`), each
    crop is turned so that the face stands upright. Parts of a crop outside the frame
    repeat the frame's edge, so faces at the border keep their proportions."""
    boxes = np.asarray(boxes).reshape(-1, 4)
    faces = np.zeros((len(boxes), size, size), np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(boxes):
        box_side = max(x2 - x1, y2 - y1, 1)
        angle = float(angles[i]) if angles is not None else 0.0
        down = np.array([-np.sin(np.radians(angle)), np.cos(np.radians(angle))])
        cx, cy = np.array([(x1 + x2) / 2, (y1 + y2) / 2]) + fit.offset * box_side * down
        side = max(int(round(box_side * fit.scale)), 1)
        faces[i] = _upright_crop(gray, cx, cy, side, angle, size) if angle else _crop(gray, cx, cy, side, size)
    return faces


def _crop(gray: np.ndarray, cx: float, cy: float, side: int, size: int) -> np.ndarray:
    """Axis-aligned square of ``side`` centred on ``(cx, cy)``, resized to ``size``."""
    h, w = gray.shape[:2]
    sx1, sy1 = int(cx) - side // 2, int(cy) - side // 2
    sx2, sy2 = sx1 + side, sy1 + side
    crop = gray[max(sy1, 0):min(sy2, h), max(sx1, 0):min(sx2, w)]
    if crop.size == 0:
        return np.zeros((size, size), np.uint8)
    if (sx1, sy1, sx2, sy2) != (max(sx1, 0), max(sy1, 0), min(sx2, w), min(sy2, h)):
        crop = cv2.copyMakeBorder(crop, max(-sy1, 0), max(sy2 - h, 0), max(-sx1, 0), max(sx2 - w, 0),
                                  cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def _upright_crop(gray: np.ndarray, cx: float, cy: float, side: int, angle: float, size: int) -> np.ndarray:
    """The square that :func:`_crop` would cut, turned by ``angle`` degrees about its
    centre, rotated upright and resized to ``size``. A large face is first shrunk by area
    averaging to about twice ``size`` (a rotation samples pixels, it does not average
    them), then rotated."""
    reach = int(np.ceil(side * (abs(np.cos(np.radians(angle))) + abs(np.sin(np.radians(angle)))) / 2)) + 2
    shrunk = max(int(round(2 * reach * 2 * size / side)), 1) if side > 2 * size else 2 * reach
    window = _crop(gray, cx, cy, 2 * reach, shrunk)  # its left edge is at int(cx) - reach in the frame
    k = shrunk / (2 * reach)  # window pixels per frame pixel
    # Centres in pixel-centre coordinates: the crop's (as _crop cuts it) in the window, the output's.
    centre = [((int(c) - side // 2 + side / 2 - 0.5) - (int(c) - reach) + 0.5) * k - 0.5 for c in (cx, cy)]
    matrix = cv2.getRotationMatrix2D(centre, angle, size / (side * k))
    matrix[:, 2] += ((size - 1) / 2 - centre[0], (size - 1) / 2 - centre[1])
    return cv2.warpAffine(window, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def to_gray(frame_rgb: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) or gray (H, W) uint8 -> gray (H, W) uint8."""
    return frame_rgb if frame_rgb.ndim == 2 else cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)

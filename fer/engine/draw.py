"""Draw faces on frames, and fit frames into a display size.

Annotators only draw: they take a frame and a :class:`~fer.engine.faces.Faces` and never run
inference. Colours are RGB, like every frame in ``fer``'s API. Lines and text scale with
the frame, so a label is as readable on 320x240 as on 1920x1080: its capitals are
``label_size`` of the picture's height.

A mirrored view (the camera's self-view) flips the picture and the boxes, then draws the
text, so labels read the right way round; the faces themselves keep the camera's
coordinates.
"""

from __future__ import annotations

import cv2
import numpy as np

from fer.engine.faces import Faces
from fer.engine.settings import RGB, Settings

FONT = cv2.FONT_HERSHEY_SIMPLEX
CAP_HEIGHT = 22  # pixels of FONT's capital letters at font scale 1 (cv2.getTextSize("H", FONT, 1, 1))
BACKGROUND = (0, 0, 0)  # behind text, so any text colour stays readable


class FaceAnnotator:
    """Box, label and confidence per face; optionally its track id and probability bars.

    >>> import numpy as np
    >>> frame = np.zeros((480, 640, 3), np.uint8)
    >>> FaceAnnotator(box_color=(255, 0, 0)).annotate(frame, Faces.empty()).shape
    (480, 640, 3)
    """

    def __init__(self, box_color: RGB = (0, 255, 0), text_color: RGB = (0, 255, 0), show_bars: bool = False,
                 show_track_id: bool = False, label_size: float = 0.04):
        self.box_color = tuple(int(c) for c in box_color)
        self.text_color = tuple(int(c) for c in text_color)
        self.show_bars = show_bars
        self.show_track_id = show_track_id
        self.label_size = label_size

    @classmethod
    def from_settings(cls, settings: Settings) -> FaceAnnotator:
        return cls(settings.box_color, settings.text_color, settings.show_bars, settings.show_track_id,
                   settings.label_size)

    def annotate(self, scene: np.ndarray, faces: Faces, scale: float = 1.0, mirror: bool = False) -> np.ndarray:
        """Draw ``faces`` on ``scene`` (RGB uint8, modified in place and returned).

        ``scale`` maps the faces' boxes to ``scene`` pixels, for a scene that was resized
        after detection. ``mirror`` flips the scene left to right first (a self-view) and
        draws each box where its face now is, with its label reading the right way.
        """
        h, w = scene.shape[:2]
        thickness = max(1, round(min(h, w) / 240))
        font_scale = max(0.35, self.label_size * h / CAP_HEIGHT)
        text_thickness = max(1, round(font_scale * 1.5))
        boxes = np.round(faces.boxes * scale).astype(int)
        if mirror:
            scene[:] = scene[:, ::-1]
            boxes[:, [0, 2]] = w - boxes[:, [2, 0]]
        numbers = face_numbers(boxes, w)
        for i in range(len(faces)):
            x1, y1, x2, y2 = boxes[i].tolist()
            cv2.rectangle(scene, (x1, y1), (x2, y2), self.box_color, thickness, cv2.LINE_AA)
            text = f"{faces.labels[i]} {faces.confidences[i]:.0%}"
            if len(faces) > 1:  # numbered left to right as shown, as the app's lists are
                text = f"{numbers[i]}: {text}"
            if self.show_track_id:
                text = f"#{faces.track_ids[i]} {text}"
            (tw, th), base = cv2.getTextSize(text, FONT, font_scale, text_thickness)
            pad = text_thickness
            # Above the box when there is room, else just inside its top edge; never past
            # the picture's right edge while it fits.
            top = y1 - th - base - 2 * pad if y1 - th - base - 2 * pad >= 0 else y1 + thickness
            left = max(0, min(x1, w - tw - 2 * pad))
            cv2.rectangle(scene, (left, top), (left + tw + 2 * pad, top + th + base + pad), BACKGROUND, -1)
            cv2.putText(scene, text, (left + pad, top + th + pad), FONT, font_scale, self.text_color,
                        text_thickness, cv2.LINE_AA)
            if self.show_bars:
                self._bars(scene, faces.smoothed[i], faces.class_names, (x1, y1, x2, y2), font_scale, thickness)
        return scene

    def _bars(self, scene: np.ndarray, probs: np.ndarray, names: tuple[str, ...], box: tuple[int, int, int, int],
              font_scale: float, thickness: int) -> None:
        """One horizontal bar per class beside the box (right side, or left if no room)."""
        h, w = scene.shape[:2]
        small = font_scale * 0.8
        text_thickness = max(1, thickness - 1)
        (name_w, row), _ = cv2.getTextSize("surprise", FONT, small, text_thickness)
        row += 4 * text_thickness
        bar_w = name_w
        panel_w, panel_h = name_w + bar_w + 3 * thickness, row * len(names) + thickness
        x1, y1, x2, _ = box
        left = x2 + thickness if x2 + thickness + panel_w <= w else max(x1 - thickness - panel_w, 0)
        top = min(max(y1, 0), max(h - panel_h, 0))
        cv2.rectangle(scene, (left, top), (left + panel_w, top + panel_h), BACKGROUND, -1)
        for j, (name, p) in enumerate(zip(names, probs)):
            base_y = top + (j + 1) * row
            cv2.putText(scene, name, (left + thickness, base_y - 2 * text_thickness), FONT, small, self.text_color,
                        text_thickness, cv2.LINE_AA)
            bx = left + name_w + 2 * thickness
            cv2.rectangle(scene, (bx, base_y - row + 3 * text_thickness),
                          (bx + max(1, int(round(float(p) * bar_w))), base_y - text_thickness), self.box_color, -1)


def face_numbers(boxes: np.ndarray, width: int, mirror: bool = False) -> np.ndarray:
    """Each face's number as a viewer reads them, left to right from 1, for ``boxes`` (N, 4)
    in a picture ``width`` pixels wide that is shown mirrored when ``mirror``.

    >>> boxes = np.array([[300, 0, 400, 100], [10, 0, 110, 100]])
    >>> face_numbers(boxes, 640).tolist(), face_numbers(boxes, 640, mirror=True).tolist()
    ([2, 1], [1, 2])
    """
    boxes = np.asarray(boxes).reshape(-1, 4)
    lefts = width - boxes[:, 2] if mirror else boxes[:, 0]
    numbers = np.empty(len(boxes), np.int64)
    numbers[np.argsort(lefts, kind="stable")] = np.arange(1, len(boxes) + 1)
    return numbers


def numbered_labels(records: list[dict], width: int, mirror: bool = False) -> list[str]:
    """``"1: happy 83%"`` per face record (see :meth:`Faces.to_records`), left to right as
    shown, numbered as :class:`FaceAnnotator` numbers them in the picture (a lone face
    has no number)."""
    if not records:
        return []
    numbers = face_numbers(np.array([r["box"] for r in records]), width, mirror)
    labels = [f"{r['label']} {r['confidence']:.0%}" for r in records]
    if len(records) == 1:
        return labels
    return [f"{n}: {label}" for n, label in sorted(zip(numbers.tolist(), labels))]


def fit_to_display(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``frame`` to the largest size that fits in ``size`` = (width, height) with the
    same aspect ratio. Always returns a new array.

    >>> import numpy as np
    >>> fit_to_display(np.zeros((1080, 1920, 3), np.uint8), (640, 480)).shape
    (360, 640, 3)
    """
    h, w = frame.shape[:2]
    scale = display_scale((w, h), size)
    out_w, out_h = max(1, int(round(w * scale))), max(1, int(round(h * scale)))
    if (out_w, out_h) == (w, h):
        return frame.copy()
    return cv2.resize(frame, (out_w, out_h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def display_scale(frame_size: tuple[int, int], size: tuple[int, int]) -> float:
    """The factor :func:`fit_to_display` resizes a ``frame_size`` = (width, height) frame by."""
    return min(size[0] / frame_size[0], size[1] / frame_size[1])

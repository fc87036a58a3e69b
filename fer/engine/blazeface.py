"""Face detection with BlazeFace, MediaPipe's face detector, run by OpenCV's dnn module.

The Haar cascade knows upright frontal faces; strong expressions come with tilted heads,
turned faces and hands at the mouth, where it loses them. BlazeFace (Bazarevsky et al.,
2019) is a small single-shot detector trained on faces in the wild; besides a box it
gives six keypoints per face, of which the eyes turn each face upright before it is
cropped. No new dependency: OpenCV reads Google's ``.tflite`` model files
(``weights/face_detection_*_range.tflite``, Apache-2.0, see ``weights/NOTICE``).

Decoding is MediaPipe's SSD scheme: every cell of each output grid holds fixed anchors
at the cell's centre; per anchor the model gives a score (a logit) and 16 numbers, the
box centre's offset from the anchor, the box's width and height, and six keypoints'
offsets (right eye, left eye, nose tip, mouth, right ear, left ear), all in input
pixels. Overlapping boxes are merged as MediaPipe does: non-maximum suppression picks
the best box of each cluster, and the cluster's score-weighted mean replaces it.

Two models:

* short range (for faces within about 2 m of a phone's camera): trained on 128x128
  inputs, but fully convolutional, so OpenCV runs it at any size divisible by 16. A full
  scan shows it the frame scaled so that the smallest wanted face (``min_face``) is
  :data:`FACE_PX_RANGE`'s lower end, and, while larger faces would exceed the upper end,
  again at each halving of that image (:data:`SCAN_STEP`), so that every face meets the
  model at least once in the middle of its range. Small or distant faces thus cost a
  larger input, as with Haar. This is the ``blazeface`` detector.
* full range (faces up to 5 m): its feature pyramid has fixed shapes, so OpenCV runs
  it only on the whole frame letterboxed into 192x192, where a face must be about 16
  pixels (a twelfth of the frame's longer side) to be found. On the robustness scenes it
  found fewer faces than the short-range model at every size and costs more than its
  coarse scan; ``blazeface-full`` keeps it for comparison.

Between full scans, :meth:`BlazeFaceDetector.detect_near` shows the short-range model a
window around each known face, scaled so that the face is about 48 pixels (each cut from
the frame's :func:`halvings`), the windows of all faces tiled into one input.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from fer.engine.detect import CropFit, Detections, box_iou, dedupe
from fer.engine.settings import Settings
from fer.models.modelfile import BUNDLED_WEIGHTS, ModelFileError

WEIGHTS_DIR = BUNDLED_WEIGHTS.parent
#: Lowest score kept. MediaPipe keeps 0.5 on its one coarse 128x128 view; the finer
#: scan levels here show the model more of the scene, and at 0.5 it took noise in dark
#: scenes and parts of large faces for faces (chosen on PublicTest scenes with
#: ``fer robustness --split public``: 0.04 false detections per scene at 0.55, 0.10 at 0.5).
MIN_SCORE = 0.55
#: MediaPipe's overlap above which two boxes are the same face.
NMS_IOU = 0.3
#: Two boxes sharing more than this share of the smaller one's area are one face (a part
#: of a large face seen as a face at a fine scan level, or a face seen whole at two
#: levels): the better one stays. Faces in a crowd overlap less.
SAME_FACE = 0.5
#: Face sides, in pixels of the short-range model's input, that a scan level looks for:
#: at 24 pixels it still finds most faces; above about 100 it starts to lose them.
FACE_PX_RANGE = (24, 96)
#: Ratio between the scales of a full scan's levels. With levels two octaves apart (4,
#: the whole range) a face could meet the model only near both ends of it: a 160-pixel
#: face at 114 and 29 pixels (min_face 0.07 at 640x480). An octave apart, every face but
#: the smallest asked for (seen at 24-34 pixels) is also seen at 34-68 pixels, where the
#: model is surest. Chosen on PublicTest faces in photo-like scenes (``fer robustness
#: --split public``): more turned and covered faces found, for one more level per full
#: scan (README, "Robustness, end to end"). Each level after the first is therefore the
#: :func:`halvings` of the one before, at a whole ratio, much cheaper than resizing the
#: frame again.
SCAN_STEP = 2
#: Most levels a full scan runs (the smallest ``min_face`` needs four).
SCAN_LEVELS = 5
#: Input shapes whose networks a detector keeps (:class:`ShapedNets`): a full scan's
#: levels, and the tiled windows of one to a few faces.
NETS_KEPT = 8
#: Side of the window shown to the model when searching near a known face; with
#: ``search_margin`` 0.5 the face fills about half of it.
NEAR_INPUT = 96
#: Black pixels between the windows tiled into one input (:func:`tile`): the coarsest
#: anchor grid's stride, so every window starts on a cell of each grid, as it does alone.
TILE_GAP = 16
#: The box-to-crop mappings fitted on upright PublicTest faces in photo-like scenes
#: (``fer robustness --split public --faces 200`` prints them as ``crop_fit``):
#: BlazeFace's box covers the face from the brows to the chin; FER2013's crop is about
#: a sixth larger and reaches higher, to the forehead.
CROP_FIT = CropFit(scale=1.18, offset=-0.08)
FULL_RANGE_CROP_FIT = CropFit(scale=1.19, offset=-0.05)


@dataclass(frozen=True)
class Model:
    """One BlazeFace model file and its anchor layout."""

    file: str
    layers: tuple[tuple[int, int], ...]  # (stride, anchors per cell) of each output grid, in output order
    input_side: int | None = None  # the square input the model needs, or None: any multiple of 16


SHORT_RANGE = Model("face_detection_short_range.tflite", ((8, 2), (16, 6)))
FULL_RANGE = Model("face_detection_full_range.tflite", ((4, 1),), input_side=192)


@lru_cache(maxsize=None)
def _model_bytes(file: str) -> np.ndarray:
    path = WEIGHTS_DIR / file
    try:
        return np.frombuffer(path.read_bytes(), np.uint8)
    except OSError as e:
        raise ModelFileError(f"BlazeFace model {path} could not be read ({e.strerror or e})") from e


def load_net(model: Model) -> cv2.dnn.Net:
    """A fresh OpenCV network for ``model`` (a network must not run in two threads at once)."""
    try:
        net = cv2.dnn.readNetFromTFLite(_model_bytes(model.file))
    except cv2.error as e:
        raise ModelFileError(f"OpenCV could not load the BlazeFace model {WEIGHTS_DIR / model.file}: "
                             f"{str(e).strip().splitlines()[-1]}") from e
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    return net


class ShapedNets:
    """One OpenCV network per input shape, the last :data:`NETS_KEPT` kept. A network
    given an input of another shape than its last one sets itself up again, which cost
    more than the passes themselves: with a network per shape (and a scan's levels made
    by halvings), ``fer robustness`` went from 86 to 64 ms per scene with BlazeFace,
    finding the same faces. The price is memory: each kept network holds the
    activations of its own shape, the most a scan's first level at a small ``min_face``."""

    def __init__(self, model: Model, kept: int = NETS_KEPT):
        self.model = model
        self.kept = kept
        self._nets: OrderedDict[tuple[int, int], cv2.dnn.Net] = OrderedDict()
        self._spare: cv2.dnn.Net | None = load_net(model)  # loaded now: a broken file fails here

    def __call__(self, height: int, width: int) -> cv2.dnn.Net:
        """The network for ``height`` x ``width`` inputs."""
        key = (height, width)
        if key not in self._nets:
            self._nets[key] = self._spare if self._spare is not None else load_net(self.model)
            self._spare = None
            if len(self._nets) > self.kept:
                self._nets.popitem(last=False)
        self._nets.move_to_end(key)
        return self._nets[key]


@lru_cache(maxsize=64)
def anchor_centres(height: int, width: int, layers: tuple[tuple[int, int], ...]) -> np.ndarray:
    """(A, 2) x, y anchor centres in input pixels, in the model's output order: grid by
    grid, row by row, each cell's anchors together."""
    centres = []
    for stride, per_cell in layers:
        ys, xs = np.mgrid[0:height // stride, 0:width // stride]
        cells = np.stack([(xs + 0.5) * stride, (ys + 0.5) * stride], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(cells, per_cell, axis=1).reshape(-1, 2))
    return np.concatenate(centres).astype(np.float32)


@dataclass
class Candidates:
    """Raw detections in frame pixels: boxes (N, 4) float xyxy, scores (N,), keypoints (N, 6, 2)."""

    boxes: np.ndarray
    scores: np.ndarray
    keypoints: np.ndarray

    @classmethod
    def concat(cls, parts: list[Candidates]) -> Candidates:
        if not parts:
            return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, 6, 2), np.float32))
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("boxes", "scores", "keypoints")))

    def where(self, keep: np.ndarray) -> Candidates:
        """The candidates selected by ``keep`` (a mask or indices)."""
        return Candidates(self.boxes[keep], self.scores[keep], self.keypoints[keep])

    def moved(self, scale: float, dx: float = 0.0, dy: float = 0.0) -> Candidates:
        """From input pixels (an image scaled by ``scale``, placed at ``dx, dy``) to frame pixels."""
        return Candidates(self.boxes / scale + [dx, dy, dx, dy], self.scores, self.keypoints / scale + [dx, dy])


def decode(scores: np.ndarray, regressors: np.ndarray, anchors: np.ndarray, min_score: float) -> Candidates:
    """One image's raw outputs, ``scores`` (A,) logits and ``regressors`` (A, 16), to
    candidates above ``min_score``, in input pixels."""
    keep = np.flatnonzero(scores > np.log(min_score / (1 - min_score)))  # compare logits: no sigmoid for the rest
    values = regressors[keep].reshape(-1, 8, 2)  # box centre offset, box size, 6 keypoint offsets
    centre = values[:, 0] + anchors[keep]
    half = values[:, 1] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    probs = 1 / (1 + np.exp(-np.clip(scores[keep], -80, 80)))
    return Candidates(boxes, probs.astype(np.float32), values[:, 2:] + anchors[keep][:, None])


def merge(c: Candidates, iou: float = NMS_IOU) -> Candidates:
    """One image's candidates, one per face: :func:`weighted_nms`, then
    :func:`one_per_face`. Best first."""
    return one_per_face(weighted_nms(c, iou))


def weighted_nms(c: Candidates, iou: float = NMS_IOU) -> Candidates:
    """MediaPipe's merge: each box that survives OpenCV's NMS is replaced by the
    score-weighted mean of the boxes (and keypoints) overlapping it. Best first."""
    if not len(c.scores):
        return c
    xywh = np.concatenate([c.boxes[:, :2], c.boxes[:, 2:] - c.boxes[:, :2]], axis=1)
    kept = np.asarray(cv2.dnn.NMSBoxes(xywh.tolist(), c.scores.tolist(), 0.0, iou), np.int64).reshape(-1)
    weights = (box_iou(c.boxes[kept], c.boxes) > iou) * c.scores[None, :]  # (K, N), each row includes its own box
    weights /= weights.sum(axis=1, keepdims=True)
    keypoints = np.einsum("kn,npc->kpc", weights, c.keypoints).astype(np.float32)
    return Candidates(weights @ c.boxes, c.scores[kept], keypoints)  # NMSBoxes lists the kept boxes best first


def one_per_face(c: Candidates) -> Candidates:
    """Boxes that are the same face as a better one (:data:`SAME_FACE`) go. Best first."""
    order = np.argsort(-c.scores, kind="stable")
    faces: list[int] = []
    for i in order:
        if all(shared(c.boxes[i], c.boxes[j]) <= SAME_FACE for j in faces):
            faces.append(int(i))
    return c.where(np.asarray(faces, np.int64))


def shared(a: np.ndarray, b: np.ndarray) -> float:
    """The share of the smaller of two xyxy boxes that lies inside the other."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return float(max(w, 0) * max(h, 0) / max(smaller, 1e-9))


def roll(keypoints: np.ndarray) -> np.ndarray:
    """Each face's roll in degrees from its eyes (keypoints 0 and 1: the face's right eye,
    on the image's left, then its left eye)."""
    d = keypoints[:, 1] - keypoints[:, 0]
    return np.degrees(np.arctan2(d[:, 1], d[:, 0]))


def resized(rgb: np.ndarray, scale: float) -> np.ndarray:
    """``rgb`` resized by ``scale`` (area averaging when it shrinks)."""
    h, w = rgb.shape[:2]
    nw, nh = max(int(round(w * scale)), 1), max(int(round(h * scale)), 1)
    if (nw, nh) == (w, h):
        return rgb
    return cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def padded(image: np.ndarray, multiple: int = 16) -> np.ndarray:
    """``image`` padded with black at the bottom and right to a multiple of ``multiple`` pixels."""
    pad_h, pad_w = -image.shape[0] % multiple, -image.shape[1] % multiple
    return cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=0) if pad_h or pad_w else image


def scan_scales(min_px: float, largest_px: float) -> list[float]:
    """Input scales of a full scan: the first maps ``min_px`` to the lower end of
    :data:`FACE_PX_RANGE` (never enlarging), each next one :data:`SCAN_STEP` smaller,
    until ``largest_px`` fits in the range."""
    lo, hi = FACE_PX_RANGE
    scales = [min(1.0, lo / min_px)]
    while largest_px * scales[-1] > hi and len(scales) < SCAN_LEVELS:
        scales.append(scales[-1] / SCAN_STEP)
    return scales


def as_rgb(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB) if frame.ndim == 2 else frame


class BlazeFaceDetector:
    """BlazeFace with the short-range model (see the module's description).

    >>> import numpy as np
    >>> len(BlazeFaceDetector().detect(np.zeros((480, 640, 3), np.uint8)))
    0
    """

    crop = CROP_FIT
    scan_model = SHORT_RANGE

    def __init__(self, min_face: float = 0.12, min_score: float = MIN_SCORE, search_margin: float = 0.5,
                 search_range: float = 1.5):
        self.min_face = min_face  # fraction of the frame's shorter side
        self.min_score = min_score
        self.search_margin = search_margin  # window around a known face, per side, in face sides
        self.search_range = search_range  # sizes kept near a known face: its size / range .. * range
        self.nets = ShapedNets(SHORT_RANGE)
        self.scan_nets = self.nets if self.scan_model is SHORT_RANGE else ShapedNets(self.scan_model)

    def configure(self, settings: Settings) -> None:
        self.min_face = settings.min_face

    def detect(self, frame: np.ndarray) -> Detections:
        """Full scan for faces at least ``min_face`` of the frame's shorter side."""
        rgb = as_rgb(frame)
        min_box = self._min_box(rgb)
        # Merged level by level, then the best box of each face kept: averaged across
        # levels, a coarse level's less precise eyes would pull a turned face's roll.
        scales = scan_scales(min_box, min(rgb.shape[:2]))
        images = halvings(resized(rgb, scales[0]), len(scales) - 1)  # SCAN_STEP apart
        levels = [weighted_nms(self._run(self.nets, padded(image))).moved(s) for image, s in zip(images, scales)]
        found = one_per_face(Candidates.concat(levels))
        return self._detections(found, min_box)

    def _min_box(self, frame: np.ndarray) -> float:
        """The box side of the smallest wanted face. ``min_face`` measures faces as
        FER2013 frames them (as the Haar cascade's boxes do); BlazeFace's box is
        ``crop.scale`` times smaller."""
        return max(self.min_face * min(frame.shape[:2]), 1.0) / self.crop.scale

    def detect_near(self, frame: np.ndarray, boxes: np.ndarray) -> Detections:
        """Search a window around each of ``boxes`` for a face of about its size. The
        windows are tiled into one image (:func:`tile`) and shown to the model in one
        pass (one call instead of one per face: 20% less time for four faces here), which
        finds the boxes each window finds alone to within a pixel or two."""
        rgb = as_rgb(frame)
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if not len(boxes):
            return Detections.empty()
        sides = np.maximum(np.max(boxes[:, 2:] - boxes[:, :2], axis=1), 1.0)
        reaches = sides * (0.5 + self.search_margin)
        corners = (boxes[:, :2] + boxes[:, 2:]) / 2 - reaches[:, None]  # each window's top-left corner
        levels = halvings(rgb, halving_for(np.max(2 * reaches), NEAR_INPUT))
        windows = []
        for (x, y), reach in zip(corners, reaches):
            # Resizing the frame itself by an odd ratio cost 0.6-1 ms per window (INTER_AREA).
            level = min(halving_for(2 * reach, NEAR_INPUT), len(levels) - 1)
            f = 2 ** level
            windows.append(window(levels[level], x / f, y / f, 2 * reach / f, NEAR_INPUT))
        image, offsets = tile(windows)
        c = merge(self._run(self.nets, image))
        centres = (c.boxes[:, :2] + c.boxes[:, 2:]) / 2
        found = []
        for (ox, oy), (x, y), reach, side in zip(offsets, corners, reaches, sides):
            inside = np.all((centres >= (ox, oy)) & (centres < (ox + NEAR_INPUT, oy + NEAR_INPUT)), axis=1)
            w = c.where(inside).moved(1.0, -ox, -oy).moved(NEAR_INPUT / (2 * reach), x, y)
            size = np.max(w.boxes[:, 2:] - w.boxes[:, :2], axis=1)
            near = (size >= side / self.search_range) & (size <= side * self.search_range)
            found.append(self._detections(w.where(near), 1.0))
        return dedupe(Detections.concat(found))

    def _run(self, nets: ShapedNets, image: np.ndarray) -> Candidates:
        """Candidates, in input pixels, for one RGB ``image``. One image per pass: in a
        batch, OpenCV's import of the model's output reshapes interleaves the images."""
        h, w = image.shape[:2]
        net = nets(h, w)
        net.setInput(cv2.dnn.blobFromImage(image, 1 / 127.5, mean=(127.5, 127.5, 127.5), swapRB=False))
        scores, regressors = net.forward(net.getUnconnectedOutLayersNames())
        anchors = anchor_centres(h, w, nets.model.layers)
        return decode(scores.reshape(-1), regressors.reshape(-1, 16), anchors, self.min_score)

    @staticmethod
    def _detections(c: Candidates, min_px: float) -> Detections:
        """Boxes at least ``min_px`` wide or high, best first, as int boxes with their roll."""
        sides = np.max(c.boxes[:, 2:] - c.boxes[:, :2], axis=1) if len(c.scores) else np.zeros(0)
        order = [i for i in np.argsort(-c.scores) if sides[i] >= min_px]
        return Detections(np.round(c.boxes[order]).astype(np.int64), roll(c.keypoints[order]))


class FullRangeBlazeFaceDetector(BlazeFaceDetector):
    """BlazeFace whose full scans use the full-range model on the whole frame,
    letterboxed into 192x192 (see the module's description); the search near known faces
    still uses the short-range model."""

    scan_model = FULL_RANGE
    crop = FULL_RANGE_CROP_FIT

    def detect(self, frame: np.ndarray) -> Detections:
        rgb = as_rgb(frame)
        h, w = rgb.shape[:2]
        side = self.scan_model.input_side
        scale = side / max(h, w)
        image = resized(rgb, scale)
        image = cv2.copyMakeBorder(image, 0, side - image.shape[0], 0, side - image.shape[1], cv2.BORDER_CONSTANT,
                                   value=0)
        found = merge(self._run(self.scan_nets, image).moved(scale))
        return self._detections(found, self._min_box(rgb))


def tile(images: list[np.ndarray], gap: int = TILE_GAP) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Equal square ``images`` laid out row by row in a near-square grid, ``gap`` black
    pixels apart, and each one's top-left corner in the result. With sides and gap
    multiples of 16, every image meets the model's anchor grids as it would alone."""
    side = images[0].shape[0]
    cols = int(np.ceil(np.sqrt(len(images))))
    rows = -(-len(images) // cols)
    pitch = side + gap
    out = np.zeros((rows * pitch - gap, cols * pitch - gap, 3), np.uint8)
    offsets = [((i % cols) * pitch, (i // cols) * pitch) for i in range(len(images))]
    for image, (x, y) in zip(images, offsets):
        out[y:y + side, x:x + side] = image
    return out, offsets


def halvings(rgb: np.ndarray, count: int) -> list[np.ndarray]:
    """``rgb``, then ``count`` images each half the size of the one before (while both
    sides are at least 2 pixels): pixel ``(x, y)`` of level ``i`` is the mean of the
    ``2**i``-pixel square of ``rgb`` at ``(x, y) * 2**i`` (a last odd row or column is
    left out), made by INTER_AREA at a whole ratio, which is fast."""
    levels = [rgb]
    for _ in range(max(count, 0)):
        h, w = (side // 2 for side in levels[-1].shape[:2])
        if min(h, w) < 2:
            break
        levels.append(cv2.resize(levels[-1][:2 * h, :2 * w], (w, h), interpolation=cv2.INTER_AREA))
    return levels


def halving_for(side: float, out: int) -> int:
    """The :func:`halvings` level where a square of ``side`` frame pixels is 1-2 times
    ``out`` pixels (level 0 for a square smaller than ``out``).

    >>> [halving_for(side, 96) for side in (50, 96, 191, 192, 490)]
    [0, 0, 0, 1, 2]
    """
    return max(int(side // out).bit_length() - 1, 0)


def window(rgb: np.ndarray, x: float, y: float, side: float, out: int) -> np.ndarray:
    """The square of ``side`` at ``x, y`` (black outside the frame), resized to ``out``."""
    h, w = rgb.shape[:2]
    x1, y1 = int(round(x)), int(round(y))
    x2, y2 = x1 + max(int(round(side)), 1), y1 + max(int(round(side)), 1)
    part = rgb[max(y1, 0):max(min(y2, h), 0), max(x1, 0):max(min(x2, w), 0)]
    if part.size == 0:
        return np.zeros((out, out, 3), np.uint8)
    part = cv2.copyMakeBorder(part, max(-y1, 0), max(y2 - h, 0), max(-x1, 0), max(x2 - w, 0), cv2.BORDER_CONSTANT,
                              value=0)
    return cv2.resize(part, (out, out), interpolation=cv2.INTER_AREA if part.shape[0] > out else cv2.INTER_LINEAR)

"""The one per-frame function behind the live page, image and video annotation and the CLI:
find faces, classify them in one batch, track and smooth them, draw them.

>>> from fer.engine.classify import Classifier                       # doctest: +SKIP
>>> pipeline = FramePipeline(Classifier.from_file("weights/vgg10.pt"))  # doctest: +SKIP
>>> annotated, faces = pipeline.process(frame_rgb)            # doctest: +SKIP
>>> faces.labels, faces.boxes                                 # doctest: +SKIP
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from fer.engine.classify import Classifier
from fer.engine.detect import Detections, FaceDetector, box_iou, crop_faces, make_detector, to_gray, upright_turn
from fer.engine.draw import FaceAnnotator, display_scale, fit_to_display
from fer.engine.faces import UNCERTAIN, Faces
from fer.engine.settings import Settings
from fer.engine.track import Tracker


class FramePipeline:
    """Frame in, annotated frame and :class:`Faces` out, with one stream's tracking state.

    Make one per stream (webcam session, video file); they can share one
    :class:`~fer.engine.classify.Classifier`. Frames are RGB uint8 ``(H, W, 3)``.

    :meth:`update_settings` and :meth:`reset` may be called from any thread while another
    thread processes frames; they take effect at the start of the next frame.
    ``timings`` holds the last frame's stage times in milliseconds: ``detect``, ``crop``
    (grayscale conversion and crops), ``classify`` (the network), ``track`` and their
    ``total``; after :meth:`process` also ``draw``, included in ``total``. :meth:`process` and
    :meth:`analyze` called from several threads at once are served one at a time.
    """

    def __init__(self, classifier: Classifier, settings: Settings | None = None, camera: bool = False):
        self.classifier = classifier
        self.camera = camera  # a camera's self-view: drawn mirrored when the settings ask for it
        self.settings = check_settings(settings) if settings is not None else Settings()
        self.detector: FaceDetector = make_detector(self.settings)
        self.annotator = FaceAnnotator()
        self.tracker = Tracker()
        self.frame_index = 0
        self.timings: dict[str, float] = {}
        self._lock = threading.Lock()
        self._frame_lock = threading.RLock()  # one frame at a time: OpenCV's cascades are not thread-safe
        self._pending: Settings | None = None
        self._reset_pending = False
        # Full scans of a tracked stream: one worker thread and its own detector (an
        # OpenCV cascade or network must not run in two threads at once), made at the
        # first scan.
        self._scanner: ThreadPoolExecutor | None = None
        self._scan_detector: FaceDetector | None = None
        self._scan: Future | None = None
        self._apply(self.settings)

    def update_settings(self, settings: Settings) -> None:
        """Use ``settings`` from the next frame on (thread-safe)."""
        check_settings(settings)
        with self._lock:
            self._pending = settings

    def reset(self) -> None:
        """Forget all tracks from the next frame on (thread-safe): ids restart at 1."""
        with self._lock:
            self._reset_pending = True

    def process(self, frame: np.ndarray, still: bool = False) -> tuple[np.ndarray, Faces]:
        """Analyse ``frame`` and draw the result fitted into the display size.

        ``still=True`` treats the frame as a single picture: full scan, no tracking or
        smoothing, and the stream's state is left untouched. Returns the annotated frame
        (a new array) and the faces, with boxes in ``frame``'s pixels.
        """
        with self._frame_lock:
            faces = self.analyze(frame, still=still)
            t = time.perf_counter()
            annotated = self.draw(frame, faces)
            self.timings["draw"] = (time.perf_counter() - t) * 1000
            self.timings["total"] += self.timings["draw"]
            return annotated, faces

    def analyze(self, frame: np.ndarray, still: bool = False) -> Faces:
        """Detect, classify and (unless ``still``) track the faces of one RGB frame. Calls
        from several threads are served one at a time."""
        check_frame(frame)
        with self._frame_lock:
            return self._analyze(frame, still)

    def _analyze(self, frame: np.ndarray, still: bool) -> Faces:
        self._sync()
        s = self.settings
        start = time.perf_counter()
        found = self.detector.detect(frame) if still else self._detect_in_stream(frame, s.full_scan_every)
        detected = time.perf_counter()
        crops = crop_faces(to_gray(frame), found.boxes, self.classifier.face_size, fit=self.detector.crop,
                           angles=upright_turn(found.angles) if s.align else None)
        cropped = time.perf_counter()
        probs = self.classifier.predict_proba(crops, tencrop=s.tencrop)
        # A face cut by the frame's edge is cropped whole (the missing part repeats the
        # edge), but reported, tracked and drawn within the frame.
        h, w = frame.shape[:2]
        boxes = np.clip(found.boxes, 0, [w, h, w, h])
        classified = time.perf_counter()
        if still:
            ids, smoothed = np.arange(1, len(boxes) + 1), probs
        else:
            ids, smoothed = self.tracker.update(boxes, probs, s.smoothing)
            self.frame_index += 1
        faces = label_faces(boxes, ids, probs, smoothed, self.classifier.class_names, s.uncertain_below)
        end = time.perf_counter()
        self.timings = {"detect": (detected - start) * 1000, "crop": (cropped - detected) * 1000,
                        "classify": (classified - cropped) * 1000, "track": (end - classified) * 1000,
                        "total": (end - start) * 1000}
        return faces

    def _detect_in_stream(self, frame: np.ndarray, full_scan_every: int) -> Detections:
        """Faces of a stream's frame: a full scan while nothing is tracked; else a search
        near the tracked faces, plus near the faces that the last full scan found.

        Full scans of a tracked stream run on a worker thread with its own detector, one
        at a time: the scan of frame N runs beside frames N to N + ``full_scan_every`` - 1
        and is used, always, by frame N + ``full_scan_every``, which starts the next one
        (so results do not depend on timing). The new faces it found are located again in
        that frame by the search near them. Used by the very next frame instead, a scan
        made one frame in five wait for it (``fer bench``, BlazeFace, one face: a p95 of
        44.5 ms per frame then, 16.3 now).
        """
        known = self.tracker.boxes()
        if not len(known):
            self._scan = None
            return self.detector.detect(frame)
        due = self.frame_index % full_scan_every == 0
        seeds = known
        if due and self._scan is not None:
            found = self._scan.result().boxes
            new = found[box_iou(found, known).max(axis=1) < 0.3] if len(found) else found
            seeds = np.concatenate([known, new])
            self._scan = None
        near = self.detector.detect_near(frame, seeds)
        if due:
            if self._scanner is None:
                self._scanner = ThreadPoolExecutor(1, thread_name_prefix="fer-full-scan")
            if self._scan_detector is None:
                self._scan_detector = make_detector(self.settings)
            # A copy: the caller may reuse the frame's buffer while the scan still runs.
            self._scan = self._scanner.submit(self._scan_detector.detect, frame.copy())
        return near

    def draw(self, frame: np.ndarray, faces: Faces, fit: bool = True) -> np.ndarray:
        """``frame`` with ``faces`` drawn on it, as a new array: fitted into the display
        size when ``fit``, else at ``frame``'s own size; mirrored for a camera stream whose
        settings ask for it (``faces`` keep the camera's coordinates)."""
        mirror = self.camera and self.settings.mirror
        if not fit:
            return self.annotator.annotate(frame.copy(), faces, mirror=mirror)
        h, w = frame.shape[:2]
        scene = fit_to_display(frame, self.settings.display_size)
        return self.annotator.annotate(scene, faces, scale=display_scale((w, h), self.settings.display_size),
                                       mirror=mirror)

    def _sync(self) -> None:
        """Apply settings and resets requested by other threads since the last frame."""
        with self._lock:
            pending, self._pending = self._pending, None
            reset, self._reset_pending = self._reset_pending, False
        if pending is not None:
            self._apply(pending)
        if reset:
            self.tracker.reset()
            self.frame_index = 0
            self._scan = None

    def _apply(self, s: Settings) -> None:
        if s.detector != self.settings.detector:  # another backend: new detectors (the scan's at its next scan)
            self.detector, self._scan_detector = make_detector(s), None
        self.settings = s
        for detector in (self.detector, self._scan_detector):
            if detector is not None:
                detector.configure(s)
        self.annotator = FaceAnnotator.from_settings(s)


def label_faces(boxes: np.ndarray, ids: np.ndarray, probs: np.ndarray, smoothed: np.ndarray,
                class_names: list[str] | tuple[str, ...], uncertain_below: float = 0.0) -> Faces:
    """Assemble :class:`Faces`: the label is the arg-max of the smoothed probabilities, or
    ``"uncertain"`` when their top value is below ``uncertain_below``."""
    top = smoothed.argmax(1) if len(smoothed) else np.zeros(0, np.int64)
    confidences = smoothed[np.arange(len(top)), top] if len(top) else np.zeros(0, np.float32)
    labels = [UNCERTAIN if c < uncertain_below else class_names[i] for i, c in zip(top, confidences)]
    return Faces(boxes, ids, probs, smoothed, labels, confidences, tuple(class_names))


def check_frame(frame: np.ndarray) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise ValueError(f"frames must be RGB uint8 arrays of shape (H, W, 3), got {dtype} {shape}")
    if not frame.size:
        raise ValueError(f"frames must have at least one pixel, got shape {frame.shape}")


def check_settings(settings: Settings) -> Settings:
    """``settings`` if it is a :class:`Settings`, else a TypeError saying how to make one."""
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be a fer.Settings, e.g. Settings(smoothing=0.8), not {type(settings).__name__}")
    return settings

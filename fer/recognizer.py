"""The Python API in one object: load the model once, then annotate images, videos and
live streams.

>>> from fer import EmotionRecognizer                                # doctest: +SKIP
>>> rec = EmotionRecognizer()                    # weights/vgg10.pt  # doctest: +SKIP
>>> annotated, faces = rec.annotate_image("photo.jpg")               # doctest: +SKIP
>>> faces.to_records()[0]["label"]                                   # doctest: +SKIP
'happy'
>>> rec.annotate_video("clip.mp4", "clip.annotated.mp4").frames      # doctest: +SKIP
300
>>> stream = rec.new_stream()          # one per webcam session     # doctest: +SKIP
>>> annotated, faces = stream.process(frame_rgb)                     # doctest: +SKIP
"""

from __future__ import annotations

import os

import numpy as np

from fer.engine.classify import Classifier, usable_cores
from fer.engine.faces import Faces
from fer.engine.pipeline import FramePipeline, check_settings
from fer.engine.settings import Settings
from fer.io.images import ImageSource, read_image
from fer.io.video import Cancel, LogSpec, Progress, VideoSummary, annotate_video
from fer.models.modelfile import default_weights

#: PyTorch threads per pass. OpenMP threads sharing a pass wait on each other at every
#: layer, and when the cores are busy (a second stream, video encoding, another process)
#: that made one batch take 100-500 ms instead of 2 ms in our measurements. A frame's
#: several faces use the cores as separate workers' passes instead (``workers``).
THREADS = 1
#: Batch sizes (faces per frame) run once at load; see :class:`EmotionRecognizer`.
WARM_UP_FACES = (1, 2)


class EmotionRecognizer:
    """Facial expression recognition on images, videos and streams with one loaded model.

    ``weights``: a model or ensemble file (default: :func:`fer.models.modelfile.default_weights`).
    ``threads``: PyTorch's intra-op threads for the process (default 1, see
    :data:`THREADS`). ``workers``: threads that share a frame's faces (default: one per
    usable core; see :class:`fer.engine.classify.Classifier`). ``precision``: one of
    :data:`fer.engine.classify.PRECISIONS`
    (default ``"auto"``: the fastest that keeps float32's accuracy on this CPU, as
    :func:`fer.engine.classify.resolve_precision` picks it). ``device``: ``"auto"`` (CUDA when
    PyTorch sees a GPU, else the CPU), ``"cpu"`` or ``"cuda"``; face detection and
    drawing stay on the CPU. Raises :class:`fer.models.modelfile.ModelFileError` for a
    missing or damaged model file, :class:`fer.engine.classify.DeviceError` for a device
    that is not there.
    """

    def __init__(self, weights: str | os.PathLike | None = None, settings: Settings | None = None,
                 threads: int | None = THREADS, precision: str = "auto", device: str = "auto",
                 workers: int | None = None):
        self.weights = weights or default_weights()
        self.classifier = Classifier.from_file(self.weights, threads=threads, precision=precision, device=device,
                                               workers=workers or usable_cores())
        self.settings = check_settings(settings) if settings is not None else Settings()
        # The first batch of each new size is slow (oneDNN builds its kernels: 40-400 ms);
        # pay for the common ones here rather than on a live frame.
        size = self.classifier.face_size
        for faces in WARM_UP_FACES:
            for tencrop in (False, True):
                for _ in range(2):  # TorchScript profiles a new shape once, then optimises it
                    self.classifier.predict_proba(np.zeros((faces, size, size), np.uint8), tencrop=tencrop)

    @property
    def class_names(self) -> list[str]:
        return self.classifier.class_names

    def new_stream(self, settings: Settings | None = None, camera: bool = False) -> FramePipeline:
        """A pipeline with its own tracking state (one per webcam session or video),
        sharing this recognizer's model. ``camera``: the frames are a camera's self-view,
        drawn mirrored when ``settings.mirror`` is on (files never are)."""
        return FramePipeline(self.classifier, settings or self.settings, camera=camera)

    def annotate_image(self, src: ImageSource, fit: bool = False, settings: Settings | None = None,
                       name: str | None = None) -> tuple[np.ndarray, Faces]:
        """Find and label the faces of one picture (path, bytes, file object, PIL image or
        array). Returns the annotated RGB image, at the picture's size or, with ``fit``,
        fitted into the display size, and the faces (boxes in the picture's pixels).
        Raises :class:`fer.io.images.ImageError` for input that is not a usable image."""
        image = read_image(src, name=name)
        pipeline = self.new_stream(settings)
        faces = pipeline.analyze(image, still=True)
        return pipeline.draw(image, faces, fit=fit), faces

    def annotate_video(self, src: str | os.PathLike, dst: str | os.PathLike, progress: Progress | None = None,
                       cancel: Cancel = None, log: LogSpec = None, settings: Settings | None = None,
                       fit: bool = False) -> VideoSummary:
        """Annotate a video file into an H.264 mp4; see :func:`fer.io.video.annotate_video`."""
        return annotate_video(src, dst, self.new_stream(settings), progress=progress, cancel=cancel, log=log, fit=fit)

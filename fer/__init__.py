"""Real-time facial expression recognition trained on FER2013.

>>> from fer import EmotionRecognizer, Settings          # doctest: +SKIP
>>> rec = EmotionRecognizer(settings=Settings(tencrop=True))  # doctest: +SKIP
>>> annotated, faces = rec.annotate_image("photo.jpg")   # doctest: +SKIP

The public names are imported lazily, so ``import fer`` stays cheap (no PyTorch or
OpenCV until they are used).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "EmotionRecognizer": "fer.recognizer",
    "Settings": "fer.engine.settings",
    "Faces": "fer.engine.faces",
    "FramePipeline": "fer.engine.pipeline",
    "ImageError": "fer.io.images",
    "VideoError": "fer.io.video",
    "VideoCancelled": "fer.io.video",
    "ModelFileError": "fer.models.modelfile",
}
__all__ = [*_EXPORTS, "__version__"]

if TYPE_CHECKING:
    from fer.engine.faces import Faces
    from fer.engine.pipeline import FramePipeline
    from fer.engine.settings import Settings
    from fer.io.images import ImageError
    from fer.io.video import VideoCancelled, VideoError
    from fer.models.modelfile import ModelFileError
    from fer.recognizer import EmotionRecognizer


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'fer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])

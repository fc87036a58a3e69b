"""The FER2013 label set.

This is the only place the class order is written down. Trained models copy it into
their metadata, and everything downstream of a model (runtime, app, metrics) reads it
from there, so a model trained on a different label set cannot be misread.
"""

CLASS_NAMES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
NUM_CLASSES = len(CLASS_NAMES)

#: FER2013's three official splits; ``PublicTest`` is for model selection,
#: ``PrivateTest`` is only ever reported.
SPLITS: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")

#: Side of the square grayscale faces in FER2013.
FACE_SIZE = 48

import subprocess
import sys

import numpy as np
import pytest
from media import astronaut

import fer
from fer.io.images import encode_image
from fer.models.modelfile import ModelFileError


def test_import_fer_stays_cheap():
    code = "import sys, fer; print(any(m in sys.modules for m in ('torch', 'cv2', 'av')))"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert shown.strip() == "False"


def test_public_names():
    assert {"EmotionRecognizer", "Settings", "Faces"} <= set(dir(fer))
    assert fer.Settings().display_size == (640, 480)
    with pytest.raises(AttributeError):
        fer.nothing_here


def test_missing_weights_file(tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        fer.EmotionRecognizer(tmp_path / "nope.pt")


def test_annotate_image_takes_paths_bytes_and_arrays(tiny_recognizer, tmp_path):
    data = encode_image(astronaut(), "png")
    (tmp_path / "a.png").write_bytes(data)
    results = [tiny_recognizer.annotate_image(src) for src in (tmp_path / "a.png", data, astronaut())]
    assert all(img.shape == (512, 512, 3) and len(faces) == 1 for img, faces in results)
    (first, faces), *others = results  # the same lossless picture three ways: the same result
    assert all(np.array_equal(img, first) and np.array_equal(f.probs, faces.probs) for img, f in others)
    fitted, _ = tiny_recognizer.annotate_image(data, fit=True)
    assert fitted.shape == (480, 480, 3)


def test_shipped_model_sees_the_astronaut_smile():
    """The bundled weights/vgg10.pt, end to end on a real photograph of a smiling face."""
    _, faces = fer.EmotionRecognizer().annotate_image(astronaut())
    assert faces.labels == ["happy"] and faces.confidences[0] > 0.6
    assert np.isclose(faces.probs.sum(), 1, atol=1e-3)


def test_settings_of_the_wrong_type_are_refused_at_once(tiny_model_file):
    with pytest.raises(TypeError, match=r"fer.Settings, e.g. Settings\(smoothing=0.8\), not dict"):
        fer.EmotionRecognizer(tiny_model_file, settings={"smoothing": 0.5})

"""Drawing: label size as a share of the picture's height, and the mirrored self-view."""

import cv2
import numpy as np
import pytest

from fer.engine.draw import FaceAnnotator
from fer.engine.faces import Faces

MAGENTA = (255, 0, 255)


def one_face(box=(40, 120, 200, 300), label="happy") -> Faces:
    probs = np.full((1, 7), 0.1, np.float32)
    probs[0, 3] = 0.4
    return Faces(np.array([box]), [1], probs, probs, [label], [0.83])


def text_mask(scene: np.ndarray) -> np.ndarray:
    return (np.abs(scene.astype(int) - MAGENTA).max(-1) < 60).astype(np.uint8)


@pytest.mark.parametrize("height, size", [(480, 0.03), (480, 0.04), (1080, 0.04), (240, 0.05)])
def test_label_capitals_are_the_asked_share_of_the_pictures_height(height, size):
    scene = np.zeros((height, height * 4 // 3, 3), np.uint8)
    scale = height / 480
    FaceAnnotator(text_color=MAGENTA, label_size=size).annotate(scene, one_face(label="HAPPY"), scale=scale)
    rows = np.flatnonzero(text_mask(scene).any(1))
    cap = rows.max() - rows.min() + 1  # capitals and digits only: no ascenders or descenders
    assert size * height * 0.95 <= cap <= size * height * 1.25


def test_mirrored_view_flips_the_picture_and_boxes_but_not_the_text():
    rng = np.random.default_rng(0)
    frame = np.zeros((480, 640, 3), np.uint8)
    frame[..., 1] = rng.integers(0, 255, (480, 640))  # asymmetric, and nowhere near the text's magenta
    faces = one_face()
    mirrored = FaceAnnotator(text_color=MAGENTA).annotate(frame.copy(), faces, mirror=True)
    # The same as drawing the face's mirrored box on the flipped picture: text unflipped.
    x1, y1, x2, y2 = faces.boxes[0]
    flipped_faces = one_face(box=(640 - x2, y1, 640 - x1, y2))
    expected = FaceAnnotator(text_color=MAGENTA).annotate(frame[:, ::-1].copy(), flipped_faces)
    assert np.array_equal(mirrored, expected)
    text = text_mask(mirrored)
    assert np.flatnonzero(text.any(0)).min() >= 640 - x2 - 2  # the label sits over the mirrored box
    assert faces.boxes[0].tolist() == [40, 120, 200, 300]  # the faces keep the camera's coordinates
    # And the text reads left to right: the first letter's ink is at the left of the label.
    unmirrored = FaceAnnotator(text_color=MAGENTA).annotate(frame.copy(), faces)
    def left_of(scene):
        return np.flatnonzero(text_mask(scene).any(0))
    a, b = left_of(unmirrored), left_of(mirrored)
    assert np.array_equal(b - b.min(), a - a.min())


def test_labels_stay_inside_the_picture():
    scene = np.zeros((480, 640, 3), np.uint8)
    FaceAnnotator(text_color=MAGENTA, label_size=0.08).annotate(scene, one_face(box=(560, 100, 639, 200)))
    columns = np.flatnonzero(text_mask(scene).any(0))
    assert columns.max() < 640 and columns.min() < 560  # shifted left to fit
    assert cv2.countNonZero(text_mask(scene)) > 100


def test_camera_streams_are_drawn_mirrored_files_are_not(tiny_recognizer):
    from media import face_frame

    from fer.engine.settings import Settings

    frame = face_frame(640, 480)
    camera = tiny_recognizer.new_stream(Settings(), camera=True)
    plain = tiny_recognizer.new_stream(Settings())
    shown, faces = camera.process(frame)
    drawn, same_faces = plain.process(frame)
    assert len(faces) and faces.boxes.tolist() == same_faces.boxes.tolist()  # camera coordinates
    assert not np.array_equal(shown, drawn)
    assert np.array_equal(shown, plain.annotator.annotate(frame.copy(), faces, mirror=True))
    camera.update_settings(Settings(mirror=False))
    camera.process(frame)  # settings apply from the next frame
    assert np.array_equal(camera.draw(frame, faces), drawn)


def test_faces_are_numbered_left_to_right_as_shown_in_the_picture_and_the_lists():
    from fer.engine.draw import face_numbers, numbered_labels

    records = [{"box": [400, 50, 500, 150], "label": "sad", "confidence": 0.5},
               {"box": [20, 50, 120, 150], "label": "happy", "confidence": 0.9},
               {"box": [200, 50, 300, 150], "label": "fear", "confidence": 0.6}]
    assert numbered_labels(records, 640) == ["1: happy 90%", "2: fear 60%", "3: sad 50%"]
    assert numbered_labels(records, 640, mirror=True) == ["1: sad 50%", "2: fear 60%", "3: happy 90%"]
    assert numbered_labels(records[:1], 640) == ["sad 50%"]  # a lone face has no number
    assert face_numbers(np.array([r["box"] for r in records]), 640, mirror=True).tolist() == [1, 3, 2]

    # In the picture: the face shown leftmost is labelled "1: ...", the mirrored camera's rightmost.
    probs = np.full((2, 7), 0.1, np.float32)
    faces = Faces(np.array([[60, 200, 160, 300], [400, 200, 500, 300]]), [1, 2], probs, probs, ["happy", "sad"],
                  [0.9, 0.5])
    scene = FaceAnnotator(text_color=MAGENTA).annotate(np.zeros((480, 640, 3), np.uint8), faces, mirror=True)
    left_label = text_mask(scene)[:, :320]
    columns = np.flatnonzero(left_label.any(0))
    font_scale = 0.04 * 480 / 22

    def ink_width(text: str) -> int:
        canvas = np.zeros((100, 640), np.uint8)
        cv2.putText(canvas, text, (5, 60), cv2.FONT_HERSHEY_SIMPLEX, font_scale, 255, round(font_scale * 1.5))
        ink = np.flatnonzero(canvas.any(0))
        return ink.max() - ink.min()

    assert abs((columns.max() - columns.min()) - ink_width("1: sad 50%")) <= 2

import numpy as np
import pytest
from media import ASTRONAUT_FACE, astronaut, face_frame

from fer.engine.detect import FaceDetector, box_iou, crop_faces, to_gray
from fer.training.data import load_fer2013


def test_finds_the_astronauts_face():
    boxes = FaceDetector().detect(to_gray(astronaut()))
    assert len(boxes) == 1
    assert box_iou(boxes, [ASTRONAUT_FACE])[0, 0] > 0.6


def test_finds_padded_fer2013_faces(fer2013_path):
    """FER2013 faces (48x48) scaled up and padded into a frame, as a webcam would show them."""
    faces, _ = load_fer2013(fer2013_path).split("PublicTest")
    import cv2

    detector, found = FaceDetector(), 0
    for face in faces[:30]:
        frame = cv2.copyMakeBorder(cv2.resize(face, (144, 144), interpolation=cv2.INTER_CUBIC), 100, 100, 150, 150,
                                   cv2.BORDER_REPLICATE)
        boxes = detector.detect(frame)
        found += int(len(boxes) > 0 and box_iou(boxes, [(150, 100, 294, 244)]).max() > 0.5)
    assert found >= 20  # the cascade misses turned and cropped faces; most are frontal


def test_nothing_in_an_empty_frame():
    assert FaceDetector().detect(np.full((480, 640), 128, np.uint8)).shape == (0, 4)


def test_search_near_a_known_face_follows_it():
    detector = FaceDetector()
    gray = to_gray(face_frame(640, 480, x=100, side=240))
    first = detector.detect(gray)
    assert len(first) == 1
    moved = to_gray(face_frame(640, 480, x=160, side=240))
    near = detector.detect_near(moved, first)
    assert len(near) == 1 and near[0, 0] - first[0, 0] == pytest.approx(60, abs=12)
    assert len(detector.detect_near(to_gray(face_frame(640, 480, x=380, side=240)), [(0, 0, 40, 40)])) == 0


def test_smaller_faces_than_min_face_are_ignored():
    gray = to_gray(face_frame(640, 480, side=150))  # the face is about half the patch: ~0.16 of 480
    assert len(FaceDetector(min_face=0.12).detect(gray)) == 1
    assert len(FaceDetector(min_face=0.5).detect(gray)) == 0


def test_crops_are_square_resized_and_padded_at_the_border():
    gray = np.arange(100 * 200, dtype=np.uint32).reshape(100, 200).astype(np.uint8)
    crops = crop_faces(gray, np.array([[10, 10, 60, 60], [-20, -20, 30, 30], [150, 60, 200, 100]]))
    assert crops.shape == (3, 48, 48) and crops.dtype == np.uint8
    assert crop_faces(gray, np.zeros((0, 4), np.int64)).shape == (0, 48, 48)


def test_box_iou():
    iou = box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    assert iou.tolist() == [[1.0, pytest.approx(1 / 3), 0.0]]

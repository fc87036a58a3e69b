import cv2
import numpy as np
import pytest
from media import ASTRONAUT_FACE, astronaut, face_frame

from fer.engine.detect import CropFit, Detections, box_iou, crop_faces, make_detector, to_gray
from fer.engine.haar import HaarDetector
from fer.engine.settings import DETECTORS, Settings
from fer.training.data import load_fer2013

BACKENDS = [d for d in DETECTORS]


def detector(name: str, **settings):
    return make_detector(Settings(detector=name, **settings))


@pytest.mark.parametrize("name", BACKENDS)
def test_finds_the_astronauts_face(name):
    found = detector(name).detect(astronaut())
    assert len(found) == 1
    assert box_iou(found.boxes, [ASTRONAUT_FACE])[0, 0] > 0.6


@pytest.mark.parametrize("name", BACKENDS)
def test_grayscale_frames_work_too(name):
    assert len(detector(name).detect(to_gray(astronaut()))) == 1


def test_finds_padded_fer2013_faces(fer2013_path):
    """FER2013 faces (48x48) scaled up and padded into a frame, as a webcam would show them."""
    faces, _ = load_fer2013(fer2013_path).split("PublicTest")
    detector, found = HaarDetector(), 0
    for face in faces[:30]:
        frame = cv2.copyMakeBorder(cv2.resize(face, (144, 144), interpolation=cv2.INTER_CUBIC), 100, 100, 150, 150,
                                   cv2.BORDER_REPLICATE)
        boxes = detector.detect(frame).boxes
        found += int(len(boxes) > 0 and box_iou(boxes, [(150, 100, 294, 244)]).max() > 0.5)
    assert found >= 20  # the cascade misses turned and cropped faces; most are frontal


@pytest.mark.parametrize("name", BACKENDS)
def test_nothing_in_an_empty_frame(name):
    assert len(detector(name).detect(np.full((480, 640, 3), 128, np.uint8))) == 0


@pytest.mark.parametrize("name", BACKENDS)
def test_search_near_a_known_face_follows_it(name):
    d = detector(name)
    first = d.detect(face_frame(640, 480, x=100, side=240)).boxes
    assert len(first) == 1
    near = d.detect_near(face_frame(640, 480, x=160, side=240), first).boxes
    assert len(near) == 1 and near[0, 0] - first[0, 0] == pytest.approx(60, abs=12)
    assert len(d.detect_near(face_frame(640, 480, x=380, side=240), [(0, 0, 40, 40)])) == 0
    assert len(d.detect_near(face_frame(640, 480), np.zeros((0, 4)))) == 0


@pytest.mark.parametrize("name", BACKENDS)
def test_smaller_faces_than_min_face_are_ignored(name):
    frame = face_frame(640, 480, side=150)  # the face is about half the patch: ~0.16 of 480
    assert len(detector(name, min_face=0.12).detect(frame)) == 1
    assert len(detector(name, min_face=0.5).detect(frame)) == 0


def test_blazeface_finds_tilted_faces_and_their_roll():
    """The cascade loses a face turned by 30 degrees; BlazeFace finds it and measures the turn."""
    frame = astronaut()
    h, w = frame.shape[:2]
    cx, cy = (ASTRONAUT_FACE[0] + ASTRONAUT_FACE[2]) / 2, (ASTRONAUT_FACE[1] + ASTRONAUT_FACE[3]) / 2
    upright = detector("blazeface").detect(frame)
    for angle in (30, -30):
        turned = cv2.warpAffine(frame, cv2.getRotationMatrix2D((cx, cy), angle, 1.0), (w, h),
                                borderMode=cv2.BORDER_REFLECT)
        assert len(detector("haar").detect(turned)) == 0
        found = detector("blazeface").detect(turned)  # best first
        assert box_iou(found.boxes[:1], [ASTRONAUT_FACE])[0, 0] > 0.5  # turned about its centre
        # OpenCV turns counter-clockwise on screen, which lowers the face's right eye.
        assert found.angles[0] - upright.angles[0] == pytest.approx(-angle, abs=6)


def test_upright_crops_undo_the_roll():
    """A face turned by 30 degrees, cropped with its roll, matches the upright crop."""
    gray = to_gray(astronaut())
    box = np.array([ASTRONAUT_FACE])
    cx, cy = (box[0, 0] + box[0, 2]) / 2, (box[0, 1] + box[0, 3]) / 2
    turned = cv2.warpAffine(gray, cv2.getRotationMatrix2D((cx, cy), 30, 1.0), gray.shape[::-1])
    upright = crop_faces(gray, box).astype(float)
    undone = crop_faces(turned, box, angles=np.array([-30.0])).astype(float)
    not_undone = crop_faces(turned, box).astype(float)
    assert np.abs(undone - upright).mean() < 4
    assert np.abs(not_undone - upright).mean() > 20
    big = cv2.resize(turned, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)  # shrunk by area, then turned
    assert np.abs(crop_faces(big, box * 4, angles=np.array([-30.0])).astype(float) - upright).mean() < 4


def test_crop_fit_scales_and_shifts_along_the_face():
    gray = np.tile(np.arange(200, dtype=np.uint8)[:, None], (1, 200))  # brightness = row
    box = np.array([[50, 50, 150, 150]])
    centred = crop_faces(gray, box, fit=CropFit(1.0, 0.0))
    lower = crop_faces(gray, box, fit=CropFit(1.0, 0.2))
    assert lower.mean() - centred.mean() == pytest.approx(20, abs=1.5)  # 0.2 of a 100-pixel box lower
    wider = crop_faces(gray, box, fit=CropFit(1.5, 0.0))
    assert np.ptp(wider[:, :, 24]) == pytest.approx(1.5 * np.ptp(centred[:, :, 24]), rel=0.1)
    sideways = crop_faces(gray, box, fit=CropFit(1.0, 0.2), angles=np.array([90.0]))  # "down" is to the left
    assert sideways.mean() == pytest.approx(centred.mean(), abs=1.5)


def test_crops_are_square_resized_and_padded_at_the_border():
    gray = np.arange(100 * 200, dtype=np.uint32).reshape(100, 200).astype(np.uint8)
    crops = crop_faces(gray, np.array([[10, 10, 60, 60], [-20, -20, 30, 30], [150, 60, 200, 100]]))
    assert crops.shape == (3, 48, 48) and crops.dtype == np.uint8
    assert crop_faces(gray, np.zeros((0, 4), np.int64)).shape == (0, 48, 48)


def test_detections_validate():
    assert Detections(np.zeros((2, 4))).angles.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="angles"):
        Detections(np.zeros((2, 4)), np.zeros(1))


def test_every_detector_name_is_valid_and_others_are_refused():
    assert {type(make_detector(Settings(detector=d))).__name__ for d in DETECTORS} == {
        "HaarDetector", "BlazeFaceDetector", "FullRangeBlazeFaceDetector"}
    with pytest.raises(ValueError, match="detector must be one of"):
        Settings(detector="yolo")


def test_box_iou():
    iou = box_iou([[0, 0, 10, 10]], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    assert iou.tolist() == [[1.0, pytest.approx(1 / 3), 0.0]]

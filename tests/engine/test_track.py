import numpy as np

from fer.classes import CLASS_NAMES
from fer.engine.pipeline import label_faces
from fer.engine.track import Tracker

HAPPY, SAD = CLASS_NAMES.index("happy"), CLASS_NAMES.index("sad")


def probs(top: int, p: float = 0.6) -> np.ndarray:
    out = np.full((1, 7), (1 - p) / 6, np.float32)
    out[0, top] = p
    return out


def test_ids_follow_a_face_moving_across_frames():
    tracker = Tracker()
    ids = [tracker.update(np.array([[x, 50, x + 100, 150]]), probs(HAPPY), 0.5)[0][0] for x in range(0, 400, 20)]
    assert set(ids) == {1}


def test_ids_survive_one_missed_frame_and_end_after_many():
    tracker = Tracker(max_missed=3)
    box = np.array([[100, 100, 200, 200]])
    assert tracker.update(box, probs(HAPPY), 0.5)[0].tolist() == [1]
    tracker.update(np.zeros((0, 4)), np.zeros((0, 7)), 0.5)  # missed once
    assert tracker.update(box + 5, probs(HAPPY), 0.5)[0].tolist() == [1]
    for _ in range(4):
        tracker.update(np.zeros((0, 4)), np.zeros((0, 7)), 0.5)
    assert tracker.update(box, probs(HAPPY), 0.5)[0].tolist() == [2]


def test_two_faces_keep_their_own_ids_and_averages():
    tracker = Tracker()
    boxes = np.array([[0, 0, 100, 100], [300, 0, 400, 100]])
    tracker.update(boxes, np.concatenate([probs(HAPPY, 0.9), probs(SAD, 0.9)]), 0.5)
    ids, smoothed = tracker.update(boxes[::-1] + 3, np.concatenate([probs(SAD, 0.9), probs(HAPPY, 0.9)]), 0.5)
    assert ids.tolist() == [2, 1]
    assert smoothed[0].argmax() == SAD and smoothed[1].argmax() == HAPPY


def labels_over(inputs, smoothing):
    tracker, labels = Tracker(), []
    for p in inputs:
        ids, smoothed = tracker.update(np.array([[0, 0, 100, 100]]), p, smoothing)
        labels.append(label_faces(np.array([[0, 0, 100, 100]]), ids, p, smoothed, CLASS_NAMES).labels[0])
    return labels


def two_way(happy: float, sad: float) -> np.ndarray:
    out = np.full((1, 7), (1 - happy - sad) / 5, np.float32)
    out[0, HAPPY], out[0, SAD] = happy, sad
    return out


def test_smoothing_stops_a_label_flickering():
    """A mostly happy face whose every other frame reads slightly sad."""
    alternating = [two_way(0.55, 0.25) if i % 2 == 0 else two_way(0.35, 0.45) for i in range(20)]
    assert len(set(labels_over(alternating, smoothing=0.0))) == 2  # off: follows every frame
    assert set(labels_over(alternating, smoothing=0.7)) == {"happy"}


def test_smoothing_still_follows_a_lasting_change():
    change = [probs(HAPPY, 0.8)] * 5 + [probs(SAD, 0.8)] * 10
    assert labels_over(change, smoothing=0.6)[-1] == "sad"


def test_uncertain_label_below_the_threshold():
    p = probs(HAPPY, 0.4)
    faces = label_faces(np.array([[0, 0, 10, 10]]), np.array([1]), p, p, CLASS_NAMES, uncertain_below=0.5)
    assert faces.labels == ["uncertain"] and faces.confidences[0] == np.float32(0.4)

import hashlib

import numpy as np
import pytest
from media import ASTRONAUT_FACE, astronaut

from fer.engine import blazeface
from fer.engine.blazeface import (
    FULL_RANGE,
    SHORT_RANGE,
    BlazeFaceDetector,
    Candidates,
    anchor_centres,
    decode,
    merge,
    one_per_face,
    scan_scales,
)
from fer.engine.detect import box_iou
from fer.models.modelfile import ModelFileError

#: The shipped model files, byte for byte as Google's MediaPipe publishes them (weights/NOTICE).
SHA256 = {"face_detection_short_range.tflite": "3bc182eb9f33925d9e58b5c8d59308a760f4adea8f282370e428c51212c26633",
          "face_detection_full_range.tflite": "99bf9494d84f50acc6617d89873f71bf6635a841ea699c17cb3377f9507cfec3"}


@pytest.mark.parametrize("name", sorted(SHA256))
def test_shipped_model_files_are_googles(name):
    path = blazeface.WEIGHTS_DIR / name
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SHA256[name]
    notice = (blazeface.WEIGHTS_DIR / "NOTICE").read_text()
    assert f"{SHA256[name]}  {name}" in notice and "Apache License, Version 2.0" in notice
    assert "Apache License" in (blazeface.WEIGHTS_DIR / "LICENSE-blazeface.txt").read_text()


def test_anchor_layouts_match_the_models_outputs():
    assert len(anchor_centres(128, 128, SHORT_RANGE.layers)) == 896  # MediaPipe's short-range layout
    assert len(anchor_centres(192, 192, FULL_RANGE.layers)) == 2304
    net = blazeface.load_net(SHORT_RANGE)
    net.setInput(np.zeros((1, 3, 96, 160), np.float32))  # any size divisible by 16
    scores, regressors = net.forward(net.getUnconnectedOutLayersNames())
    assert scores.size == len(anchor_centres(96, 160, SHORT_RANGE.layers)) and regressors.shape[-1] == 16
    centres = anchor_centres(32, 48, ((8, 2), (16, 6)))
    assert centres[:4].tolist() == [[4, 4], [4, 4], [12, 4], [12, 4]]  # cell by cell, each cell's anchors together
    assert centres[48].tolist() == [8, 8]  # then the stride-16 grid


def test_each_input_shape_keeps_its_own_network():
    nets = blazeface.ShapedNets(SHORT_RANGE, kept=2)
    scan, window = nets(240, 320), nets(96, 96)
    assert nets(240, 320) is scan and nets(96, 96) is window and scan is not window
    nets(128, 160)  # a third shape: the least recently used one, (240, 320), goes
    assert nets(96, 96) is window and nets(240, 320) is not scan


def test_decode_places_boxes_and_keypoints_at_their_anchors():
    anchors = np.array([[8, 8], [24, 8]], np.float32)
    regressors = np.zeros((2, 16), np.float32)
    regressors[1, :4] = [2, -1, 10, 20]  # centre offset, width, height
    regressors[1, 4:6] = [-3, -3]  # right eye
    found = decode(np.array([-5.0, 3.0]), regressors, anchors, min_score=0.5)
    assert found.boxes.tolist() == [[21, -3, 31, 17]]
    assert found.keypoints[0, 0].tolist() == [21, 5]
    assert found.scores[0] == pytest.approx(1 / (1 + np.exp(-3)))


def test_merge_keeps_one_weighted_box_per_face():
    c = Candidates(np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], np.float32),
                   np.array([0.9, 0.3, 0.8], np.float32), np.zeros((3, 6, 2), np.float32))
    merged = merge(c)
    assert merged.scores.tolist() == pytest.approx([0.9, 0.8])
    # 0.9 / 1.2 of the first, 0.3 / 1.2 of the second
    assert merged.boxes[0].tolist() == pytest.approx([0.5, 0, 10.5, 10])


def test_one_box_per_face_is_kept_across_scan_levels():
    c = Candidates(np.array([[20, 20, 50, 50], [0, 0, 100, 100], [90, 0, 130, 40], [-40, -40, 160, 160]], np.float32),
                   np.array([0.6, 0.9, 0.7, 0.65], np.float32), np.zeros((4, 6, 2), np.float32))
    kept = one_per_face(c)  # an eye-sized part and a box around the whole head go; a box mostly outside stays
    assert kept.boxes.tolist() == [[0, 0, 100, 100], [90, 0, 130, 40]] and kept.scores.tolist() == pytest.approx(
        [0.9, 0.7])
    assert merge(c).boxes.tolist() == kept.boxes.tolist()  # within one image, after the weighted NMS, the same


def test_scan_scales_cover_every_face_size_from_min_face_up_an_octave_apart():
    first = 24 / 57.6
    assert scan_scales(57.6, 480) == pytest.approx([first, first / 2, first / 4])  # 480 * first / 4 = 50 <= 96
    assert scan_scales(300, 480) == [0.08]  # one level: 480 * 0.08 < 96
    assert scan_scales(10, 90) == [1.0]  # never enlarged
    assert scan_scales(1, 4000) == pytest.approx([1, 1 / 2, 1 / 4, 1 / 8, 1 / 16])  # at most five levels
    # every face size but the smallest (seen at 24-34 px) meets the model in the middle octave of its range
    sizes = np.geomspace(34 / first, 480, 50)
    assert all(any(34 <= size * s <= 68 for s in scan_scales(57.6, 480)) for size in sizes)


def test_a_missing_or_damaged_model_file_is_a_model_file_error(tmp_path, monkeypatch):
    monkeypatch.setattr(blazeface, "WEIGHTS_DIR", tmp_path)
    blazeface._model_bytes.cache_clear()
    try:
        with pytest.raises(ModelFileError, match="could not be read"):
            BlazeFaceDetector()
        (tmp_path / SHORT_RANGE.file).write_bytes(b"not a model")
        with pytest.raises(ModelFileError, match="could not load"):
            BlazeFaceDetector()
    finally:
        blazeface._model_bytes.cache_clear()


def test_a_face_cut_by_the_frames_edge_is_found():
    frame = astronaut()[:, 200:]  # the left half of the face is outside
    found = BlazeFaceDetector().detect(frame)
    assert len(found) == 1
    x1, y1, x2, y2 = found.boxes[0]
    assert x1 < 0 < x2  # the box is the whole face, partly outside the frame
    shifted = np.array(ASTRONAUT_FACE) - [200, 0, 200, 0]
    assert box_iou(found.boxes, [shifted])[0, 0] > 0.6


def test_the_windows_near_several_faces_find_in_one_pass_what_each_finds_alone():
    from fer.bench import Scene

    detector = BlazeFaceDetector()
    frames = [Scene(4).frame(t) for t in (0, 7, 19)]
    known = detector.detect(frames[0]).boxes
    assert len(known) == 4
    for frame in frames:
        together = detector.detect_near(frame, known)
        alone = [detector.detect_near(frame, box[None]) for box in known]
        assert [len(found) for found in alone] == [1, 1, 1, 1] and len(together) == 4
        for found in alone:  # each face's box, found again among the tiled windows' boxes
            assert np.abs(together.boxes - found.boxes).max(axis=1).min() <= 2
            assert np.abs(together.angles - found.angles[0]).min() <= 2


def test_tile_lays_windows_on_the_anchor_grids():
    windows = [np.full((96, 96, 3), i + 1, np.uint8) for i in range(5)]
    image, offsets = blazeface.tile(windows)
    assert image.shape == (96 * 2 + 16, 96 * 3 + 32, 3)  # three columns, two rows, 16 px apart
    assert offsets == [(0, 0), (112, 0), (224, 0), (0, 112), (112, 112)]
    for i, (x, y) in enumerate(offsets):
        assert x % 16 == y % 16 == 0 and (image[y:y + 96, x:x + 96] == i + 1).all()
    assert (image[96:112] == 0).all() and (image[112:, 224:] == 0).all()  # the gap, and the empty cell


def test_windows_come_from_halvings_of_the_frame_and_find_the_face_the_full_scan_finds():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (100, 130, 3), np.uint8)
    levels = blazeface.halvings(image, 3)
    assert [lv.shape[:2] for lv in levels] == [(100, 130), (50, 65), (25, 32), (12, 16)]
    block_means = image[:96, :128].reshape(24, 4, 32, 4, 3).mean(axis=(1, 3))  # level 2: means of 4x4 blocks
    assert np.abs(levels[2][:24].astype(float) - block_means).max() <= 1

    detector = BlazeFaceDetector()
    frame = astronaut()
    [box] = detector.detect(frame).boxes  # its window, 2.1 NEAR_INPUTs wide, comes from the first halving
    [near] = detector.detect_near(frame, box[None]).boxes
    assert np.abs(near - box).max() <= 3

import queue
import threading

import numpy as np
import pytest
from media import ASTRONAUT_FACE, astronaut, face_frame

from fer.engine.draw import FaceAnnotator, fit_to_display
from fer.engine.faces import Faces
from fer.engine.settings import Settings


@pytest.fixture(params=["haar", "blazeface"])
def stream(request, tiny_recognizer):
    """A stream with each detector: tracking and the search near known faces work with both."""
    return tiny_recognizer.new_stream(Settings(detector=request.param))


def test_process_returns_the_annotated_frame_fitted_and_the_faces(stream):
    frame = astronaut()
    annotated, faces = stream.process(frame)
    assert annotated.shape == (480, 480, 3) and annotated.dtype == np.uint8  # 512x512 fitted into 640x480
    assert len(faces) == 1 and faces.track_ids.tolist() == [1]
    assert faces.probs.shape == faces.smoothed.shape == (1, 7)
    assert faces.probs.sum() == pytest.approx(1, abs=1e-4)
    assert faces.boxes[0, 0] == pytest.approx(ASTRONAUT_FACE[0], abs=15)  # in the input's pixels
    record = faces.to_records()[0]
    assert set(record) == {"box", "track_id", "label", "confidence", *faces.class_names,
                           *(f"raw_{c}" for c in faces.class_names)}
    assert [record[f"raw_{c}"] for c in faces.class_names] == pytest.approx(faces.probs[0].tolist(), abs=1e-6)
    assert record["label"] in faces.class_names and record["confidence"] == max(record[c] for c in faces.class_names)
    assert not np.array_equal(annotated, fit_to_display(frame, (640, 480)))  # something was drawn
    assert np.array_equal(frame, astronaut())  # the input is left alone


def test_timings_name_every_stage_and_add_up_to_the_frame(stream):
    """``fer bench`` reports these stages to show where a frame's time goes."""
    stream.analyze(astronaut())
    assert set(stream.timings) == {"detect", "crop", "classify", "track", "total"}
    stream.process(astronaut())
    stages = ("detect", "crop", "classify", "track", "draw")
    assert set(stream.timings) == {*stages, "total"} and min(stream.timings.values()) >= 0
    assert sum(stream.timings[s] for s in stages) == pytest.approx(stream.timings["total"], abs=0.05)
    assert stream.timings["classify"] > 0 and stream.timings["draw"] > 0


def test_a_frame_without_faces(stream):
    annotated, faces = stream.process(np.full((240, 320, 3), 100, np.uint8))
    assert len(faces) == 0 and faces.to_records() == []
    assert annotated.shape == (480, 640, 3)  # 320x240 enlarged to the display size


def test_ids_persist_across_frames_and_reset_restarts_them(stream):
    ids = [stream.process(face_frame(640, 480, x=x, side=300))[1].track_ids.tolist() for x in range(100, 260, 20)]
    assert ids == [[1]] * len(ids)
    stream.reset()
    assert stream.process(face_frame(640, 480, side=300))[1].track_ids.tolist() == [1]
    stream.process(np.full((480, 640, 3), 90, np.uint8))
    assert stream.tracker.tracks  # a missed frame does not end the track


def two_faces(left: bool = True, right: bool = True) -> np.ndarray:
    frame = np.full((480, 960, 3), 90, np.uint8)
    for x, show in ((40, left), (600, right)):
        if show:
            frame[90:390, x:x + 300] = face_frame(300, 300, side=300)
    return frame


def test_a_new_face_is_found_by_the_next_full_scan(stream):
    stream.update_settings(stream.settings.replace(full_scan_every=4))
    assert stream.process(two_faces(right=False))[1].track_ids.tolist() == [1]  # full scan: nothing was tracked
    counts = [len(stream.process(two_faces())[1]) for _ in range(10)]
    # Frames 1-7 search near face 1 only; frame 4's scan runs beside frames 4-7 and
    # frame 8, when the next scan is due, searches near what it found too.
    assert counts[:7] == [1] * 7 and counts[7:] == [2, 2, 2]


def test_still_images_leave_the_stream_state_alone(stream):
    stream.process(face_frame(640, 480, side=300))
    before = [(t.track_id, t.missed) for t in stream.tracker.tracks]
    _, faces = stream.process(astronaut(), still=True)
    assert len(faces) == 1 and faces.track_ids.tolist() == [1]
    assert [(t.track_id, t.missed) for t in stream.tracker.tracks] == before


def test_two_streams_never_share_state(tiny_recognizer):
    a, b = tiny_recognizer.new_stream(), tiny_recognizer.new_stream()
    for _ in range(3):
        a.process(face_frame(640, 480, side=300))
    a.process(face_frame(640, 480, x=0, side=200))  # a second track in a
    assert b.process(face_frame(640, 480, side=300))[1].track_ids.tolist() == [1]
    assert a.classifier is b.classifier


def test_settings_change_applies_from_the_next_frame(stream):
    frame = face_frame(640, 480, side=300)
    stream.update_settings(stream.settings.replace(display_size=(320, 240), uncertain_below=0.99, tencrop=True))
    annotated, faces = stream.process(frame)
    assert annotated.shape == (240, 320, 3)
    assert faces.labels == ["uncertain"]  # a random-weight model is never 99% sure


def test_settings_can_change_from_another_thread_while_frames_are_processed(stream):
    frame, sizes = face_frame(320, 240, side=150), [(320, 240), (640, 480), (200, 150)]
    done, errors, shapes = threading.Event(), [], queue.Queue()

    def run():
        try:
            while not done.is_set():
                shapes.put(stream.process(frame)[0].shape[:2])
        except Exception as e:  # surfaced below
            errors.append(e)
            shapes.put(None)

    worker = threading.Thread(target=run)
    worker.start()
    seen = set()
    try:
        for i in range(60):  # each change while a frame is under way, and a frame after each
            stream.update_settings(Settings(display_size=sizes[i % 3], tencrop=bool(i % 2), smoothing=0.3 * (i % 3),
                                            detector=("haar", "blazeface")[i % 2]))
            if (shape := shapes.get(timeout=60)) is None:
                break  # the worker failed: its error is shown below
            seen.add(shape)
    finally:
        done.set()
        worker.join()
    assert not errors
    assert seen == {(h, w) for w, h in sizes}  # every display size was drawn
    stream.update_settings(Settings(display_size=(200, 150)))
    assert stream.process(frame)[0].shape == (150, 200, 3)


def test_switching_the_detector_keeps_the_tracks(tiny_recognizer):
    from fer.engine.blazeface import BlazeFaceDetector
    from fer.engine.haar import HaarDetector

    stream = tiny_recognizer.new_stream(Settings())
    frame = face_frame(640, 480, side=300)
    assert stream.process(frame)[1].track_ids.tolist() == [1] and isinstance(stream.detector, HaarDetector)
    stream.update_settings(Settings(detector="blazeface"))
    assert isinstance(stream.detector, HaarDetector)  # applies from the next frame
    assert stream.process(frame)[1].track_ids.tolist() == [1] and isinstance(stream.detector, BlazeFaceDetector)


def test_aligned_crops_show_a_tilted_face_upright(tiny_recognizer, monkeypatch):
    """BlazeFace's eyes turn a tilted face upright: the crop the classifier gets looks
    like the upright face's crop, and much more so than without alignment."""
    import cv2

    from fer.engine import detect

    monkeypatch.setattr(detect, "LEAN_KEPT", 0.0)  # level it fully, to compare with the upright face
    seen = []
    predict = tiny_recognizer.classifier.predict_proba
    monkeypatch.setattr(tiny_recognizer.classifier, "predict_proba",
                        lambda faces, **kw: seen.append(faces.astype(float)) or predict(faces, **kw))
    frame = astronaut()
    cx, cy = (ASTRONAUT_FACE[0] + ASTRONAUT_FACE[2]) / 2, (ASTRONAUT_FACE[1] + ASTRONAUT_FACE[3]) / 2
    tilted = cv2.warpAffine(frame, cv2.getRotationMatrix2D((cx, cy), 35, 1.0), frame.shape[1::-1],
                            borderMode=cv2.BORDER_REFLECT)
    for image, align in ((frame, True), (tilted, True), (tilted, False)):
        assert len(tiny_recognizer.new_stream(Settings(detector="blazeface", align=align)).analyze(image, still=True))
    upright, aligned, plain = (crops[0] for crops in seen)
    # (A tilted face's box is a little smaller, so the crops differ in scale too.)
    assert np.abs(aligned - upright).mean() < 0.75 * np.abs(plain - upright).mean()


@pytest.mark.parametrize("detector", ["haar", "blazeface"])
def test_a_face_filling_the_frame_is_found_and_boxed_within_it(tiny_recognizer, detector):
    """A selfie close-up: the face is 400 of the frame's 480 pixels."""
    import cv2

    big = cv2.resize(astronaut(), None, fx=4.2, fy=4.2, interpolation=cv2.INTER_CUBIC)
    close_up = np.ascontiguousarray(big[475 - 240:475 + 240, 945 - 320:945 + 320])
    faces = tiny_recognizer.new_stream(Settings(detector=detector)).analyze(close_up, still=True)
    assert len(faces) == 1
    x1, y1, x2, y2 = faces.boxes[0]
    assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480 and y2 - y1 > 300


def test_a_face_cut_by_the_frames_edge_is_labelled_and_boxed_within_the_frame(tiny_recognizer):
    """A fifth of the face is outside the frame: BlazeFace finds it (the Haar cascade does
    not), crops it whole and reports the box clipped to the frame."""
    import cv2

    big = cv2.resize(astronaut(), None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)  # face about x 350-550
    cut = np.ascontiguousarray(big[0:480, 390:1030])
    faces = tiny_recognizer.new_stream(Settings(detector="blazeface")).analyze(cut, still=True)
    assert len(faces) == 1 and faces.boxes[0, 0] == 0 and faces.boxes[0, 2] > 120


@pytest.mark.parametrize("frame", [np.zeros((48, 48), np.uint8), np.zeros((48, 48, 3), np.float32),
                                   np.zeros((48, 48, 4), np.uint8), [[0, 0, 0]]])
def test_frames_must_be_rgb_uint8(stream, frame):
    with pytest.raises(ValueError, match="RGB uint8"):
        stream.process(frame)


def test_update_settings_needs_settings(stream):
    with pytest.raises(TypeError):
        stream.update_settings({"tencrop": True})


def test_annotator_draws_bars_and_ids_in_the_given_colour(stream):
    _, faces = stream.process(astronaut(), still=True)
    plain = FaceAnnotator(box_color=(255, 0, 0)).annotate(astronaut(), faces)
    assert (np.all(plain == (255, 0, 0), axis=2)).sum() > 100
    full = FaceAnnotator(box_color=(255, 0, 0), show_bars=True, show_track_id=True).annotate(astronaut(), faces)
    assert (np.any(full != plain, axis=2)).sum() > 500
    assert np.array_equal(FaceAnnotator().annotate(astronaut(), Faces.empty()), astronaut())


@pytest.mark.parametrize("shape, size, expected", [((1080, 1920), (640, 480), (360, 640)),
                                                   ((480, 640), (800, 600), (600, 800)),
                                                   ((1000, 100), (640, 480), (480, 48)),
                                                   ((1, 1), (120, 80), (80, 80))])
def test_fit_to_display_keeps_the_aspect_ratio(shape, size, expected):
    assert fit_to_display(np.zeros((*shape, 3), np.uint8), size).shape[:2] == expected


def test_faces_validate_and_select():
    faces = Faces(np.array([[0, 0, 10, 10], [5, 5, 20, 20]]), [1, 2], np.eye(7)[:2], np.eye(7)[:2],
                  ["angry", "disgust"], [1.0, 1.0])
    assert len(faces[np.array([False, True])]) == 1 and faces[[1]].labels == ["disgust"]
    with pytest.raises(ValueError, match="disagree"):
        Faces(np.zeros((2, 4)), [1], np.zeros((2, 7)), np.zeros((2, 7)), ["a", "b"], [0, 0])


def test_one_stream_used_from_two_threads_is_served_one_frame_at_a_time(stream):
    frames = [face_frame(640, 480, x=x) for x in range(40, 280, 8)]
    errors, found = [], []

    def work():
        try:
            for frame in frames:
                found.append(len(stream.process(frame)[1]))
        except Exception as e:  # noqa: BLE001 - collected for the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(found) == 2 * len(frames) and sum(found) > len(frames)


def test_unusable_frames_and_settings_say_what_was_expected(stream, tiny_recognizer):
    with pytest.raises(ValueError, match="at least one pixel"):
        stream.process(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(ValueError, match=r"RGB uint8 arrays of shape \(H, W, 3\)"):
        stream.process(np.zeros((48, 48), np.uint8))
    with pytest.raises(TypeError, match="settings must be a fer.Settings"):
        tiny_recognizer.new_stream({"smoothing": 0.5})

"""A frame's faces shared by the classifier's worker threads: the same probabilities as one
thread gives, from passes that really run on the workers."""

import threading

import numpy as np
import pytest

from fer.engine import classify
from fer.engine.classify import Classifier
from fer.training.data import load_fer2013, stratified_subset


@pytest.fixture(scope="module")
def faces(fer2013_path) -> np.ndarray:
    return stratified_subset(*load_fer2013(fer2013_path).split("PublicTest"), 35)[0]


class Passes(list):
    """(thread name, faces) of every pass the classifier runs; ``meet`` is called in each."""

    def meet(self) -> None:
        pass


@pytest.fixture
def pass_threads(monkeypatch) -> Passes:
    seen, predict = Passes(), classify.predict_member

    def recorded(module, faces, *args, **kwargs):
        seen.append((threading.current_thread().name, len(faces)))
        seen.meet()
        return predict(module, faces, *args, **kwargs)

    monkeypatch.setattr(classify, "predict_member", recorded)
    return seen


@pytest.mark.parametrize("precision", ["float32", "int8"])
@pytest.mark.parametrize("tencrop", [False, True])
def test_workers_split_a_frames_faces_and_give_what_one_thread_gives(tiny_int8_model_file, faces, pass_threads,
                                                                     precision, tencrop):
    alone = Classifier.from_file(tiny_int8_model_file, precision=precision, tencrop=tencrop)
    shared = Classifier.from_file(tiny_int8_model_file, precision=precision, tencrop=tencrop, workers=2)
    expected = alone.predict_proba(faces[:4])
    together = threading.Barrier(2, timeout=60)  # broken unless the two passes run at the same time
    pass_threads.clear()
    pass_threads.meet = together.wait
    got = shared.predict_proba(faces[:4])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    names = {name for name, _ in pass_threads}
    assert len(names) == 2 and all(name.startswith("fer-classify") for name in names), pass_threads
    # a pass per worker; ten-crop passes stay one face (ten crops) each, shared all the same
    assert sorted(n for _, n in pass_threads) == ([1, 1, 1, 1] if tencrop else [2, 2])


def test_one_face_runs_on_the_callers_thread_and_a_big_batch_keeps_its_pass_size(tiny_model_file, faces,
                                                                                 pass_threads):
    clf = Classifier.from_file(tiny_model_file, workers=2, crops_per_pass=16)
    pass_threads.clear()
    clf.predict_proba(faces[:1])
    assert pass_threads == [(threading.current_thread().name, 1)]
    pass_threads.clear()
    probs = clf.predict_proba(faces)  # 35 faces: passes of at most 16, shared by the two workers
    assert probs.shape == (35, 7) and np.allclose(probs.sum(1), 1, atol=1e-5)
    assert sorted(n for _, n in pass_threads) == [3, 16, 16]
    assert all(name.startswith("fer-classify") for name, _ in pass_threads)


def test_no_faces_and_a_bad_worker_count(tiny_model_file):
    none = np.zeros((0, 48, 48), np.uint8)
    assert Classifier.from_file(tiny_model_file, workers=2).predict_proba(none).shape == (0, 7)
    with pytest.raises(ValueError, match="workers must be at least 1"):
        Classifier.from_file(tiny_model_file, workers=0)

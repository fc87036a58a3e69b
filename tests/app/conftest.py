"""Fixtures of the app tests: a models folder the app is pointed at, real face images, a
short generated face video."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from appdata import face_frames, metrics_card
from browser import missing_prerequisites
from media import astronaut
from prerequisites import require


@pytest.fixture(scope="session")
def models_folder(tmp_path_factory, tiny_model_file) -> Path:
    """A folder like ``weights/``: two small models, and a metrics file for one of them."""
    folder = tmp_path_factory.mktemp("weights")
    shutil.copy(tiny_model_file, folder / "vgg10.pt")
    shutil.copy(tiny_model_file, folder / "other.pt")
    (folder / "vgg10.json").write_text(json.dumps(metrics_card("vgg10.pt")))
    return folder


@pytest.fixture
def app_env(monkeypatch, models_folder) -> Path:
    """Point the app at the small models (as ``FER_WEIGHTS`` does for a deployment)."""
    monkeypatch.setenv("FER_WEIGHTS", str(models_folder / "vgg10.pt"))
    return models_folder


@pytest.fixture(scope="session")
def face_rgb() -> np.ndarray:
    """A real face: scikit-image's astronaut (public-domain NASA portrait), 512x512 RGB."""
    return astronaut()


@pytest.fixture(scope="session")
def face_jpg(face_rgb) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(face_rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="session")
def face_mp4(tmp_path_factory, face_rgb) -> Path:
    """A 2-second 640x480 15 fps H.264 clip of the face (30 frames)."""
    import av

    path = tmp_path_factory.mktemp("video") / "face.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=15)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for frame in face_frames(face_rgb, 30):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return path


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so fixtures can tell a failed test; a
    failed browser test's report ends with its server's log (CI shows only the report)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    log = item.funcargs.get("server") if report.failed and hasattr(item, "funcargs") else None
    if isinstance(log, Path) and log.is_file():  # a browser test's Streamlit server: what it said
        report.sections.append(("the Streamlit server's log (end)", log.read_text(errors="replace")[-4000:]))
    return report


@pytest.fixture
def media_managers(monkeypatch) -> list:
    """The media file managers AppTest creates (one per run), to fetch what a download
    button serves (see :func:`appdata.download`)."""
    from streamlit.runtime import media_file_manager as mfm

    managers, init = [], mfm.MediaFileManager.__init__

    def recording_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        managers.append(self)

    monkeypatch.setattr(mfm.MediaFileManager, "__init__", recording_init)
    return managers


@pytest.fixture(scope="module")
def browser_prerequisites() -> None:
    """What the browser tests need of the system, checked before their server starts."""
    require(missing_prerequisites(), "the browser tests")

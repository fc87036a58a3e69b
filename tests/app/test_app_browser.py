"""The app in headless Chromium: the live page with a fake camera, and a video round trip.

Runs where CI runs (root, Chromium, iproute2); elsewhere it skips and says what is
missing. Measurements (app start, live fps seen by the server, time from Start to the
first labelled frame) are printed and written to $FER_LIVE_REPORT (default
/tmp/fer-live-report.json). Screenshots of every page go to $FER_SCREENSHOTS if set.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

from browser import (Namespace, chromium_args, green_pixels, missing_prerequisites, streamlit_server, wait_for,
                     write_y4m)
from conftest import face_frames

pytestmark = pytest.mark.skipif(bool(missing_prerequisites()),
                                reason="browser tests need " + "; ".join(missing_prerequisites()))

PORT = 8531
URL = f"http://localhost:{PORT}"  # secure context, so the page may open the (fake) camera
WEBRTC_IFRAME = 'iframe[title="streamlit_webrtc.component.webrtc_streamer"]'
REPORT = Path(os.environ.get("FER_LIVE_REPORT", "/tmp/fer-live-report.json"))
measured: dict[str, float] = {}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def namespace() -> Namespace:
    with Namespace(f"fer-test-{os.getpid()}") as ns:
        yield ns


@pytest.fixture(scope="module")
def server(namespace, workdir, models_folder):
    env = {"FER_WEIGHTS": str(models_folder / "vgg10.pt"), "FER_ICE_SERVERS": ""}
    with streamlit_server(namespace, PORT, env, workdir / "streamlit.log") as seconds:
        measured["server_health_s"] = round(seconds, 2)
        measured["_started"] = time.monotonic() - seconds
        yield workdir / "streamlit.log"


@pytest.fixture(scope="module")
def browser(namespace, workdir, face_rgb):
    from playwright.sync_api import sync_playwright

    camera = write_y4m(workdir / "face.y4m", face_frames(face_rgb, 30), fps=30)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(namespace.chromium_wrapper(workdir)), args=chromium_args(camera))
        yield b
        b.close()


def screenshot(page, name: str) -> None:
    folder = os.environ.get("FER_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def live_stats(page) -> dict:
    """The live figures the page's fragment shows: frames processed, faces, labels."""
    text = page.locator(".st-key-live-stats").inner_text()
    frames = re.search(r"Frames\s+(\d+)", text)
    labels = re.search(r"Labels: (.*)", text)
    return {"frames": int(frames.group(1)) if frames else 0,
            "labels": [] if not labels or labels.group(1).strip() == "none"
            else [s.strip() for s in labels.group(1).split(",")]}


def open_live(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 950})
    page.goto(URL)
    page.locator(WEBRTC_IFRAME).wait_for(timeout=60_000)
    page.locator(".st-key-live-stats").wait_for(timeout=60_000)
    return page


def start(page) -> float:
    page.frame_locator(WEBRTC_IFRAME).get_by_role("button", name="Start").click(timeout=30_000)
    return time.monotonic()


def frames_rate(pages, seconds: float) -> list[float]:
    """Frames per second each page's server-side session processed over ``seconds``."""
    before = [(time.monotonic(), live_stats(p)["frames"]) for p in pages]
    time.sleep(seconds)  # a measurement window, not synchronisation
    after = [(time.monotonic(), live_stats(p)["frames"]) for p in pages]
    return [(n1 - n0) / (t1 - t0) for (t0, n0), (t1, n1) in zip(before, after)]


def test_live_page_labels_the_face_and_two_streams_run_at_once(server, browser):
    page = open_live(browser)
    measured["app_start_to_live_page_s"] = round(time.monotonic() - measured["_started"], 2)
    t_start = start(page)
    stats = wait_for(lambda: (s := live_stats(page))["labels"] and s, 60, "a labelled face on the live page")
    measured["start_to_first_label_s"] = round(time.monotonic() - t_start, 2)
    class_names = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "uncertain")
    assert stats["labels"][0].split()[0] in class_names
    assert stats["frames"] > 0

    # The annotated video the browser shows carries the overlay (green box by default).
    video = page.frame_locator(WEBRTC_IFRAME).locator("video")
    wait_for(lambda: green_pixels(video.screenshot()) > 200, 30, "the green face box in the video")
    [fps] = frames_rate([page], 8)
    measured["live_fps_one_stream"] = round(fps, 1)
    screenshot(page, "live")
    assert fps > 1

    # A second tab gets its own stream and session; both keep going.
    page2 = open_live(browser)
    start(page2)
    wait_for(lambda: live_stats(page2)["labels"], 60, "a label on the second page")
    fps1, fps2 = frames_rate([page, page2], 6)
    measured["live_fps_two_streams"] = [round(fps1, 1), round(fps2, 1)]
    assert fps1 > 0.5 and fps2 > 0.5
    assert live_stats(page2)["frames"] < live_stats(page)["frames"]  # separate counters, separate sessions
    page2.close()
    page.close()


def test_video_page_round_trip(server, browser, face_mp4, workdir):
    import av

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{URL}/video")
    page.locator("input[type=file]").set_input_files(str(face_mp4))
    button = page.get_by_role("button", name="Download annotated MP4")
    button.wait_for(timeout=90_000)
    with page.expect_download() as download:
        button.click()
    path = workdir / "annotated.mp4"
    download.value.save_as(path)
    with av.open(str(path)) as f:
        assert sum(1 for _ in f.decode(video=0)) == 30
    screenshot(page, "video")
    page.close()


def test_other_pages_render(server, browser, face_jpg, workdir):
    """Image, Settings and Metrics in a real browser, mostly for the README screenshots."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    (workdir / "astronaut.jpg").write_bytes(face_jpg)
    page.goto(f"{URL}/image")
    page.locator("input[type=file]").set_input_files(str(workdir / "astronaut.jpg"))
    page.get_by_role("button", name="Download results (JSON)").wait_for(timeout=60_000)
    page.locator("[data-testid=stVegaLiteChart]").first.wait_for(timeout=30_000)
    screenshot(page, "image")
    for name in ("settings", "metrics"):
        page.goto(f"{URL}/{name}")
        page.get_by_role("heading", name=name.capitalize()).wait_for(timeout=30_000)
        screenshot(page, name)
    page.close()


def teardown_module() -> None:
    report = {k: v for k, v in measured.items() if not k.startswith("_")}
    if "live_fps_one_stream" in report:
        REPORT.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nlive page measurements ({REPORT}): {json.dumps(report)}")

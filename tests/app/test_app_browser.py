"""The app in headless Chromium: the live page with a fake camera, and the Video page's batches.

Runs where CI runs (root, Chromium, iproute2); elsewhere it skips and says what is
missing. Measurements (app start, live fps seen by the server, time from Start to the
first labelled frame) are printed and written to $FER_LIVE_REPORT (default
/tmp/fer-live-report.json). Screenshots of every page go to $FER_SCREENSHOTS if set.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import av
import pytest
from appdata import check_batch_zip, face_frames
from browser import (
    NAMESPACE_PREFIX,
    WEBRTC_IFRAME,
    Namespace,
    chromium_args,
    green_pixels,
    start_stream,
    streamlit_server,
    wait_for,
    write_y4m,
)
from media import make_clip

from fer.app.admission import MAX_STREAMS_ENV
from fer.models.modelfile import BUNDLED_WEIGHTS

pytestmark = pytest.mark.usefixtures("browser_prerequisites")

PORT = 8531
URL = f"http://localhost:{PORT}"  # secure context, so the page may open the (fake) camera
REPORT = Path(os.environ.get("FER_LIVE_REPORT", "/tmp/fer-live-report.json"))
# Generous deadlines, met in seconds on an idle machine: they only bound a hung test.
PAGE_MS = 120_000
#: Frames of the Video page's long clip (see ``clips``).
LONG_FRAMES = 2400
measured: dict[str, object] = {}  # figures for the report, filled as the tests run


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="module")
def namespace() -> Namespace:
    with Namespace(f"{NAMESPACE_PREFIX}{os.getpid()}") as ns:
        yield ns


def served_model(models_folder: Path) -> Path:
    """$FER_TEST_WEIGHTS, else the bundled model when it exists (so the figures are those of
    the shipped app), else the small test model."""
    if os.environ.get("FER_TEST_WEIGHTS"):
        return Path(os.environ["FER_TEST_WEIGHTS"]).resolve()
    return BUNDLED_WEIGHTS if BUNDLED_WEIGHTS.is_file() else models_folder / "vgg10.pt"


@pytest.fixture(scope="module")
def server_tmp(workdir) -> Path:
    """The server's temporary folder, where the Video page keeps each session's files."""
    folder = workdir / "server-tmp"
    folder.mkdir()
    return folder


@pytest.fixture(scope="module")
def server(namespace, workdir, models_folder, server_tmp):
    model = served_model(models_folder)
    measured["model"] = str(model)
    env = {"FER_WEIGHTS": str(model), "FER_ICE_SERVERS": "", "TMPDIR": str(server_tmp), MAX_STREAMS_ENV: "2"}
    with streamlit_server(namespace, PORT, env, workdir / "streamlit.log") as seconds:
        measured["server_health_s"] = round(seconds, 2)
        yield workdir / "streamlit.log"


@pytest.fixture(scope="module")
def playwright():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def camera(workdir, face_rgb) -> Path:
    return write_y4m(workdir / "face.y4m", face_frames(face_rgb, 30), fps=30)


@pytest.fixture(scope="module")
def browser(playwright, namespace, workdir, camera):
    b = playwright.chromium.launch(executable_path=str(namespace.chromium_wrapper(workdir)), args=chromium_args(camera))
    yield b
    b.close()


@pytest.fixture
def requested_urls() -> list[str]:
    """Every URL the pages a test opens ask for."""
    return []


@pytest.fixture
def new_page(request, workdir, requested_urls):
    """Open pages in a browser; when the test fails, screenshot them and print what each
    page's console said and where it navigated (a reload shows there), for the report."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    opened, events = [], {}

    def open_page(browser, path: str = "", height: int = 1000):
        page = browser.new_page(viewport={"width": 1400, "height": height})
        page.on("request", lambda r: requested_urls.append(r.url))
        said = events[page] = []
        clock = time.monotonic
        page.on("console", lambda m: said.append(f"{clock():.1f} console {m.type}: {m.text[:300]}"))
        page.on("pageerror", lambda e: said.append(f"{clock():.1f} page error: {e}"))
        page.on("crash", lambda _: said.append(f"{clock():.1f} the page crashed"))
        page.on("framenavigated", lambda f: f == page.main_frame and said.append(f"{clock():.1f} navigated: {f.url}"))
        opened.append(page)
        page.goto(URL + path, timeout=PAGE_MS)
        try:  # the app's shell, without a reload: a page that stays blank fails the test
            page.locator("[data-testid=stSidebarNav]").wait_for(timeout=PAGE_MS)
        except PlaywrightTimeout:
            raise AssertionError(f"{URL + path} stayed blank: the app's navigation never appeared") from None
        return page

    yield open_page
    failed = getattr(request.node, "report_call", None) is not None and request.node.report_call.failed
    for i, page in enumerate(p for p in opened if not p.is_closed()):
        if failed:
            shot = workdir / f"failed-{request.node.name}-{i}.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"\nscreenshot of the failed test's page {i}: {shot}; it said (now {time.monotonic():.1f}):")
            print("\n".join(events[page][-40:]))
        # Stop a live stream still running (the test failed before it did), so that its
        # server slot is free for the next test at once.
        if page.frame_locator(WEBRTC_IFRAME).get_by_role("button", name="Stop").count():
            stop(page)
        page.close()


def screenshot(page, name: str) -> None:
    folder = os.environ.get("FER_SCREENSHOTS")
    if folder:
        # Streamlit shows skeletons while an element's code loads: wait until none is left.
        page.wait_for_function("() => !document.querySelector('[data-testid=stSkeleton]')", timeout=PAGE_MS)
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


def open_live(new_page, browser):
    page = new_page(browser, height=950)
    page.locator(WEBRTC_IFRAME).wait_for(timeout=PAGE_MS)
    page.locator(".st-key-live-stats").wait_for(timeout=PAGE_MS)
    return page


def start(page) -> float:
    return start_stream(page, PAGE_MS / 1000)


def stop(page) -> None:
    """Click Stop and wait until the component shows Start again."""
    component = page.frame_locator(WEBRTC_IFRAME)
    component.get_by_role("button", name="Stop").click(timeout=PAGE_MS)
    component.get_by_role("button", name="Start").wait_for(timeout=PAGE_MS)


def frames_rate(pages, seconds: float) -> list[float]:
    """Frames per second each page's server-side session processed over ``seconds``."""
    before = [(time.monotonic(), live_stats(p)["frames"]) for p in pages]
    time.sleep(seconds)  # a measurement window, not synchronisation
    after = [(time.monotonic(), live_stats(p)["frames"]) for p in pages]
    return [(n1 - n0) / (t1 - t0) for (t0, n0), (t1, n1) in zip(before, after)]


def keeps_processing(pages, frames: int = 10) -> None:
    """Wait until each page's session has processed ``frames`` more frames: its stream runs
    on, whatever the machine's speed."""
    start = [live_stats(p)["frames"] for p in pages]
    wait_for(lambda: all(live_stats(p)["frames"] >= n + frames for p, n in zip(pages, start)), 60,
             f"{frames} more processed frames on each page")


def choose_detector(page, detector: str) -> None:
    """Pick the face detector in the Live page's settings panel (before Start)."""
    from fer.app.common import DETECTOR_NAMES

    page.get_by_text("Settings (apply to the running stream)").click()
    box = page.locator("[data-testid=stSelectbox]").filter(has_text="Face detector")
    option = page.get_by_role("option", name=DETECTOR_NAMES[detector])

    def list_open() -> bool:
        # The page reruns every second and redraws the panel; a click that lands during a
        # redraw opens nothing (more often with the Model list there), so click until open.
        if not option.is_visible():
            box.locator("input").click()
        return option.is_visible()

    wait_for(list_open, PAGE_MS / 1000, "the face detector's option list")
    # Typed and confirmed rather than clicked: a redraw can move the option from under the
    # pointer. The list closes once the choice is taken; the stream's caption, checked
    # after Start, says which detector it runs.
    page.keyboard.type(DETECTOR_NAMES[detector])
    page.keyboard.press("Enter")
    option.wait_for(state="hidden", timeout=PAGE_MS)


@pytest.mark.parametrize("detector", ["haar", "blazeface"])
def test_live_page_labels_the_face(server, browser, new_page, detector):
    tag = "" if detector == "haar" else f"_{detector}"
    t_open = time.monotonic()
    page = open_live(new_page, browser)  # the server's first page (haar runs first): the model loads now
    if detector == "haar":
        measured["first_page_rendered_s"] = round(time.monotonic() - t_open, 2)
        measured["app_start_to_first_page_s"] = round(measured["server_health_s"] + measured["first_page_rendered_s"],
                                                      2)
    else:
        choose_detector(page, detector)
    t_start = start(page)
    stats = wait_for(lambda: (s := live_stats(page))["labels"] and s, 60, "a labelled face on the live page")
    measured[f"start_to_first_label_s{tag}"] = round(time.monotonic() - t_start, 2)
    class_names = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "uncertain")
    assert stats["labels"][0].split()[0] in class_names
    assert stats["frames"] > 0

    # The annotated video the browser shows carries the overlay (green box by default).
    video = page.frame_locator(WEBRTC_IFRAME).locator("video")
    wait_for(lambda: green_pixels(video.screenshot()) > 200, 30, "the green face box in the video")
    [fps] = frames_rate([page], 5)
    measured[f"live_fps_one_stream{tag}"] = round(fps, 1)
    # The stream's own pipeline runs the chosen detector. The panel's settings apply to the
    # running stream, so a choice made just before Start may reach it a rerun later.
    caption = wait_for(lambda: (m := re.search(r"First label ([\d.]+) s after the first frame; (\d+) ms per frame "
                                               r"\((.+?)\)", page.locator(".st-key-live-stats").inner_text()))
                       and m[3] == detector and m, 30, f"the live caption naming {detector}")
    measured[f"server_first_frame_to_label_s{tag}"], measured[f"server_ms_per_frame{tag}"] = \
        float(caption[1]), int(caption[2])
    if detector == "haar":
        screenshot(page, "live")
    keeps_processing([page])


def test_two_streams_run_at_once_and_a_third_tab_waits_for_a_free_one(server, browser, new_page):
    """Each tab has its own stream and session (the detectors differ only in the pipeline,
    so this runs once, with the default)."""
    page = open_live(new_page, browser)
    start(page)
    wait_for(lambda: live_stats(page)["labels"], 60, "a label on the first page")
    page2 = open_live(new_page, browser)
    start(page2)
    wait_for(lambda: live_stats(page2)["labels"], 60, "a label on the second page")
    fps1, fps2 = frames_rate([page, page2], 4)
    measured["live_fps_two_streams"] = [round(fps1, 1), round(fps2, 1)]
    keeps_processing([page, page2])
    first = live_stats(page)["frames"]  # read first: one shared counter could only have grown since
    assert live_stats(page2)["frames"] < first  # separate counters, separate sessions
    assert re.search(r"Delay\s+\d+ ms", page.locator(".st-key-live-stats").inner_text())  # the real delay is shown

    # The server takes two streams (FER_MAX_STREAMS=2): a third tab is told to use Snapshots
    # instead of slowing everyone down; once a stream stops, it may start.
    page3 = new_page(browser, height=950)
    page3.get_by_text("The camera view is busy").wait_for(timeout=PAGE_MS)
    assert page3.locator(WEBRTC_IFRAME).count() == 0
    stop(page2)
    # The slot comes back when the server sees the stream end (a moment after Stop); the
    # waiting tab looks once a second and shows the camera view by itself, with no click.
    page3.locator(WEBRTC_IFRAME).wait_for(timeout=60_000)


#: How many frames a page's <video> has shown so far (run in the browser).
FRAMES_SHOWN = "v => v.getVideoPlaybackQuality().totalVideoFrames"


def shown_fps(page, seconds: float) -> float:
    """Frames per second the page's video showed over ``seconds``: the server sends a
    frame for each one it processed (fer/app/framepath.py), so this is the processed rate
    as the visitor sees it, measured the same way on every page."""
    video = page.frame_locator(WEBRTC_IFRAME).locator("video")
    t0, n0 = time.monotonic(), video.evaluate(FRAMES_SHOWN)
    time.sleep(seconds)  # a measurement window, not synchronisation
    t1, n1 = time.monotonic(), video.evaluate(FRAMES_SHOWN)
    return (n1 - n0) / (t1 - t0)


def test_frames_shown_by_the_live_page_then_the_booth_page(server, browser, new_page):
    """One after the other, on one server and one camera: the booth's stream is the Live
    page's, only drawn bigger. The rates are printed for the README, not asserted (the
    machine is shared); the booth's video must play on."""
    page = open_live(new_page, browser)
    start(page)
    wait_for(lambda: live_stats(page)["labels"], 60, "a label on the live page")
    live = shown_fps(page, 6)
    [processed] = frames_rate([page], 3)
    stop(page)
    booth = browser.new_page(viewport={"width": 1400, "height": 950})
    try:
        booth.goto(URL + "/booth", timeout=PAGE_MS)
        video = booth.frame_locator(WEBRTC_IFRAME).locator("video")
        video.wait_for(timeout=PAGE_MS)  # it starts by itself
        wait_for(lambda: booth.locator(".st-key-booth-word").inner_text().strip().lower() in
                 ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "uncertain"), 60,
                 "the main face's emotion in the booth's banner")
        booth_fps = shown_fps(booth, 6)
        shown = video.evaluate(FRAMES_SHOWN)
        wait_for(lambda: video.evaluate(FRAMES_SHOWN) >= shown + 10, 60,
                 "ten more frames shown by the booth")
    finally:
        booth.close()
    measured["shown_fps_live_then_booth"] = [round(live, 1), round(booth_fps, 1)]
    print(f"\nframes shown per second: Live {live:.1f} (server: {processed:.1f} processed), Booth {booth_fps:.1f} "
          f"({booth_fps / live - 1:+.0%})")


@pytest.fixture(scope="module")
def clips(workdir) -> dict[str, Path]:
    """Face clips for the Video page: a long one (for a batch still running while the test
    acts: on a 2-core Zen 4 a batch of 240 frames was done before the page showed it
    running), two short ones (one with sound) and a damaged one (half a file, no index)."""
    folder = workdir / "clips"
    folder.mkdir()
    long = make_clip(folder / "long.mp4", frames=LONG_FRAMES)
    broken = folder / "broken.mp4"
    broken.write_bytes(long.read_bytes()[: long.stat().st_size // 2])
    return {"long.mp4": long, "broken.mp4": broken, "short.mp4": make_clip(folder / "short.mp4", frames=30),
            "sound.mp4": make_clip(folder / "sound.mp4", frames=20, audio="aac")}


def upload(page, paths: list[Path]) -> None:
    page.locator("input[type=file]").set_input_files([str(p) for p in paths])


def running(page) -> bool:
    """Whether the page shows a batch in progress (its overall bar)."""
    return page.get_by_text(re.compile(r"^\d+ of \d+ videos done")).count() > 0


def test_video_page_batch_survives_a_page_switch_and_downloads_as_one_zip(server, browser, new_page, clips,
                                                                           workdir):
    page = new_page(browser, "/video", height=1500)
    upload(page, [clips["long.mp4"], clips["broken.mp4"], clips["sound.mp4"]])
    page.get_by_text(re.compile(r"^0 of 3 videos done")).wait_for(timeout=PAGE_MS)

    # Away to another page and back while the first video is still being annotated.
    page.get_by_role("link", name="Settings").click()
    page.get_by_text("Display height").wait_for(timeout=PAGE_MS)
    page.get_by_role("link", name="Video").click()
    page.get_by_text(re.compile(r"^(\d of 3 videos done|long.mp4: \d+ frames)")).first.wait_for(timeout=PAGE_MS)

    button = page.get_by_role("button", name=re.compile("^Download all"))
    button.wait_for(timeout=PAGE_MS)
    assert page.get_by_text("broken.mp4 could not be processed").count() == 1
    assert page.get_by_text("cancelled").count() == 0  # the switch did not stop it
    with page.expect_download() as download:
        button.click()
    path = workdir / "videos-fer.zip"
    download.value.save_as(path)
    with zipfile.ZipFile(path) as archive:
        check_batch_zip(archive, {"long.mp4": LONG_FRAMES, "sound.mp4": 20}, workdir / "unzipped")

    single = page.get_by_role("button", name="Download annotated MP4")
    with page.expect_download() as download:
        single.click()
    download.value.save_as(workdir / "long-fer.mp4")
    with av.open(str(workdir / "long-fer.mp4")) as f:
        assert sum(1 for _ in f.decode(video=0)) == LONG_FRAMES
    page.get_by_role("heading", name="Video").scroll_into_view_if_needed()
    screenshot(page, "video")


def test_video_page_two_tabs_run_batches_at_once(server, browser, new_page, clips):
    """Each tab's batch is its own, also once one is cancelled: the cancelled tab keeps the
    video it finished and offers it alone (the long one is cancelled rather than waited for)."""
    first, second = new_page(browser, "/video"), new_page(browser, "/video")
    upload(first, [clips["sound.mp4"], clips["long.mp4"]])
    upload(second, [clips["short.mp4"], clips["sound.mp4"]])
    wait_for(lambda: running(first) and running(second), PAGE_MS / 1000, "both tabs' batches running at once")
    second.get_by_role("button", name="Download all (2 videos, their logs and a combined log, ZIP)").wait_for(
        timeout=PAGE_MS)
    first.get_by_text(re.compile(r"^1 of 2 videos done")).wait_for(timeout=PAGE_MS)
    first.get_by_role("button", name="Cancel").click()
    first.get_by_role("button", name="Download all (1 video, its log and a combined log, ZIP)").wait_for(
        timeout=PAGE_MS)
    assert first.get_by_text("long.mp4: cancelled, nothing written").count() == 1
    for page, names in ((first, ["sound.mp4"]), (second, ["short.mp4", "sound.mp4"])):
        page.locator("[data-testid=stSelectbox]").click()
        assert page.get_by_role("option").all_inner_texts() == names
        page.keyboard.press("Escape")


def test_video_page_reload_ends_the_batch_and_deletes_its_files(server, browser, new_page, clips, server_tmp):
    before = set(server_tmp.glob("fer-video-*"))
    page = new_page(browser, "/video")
    upload(page, [clips["long.mp4"]])
    page.get_by_text(re.compile(rf"^long.mp4: [1-9]\d* / {LONG_FRAMES} frames")).wait_for(timeout=PAGE_MS)
    [folder] = set(server_tmp.glob("fer-video-*")) - before

    page.reload(timeout=PAGE_MS)
    page.get_by_text("Upload one or more videos").wait_for(timeout=PAGE_MS)
    assert not running(page)  # a reloaded tab is a new session: it starts empty
    # The old session's batch stops and its uploads and outputs are deleted.
    wait_for(lambda: not folder.exists(), 30, "the old session's folder to be deleted")


def test_other_pages_render(server, browser, new_page, face_jpg, workdir):
    """Image, Settings and Metrics in a real browser, mostly for the README screenshots."""
    (workdir / "astronaut.jpg").write_bytes(face_jpg)
    page = new_page(browser, "/image")
    page.locator("input[type=file]").set_input_files(str(workdir / "astronaut.jpg"))
    page.get_by_role("button", name="Download results (JSON)").wait_for(timeout=PAGE_MS)
    page.locator("[data-testid=stVegaLiteChart]").first.wait_for(timeout=PAGE_MS)
    screenshot(page, "image")
    page.goto(f"{URL}/settings")
    page.get_by_text("Display height").wait_for(timeout=PAGE_MS)  # the last slider has rendered
    screenshot(page, "settings")
    page.goto(f"{URL}/metrics")
    page.get_by_text(re.compile("^Per class")).first.wait_for(timeout=PAGE_MS)  # the served model has metrics
    page.locator("[data-testid=stVegaLiteChart]").nth(1).wait_for(timeout=PAGE_MS)
    screenshot(page, "metrics")


def test_pages_ask_for_nothing_outside_the_server(server, browser, new_page, requested_urls):
    """Offline means offline: no page fetches a font, an icon or a script from the internet."""
    for path in ("", "/image", "/video", "/settings", "/metrics"):
        new_page(browser, path).wait_for_load_state("networkidle", timeout=PAGE_MS)
    outside = [url for url in requested_urls
               if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).hostname != "localhost"]
    assert requested_urls and outside == []


def test_the_namespace_has_no_ipv6(namespace):
    """IPv6 address changes in the namespace would make Chromium abort page loads."""
    sysctl = namespace.prefix() + ["sysctl", "-n", "net.ipv6.conf.all.disable_ipv6",
                                   "net.ipv6.conf.default.disable_ipv6"]
    assert subprocess.run(sysctl, capture_output=True, text=True, check=True).stdout.split() == ["1", "1"]
    namespace.set_links(up=False)
    namespace.set_links(up=True)
    addresses = subprocess.run(namespace.prefix() + ["ip", "-6", "addr", "show"], capture_output=True, text=True)
    assert addresses.stdout.strip() == ""


def test_live_page_says_when_the_browser_cannot_connect_and_offers_snapshots(server, browser, new_page, namespace):
    namespace.set_links(up=False)  # loopback only: aiortc offers no candidate there, like a network blocking WebRTC
    try:
        page = open_live(new_page, browser)
        start(page)
        page.get_by_text("No video has reached the server").wait_for(timeout=PAGE_MS)
        assert live_stats(page)["frames"] == 0
        screenshot(page, "live-no-connection")
    finally:
        namespace.set_links(up=True)

    page.locator("[data-testid=stButtonGroup]").get_by_text("Snapshots").click()
    # Take the photo once the camera preview is playing (not its first black frame).
    page.wait_for_function("() => { const v = document.querySelector('[data-testid=stCameraInput] video');"
                           " return v && v.readyState >= 2 && v.currentTime > 1; }", timeout=PAGE_MS)
    preview = page.locator("[data-testid=stCameraInput] video").bounding_box()
    page.get_by_role("button", name="Take Photo").click(timeout=PAGE_MS)
    # The side panel reflects the snapshot: its faces and labels, and the annotated picture.
    panel = page.locator(".st-key-snapshot-stats")
    panel.get_by_role("button", name="Save picture").wait_for(timeout=PAGE_MS)  # the panel's last element
    labels = re.search(r"Labels: (.*)", panel.inner_text())[1]
    assert re.fullmatch(r"(angry|disgust|fear|happy|sad|surprise|neutral|uncertain) \d+%", labels), labels
    assert page.get_by_text("Processed fps").count() == 0  # no live figures beside a snapshot
    # The annotated result shows where the preview was, instead of the widget's own photo.
    result = page.locator("[data-testid=stImage] img").first
    result.wait_for(timeout=PAGE_MS)
    assert abs(result.bounding_box()["y"] - preview["y"]) < 40, (result.bounding_box(), preview)
    assert not page.locator("[data-testid=stCameraInput] img").is_visible()
    screenshot(page, "live-snapshot")


def teardown_module() -> None:
    report = dict(measured)
    if "live_fps_one_stream" in report:
        REPORT.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nlive page measurements ({REPORT}): {json.dumps(report)}")

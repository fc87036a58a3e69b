"""The booth view's parts without a browser (streamlit-webrtc does not run under AppTest;
test_booth_browser.py drives the page): the banner, the camera's autostart, and a session
that stores nothing of a visitor."""

from __future__ import annotations

from fer.app.booth import AUTOSTART_FOR_S, INVITATION, CameraAutostart, banner
from fer.app.camera_check import CAMERA_OK
from fer.app.live import LiveStats


def test_banner_says_the_main_face_or_invites():
    happy = LiveStats(frames=30, faces=3, labels=["1: sad 50%", "2: happy 90%", "3: fear 40%"], main_label="happy",
                      idle=False)
    shown = banner(happy, playing=True)
    assert (shown.icon, shown.word, shown.hint) == ("sentiment_very_satisfied", "Happy", "and 2 more faces")
    assert banner(LiveStats(frames=30, idle=True), playing=True).word == INVITATION
    assert banner(LiveStats(), playing=False, waiting=True).word == "Just a moment..."
    refused = banner(LiveStats(), playing=False, access="NotAllowedError")
    assert refused.word == "No camera" and "allow it in the browser's site settings" in refused.hint


def test_the_camera_is_asked_to_play_only_once_the_browser_opened_it():
    """Asked to play, streamlit-webrtc retries at once after each failure (hundreds of
    times a second); a camera the browser refused or lacks goes to the operator at once."""
    camera = CameraAutostart()
    assert camera.request(reported=True, connecting=False, access=None, now=0.0) is False  # the browser may prompt
    assert camera.request(reported=True, connecting=False, access="NotAllowedError", now=0.5) is None
    assert camera.request(reported=True, connecting=True, access="NotAllowedError", now=9.0) is True  # Start pressed
    assert camera.request(reported=True, connecting=False, access=CAMERA_OK, now=10.0) is True


def test_the_camera_is_asked_to_play_once_mounted_and_the_operator_gets_start_only_after_a_real_failure():
    camera = CameraAutostart()
    assert camera.request(reported=False, connecting=False, access=CAMERA_OK, now=0.0) is False  # mounts stopped first
    assert camera.request(reported=True, connecting=False, access=CAMERA_OK, now=0.5) is True
    assert camera.request(reported=True, connecting=True, access=CAMERA_OK, now=1.0) is True  # the clock stops
    assert camera.request(reported=True, connecting=False, access=CAMERA_OK, now=30.0) is True  # ended: asked again
    assert not camera.gave_up(29.0 + AUTOSTART_FOR_S)
    assert camera.gave_up(30.0 + AUTOSTART_FOR_S)
    assert camera.request(reported=True, connecting=False, access=CAMERA_OK, now=30.0 + AUTOSTART_FOR_S) is None


def test_waiting_for_a_free_stream_remounts_the_camera_and_does_not_count_as_a_failure():
    """A reloaded booth page can be asked to play and then find the server full (the old
    page's stream has not let its slot go yet): the busy view takes the component off the
    page. Back after longer than AUTOSTART_FOR_S, it must mount afresh under a new key
    (stopped first) and be asked to play, not handed to the operator."""
    camera = CameraAutostart()
    camera.request(reported=False, connecting=False, access=CAMERA_OK, now=0.0)
    assert camera.request(reported=True, connecting=False, access=CAMERA_OK, now=0.5) is True
    first_key = camera.key
    camera.unmount()  # busy from 1 s to 20 s
    assert camera.key != first_key and not camera.gave_up(20.0)
    assert camera.request(reported=False, connecting=False, access=CAMERA_OK, now=20.0) is False
    assert camera.request(reported=True, connecting=False, access=CAMERA_OK, now=20.5) is True
    assert not camera.gave_up(21.0)


def test_a_booth_session_keeps_no_log_and_no_frame(tiny_recognizer):
    from media import face_frame

    from fer.app.live import LiveSession
    from fer.engine.settings import Settings

    session = LiveSession(tiny_recognizer.new_stream(Settings(), camera=True), tiny_recognizer.class_names, keep=False)
    for _ in range(3):
        session.process(face_frame(320, 240))
    assert session.stats().frames == 3 and session.stats().log_rows == 0
    assert session.last_frame_png() == b""

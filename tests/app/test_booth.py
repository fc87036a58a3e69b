"""The booth view's parts without a browser (streamlit-webrtc does not run under AppTest;
test_booth_browser.py drives the page): the banner, and a session that stores nothing of
a visitor."""

from __future__ import annotations

from fer.app.booth import INVITATION, banner
from fer.app.live import LiveStats


def test_banner_says_the_main_face_or_invites():
    happy = LiveStats(frames=30, faces=3, labels=["1: sad 50%", "2: happy 90%", "3: fear 40%"], main_label="happy",
                      idle=False)
    shown = banner(happy, playing=True)
    assert (shown.icon, shown.word, shown.hint) == ("sentiment_very_satisfied", "Happy", "and 2 more faces")
    assert banner(LiveStats(frames=30, idle=True), playing=True).word == INVITATION


def test_a_booth_session_keeps_no_log_and_no_frame(tiny_recognizer):
    from media import face_frame

    from fer.app.live import LiveSession
    from fer.engine.settings import Settings

    session = LiveSession(tiny_recognizer.new_stream(Settings(), camera=True), tiny_recognizer.class_names, keep=False)
    for _ in range(3):
        session.process(face_frame(320, 240))
    assert session.stats().frames == 3 and session.stats().log_rows == 0
    assert session.last_frame_png() == b""

import time

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer
from streamlit_webrtc.component import generate_frontend_component_key

from fer.app import booth, common
from fer.app.camera_check import camera_access
from fer.app.live import LiveSession, rtc_configuration

SESSION_KEY = "fer.booth"
AUTOSTART_KEY = "fer.booth.autostart"

st.html(booth.STYLE)
settings = common.current_settings()
session = common.live_session(SESSION_KEY, keep=False)
session.set_settings(settings)

try:
    rtc = rtc_configuration(st.secrets if st.secrets.load_if_toml_exists() else {})
except ValueError as e:
    st.error(f"ICE server configuration ignored: {e}")
    rtc = {"iceServers": []}


def _on_stream_change() -> None:
    ctx = st.session_state.get(camera.key)
    if ctx is not None and ctx.state.playing:
        session.reset()


def camera_view(access: str | None) -> tuple[bool, bool | None, bool]:
    """The camera, or the busy view while the server runs as many streams as it takes
    (admission control, as on the Live page): whether the camera plays or connects, what
    it was asked (booth.CameraAutostart, given the browser's ``access`` to a camera) and
    whether the page waits for a free stream."""
    if not session.slots.holds(stream := session.stream()) and session.slots.full():
        camera.unmount()
        common.busy_view("The camera view is busy: this server runs as many live streams as it can. "
                         "It starts by itself as soon as one ends.")
        return False, False, True
    # The camera starts by itself (booth.CameraAutostart says why only once the component
    # has reported its state) and comes back after a reload; visitors get no Stop button.
    reported = st.session_state.get(generate_frontend_component_key(camera.key)) is not None
    previous = st.session_state.get(camera.key)  # the component's state as it last reported it
    request = camera.request(reported, previous is not None and (previous.state.playing or previous.state.signalling),
                             time.monotonic(), access)
    with st.container(key="booth-video"):
        ctx = webrtc_streamer(
            key=camera.key, desired_playing_state=request, mode=WebRtcMode.SENDRECV, rtc_configuration=rtc,
            media_toggle_controls=False,
            media_stream_constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}, "audio": False},
            sink_video_track=stream, source_video_track=stream.output, on_change=_on_stream_change,
            video_html_attrs={"autoPlay": True, "muted": True, "playsInline": True,
                              "style": {"width": "100%", "display": "block"}},
            translations={"media_api_not_available": "The camera is not available here (the page needs localhost "
                                                     "or HTTPS).",
                          "device_access_denied": "The camera was refused: allow it in the browser's site settings.",
                          "device_not_available": "No camera found."})
    return ctx.state.playing or ctx.state.signalling, request, False


@st.fragment(run_every=0.5)
def banner(session: LiveSession, playing: bool, request: bool | None, waiting: bool, access: str | None) -> None:
    """The banner, on every run of the page: it also reruns the page when the camera
    gave up starting (to show its Start button) or, while ``waiting``, a stream is free."""
    common.rerun_when_free(session.slots, waiting)
    if request and camera.gave_up(time.monotonic()):
        st.rerun()
    if playing and session.refused():  # another tab took the last slot first: the busy view, as on Live
        st.rerun()
    shown = booth.banner(session.stats(), playing, waiting, access)
    with st.container(key="booth-banner"):
        st.markdown(f":material/{shown.icon}:")
        with st.container(key="booth-word"):
            st.markdown(shown.word)
        with st.container(key="booth-hint"):
            st.markdown(shown.hint or " ")
    with st.container(key="booth-privacy"):
        st.markdown(booth.PRIVACY)


camera = st.session_state.setdefault(AUTOSTART_KEY, booth.CameraAutostart())
video_col, banner_col = st.columns([3, 1], gap="medium")
with banner_col:
    access = camera_access(key="fer.booth.camera_check")  # asked once per page load, before the stream starts
with video_col:
    playing, request, waiting = camera_view(access)
with banner_col:
    banner(session, playing, request, waiting, access)

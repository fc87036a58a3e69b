import time

import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer
from streamlit_webrtc.component import generate_frontend_component_key

from fer.app import booth, common
from fer.app.live import LiveSession, rtc_configuration

SESSION_KEY = "fer.booth"
AUTOSTART_KEY = "fer.booth.autostart"

st.html(booth.STYLE)
rec = common.recognizer()
settings = common.current_settings()
model, session = st.session_state.get(SESSION_KEY, (None, None))
if session is None or model != common.current_model():
    model = common.current_model()
    session = LiveSession(rec.new_stream(settings, camera=True), rec.class_names, keep=False)
    st.session_state[SESSION_KEY] = model, session
session.set_settings(settings)

try:
    rtc = rtc_configuration(st.secrets if st.secrets.load_if_toml_exists() else {})
except ValueError as e:
    st.error(f"ICE server configuration ignored: {e}")
    rtc = {"iceServers": []}


camera = st.session_state.setdefault(AUTOSTART_KEY, booth.CameraAutostart())
video_col, banner_col = st.columns([3, 1], gap="medium")
if not session.slots.holds(stream := session.stream()) and session.slots.full():
    # Admission control, as on the Live page: the server runs at most so many streams.
    camera.unmount()
    with video_col:
        common.busy_view(session.slots, "The camera view is busy: this server runs as many live streams as it can. "
                                        "It starts by itself as soon as one ends.")
    st.stop()


def _on_stream_change() -> None:
    ctx = st.session_state.get(camera.key)
    if ctx is not None and ctx.state.playing:
        session.reset()


# The camera starts by itself (booth.CameraAutostart says why only once the component has
# reported its state) and comes back after a reload; visitors get no Stop button.
reported = st.session_state.get(generate_frontend_component_key(camera.key)) is not None
previous = st.session_state.get(camera.key)  # the component's state as it last reported it
request = camera.request(reported, previous is not None and (previous.state.playing or previous.state.signalling),
                         time.monotonic())
with video_col, st.container(key="booth-video"):
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


@st.fragment(run_every=0.5)
def banner(session: LiveSession, playing: bool, request: bool | None) -> None:
    if request and camera.gave_up(time.monotonic()):
        st.rerun()  # the camera did not start: the whole page reruns to show its Start button
    shown = booth.banner(session.stats(), playing)
    with st.container(key="booth-banner"):
        st.markdown(f":material/{shown.icon}:")
        with st.container(key="booth-word"):
            st.markdown(shown.word)
        with st.container(key="booth-hint"):
            st.markdown(shown.hint or " ")
    with st.container(key="booth-privacy"):
        st.markdown(booth.PRIVACY)


with banner_col:
    banner(session, ctx.state.playing or ctx.state.signalling, request)

import time

import numpy as np
import streamlit as st
from streamlit_webrtc import WebRtcMode, webrtc_streamer

from fer.app import common
from fer.app.live import LiveSession, chart_title, rtc_configuration
from fer.engine.draw import face_numbers, numbered_labels
from fer.engine.settings import Settings
from fer.io.images import encode_image

STREAM_KEY = "fer.webrtc"
SESSION_KEY = "fer.live"
CONNECT_TIMEOUT_S = 15
CHART_EVERY_S = 3.0  # seconds between redraws of the emotion chart
CHART_STEP_S = 0.25  # seconds between the chart's points
CAMERA_HELP = ("Browsers open the camera only on http://localhost or over HTTPS (see the README). "
               "If it stays dark, switch to **Snapshots**, which needs no live connection.")

st.title("Live")
session = common.live_session(SESSION_KEY)

try:
    rtc = rtc_configuration(st.secrets if st.secrets.load_if_toml_exists() else {})
except ValueError as e:
    st.error(f"ICE server configuration ignored: {e}")
    rtc = {"iceServers": []}

video_col, side_col = st.columns([3, 2], gap="large")
with side_col:
    mode = st.segmented_control("Mode", ["Live stream", "Snapshots"], default="Live stream", key="fer.live.mode")
    with st.expander("Settings (apply to the running stream)"):
        settings = common.settings_controls(compact=True)
session.set_settings(settings)


def _on_stream_change() -> None:
    ctx = st.session_state.get(STREAM_KEY)
    if ctx is not None and ctx.state.playing:
        session.reset()


snapshot = None  # (annotated picture at full size, its face records) once a picture is taken
waiting = False  # for a free stream (common.busy_view)
with video_col:
    if mode == "Snapshots":
        st.caption("Take a picture: it runs through the same pipeline as the live stream.")
        if settings.mirror:  # the preview mirrored like the result and the live stream
            st.html("<style>[data-testid=stCameraInput] :is(video, img) { transform: scaleX(-1); }</style>")
        result = st.container()  # above the camera's button: the result shows where the preview was
        shot = st.camera_input("Snapshot", label_visibility="collapsed")
        if shot is not None:
            # The widget's own copy of the photo (and its frame) is hidden: the annotated one
            # shows instead, and the widget's Clear photo button right below it.
            st.html("<style>[data-testid=stCameraInput] div:has(> img) { display: none; }</style>")
            with result, common.shown_as_error("This picture could not be read"):
                shown, full, faces = common.annotate_picture(shot.getvalue(), "the snapshot", settings, camera=True)
                st.image(shown)
                snapshot = full, faces.to_records()
        ctx = None
    elif not session.slots.holds(stream := session.stream()) and session.slots.full():
        common.busy_view(f"The camera view is busy: {session.slots.limit} live stream(s) are running, the most "
                         "this server takes at once. Try **Snapshots** (above), or wait: the camera view comes back "
                         "by itself as soon as one ends.")
        ctx = None
        waiting = True
    else:
        ctx = webrtc_streamer(
            key=STREAM_KEY, mode=WebRtcMode.SENDRECV, rtc_configuration=rtc,
            media_stream_constraints={"video": {"width": {"ideal": 640}, "height": {"ideal": 480}}, "audio": False},
            sink_video_track=stream, source_video_track=stream.output, on_change=_on_stream_change,
            video_html_attrs={"autoPlay": True, "muted": True, "playsInline": True,
                              "style": common.display_style(settings)},
            translations={"media_api_not_available": "The camera is not available here. " + CAMERA_HELP,
                          "device_access_denied": "The camera was refused. Allow it in the browser's site "
                                                  "settings, or switch to Snapshots.",
                          "device_not_available": "No camera found. Connect one, or use the Image and Video "
                                                  "pages."})
        st.caption(CAMERA_HELP)
        if ctx.state.signalling and not ctx.state.playing:
            st.session_state.setdefault("fer.live.connecting_since", time.monotonic())
        else:
            st.session_state.pop("fer.live.connecting_since", None)


@st.fragment(run_every=1.0)
def live_figures(session: LiveSession, streaming: bool, waiting: bool) -> None:
    """The figures beside the video, once a second: a handful of numbers, cheap to send.
    While ``waiting`` for a free stream, it also looks whether one is free."""
    common.rerun_when_free(session.slots, waiting)
    stats = session.stats()
    if streaming and session.refused():  # another tab took the last slot first: show why
        st.rerun()
    with st.container(key="live-stats"):
        a, b, c, d = st.columns(4)
        a.metric("Processed fps", f"{stats.fps:.1f}")
        b.metric("Delay", "-" if stats.delay_ms is None else f"{stats.delay_ms:.0f} ms",
                 help="Time from a camera frame reaching the server to its labelled picture leaving it (median "
                      "of recent frames). The network and the browser's display add some tens of ms.")
        c.metric("Faces", stats.faces)
        d.metric("Frames", stats.frames, help="Frames processed since Start")
        st.markdown("Labels: " + (", ".join(f"**{label}**" for label in stats.labels) or "none"))
        if stats.first_label_s is not None:
            st.caption(f"First label {stats.first_label_s:.1f} s after the first frame; "
                       f"{stats.latency_ms:.0f} ms per frame ({session.pipeline.settings.detector}); "
                       f"{stats.log_rows} log rows; {stats.dropped} camera frames skipped to stay current.")
        if stats.degraded:
            st.caption("Under load, for now: " + ", ".join(stats.degraded) + ".")
        c1, c2 = st.columns(2)
        c1.download_button("Save frame", session.last_frame_png, file_name="fer-frame.png", mime="image/png",
                           on_click="ignore", icon=":material/photo_camera:", disabled=not stats.frames,
                           key="save-frame")
        c2.download_button("Log (CSV)", session.log_csv, file_name="fer-live-log.csv", mime="text/csv",
                           on_click="ignore", icon=":material/download:", disabled=not stats.log_rows, key="save-log")
    if stats.error:
        st.error(f"Frames could not be processed: {stats.error}")
    since = st.session_state.get("fer.live.connecting_since")
    if streaming and since is not None and time.monotonic() - since > CONNECT_TIMEOUT_S and stats.frames == 0:
        st.warning(f"No video has reached the server after {CONNECT_TIMEOUT_S} s. The browser and the server "
                   "cannot connect: on another network the app needs ICE servers (see the README). "
                   "Meanwhile, switch to **Snapshots** above.")


@st.fragment(run_every=CHART_EVERY_S)
def live_chart(session: LiveSession) -> None:
    """The emotion chart of the largest face, titled with its number in the picture,
    redrawn less often than the figures and from thinned history (a point every
    :data:`CHART_STEP_S`): a chart rebuilt every second from every frame's row cost the
    stream a stall each time."""
    history = session.history(step_s=CHART_STEP_S)
    if len(history):
        st.markdown(f"**{chart_title(history)}**")
        chart = common.emotion_timeline(history, session.class_names, "seconds (0 = now)", (-session.HISTORY_S, 0))
        st.altair_chart(chart, width="stretch")


def snapshot_panel(full, records: list[dict], settings: Settings, class_names: list[str]) -> None:
    """Beside a snapshot: its faces, numbered as in the picture, each with its bars."""
    mirror = settings.mirror
    with st.container(key="snapshot-stats"):
        st.metric("Faces", len(records))
        labels = numbered_labels(records, full.shape[1], mirror)
        st.markdown("Labels: " + (", ".join(f"**{label}**" for label in labels) or "none"))
        if not records:
            st.warning("No face found. Faces should look roughly at the camera and fill at least "
                       f"{settings.min_face:.0%} of the picture's height (the minimum face size in Settings).")
        numbers = face_numbers(np.array([r["box"] for r in records]), full.shape[1], mirror) if records else []
        for number, record in sorted(zip(numbers, records), key=lambda pair: pair[0]):
            if len(records) > 1:
                st.caption(f"Face {number}")
            st.altair_chart(common.probability_chart(record, class_names), width="stretch")
        st.download_button("Save picture", encode_image(full, "png"), file_name="fer-snapshot.png", mime="image/png",
                           on_click="ignore", icon=":material/photo_camera:", key="save-snapshot")


with side_col:
    if mode == "Snapshots":
        if snapshot is None:
            st.caption("Take a picture: its faces and their emotions show here.")
        else:
            snapshot_panel(*snapshot, settings, session.class_names)
    else:
        live_figures(session, ctx is not None, waiting)
        live_chart(session)

import shutil
import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from fer.app import common
from fer.app.video_job import VideoJob
from fer.io.summary import face_summary, timeline
from fer.io.video import VideoCancelled

STATE_KEY = "fer.video"  # {"key": ..., "job": VideoJob} of the latest upload
AGAIN_KEY = "fer.video.again"

st.title("Video")
limit_mb = st.get_option("server.maxUploadSize")
st.caption(f"Upload an MP4 (or MOV, MKV, WebM, AVI) of at most {limit_mb} MB. Every frame is annotated with the "
           "current settings; the result keeps the frame rate, frame count and sound of the original.")
upload = st.file_uploader("Video", type=["mp4", "m4v", "mov", "mkv", "webm", "avi"], label_visibility="collapsed")
if upload is None:
    st.session_state.pop(STATE_KEY, None)
    st.stop()

rec = common.recognizer()
settings = common.current_settings()
key = (upload.file_id, str(common.current_model()), settings)
state = st.session_state.get(STATE_KEY)
if state is None or state["key"] != key or st.session_state.pop(AGAIN_KEY, False):
    # A new upload, model or settings: process once; later reruns reuse the result.
    folder = tempfile.TemporaryDirectory(prefix="fer-video-")  # removed when the session ends
    src = Path(folder.name) / f"input{Path(upload.name).suffix.lower() or '.mp4'}"
    with open(src, "wb") as f:
        shutil.copyfileobj(upload, f)
    job = VideoJob(rec, settings, src, Path(folder.name) / "annotated.mp4",
                   Path(folder.name) / "annotated.csv")
    state = {"key": key, "job": job, "folder": folder}
    st.session_state[STATE_KEY] = state
    bar = st.progress(0.0, text="Starting...")
    st.button("Cancel")  # clicking it stops this run of the page, and the finally below stops the job
    job.start()
    try:
        while not job.wait(0.25):  # each progress update is where Streamlit can stop this run
            bar.progress(job.progress().fraction(), text=job.progress().text())
    finally:
        if not job.wait(0):  # the run was stopped (Cancel, or the user left): stop the job too
            job.cancel()
    st.rerun()

job: VideoJob = state["job"]
if job.cancelled or isinstance(job.error, VideoCancelled):
    st.info("Processing was cancelled; nothing was written.")
    st.button("Process again", on_click=lambda: st.session_state.update({AGAIN_KEY: True}))
    st.stop()
if job.error is not None:
    if isinstance(job.error, common.user_errors()):
        reason = str(job.error).replace(str(job.src), upload.name)  # not our temporary path
        st.error(f"{upload.name} could not be processed: {reason}. Try another file, e.g. an MP4 "
                 "recorded by a phone or exported by a video editor.")
    else:
        st.error(f"Processing {upload.name} failed unexpectedly ({type(job.error).__name__}: {job.error}).")
    st.stop()

summary = job.summary
log = pd.read_csv(job.log, comment="#")  # the provenance lines are comments
st.success(f"Annotated {summary.frames} frames ({summary.duration:.1f} s of video, {summary.fps:.3g} fps) in "
           f"{summary.seconds:.1f} s; {summary.face_rows} faces labelled; "
           + ("no audio." if summary.audio == "none" else f"audio {summary.audio}.")
           + (f" {summary.skipped} damaged frames could not be decoded and were skipped." if summary.skipped else ""))
left, right = st.columns([3, 2], gap="large")
with left:
    st.video(str(job.dst))
    c1, c2 = st.columns(2)
    c1.download_button("Download annotated MP4", job.dst.read_bytes, file_name=f"{Path(upload.name).stem}-fer.mp4",
                       mime="video/mp4", on_click="ignore", icon=":material/download:")
    c2.download_button("Download per-frame CSV", job.log.read_bytes, file_name=f"{Path(upload.name).stem}-fer.csv",
                       mime="text/csv", on_click="ignore", icon=":material/table:")
with right:
    classes = rec.class_names
    summary_table = face_summary(log, classes)
    if summary_table.empty:
        st.info("No face was found in this video. The annotated copy is still available.")
    else:
        st.markdown("**Each face over the video** (its label in each frame)")
        st.altair_chart(common.face_timeline(timeline(log, classes), classes), width="stretch")
        st.markdown("**Per face** (seconds with each label)")
        st.dataframe(summary_table, hide_index=True)
        st.download_button("Download per-face CSV", summary_table.to_csv(index=False),
                           file_name=f"{Path(upload.name).stem}-fer-faces.csv", mime="text/csv", on_click="ignore",
                           icon=":material/table:")

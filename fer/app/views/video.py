from pathlib import Path

import pandas as pd
import streamlit as st

from fer.app import common
from fer.app.video_batch import (
    CANCELLED,
    DONE,
    FAILED,
    RUNNING,
    ZIP_NAME,
    BatchFile,
    VideoBatch,
    VideoWorkspace,
    batch_limit_mb,
)
from fer.io.outputs import OutputError
from fer.io.summary import face_summary, timeline

WORKSPACE_KEY = "fer.video"  # this session's VideoWorkspace: uploads and the current batch
UPLOADS_KEY = "fer.video.uploads"  # bumped once uploads are copied to disk: a fresh, empty uploader
SHOWN_KEY = "fer.video.shown"  # the finished video shown below the list
MB = 1024 * 1024


@st.cache_resource(scope="session", on_release=VideoWorkspace.close, show_spinner=False)
def closed_when_the_tab_goes(workspace_id: str, _workspace: VideoWorkspace) -> VideoWorkspace:
    """Streamlit releases a session's resources when its tab disconnects (closed or
    reloaded): the batch is cancelled and the session's videos deleted then, rather than
    working and filling the disk for nobody."""
    return _workspace


def release_uploads(uploads: list) -> None:
    """Drop Streamlit's in-memory copies of uploads that are now on disk: it keeps them for
    the session's life otherwise (only a click on an upload's remove button drops one)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is not None:
        for upload in uploads:
            ctx.uploaded_file_mgr.remove_file(ctx.session_id, upload.file_id)


def failure(f: BatchFile) -> str:
    if f.input_error:
        return (f"{f.name} could not be processed: {f.error}. Try another file, e.g. an MP4 recorded by a phone "
                "or exported by a video editor.")
    return f"Processing {f.name} failed unexpectedly ({f.error})."


def file_row(batch: VideoBatch, f: BatchFile) -> None:
    if f.state == RUNNING:
        progress = batch.file_progress(f)
        st.progress(progress.fraction(), text=f"**{f.name}**: {progress.text()}")
    elif f.state == DONE:
        s = f.summary
        st.markdown(f":material/check_circle: **{f.name}**: {s.frames} frames, {s.face_rows} faces labelled, "
                    f"in {s.seconds:.1f} s")
    elif f.state == FAILED:
        st.error(failure(f))
    elif f.state == CANCELLED:
        st.markdown(f":material/block: **{f.name}**: cancelled, nothing written")
    else:
        st.markdown(f":material/schedule: **{f.name}**: waiting")


def batch_status(batch: VideoBatch, changes_seen: int) -> None:
    """The batch's progress and its files; while it runs, a fragment redraws this every
    second and reruns the whole page when a file ends (its result appears below)."""
    if batch.changes != changes_seen:
        st.rerun()
    if batch.running:
        overall = batch.progress()
        bar, cancel = st.columns([5, 1], vertical_alignment="bottom")
        bar.progress(overall.fraction(), text=overall.text())
        cancel.button("Cancel", on_click=batch.cancel, icon=":material/stop:", width="stretch")
    for f in batch.files:
        file_row(batch, f)


def shown_video(f: BatchFile, class_names: list[str]) -> None:
    """One annotated video: player, downloads, and each face over time (the table of
    ``fer annotate --summary``)."""
    summary = f.summary
    log = pd.read_csv(f.log, comment="#")  # the provenance lines are comments
    st.caption(f"{summary.frames} frames ({summary.duration:.1f} s of video, {summary.fps:.3g} fps) annotated in "
               f"{summary.seconds:.1f} s; {summary.face_rows} faces labelled; "
               + ("no audio." if summary.audio == "none" else f"audio {summary.audio}.")
               + (f" {summary.skipped} damaged frames could not be decoded and were skipped." if summary.skipped
                  else ""))
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.video(str(f.dst))
        c1, c2 = st.columns(2)
        c1.download_button("Download annotated MP4", f.dst.read_bytes, file_name=f.video_name, mime="video/mp4",
                           on_click="ignore", icon=":material/download:")
        c2.download_button("Download per-frame CSV", f.log.read_bytes, file_name=f.log_name, mime="text/csv",
                           on_click="ignore", icon=":material/table:")
    with right:
        summary_table = face_summary(log, class_names)
        if summary_table.empty:
            st.info("No face was found in this video. The annotated copy is still available.")
            return
        st.markdown("**Each face over the video** (its label in each frame)")
        st.altair_chart(common.face_timeline(timeline(log, class_names), class_names), width="stretch")
        st.markdown("**Per face** (seconds with each label)")
        st.dataframe(summary_table, hide_index=True)
        st.download_button("Download per-face CSV", summary_table.to_csv(index=False),
                           file_name=f"{Path(f.video_name).stem}-faces.csv", mime="text/csv", on_click="ignore",
                           icon=":material/table:")


st.title("Video")
per_file_mb = st.get_option("server.maxUploadSize")
batch_mb = batch_limit_mb(per_file_mb)
st.caption(f"Upload one or more videos (MP4, MOV, MKV, WebM, AVI) of at most {per_file_mb} MB each and {batch_mb} MB "
           "in all. They are annotated one after another with the current settings; each result keeps the frame "
           "rate, frame count and sound of its original, and the whole batch downloads as one zip.")
workspace: VideoWorkspace | None = st.session_state.get(WORKSPACE_KEY)
if workspace is None or workspace.closed:
    if workspace is not None:
        st.info("This tab lost its connection to the server, which ended its batch and deleted its videos. "
                "Upload them again.")
    workspace = st.session_state[WORKSPACE_KEY] = VideoWorkspace()
closed_when_the_tab_goes(workspace.id, workspace)
batch = workspace.batch
uploads = st.file_uploader("Videos", type=["mp4", "m4v", "mov", "mkv", "webm", "avi"], accept_multiple_files=True,
                           key=f"fer.video.upload.{st.session_state.get(UPLOADS_KEY, 0)}",
                           disabled=batch is not None and batch.running, label_visibility="collapsed",
                           help="One batch at a time: cancel this one, or let it end, to upload more.")
total = sum(u.size for u in uploads or [])
if total > batch_mb * MB:
    st.error(f"These {len(uploads)} videos add up to {total / MB:.0f} MB; a batch holds at most {batch_mb} MB. "
             "Remove some and annotate them in a second batch.")
elif uploads:
    rec = common.recognizer()
    try:
        workspace.upload((u.name, u) for u in uploads)
    except OutputError as e:  # not tried again on every rerun: the uploader is emptied below
        st.error(f"These videos could not be received: {e}. Try fewer or shorter ones, or tell the operator.")
        st.stop()
    else:
        workspace.start(rec, common.current_settings(), str(common.current_model()))
        st.session_state.pop(SHOWN_KEY, None)
    finally:
        release_uploads(uploads)
        st.session_state[UPLOADS_KEY] = st.session_state.get(UPLOADS_KEY, 0) + 1  # an empty uploader next
    st.rerun()
if batch is None:
    st.stop()

changes = batch.changes
(st.fragment(batch_status, run_every=1.0) if batch.running else batch_status)(batch, changes)

done = [f for f in batch.files if f.state == DONE]
if batch.ended:
    if batch.error:
        st.error(f"Something went wrong after the videos were annotated: {batch.error}.")
    if batch.zip is not None:
        contents = "1 video, its log" if len(done) == 1 else f"{len(done)} videos, their logs"
        st.download_button(f"Download all ({contents} and a combined log, ZIP)", batch.zip.read_bytes,
                           file_name=ZIP_NAME, mime="application/zip", on_click="ignore",
                           icon=":material/folder_zip:", type="primary")
    changed = (batch.settings, batch.model) != (common.current_settings(), str(common.current_model()))
    if batch.cancelled or changed:
        st.info("The batch was cancelled." if batch.cancelled else
                "The settings or the model have changed since these videos were annotated.")
        if st.button("Process again with the current settings", icon=":material/replay:"):
            workspace.start(common.recognizer(), common.current_settings(), str(common.current_model()))
            st.rerun()
if done:
    st.divider()
    names = [f.name for f in done]
    if st.session_state.get(SHOWN_KEY) not in names:
        st.session_state[SHOWN_KEY] = names[0]
    shown = st.selectbox("Annotated video", names, key=SHOWN_KEY)
    shown_video(next(f for f in done if f.name == shown), batch.recognizer.class_names)  # the model that annotated them

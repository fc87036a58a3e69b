"""What the app's pages share: this browser session's settings and model choice, the
recognizer (loaded once per process), the settings controls, and error display.

Settings live in ``st.session_state`` as one :class:`~fer.engine.settings.Settings` object, so
they survive page switches and every page (and the live stream) reads the same values.
Widgets are seeded from that object each time they appear, because Streamlit forgets
the state of widgets that are not on the current page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any

import streamlit as st

from fer.app.admission import StreamSlots, server_slots
from fer.app.booth import BOOTH_DEFAULTS, BOOTH_DEFAULTS_SOURCE, booth_mode
from fer.app.live import LiveSession
from fer.app.operator import OperatorDefaults, operator_defaults
from fer.engine.settings import DETECTORS, DISPLAY_HEIGHT_RANGE, DISPLAY_WIDTH_RANGE, Settings
from fer.models.modelfile import ModelFileError, default_weights, files_of

REPO = Path(__file__).resolve().parents[2]
IMBALANCE_FILE = REPO / "docs" / "imbalance.json"  # the class-imbalance study (issue 5), when shipped
SETTINGS_KEY = "fer.settings"
MODEL_KEY = "fer.model"
_WIDGET = "fer.widget."  # prefix of the settings widgets' keys
DETECTOR_NAMES = {"haar": "Haar cascade (fast; upright, frontal faces)",
                  "blazeface": "BlazeFace (also tilted, turned and half-covered faces)",
                  "blazeface-full": "BlazeFace, full-range model (for comparison)"}


# ---------------------------------------------------------------- settings and model

def defaults() -> OperatorDefaults:
    """The settings a new session starts from: the operator's (environment variables and
    the ``[fer]`` section of ``.streamlit/secrets.toml``, see :mod:`fer.app.operator`) over
    the built-in ones (under ``fer booth``, over the booth's: :data:`fer.app.booth.BOOTH_DEFAULTS`).
    Read afresh for each new session, so an edited file applies to the next visitor's tab."""
    mode = (BOOTH_DEFAULTS_SOURCE, BOOTH_DEFAULTS) if booth_mode() else None
    return operator_defaults(os.environ, st.secrets if st.secrets.load_if_toml_exists() else {}, mode)


def current_settings() -> Settings:
    """This browser session's settings (the operator's defaults until the user changes one)."""
    if SETTINGS_KEY not in st.session_state:
        st.session_state[SETTINGS_KEY] = defaults().settings
    return st.session_state[SETTINGS_KEY]


def models_folder() -> Path:
    """Where shipped models and their metrics files live: the default model's folder
    (``weights/``, or the folder of ``$FER_WEIGHTS``)."""
    return default_weights().parent


def model_files() -> list[Path]:
    """Every model the user can choose: ``*.pt`` and ``*.ens.json`` beside the default."""
    folder = models_folder()
    found = sorted([*folder.glob("*.pt"), *folder.glob("*.ens.json")])
    default = default_weights()
    return found if default in found or not default.is_file() else [default, *found]


def current_model() -> Path:
    """The model this session chose, else the default. A chosen file that has gone since
    (deleted or renamed on the server) gives way to the default, with a notice, rather
    than leaving the session on a model nothing can load or choose again."""
    chosen = st.session_state.get(MODEL_KEY)
    if chosen and not Path(chosen).exists():
        for key in (MODEL_KEY, _WIDGET + "model"):
            st.session_state.pop(key, None)
        st.toast(f"{Path(chosen).name} is no longer there: back to the default model, {default_weights().name}.",
                 icon=":material/warning:")
        chosen = None
    return Path(chosen or default_weights())


@st.cache_resource(show_spinner="Loading the model...", max_entries=4)
def _load_recognizer(path: str, stamp: tuple[float, ...]):
    from fer.recognizer import EmotionRecognizer

    return EmotionRecognizer(weights=path)  # one PyTorch thread: see fer.recognizer.THREADS


def model_version() -> tuple[str, tuple[float, ...]]:
    """The chosen model file and the modification times of its files (an ensemble's
    members too): what names one loaded model. A rewritten file is another version."""
    path = current_model()
    return str(path), tuple(p.stat().st_mtime if p.is_file() else 0.0 for p in files_of(path))


def recognizer(version: tuple[str, tuple[float, ...]] | None = None):
    """The chosen model's recognizer (of ``version``, from :func:`model_version`, when
    given), shared by all sessions; stops the page with a plain message when the model
    file is missing or damaged."""
    try:
        return _load_recognizer(*(version or model_version()))
    except ModelFileError as e:
        st.error(f"The model could not be loaded: {e}. Train and export one (see the README), "
                 "or choose another model on the Settings page.")
        st.stop()


# ---------------------------------------------------------------- errors

def user_errors() -> tuple[type[Exception], ...]:
    """Exceptions whose message tells a user what is wrong with their input."""
    from fer.io.images import ImageError
    from fer.io.outputs import OutputError
    from fer.io.video import VideoError

    return ImageError, VideoError, OutputError, ModelFileError


@contextmanager
def shown_as_error(what: str) -> Iterator[None]:
    """Turn a user error inside the block into ``st.error`` (never a traceback)."""
    try:
        yield
    except user_errors() as e:
        st.error(f"{what}: {e}")


# ---------------------------------------------------------------- live streams

def busy_view(message: str) -> None:
    """The camera view is busy (admission control): say so. The page shows the camera by
    itself as soon as a stream ends (:func:`rerun_when_free`), or on *Try again*."""
    st.warning(message)
    st.button("Try again", icon=":material/refresh:")


def rerun_when_free(slots: StreamSlots, waiting: bool) -> None:
    """Called by a page's fragment that runs every second or so, on every run of the page,
    waiting or not: while ``waiting`` (the page shows :func:`busy_view`), rerun the page
    once a stream has ended (a reloaded page's old stream lets its slot go a moment after
    the new page has loaded).

    Not a fragment of the busy view's own: a ``run_every`` fragment that leaves the page
    when the page reruns can still be ticking, and Streamlit 1.67's browser side then
    applies its output to the new page and goes blank ("Bad delta path index"; seen in
    test_two_streams_run_at_once_and_a_third_tab_waits_for_a_free_one). A fragment that
    stays on the page keeps its place."""
    if waiting and not slots.full():
        st.rerun()


# ---------------------------------------------------------------- settings controls

def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _rgb(hex_color: str) -> tuple[int, int, int]:
    h = hex_color.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


#: Settings fields whose widgets show them in another form (colour pickers, two sliders).
_SPECIAL = ("box_color", "text_color", "display_size")


def _widget_values(s: Settings) -> dict[str, Any]:
    values = {name: value for name, value in s.as_dict().items() if name not in _SPECIAL}
    values.update(box_color=_hex(s.box_color), text_color=_hex(s.text_color), width=s.display_size[0],
                  height=s.display_size[1], model=str(current_model()))
    return values


def _settings_fields(v: dict[str, Any]) -> dict[str, Any]:
    """The widgets' values as :class:`Settings` fields (the inverse of :func:`_widget_values`)."""
    values = {f.name: type(f.default)(v[f.name]) for f in fields(Settings) if f.name not in _SPECIAL}
    values.update(box_color=_rgb(v["box_color"]), text_color=_rgb(v["text_color"]),
                  display_size=(int(v["width"]), int(v["height"])))
    return values


def _meta(name: str) -> Any:
    """A Settings field's label, help and range (see :func:`fer.engine.settings.option`)."""
    return Settings.__dataclass_fields__[name].metadata


def _help(name: str) -> str:
    text = _meta(name)["help"]
    return text[0].upper() + text[1:] + "."


def _slider(name: str, key: str) -> None:
    """A Settings field's slider: label, range, step and help from the field's metadata
    (the same that ``fer annotate``'s options show)."""
    meta = _meta(name)
    st.slider(meta["label"], *meta["range"], step=meta["step"], key=key, help=_help(name))


def _toggle(name: str, key: str) -> None:
    st.toggle(_meta(name)["label"], key=key, help=_help(name))


def _reset() -> None:
    st.session_state[SETTINGS_KEY] = defaults().settings
    st.session_state.pop(MODEL_KEY, None)
    for name in _widget_values(Settings()):
        st.session_state.pop(_WIDGET + name, None)


def _choose_model(widget: str) -> None:
    """Before the page runs again, so that its first lines already load the new model."""
    st.session_state[MODEL_KEY] = st.session_state[widget]


def live_session(key: str, keep: bool = True) -> LiveSession:
    """This tab's :class:`LiveSession` under ``key``, running the chosen model: one chosen
    (or rewritten) while the stream runs takes over that stream (see
    :meth:`LiveSession.use_model`).
    ``keep``: see :class:`LiveSession`.

    The stream follows the model's version, not the loaded object: the shared cache may
    drop a model that other sessions pushed out and load it again, and a running stream
    must not start its figures and log afresh for that."""
    version = model_version()  # once: a file rewritten while it loads is the next run's news
    rec = recognizer(version)
    running, session = st.session_state.get(key, (None, None))
    if session is None:
        try:
            slots = server_slots()
        except ValueError as e:  # $FER_MAX_STREAMS, which `fer app` checks before starting
            st.error(f"The live view is off: {e}")
            st.stop()
        session = LiveSession(rec.new_stream(current_settings(), camera=True), rec.class_names, slots, keep)
    elif running != version:  # another model, or its file rewritten
        session.use_model(rec.new_stream(current_settings(), camera=True), rec.class_names)
    st.session_state[key] = version, session
    return session


def settings_controls(compact: bool = False) -> Settings:
    """The settings widgets; stores and returns the settings they show.

    ``compact`` lays them out in one column (for the Live page's side panel).
    """
    for name, value in _widget_values(current_settings()).items():
        st.session_state.setdefault(_WIDGET + name, value)
    k = {name: _WIDGET + name for name in _widget_values(current_settings())}

    left, right = (st.container(), st.container()) if compact else st.columns(2, gap="large")
    with left:
        st.markdown("**Recognition**")
        _toggle("tencrop", k["tencrop"])
        _slider("smoothing", k["smoothing"])
        _slider("uncertain_below", k["uncertain_below"])
        st.markdown("**Face detection**")
        st.selectbox(_meta("detector")["label"], DETECTORS, format_func=DETECTOR_NAMES.get, key=k["detector"],
                     help=_help("detector") + " See the README's robustness table.")
        _toggle("align", k["align"])
        _slider("min_face", k["min_face"])
        _slider("min_neighbors", k["min_neighbors"])
        _toggle("equalize", k["equalize"])
        with st.expander("Detector speed"):
            _slider("scale_factor", k["scale_factor"])
            _slider("full_scan_every", k["full_scan_every"])
        models = model_files()
        if len(models) > 1:
            st.selectbox("Model", [str(p) for p in models], format_func=lambda p: Path(p).name, key=k["model"],
                         on_change=_choose_model, args=(k["model"],))
        else:
            st.caption(f"Model: `{current_model().name}`")
    with right:
        st.markdown("**Display**")
        c1, c2 = st.columns(2)
        c1.color_picker(_meta("box_color")["label"], key=k["box_color"])
        c2.color_picker(_meta("text_color")["label"], key=k["text_color"])
        st.slider("Display width", *DISPLAY_WIDTH_RANGE, step=10, key=k["width"])
        st.slider("Display height", *DISPLAY_HEIGHT_RANGE, step=10, key=k["height"])
        _slider("label_size", k["label_size"])
        _toggle("mirror", k["mirror"])
        _toggle("show_bars", k["show_bars"])
        _toggle("show_track_id", k["show_track_id"])
        st.button("Reset to defaults", on_click=_reset, help="The operator's defaults (see below on the Settings "
                  "page), else the built-in ones.")

    try:
        widgets = {name: st.session_state[key] for name, key in k.items()}
        chosen = current_settings().replace(**_settings_fields(widgets))
    except ValueError as e:  # widgets keep to the bounds, so this is a bug, but say it plainly
        st.error(f"These settings are not valid: {e}")
        return current_settings()
    st.session_state[SETTINGS_KEY] = chosen
    return chosen



def display_style(settings: Settings) -> dict[str, str]:
    """The live video's on-screen size: the display size (the size the frames are drawn
    at, so one frame pixel is one screen pixel), the aspect ratio kept, never wider than
    its column."""
    w, h = settings.display_size
    return {"width": f"{w}px", "maxWidth": "100%", "maxHeight": f"{h}px", "objectFit": "contain"}


def defaults_panel() -> None:
    """Where each default of a new session comes from, and the operator's values that
    were refused."""
    import pandas as pd

    from fer.app.operator import defaults_table

    found = defaults()
    st.subheader("Defaults of new sessions")
    st.caption("Every new tab (and a reload) starts from these. An operator sets them once, in the `[fer]` section "
               "of `.streamlit/secrets.toml` or as environment variables (which win); see the README.")
    for error in found.errors:
        st.warning(error)
    st.dataframe(pd.DataFrame(defaults_table(found)), hide_index=True)


def annotate_picture(data: bytes, name: str, settings: Settings, camera: bool = False):
    """One picture through the still-image pipeline: (shown, full, faces), where ``shown``
    is fitted into the display size and ``full`` is annotated at the picture's own size;
    both mirrored for a ``camera`` snapshot when the settings ask for it."""
    from fer.io.images import read_image

    image = read_image(data, name=name)
    pipeline = recognizer().new_stream(settings, camera=camera)
    faces = pipeline.analyze(image, still=True)
    return pipeline.draw(image, faces), pipeline.draw(image, faces, fit=False), faces


def probability_chart(record: dict[str, Any], class_names: list[str]):
    """Horizontal bars of one face's seven probabilities, on a 0-1 scale."""
    import altair as alt
    import pandas as pd

    data = pd.DataFrame({"emotion": class_names, "probability": [record[c] for c in class_names]})
    return alt.Chart(data).mark_bar().encode(
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
        y=alt.Y("emotion:N", sort=class_names, title=None, axis=alt.Axis(labelOverlap=False)),
        color=alt.condition(alt.datum.emotion == record["label"], alt.value("#16a34a"), alt.value("#94a3b8")),
        tooltip=["emotion", alt.Tooltip("probability:Q", format=".1%")],
    ).properties(height=alt.Step(24))  # one 24-pixel band per emotion


def emotion_timeline(data, class_names: list[str], x_title: str, x_domain: tuple[float, float] | None = None):
    """Lines of probability over time, one colour per emotion, legend below. ``data`` has
    the columns ``seconds``, ``emotion`` and ``probability``, and optionally ``segment``
    (lines break between segments)."""
    import altair as alt

    x_scale = alt.Scale(domain=list(x_domain)) if x_domain else alt.Undefined
    # A line per segment too, where the data has segments: no line across a gap.
    detail = {"detail": alt.Detail("segment:N")} if "segment" in data.columns else {}
    return alt.Chart(data).mark_line().encode(
        **detail,
        x=alt.X("seconds:Q", title=x_title, scale=x_scale),
        y=alt.Y("probability:Q", scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("emotion:N", sort=class_names, legend=alt.Legend(orient="bottom", columns=4, title=None)),
        tooltip=["emotion", alt.Tooltip("seconds:Q", format=".1f"), alt.Tooltip("probability:Q", format=".1%")],
    ).properties(height=230)


def face_timeline(data, levels: list[str]):
    """One line per face: its label over time. ``data`` has the columns of
    :func:`fer.io.summary.timeline` (``seconds``, ``face``, ``label``)."""
    import altair as alt

    order = [*levels, "uncertain"]
    return alt.Chart(data).mark_line(interpolate="step-after", point=alt.OverlayMarkDef(size=12)).encode(
        x=alt.X("seconds:Q", title="seconds"),
        y=alt.Y("label:N", sort=order[::-1], scale=alt.Scale(domain=order[::-1]), title=None),
        color=alt.Color("face:N", legend=alt.Legend(orient="bottom", title=None)),
        tooltip=["face", "label", alt.Tooltip("seconds:Q", format=".2f")],
    ).properties(height=260)

"""Operator defaults: every setting given once (secrets file or environment) is the
default of each new session, and the Settings page says where each value came from."""

from __future__ import annotations

from dataclasses import fields

import pytest
from appdata import REPO
from streamlit.testing.v1 import AppTest

from fer.app.operator import BUILT_IN, FROM_FILE, env_name, operator_defaults
from fer.engine.settings import Settings

#: A value other than the default for every field, as an environment string and as TOML.
CHANGED = {"box_color": ("255,0,255", [255, 0, 255]), "text_color": ("1,2,3", [1, 2, 3]),
           "display_size": ("320x240", [320, 240]), "tencrop": ("true", True), "smoothing": ("0.3", 0.3),
           "min_face": ("0.07", 0.07), "min_neighbors": ("3", 3), "show_bars": ("yes", True),
           "show_track_id": ("on", True), "uncertain_below": ("0.4", 0.4), "scale_factor": ("1.2", 1.2),
           "full_scan_every": ("2", 2), "equalize": ("1", True), "detector": ("blazeface", "blazeface"),
           "align": ("false", False), "label_size": ("0.06", 0.06), "mirror": ("off", False)}


def test_every_field_can_be_given_in_the_environment_or_the_file():
    assert set(CHANGED) == {f.name for f in fields(Settings)}  # a new field needs a line here
    from_env = operator_defaults({env_name(n): raw for n, (raw, _) in CHANGED.items()})
    from_file = operator_defaults({}, {"fer": {n: value for n, (_, value) in CHANGED.items()}})
    for found, source in ((from_env, None), (from_file, FROM_FILE)):
        assert found.errors == []
        for name, (_, value) in CHANGED.items():
            expected = tuple(value) if isinstance(value, list) else value
            assert getattr(found.settings, name) == expected != getattr(Settings(), name), name
            assert found.sources[name] == (source or f"${env_name(name)}")


def test_environment_wins_over_the_file_and_bad_values_keep_the_default():
    found = operator_defaults({"FER_SMOOTHING": "0.9", "FER_MIN_FACE": "0.9", "FER_MIRROR": "maybe"},
                              {"fer": {"smoothing": 0.1, "min_face": 0.08, "detectr": "haar",
                                       "display_size": [1920, 1080]}})
    assert found.settings.smoothing == 0.9 and found.sources["smoothing"] == "$FER_SMOOTHING"
    assert found.settings.min_face == 0.08 and found.sources["min_face"] == FROM_FILE  # 0.9 is out of range
    assert found.settings.mirror is True and found.sources["mirror"] == BUILT_IN
    assert found.settings.display_size == Settings().display_size
    assert len(found.errors) == 4
    assert any("unknown setting 'detectr'" in e for e in found.errors)
    assert any("$FER_MIN_FACE" in e and "min_face must be in" in e for e in found.errors)
    assert any("display size must be within" in e for e in found.errors)


@pytest.mark.parametrize("section", ["smoothing=0.8", 5, [1, 2]])
def test_a_fer_entry_that_is_not_a_table_is_one_warning_and_the_rest_still_applies(section):
    found = operator_defaults({"FER_SMOOTHING": "0.3"}, {"fer": section})
    assert found.settings == Settings(smoothing=0.3)
    assert found.errors == [f"{FROM_FILE}: fer = {section!r} ignored: it must be a table, a [fer] section with one "
                            "setting per line"]


@pytest.mark.parametrize("name, value", [("box_color", [255.9, 0.5, 0]), ("min_neighbors", True),
                                         ("display_size", [640, True])])
def test_toml_values_that_are_not_whole_numbers_are_refused_not_truncated(name, value):
    found = operator_defaults({}, {"fer": {name: value}})
    assert getattr(found.settings, name) == getattr(Settings(), name) and found.sources[name] == BUILT_IN
    assert len(found.errors) == 1 and "expected a whole number" in found.errors[0]


def test_a_toml_true_is_no_number():
    found = operator_defaults({}, {"fer": {"smoothing": True}})
    assert found.settings.smoothing == Settings().smoothing and found.errors == [
        f"{FROM_FILE}: smoothing = True ignored: expected a number, not True"]


def test_a_misspelt_variable_is_named_with_the_one_meant_and_the_others_are_left_alone():
    found = operator_defaults({"FER_SMOTHING": "0.8", "fer_mirror": "false", "FER_TEST_WEIGHTS": "x.pt",
                               "FER_WIEGHTS": "x.pt", "PATH": "/bin"})
    assert found.settings == Settings()
    assert found.errors == [
        "$FER_SMOTHING ignored: the app reads no such variable; did you mean $FER_SMOOTHING?",
        "$FER_WIEGHTS ignored: the app reads no such variable; did you mean $FER_WEIGHTS?",
        "$fer_mirror ignored: the app reads no such variable; did you mean $FER_MIRROR?"]


@pytest.fixture
def app(app_env, monkeypatch) -> AppTest:
    monkeypatch.setenv("FER_SMOOTHING", "0.3")
    monkeypatch.setenv("FER_BOX_COLOR", "255,0,255")
    monkeypatch.setenv("FER_TENCROP", "no way")
    at = AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=60)
    at.switch_page("fer/app/views/settings.py").run()
    assert not at.exception, at.exception
    return at


def test_a_new_session_starts_from_the_operators_defaults_and_the_page_says_where_from(app):
    expected = Settings(smoothing=0.3, box_color=(255, 0, 255))
    assert app.session_state["fer.settings"] == expected
    assert app.slider(key="fer.widget.smoothing").value == 0.3
    table = app.dataframe[0].value.set_index("setting")
    assert table.loc["Smoothing", "from"] == "$FER_SMOOTHING" and table.loc["Smoothing", "default"] == "0.3"
    assert table.loc["Box colour", "default"] == "255,0,255"
    assert table.loc["Mirror the camera view", "from"] == BUILT_IN
    refused = "$FER_TENCROP: tencrop = 'no way' ignored: expected true or false, not 'no way'"
    assert [w.value for w in app.warning] == [refused]
    app.slider(key="fer.widget.smoothing").set_value(0.6).run()
    app.button[0].click().run()  # "Reset to defaults": back to the operator's, not the built-in ones
    assert app.session_state["fer.settings"] == expected


def test_the_booth_starts_from_its_own_defaults_under_the_operators(monkeypatch):
    # fer booth: visitors stand back, so BlazeFace at a smaller minimum face; the
    # operator's environment (and file) still win, and the Settings page says which.
    from fer.app import common
    from fer.app.booth import BOOTH_DEFAULTS_SOURCE

    monkeypatch.setenv("FER_BOOTH", "1")
    monkeypatch.setenv("FER_MIN_FACE", "0.1")
    booth = common.defaults()
    assert (booth.settings.detector, booth.sources["detector"]) == ("blazeface", BOOTH_DEFAULTS_SOURCE)
    assert (booth.settings.min_face, booth.sources["min_face"]) == (0.1, "$FER_MIN_FACE")
    monkeypatch.delenv("FER_BOOTH")
    assert common.defaults().settings.detector == Settings().detector == "haar"  # the app as designed

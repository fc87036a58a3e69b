"""Every Settings field is a ``fer annotate`` option with the app's range and default;
``fer app``, ``fer --version`` and the version ``CITATION.cff`` cites."""

from __future__ import annotations

import argparse
import typing
from dataclasses import fields
from pathlib import Path

import pytest

from fer import __version__
from fer.app.launch import config_file, streamlit_args
from fer.cli import build_parser, main
from fer.engine.settings import Settings
from fer.settings_cli import add_settings_arguments, cli_fields, option_name, settings_from_args

REPO = Path(__file__).resolve().parents[1]


def parse(*argv: str) -> Settings:
    parser = argparse.ArgumentParser()
    add_settings_arguments(parser)
    return settings_from_args(parser.parse_args(list(argv)))


def test_no_option_means_the_defaults():
    assert parse() == Settings()


@pytest.mark.parametrize("field", cli_fields(), ids=lambda f: f.name)
def test_every_field_is_an_option_reaching_settings(field):
    default, bounds = getattr(Settings(), field.name), field.metadata.get("range")
    choices = typing.get_args(typing.get_type_hints(Settings)[field.name])
    if isinstance(default, bool):
        argv, expected = [option_name(field)], True
    elif bounds is not None:
        argv, expected = [option_name(field), str(bounds[1])], bounds[1]
    elif field.name.endswith("color"):
        argv, expected = [option_name(field), "1,2,3"], (1, 2, 3)
    elif choices and all(isinstance(c, str) for c in choices):  # a Literal: one of its choices, not the default
        argv, expected = [option_name(field), choices[-1]], choices[-1]
    else:
        argv, expected = [option_name(field), "1920x1080"], (1920, 1080)  # files are not bound by the display
    assert getattr(parse(*argv), field.name) == expected


def test_camera_only_fields_are_no_options_of_annotate(capsys):
    """Files are never mirrored: ``fer annotate`` has no --mirror, and the field exists."""
    assert "mirror" in {f.name for f in fields(Settings)} - {f.name for f in cli_fields()}
    with pytest.raises(SystemExit) as e:
        main(["annotate", "x.jpg", "--mirror"])
    assert e.value.code == 2 and "--mirror" in capsys.readouterr().err


@pytest.mark.parametrize("field", [f for f in cli_fields() if f.metadata.get("range")], ids=lambda f: f.name)
def test_out_of_range_values_are_refused_with_the_apps_range(field, capsys):
    lo, hi = field.metadata["range"]
    too_big = hi + 1 if isinstance(hi, int) else hi + 0.01
    with pytest.raises(SystemExit) as e:
        main(["annotate", "x.jpg", option_name(field), str(too_big)])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert err.strip().splitlines()[-1].endswith(f"{field.name} must be in [{lo}, {hi}], got {too_big}")


def test_help_shows_each_fields_range_and_default():
    text = build_parser()._subparsers._group_actions[0].choices["annotate"].format_help()
    assert "0.0-0.95 (default: 0.6)" in " ".join(text.split())  # --smoothing, as the app's slider
    assert "--size WxH" in text and "--min-neighbors N" in text


def test_color_sets_both_colours_and_the_specific_options_win():
    s = parse("--color", "255,0,0", "--text-color", "0,0,255")
    assert s.box_color == (255, 0, 0) and s.text_color == (0, 0, 255)


def test_version(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"fer {__version__}"


def test_the_citation_file_cites_this_version():
    lines = (REPO / "CITATION.cff").read_text().splitlines()
    assert f"version: {__version__}" in lines and "cff-version: 1.2.0" in lines


def test_fer_app_passes_the_project_config_and_lets_flags_win():
    assert config_file() == REPO / ".streamlit" / "config.toml"  # in a checkout; the wheel test covers the package
    args = streamlit_args(["--server.port", "8502", "--server.maxUploadSize=50"])
    assert args[:2] == ["run", str(REPO / "fer" / "app" / "router.py")]
    assert "--server.fileWatcherType=none" in args and "--theme.base=light" in args
    assert "--server.maxUploadSize=200" not in args
    assert args[-3:] == ["--server.port", "8502", "--server.maxUploadSize=50"]


def test_unknown_options_are_refused_outside_fer_app(capsys):
    with pytest.raises(SystemExit) as e:
        main(["annotate", "x.jpg", "--no-such-option"])
    assert e.value.code == 2 and "--no-such-option" in capsys.readouterr().err


def test_the_app_asks_nothing_of_the_internet_at_start(monkeypatch, capsys):
    """A headless Streamlit server prints its "External URL" after asking
    checkip.amazonaws.com, unless the config names the address to print."""
    from streamlit import config, net_util
    from streamlit.web import bootstrap

    flags = dict(f.removeprefix("--").split("=", 1) for f in streamlit_args([])[2:])
    monkeypatch.setattr(net_util, "get_external_ip", lambda: pytest.fail("asked the internet for the public address"))
    try:
        config.get_config_options(force_reparse=True, options_from_flags=flags)
        bootstrap._print_url(is_running_hello=False)
    finally:
        config.get_config_options(force_reparse=True)
    assert "http://localhost:8501" in capsys.readouterr().out


def test_fer_booth_runs_the_app_serving_only_the_booth_view(monkeypatch):
    import os

    from fer.app import launch
    from fer.app.booth import BOOTH_ENV, booth_mode

    seen = {}
    monkeypatch.setenv(BOOTH_ENV, "0")  # restored after the test
    monkeypatch.setattr(launch, "run_app", lambda args: seen.update(args=list(args), booth=booth_mode()) or 0)
    assert main(["booth", "--server.port", "8502"]) == 0
    assert seen == {"args": ["--server.port", "8502"], "booth": True}
    assert os.environ[BOOTH_ENV] == "1"

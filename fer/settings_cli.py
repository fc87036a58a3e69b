"""Every :class:`~fer.engine.settings.Settings` field as a ``fer annotate`` option.

The options are generated from the dataclass: name (``smoothing`` -> ``--smoothing``),
type, default, allowed range and help all come from the field and its metadata, so a
new field is an option at once and the command line cannot drift from the app.

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_settings_arguments(parser)
>>> s = settings_from_args(parser.parse_args(["--smoothing", "0.8", "--size", "320x240", "--tencrop"]))
>>> s.smoothing, s.display_size, s.tencrop, s.min_face
(0.8, (320, 240), True, 0.12)
"""

from __future__ import annotations

import argparse
import typing
from dataclasses import MISSING, Field, fields
from typing import Any

from fer.engine import settings
from fer.engine.settings import FIT_SIDE_RANGE, Settings

#: ``--color R,G,B`` sets both colours at once (before ``--box-color``/``--text-color``).
BOTH_COLORS = ("box_color", "text_color")


def parse_rgb(text: str) -> tuple[int, int, int]:
    """``"255,0,0"`` -> ``(255, 0, 0)`` (:func:`fer.engine.settings.parse_rgb`, as argparse wants its errors)."""
    try:
        return settings.parse_rgb(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)`` (:func:`fer.engine.settings.parse_size`, as argparse wants its errors)."""
    try:
        return settings.parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cli_fields() -> list[Field]:
    """The Settings fields ``fer annotate`` offers: all but those that only apply to a
    camera's pictures (see :func:`fer.engine.settings.option`)."""
    return [f for f in fields(Settings) if not f.metadata.get("camera_only")]


def option_name(f: Field) -> str:
    return "--" + f.name.replace("_", "-")


def _kind(f: Field, hint: Any) -> dict[str, Any]:
    """argparse keywords for a field's type."""
    if hint is bool:
        return {"action": argparse.BooleanOptionalAction}
    if hint in (int, float):
        return {"type": hint, "metavar": "N" if hint is int else "X"}
    if typing.get_origin(hint) is tuple and len(typing.get_args(hint)) == 3:
        return {"type": parse_rgb, "metavar": "R,G,B"}
    if typing.get_origin(hint) is tuple and len(typing.get_args(hint)) == 2:
        return {"type": parse_size, "metavar": "WxH"}
    if typing.get_origin(hint) is typing.Literal:
        return {"choices": typing.get_args(hint)}
    if hint is str:
        return {"type": str}
    raise TypeError(f"Settings.{f.name}: no command-line form for type {hint}; teach fer.settings_cli about it")


def _help(f: Field, default: Any) -> str:
    meta = f.metadata
    text = meta.get("help", f.name.replace("_", " "))
    bounds = meta.get("range")
    if f.name == "display_size":
        bounds = FIT_SIDE_RANGE
        shown = "the input's own size"
    elif isinstance(default, tuple):
        shown = ",".join(str(v) for v in default)
    else:
        shown = str(default)
    limits = f"; {bounds[0]}-{bounds[1]}" if bounds else ""
    return f"{text}{limits} (default: {shown})".replace("%", "%%")


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one option per Settings field (plus ``--color`` for both colours) to ``parser``.
    Unset options stay None, so :func:`settings_from_args` knows what was given."""
    group = parser.add_argument_group("settings (the same as the app's Settings page)")
    hints = typing.get_type_hints(Settings)
    group.add_argument("--color", type=parse_rgb, metavar="R,G,B", help="box and text colour at once")
    for f in cli_fields():
        default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
        group.add_argument(option_name(f), *f.metadata.get("aliases", ()), dest=f"setting_{f.name}", default=None,
                           help=_help(f, default), **_kind(f, hints[f.name]))


def settings_from_args(args: argparse.Namespace) -> Settings:
    """The Settings the options describe, defaults for those not given. Raises
    ValueError naming the option for a value out of range."""
    given = [("--color", BOTH_COLORS, args.color)]
    given += [("/".join([option_name(f), *f.metadata.get("aliases", ())]), (f.name,),
               getattr(args, f"setting_{f.name}"))
              for f in cli_fields()]  # named as argparse names them: --display-size/--size
    changes: dict[str, Any] = {}
    for option, names, value in given:
        if value is None:
            continue
        try:  # one option at a time, so that the error names it
            Settings(**dict.fromkeys(names, value))
        except ValueError as e:
            raise ValueError(f"argument {option}: {e}") from None
        changes.update(dict.fromkeys(names, value))
    return Settings(**changes)


def fits_display(args: argparse.Namespace) -> bool:
    """Whether a display size was given, i.e. outputs are fitted into it."""
    return args.setting_display_size is not None

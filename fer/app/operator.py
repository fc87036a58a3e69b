"""Operator defaults: the settings every new browser session starts from, set once for a
booth instead of re-tuned after each reload.

Each :class:`~fer.engine.settings.Settings` field may be given in the ``[fer]`` section of
Streamlit's secrets file (``.streamlit/secrets.toml``), or as an environment variable
``FER_<FIELD>`` (``FER_SMOOTHING=0.8``, ``FER_BOX_COLOR=255,0,0``,
``FER_DISPLAY_SIZE=640x480``, ``FER_MIRROR=false``), which wins over the file. Values are
checked with the field's own range; a bad one is reported and the field keeps its
built-in default. Settings stays the one definition of names, types and bounds.

>>> d = operator_defaults({"FER_SMOOTHING": "0.8"}, {"fer": {"mirror": False}})
>>> d.settings.smoothing, d.settings.mirror, d.sources["smoothing"], d.sources["mirror"], d.errors
(0.8, False, '$FER_SMOOTHING', 'secrets.toml [fer]', [])
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from fer.app.admission import MAX_STREAMS_ENV
from fer.app.booth import BOOTH_ENV
from fer.app.live import ICE_ENV
from fer.engine.settings import DISPLAY_HEIGHT_RANGE, DISPLAY_WIDTH_RANGE, Settings, parse_rgb, parse_size
from fer.models.modelfile import WEIGHTS_ENV

ENV_PREFIX = "FER_"
SECTION = "fer"
BUILT_IN = "built-in default"
FROM_FILE = f"secrets.toml [{SECTION}]"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
#: How alike a name must be to a known one to be taken for a misspelling of it
#: (difflib's ratio: FER_SMOTHING 0.96; FER_TEST_WEIGHTS, the tests' own, 0.81).
MISSPELLING = 0.85
#: The environment variables the app reads besides the settings' ``FER_<FIELD>``, each
#: named where it is read (all loaded by the app already: this module's one user).
OTHER_VARIABLES = (WEIGHTS_ENV, BOOTH_ENV, MAX_STREAMS_ENV, ICE_ENV)


@dataclass(frozen=True)
class OperatorDefaults:
    """The defaults of new sessions, where each field's value came from (``sources``:
    field name -> :data:`BUILT_IN`, :data:`FROM_FILE` or ``$FER_<FIELD>``), and the values
    that were refused, one sentence each."""

    settings: Settings
    sources: dict[str, str]
    errors: list[str]


def env_name(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()


def operator_defaults(environ: Mapping[str, str], secrets: Mapping[str, Any] | None = None,
                      mode: tuple[str, Mapping[str, Any]] | None = None) -> OperatorDefaults:
    """The operator's defaults from ``environ`` (e.g. ``os.environ``) and ``secrets`` (e.g.
    ``st.secrets``; its ``[fer]`` table is read), over ``mode``'s (a name and field values
    that a mode of the app, such as the booth, starts from instead of the built-in ones).

    >>> d = operator_defaults({"FER_MIN_FACE": "0.1"}, {}, ("booth default", {"min_face": 0.07, "mirror": False}))
    >>> d.settings.min_face, d.sources["min_face"], d.settings.mirror, d.sources["mirror"]
    (0.1, '$FER_MIN_FACE', False, 'booth default')
    """
    table = (secrets or {}).get(SECTION, {})
    errors = []
    if not isinstance(table, Mapping):  # `fer = 5` instead of a [fer] table
        errors.append(f"{FROM_FILE}: {SECTION} = {table!r} ignored: it must be a table, a [{SECTION}] section with "
                      "one setting per line")
        table = {}
    hints = typing.get_type_hints(Settings)
    names = {f.name for f in fields(Settings)}
    mode_name, mode_values = mode or (BUILT_IN, {})
    values: dict[str, Any] = dict(mode_values)
    sources = {name: mode_name if name in mode_values else BUILT_IN for name in names}
    errors += [f"{FROM_FILE}: unknown setting {key!r} (known: {', '.join(sorted(names))})"
               for key in table if key not in names]
    errors += misspelt_variables(environ)
    for f in fields(Settings):
        given = [(FROM_FILE, table[f.name])] if f.name in table else []
        if env_name(f.name) in environ:
            given.append((f"${env_name(f.name)}", environ[env_name(f.name)]))
        for source, raw in given:  # the environment, last, wins over the file
            try:
                value = parse_value(raw, hints[f.name])
                Settings(**{f.name: value})  # the field's own checks, one field at a time
                if f.name == "display_size":
                    check_display_size(value)
            except (ValueError, TypeError) as e:
                errors.append(f"{source}: {f.name} = {raw!r} ignored: {e}")
                continue
            values[f.name], sources[f.name] = value, source
    return OperatorDefaults(Settings(**values), sources, errors)


def misspelt_variables(environ: Mapping[str, str]) -> list[str]:
    """One sentence for each variable in ``environ`` that is not one the app reads but
    nearly is: a misspelt name would otherwise leave its default in place unsaid.

    >>> misspelt_variables({"FER_SMOTHING": "0.8", "FER_SMOOTHING": "0.5", "FER_TEST_WEIGHTS": "x", "HOME": "/"})
    ['$FER_SMOTHING ignored: the app reads no such variable; did you mean $FER_SMOOTHING?']
    """
    known = [env_name(f.name) for f in fields(Settings)] + list(OTHER_VARIABLES)
    return [f"${name} ignored: the app reads no such variable; did you mean ${close[0]}?"
            for name in sorted(environ) if name.upper().startswith(ENV_PREFIX) and name not in known
            for close in [difflib.get_close_matches(name.upper(), known, n=1, cutoff=MISSPELLING)] if close]


def check_display_size(size: tuple[int, int]) -> None:
    """The app's display sizes are bound by its sliders (files are not)."""
    (w, h), (wlo, whi), (hlo, hhi) = size, DISPLAY_WIDTH_RANGE, DISPLAY_HEIGHT_RANGE
    if not (wlo <= w <= whi and hlo <= h <= hhi):
        raise ValueError(f"the app's display size must be within {wlo}-{whi} x {hlo}-{hhi}, got {w}x{h}")


def parse_value(raw: Any, hint: Any) -> Any:
    """A value for a field of type ``hint`` from an environment string or a TOML value.

    >>> parse_value("255,0,0", tuple[int, int, int]), parse_value([640, 480], tuple[int, int])
    ((255, 0, 0), (640, 480))
    """
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError(f"expected true or false, not {raw!r}")
    if typing.get_origin(hint) is tuple:
        if isinstance(raw, (list, tuple)):
            return tuple(parse_value(v, int) for v in raw)
        return parse_rgb(str(raw)) if len(typing.get_args(hint)) == 3 else parse_size(str(raw))
    if hint is int:  # TOML's 255.9 and true are not whole numbers, whatever int() makes of them
        if isinstance(raw, (float, bool)) or (isinstance(raw, str) and not raw.strip().lstrip("-").isdigit()):
            raise ValueError(f"expected a whole number, not {raw!r}")
        return int(raw)
    if hint is float:  # float(True) is 1.0: a TOML true is no number
        if isinstance(raw, bool):
            raise ValueError(f"expected a number, not {raw!r}")
        return float(raw)
    return str(raw)


def defaults_table(defaults: OperatorDefaults) -> list[dict[str, str]]:
    """One row per setting, for the Settings page: its label, its default for new
    sessions, where that came from, and how to set it."""
    rows = []
    for f in fields(Settings):
        value = getattr(defaults.settings, f.name)
        shown = ("x" if f.name == "display_size" else ",").join(map(str, value)) if isinstance(value, tuple) else value
        rows.append({"setting": f.metadata["label"], "default": str(shown), "from": defaults.sources[f.name],
                     "set with": f"{env_name(f.name)} or {f.name} in [{SECTION}]"})
    return rows

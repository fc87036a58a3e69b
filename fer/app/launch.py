"""``fer app``: start the Streamlit app from wherever the package is installed.

Streamlit reads ``.streamlit/config.toml`` only from the current folder, which an
installed package does not have. The project keeps one config file (the checkout's
``.streamlit/config.toml``, which the wheel carries as ``fer/app/streamlit_config``);
``fer app`` passes its options to ``streamlit run`` as flags, so the upload limit, theme
and the rest are the same from a checkout, a wheel or an editable install. Flags given to
``fer app`` win over the file's.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROUTER = Path(__file__).resolve().parent / "router.py"


def config_file() -> Path:
    """The project's Streamlit options: inside the installed package, else the checkout's."""
    installed = Path(__file__).resolve().parent / "streamlit_config" / "config.toml"
    return installed if installed.is_file() else Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml"


def config_flags(path: Path) -> list[str]:
    """``--section.option=value`` for every option of a Streamlit config file."""
    options = tomllib.loads(path.read_text(encoding="utf-8"))
    return [f"--{section}.{name}={_flag_value(value)}" for section, table in options.items()
            for name, value in table.items()]


def _flag_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def streamlit_args(user_args: Sequence[str]) -> list[str]:
    """Arguments for ``streamlit``: ``run`` on the router, the config file's options that
    ``user_args`` do not set, then ``user_args`` themselves."""
    given = {a.split("=", 1)[0] for a in user_args if a.startswith("--")}
    flags = [f for f in config_flags(config_file()) if f.split("=", 1)[0] not in given]
    return ["run", str(ROUTER), *flags, *user_args]


def check_environment() -> None:
    """Raise :class:`ValueError` for a bad ``$FER_MAX_STREAMS``, ``$FER_ICE_SERVERS`` or
    ``$FER_WEIGHTS`` (a folder, or no file: the pages would offer its folder's neighbours):
    the operator is at the terminal now, not later."""
    import os

    from fer.app.admission import max_streams_from_env
    from fer.app.live import rtc_configuration
    from fer.models.modelfile import WEIGHTS_ENV

    max_streams_from_env()
    rtc_configuration()
    weights = os.environ.get(WEIGHTS_ENV)
    if weights and not os.path.isfile(weights):
        what = "a folder; name a model file in it" if os.path.isdir(weights) else "no such file"
        raise ValueError(f"{WEIGHTS_ENV}={weights}: {what}")


def run_app(user_args: Sequence[str]) -> int:
    """Run the Streamlit server in this process until it stops; its exit status."""
    from streamlit.web import cli as streamlit_cli

    try:
        streamlit_cli.main(args=streamlit_args(user_args), prog_name="streamlit", standalone_mode=True)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return 0

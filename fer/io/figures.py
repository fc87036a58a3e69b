"""Figures written like every other output: whole or not at all, a failed write (a full
disk, a folder in the way) one :class:`~fer.io.outputs.OutputError`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from fer.io.outputs import make_folder, written_together


def save_figure(fig: Any, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Save the matplotlib figure ``fig`` as ``path`` (its format from the suffix) and
    close it, also when the write fails."""
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        make_folder(path.parent)
        with written_together(path) as (partial,):
            fig.savefig(partial, dpi=dpi, format=path.suffix.lower().lstrip(".") or "png")
    finally:
        plt.close(fig)
    return path

"""Per-face summaries of a video's log: who was seen when, and how long with each emotion.

The table has one row per track (a face followed across frames): ``track_id``,
``first`` and ``last`` (seconds), ``seconds`` on screen, ``seconds_<emotion>`` per
label shown (``seconds_uncertain`` too when that label was shown) and ``dominant``, the
emotion shown longest. Each row of the log counts for the time until the next processed
frame (the last frame for the median frame step), so variable frame rates add up right.
``fer annotate --summary`` writes the table as CSV and :func:`plot_timeline` as PNG; the
Video page shows both.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from fer.engine.faces import NO_FACE, UNCERTAIN
from fer.io.outputs import written_together


def frame_durations(rows: pd.DataFrame) -> pd.Series:
    """Seconds each processed frame lasts (until the next one), by frame number."""
    times = rows.groupby("frame")["time"].first().sort_index()
    steps = times.diff().shift(-1)
    return steps.fillna(float(steps.median()) if steps.notna().any() else 0.0)


def face_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows that are faces (not "no face" rows), with the track id as an integer."""
    faces = rows[rows["label"] != NO_FACE].copy()
    faces["track_id"] = faces["track_id"].astype(int)
    return faces


def face_summary(rows: pd.DataFrame, class_names: Sequence[str]) -> pd.DataFrame:
    """The per-face table of a video's log (one row per track)."""
    columns = ["track_id", "first", "last", "seconds", *(f"seconds_{c}" for c in class_names), "dominant"]
    faces = face_rows(rows)
    if faces.empty:
        return pd.DataFrame(columns=columns)
    faces["duration"] = faces["frame"].map(frame_durations(rows))
    per_label = faces.pivot_table(index="track_id", columns="label", values="duration", aggfunc="sum", fill_value=0.0)
    shown = [*class_names, *([UNCERTAIN] if UNCERTAIN in per_label.columns else [])]
    per_label = per_label.reindex(columns=shown, fill_value=0.0)
    table = faces.groupby("track_id").agg(first=("time", "min"), last=("time", "max"), seconds=("duration", "sum"))
    table = table.join(per_label.add_prefix("seconds_"))
    emotions = per_label[list(class_names)]
    table["dominant"] = emotions.idxmax(axis=1).where(emotions.max(axis=1) > 0, UNCERTAIN)
    return table.reset_index().round(3)


def timeline(rows: pd.DataFrame, class_names: Sequence[str]) -> pd.DataFrame:
    """Each face's label over time: columns ``seconds``, ``face`` ("face 1"), ``label``,
    ``level`` (the label's position on the chart's axis, emotions in class order, then
    uncertain)."""
    levels = {name: i for i, name in enumerate([*class_names, UNCERTAIN])}
    faces = face_rows(rows)
    return pd.DataFrame({"seconds": faces["time"].to_numpy(), "face": [f"face {t}" for t in faces["track_id"]],
                         "label": faces["label"].to_numpy(), "level": faces["label"].map(levels).to_numpy()})


def plot_timeline(rows: pd.DataFrame, class_names: Sequence[str], title: str = ""):
    """A matplotlib figure: one line per face, its label over time (a gap where the face
    was not seen)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, any thread

    data = timeline(rows, class_names)
    levels = [*class_names, UNCERTAIN]
    step = float(frame_durations(rows).median()) if len(rows) else 0.0
    fig = Figure(figsize=(10, 3.6), dpi=100)
    ax = fig.subplots()
    for face, points in data.groupby("face", sort=False):
        t, y = points["seconds"].to_numpy(), points["level"].to_numpy(dtype=float)
        gaps = np.flatnonzero(np.diff(t) > 1.5 * step) + 1 if step else []
        ax.step(np.insert(t, gaps, np.nan), np.insert(y, gaps, np.nan), where="post", label=face, linewidth=2)
    ax.set_yticks(range(len(levels)), levels)
    ax.set_ylim(-0.5, len(levels) - 0.5)
    ax.set_xlabel("seconds")
    ax.set_title(title or "Emotion of each face over time")
    ax.grid(axis="y", alpha=0.3)
    if len(data):
        ax.legend(loc="upper right", fontsize="small", ncols=min(4, data["face"].nunique()))
    fig.tight_layout()
    return fig


def write_summary(rows: pd.DataFrame, class_names: Sequence[str], paths: tuple[Path, Path]) -> list[Path]:
    """Write the per-face table and the timeline plot to ``paths`` (as
    :func:`fer.io.output_names.summary_paths` names them); each file appears only when complete."""
    table, figure = paths
    title = table.name.removesuffix(".faces.csv")
    with written_together(table, figure) as (table_partial, figure_partial):
        face_summary(rows, class_names).to_csv(table_partial, index=False)
        plot_timeline(rows, class_names, title=title).savefig(figure_partial, format="png")
    return [table, figure]

"""Per-face result logs: one row per face per frame, streamed to CSV and JSON files.

Columns: ``frame``, ``time`` (seconds), ``track_id``, the box (``x1, y1, x2, y2``),
``label``, ``confidence`` and one column per class name; a ``source`` column first when
one log gathers several inputs. JSON holds the same rows as a list of objects, with the
box as a ``box`` list.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from fer.classes import CLASS_NAMES
from fer.engine.faces import Faces

LOG_FORMATS = (".csv", ".json")
#: Row fields other than the per-class probabilities.
BASE_FIELDS = ("source", "frame", "time", "track_id", "box", "label", "confidence")


class FaceLog:
    """Context manager streaming log rows to files as frames are processed.

    ``files`` pairs each path to write with the name whose suffix (``.csv`` or ``.json``)
    gives its format, so rows can go to a temporary file named after the final one.

    >>> with FaceLog([("faces.csv", "faces.csv")]) as log:    # doctest: +SKIP
    ...     log.add(frame=0, seconds=0.0, faces=faces)
    """

    def __init__(self, files: Sequence[tuple[str | os.PathLike, str | os.PathLike]], source: bool = False):
        self.files = [(Path(path), Path(name).suffix.lower()) for path, name in files]
        for path, fmt in self.files:
            if fmt not in LOG_FORMATS:
                raise ValueError(f"log file {path.name} must end in .csv or .json")
        self.with_source = source
        self.rows = 0
        self.labels: dict[str, int] = {}
        self._open: list[IO[str]] = []
        self._csv: list[Any] = []
        self._json: list[IO[str]] = []
        self._columns: list[str] | None = None

    def __enter__(self) -> FaceLog:
        for path, fmt in self.files:
            f = open(path, "w", newline="" if fmt == ".csv" else None, encoding="utf-8")
            self._open.append(f)
            if fmt == ".csv":
                self._csv.append(csv.writer(f))
            else:
                f.write("[")
                self._json.append(f)
        return self

    def add(self, frame: int, seconds: float, faces: Faces, source: str | None = None) -> None:
        """Append one row per face of ``faces``, seen in frame ``frame`` at ``seconds``."""
        self._header(faces.class_names)
        for record in faces.to_records():
            self.add_row({"frame": frame, "time": round(seconds, 4), **record}, source)

    def add_row(self, row: dict[str, Any], source: str | None = None) -> None:
        """Append one row: ``frame``, ``time``, then a :meth:`fer.engine.faces.Faces.to_records` record."""
        self._header([k for k in row if k not in BASE_FIELDS])
        if self.with_source:
            row = {"source": source, **{k: v for k, v in row.items() if k != "source"}}
        self.labels[row["label"]] = self.labels.get(row["label"], 0) + 1
        flat = flatten_row(row)
        for w in self._csv:
            w.writerow([flat[c] for c in self._columns])
        for f in self._json:
            f.write(("," if self.rows else "") + "\n" + json.dumps(row))
        self.rows += 1

    def add_log(self, path: str | os.PathLike, source: str | None = None) -> None:
        """Append every row of a CSV log this class wrote: how per-file logs are gathered
        into one combined log, so both hold the same rows."""
        for row in read_log_csv(path):
            self.add_row(row, source)

    def _header(self, class_names: Sequence[str]) -> None:
        if self._columns is None:
            self._columns = log_columns(class_names, self.with_source)
            for w in self._csv:
                w.writerow(self._columns)

    def __exit__(self, *exc: object) -> None:
        self._header(CLASS_NAMES)  # a log without any frame still gets its columns
        for f in self._json:
            f.write("\n]\n" if self.rows else "]\n")
        for f in self._open:
            f.close()


def log_columns(class_names: Sequence[str] = CLASS_NAMES, with_source: bool = False) -> list[str]:
    """CSV columns of the log."""
    return [*(["source"] if with_source else []), "frame", "time", "track_id", "x1", "y1", "x2", "y2", "label",
            "confidence", *class_names]


def flatten_row(row: dict[str, Any]) -> dict[str, Any]:
    """A log row with its ``box`` spread over ``x1, y1, x2, y2`` (for CSV)."""
    flat = {k: v for k, v in row.items() if k != "box"}
    flat.update(zip(("x1", "y1", "x2", "y2"), row["box"]))
    return flat


def read_log_csv(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Rows of a CSV log with their types restored and the box regrouped, as written."""
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            out: dict[str, Any] = {}
            for key, value in row.items():
                if key in ("frame", "track_id"):
                    out[key] = int(value)
                elif key in ("x1", "y1", "x2", "y2"):
                    out.setdefault("box", []).append(int(value))
                elif key in ("label", "source"):
                    out[key] = value
                else:
                    out[key] = float(value)
            yield out

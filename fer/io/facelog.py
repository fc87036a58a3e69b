"""Per-face result logs a study can cite: one row per face per processed frame, plus a
row for every processed frame (or picture) in which no face was found, and the
provenance of the numbers (package version, model file and its SHA-256, settings, inputs)
once per file.

Columns: ``frame``, ``time`` (seconds), ``track_id``, the box (``x1, y1, x2, y2``),
``label``, ``confidence``, one column per class name (the smoothed probabilities the
label comes from) and ``raw_<class>`` per class (the classifier's output for that frame
alone); a ``source`` column first when one log gathers several inputs. A frame without a
face has ``label`` = ``"no face"`` and the face columns empty.

CSV: the provenance comes first as ``# key: <JSON value>`` comment lines, then a header
row; text fields are quoted, so a ``#`` inside them is never taken for a comment.
``pandas.read_csv(path, comment="#")`` and R's ``read.csv(path, comment.char = "#")``
read the rows; :func:`read_provenance` reads the comment lines.

JSON: a Table Schema document, ``{"provenance": {...}, "schema": {"fields": [...]},
"data": [row, ...]}`` with the box as a ``box`` list:
``pandas.read_json(path, orient="table")`` reads the rows with their types,
``json.load(f)["provenance"]`` the provenance, ``jsonlite::fromJSON(path)$data`` in R.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from fer.classes import CLASS_NAMES
from fer.engine.faces import NO_FACE, RAW_PREFIX, Faces

LOG_FORMATS = (".csv", ".json")
#: Row fields other than the per-class probabilities.
BASE_FIELDS = ("source", "frame", "time", "track_id", "box", "label", "confidence")
BOX_COLUMNS = ("x1", "y1", "x2", "y2")
#: First lines of a CSV log, before the provenance.
CSV_PREAMBLE = ("# fer per-face log: one row per face per processed frame; label \"no face\" marks a frame "
                "without one.\n"
                "# Read it with pandas.read_csv(path, comment=\"#\"). These lines are its provenance, "
                "one JSON value per key.\n")


class FaceLog:
    """Context manager streaming log rows to files as frames are processed.

    ``files`` pairs each path to write with the name whose suffix (``.csv`` or ``.json``)
    gives its format, so rows can go to a temporary file named after the final one.
    ``provenance`` is written at the top of each file when the log closes, so the caller
    may complete it (e.g. with the number of frames decoded) until then. Rows are
    streamed to a ``.rows`` file beside each path, so memory stays flat.

    >>> with FaceLog([("faces.csv", "faces.csv")], provenance={"fer_version": "0.1"}) as log:  # doctest: +SKIP
    ...     log.add(frame=0, seconds=0.0, faces=faces)
    """

    def __init__(self, files: Sequence[tuple[str | os.PathLike, str | os.PathLike]], source: bool = False,
                 provenance: dict[str, Any] | None = None):
        self.files = [(Path(path), Path(name).suffix.lower()) for path, name in files]
        for path, fmt in self.files:
            if fmt not in LOG_FORMATS:
                raise ValueError(f"log file {path.name} must end in .csv or .json")
        self.with_source = source
        self.provenance: dict[str, Any] = dict(provenance or {})
        self.rows = 0  # face rows
        self.frames_without_face = 0
        self.labels: dict[str, int] = {}
        self._bodies: list[tuple[Path, str, IO[str], Any]] = []
        self._columns: list[str] | None = None

    def __enter__(self) -> FaceLog:
        for path, fmt in self.files:
            body = path.with_name(path.name + ".rows")
            with _naming(path, body):
                f = open(body, "w", newline="" if fmt == ".csv" else None, encoding="utf-8")
            self._bodies.append((body, fmt, f, csv_writer(f) if fmt == ".csv" else None))
        return self

    def add(self, frame: int, seconds: float, faces: Faces, source: str | None = None) -> None:
        """Append one row per face of ``faces``, seen in frame ``frame`` at ``seconds``, or
        one "no face" row when there is none."""
        self._header(faces.class_names)
        records = faces.to_records() or [no_face_record(faces.class_names)]
        for record in records:
            self.add_row({"frame": frame, "time": round(seconds, 4), **record}, source)

    def add_row(self, row: dict[str, Any], source: str | None = None) -> None:
        """Append one row: ``frame``, ``time``, then a :meth:`fer.engine.faces.Faces.to_records` record."""
        self._header(class_names_of(row))
        if self.with_source:
            row = {"source": source, **{k: v for k, v in row.items() if k != "source"}}
        if row["label"] == NO_FACE:
            self.frames_without_face += 1
        else:
            self.labels[row["label"]] = self.labels.get(row["label"], 0) + 1
            self.rows += 1
        flat = flatten_row(row)
        for (path, _), (body, fmt, f, writer) in zip(self.files, self._bodies):
            with _naming(path, body):
                if writer is not None:
                    writer.writerow([flat[c] for c in self._columns])
                else:
                    f.write(("," if self.rows + self.frames_without_face > 1 else "") + "\n" + json.dumps(row))

    def add_log(self, path: str | os.PathLike, source: str | None = None) -> None:
        """Append every row of a CSV log this class wrote: how per-file logs are gathered
        into one combined log, so both hold the same rows."""
        for row in read_log_csv(path):
            self.add_row(row, source)

    def _header(self, class_names: Sequence[str]) -> None:
        if self._columns is None:
            self._columns = log_columns(class_names, self.with_source)

    def __exit__(self, exc_type, *exc: object) -> None:
        self._header(CLASS_NAMES)  # a log without any frame still gets its columns
        try:
            for (path, _), (body, fmt, f, _) in zip(self.files, self._bodies):
                with _naming(path, body):
                    f.close()
                    if exc_type is None:
                        _assemble(path, fmt, body, self.provenance, self._columns)
        finally:
            for body, *_ in self._bodies:
                body.unlink(missing_ok=True)


@contextmanager
def _naming(path: Path, body: Path) -> Iterator[None]:
    """A failed write (a full disk, a read-only folder) names the log it was for: Python's
    own error for a buffered write names no file, and the message would blame another
    output; nor is ``body``, where the rows wait, a name the user knows."""
    try:
        yield
    except OSError as e:
        if e.filename is not None and Path(os.fsdecode(e.filename)) != body:
            raise
        raise OSError(e.errno, e.strerror, str(path)) from None


def _assemble(path: Path, fmt: str, body: Path, provenance: dict[str, Any], columns: list[str]) -> None:
    """Write ``path``: the provenance and header, then the streamed rows."""
    with open(path, "w", newline="" if fmt == ".csv" else None, encoding="utf-8") as out, \
            open(body, encoding="utf-8", newline="" if fmt == ".csv" else None) as rows:
        if fmt == ".csv":
            out.write(csv_preamble(provenance))
            csv_writer(out).writerow(columns)
            shutil.copyfileobj(rows, out)
        else:
            out.write(f'{{"provenance": {json.dumps(provenance)},\n"schema": {json.dumps(table_schema(columns))},\n'
                      '"data": [')
            shutil.copyfileobj(rows, out)
            out.write("\n]}\n")


def csv_writer(f: IO[str]) -> Any:
    """Quotes every text field, so ``#`` in a path or label is never read as a comment."""
    return csv.writer(f, quoting=csv.QUOTE_NONNUMERIC)


def csv_preamble(provenance: dict[str, Any]) -> str:
    return CSV_PREAMBLE + "".join(f"# {key}: {json.dumps(value)}\n" for key, value in provenance.items())


def csv_text(rows: Sequence[dict[str, Any]], provenance: dict[str, Any],
             class_names: Sequence[str] = CLASS_NAMES) -> str:
    """A whole CSV log in memory (the Live page's download), in the same format as a file."""
    out = io.StringIO()
    out.write(csv_preamble(provenance))
    writer = csv_writer(out)
    columns = log_columns(class_names)
    writer.writerow(columns)
    for row in rows:
        flat = flatten_row(row)
        writer.writerow([flat[c] for c in columns])
    return out.getvalue()


def table_schema(columns: Sequence[str]) -> dict[str, Any]:
    """Table Schema fields of the JSON rows, as ``pandas.read_json(orient="table")`` reads them."""
    types = {"source": "string", "label": "string", "frame": "integer", "track_id": "integer", "box": "any"}
    fields = []
    for name in [c for c in columns if c not in BOX_COLUMNS[1:]]:
        name = "box" if name == "x1" else name
        field = {"name": name, "type": types.get(name, "number")}
        if name == "track_id":
            field["extDtype"] = "Int64"  # empty in "no face" rows
        fields.append(field)
    return {"fields": fields}


def log_columns(class_names: Sequence[str] = CLASS_NAMES, with_source: bool = False) -> list[str]:
    """CSV columns of the log."""
    return [*(["source"] if with_source else []), "frame", "time", "track_id", *BOX_COLUMNS, "label",
            "confidence", *class_names, *(RAW_PREFIX + c for c in class_names)]


def class_names_of(row: dict[str, Any]) -> list[str]:
    """The class names of a log row, in order (its smoothed-probability keys)."""
    return [k for k in row if k not in BASE_FIELDS and not k.startswith(RAW_PREFIX)]


def no_face_record(class_names: Sequence[str] = CLASS_NAMES) -> dict[str, Any]:
    """The face fields of a row for a frame in which no face was found."""
    return {"track_id": None, "box": None, "label": NO_FACE, "confidence": None,
            **dict.fromkeys(class_names), **dict.fromkeys(RAW_PREFIX + c for c in class_names)}


def flatten_row(row: dict[str, Any]) -> dict[str, Any]:
    """A log row with its ``box`` spread over ``x1, y1, x2, y2`` (for CSV)."""
    flat = {k: v for k, v in row.items() if k != "box"}
    flat.update(zip(BOX_COLUMNS, row["box"] or (None,) * 4))
    return flat


def _csv_lines(f: IO[str]) -> Iterator[str]:
    return (line for line in f if not line.startswith("#"))


def read_log_csv(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Rows of a CSV log with their types restored and the box regrouped, as written."""
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(_csv_lines(f)):
            out: dict[str, Any] = {}
            for key, value in row.items():
                if key in ("label", "source"):
                    out[key] = value
                elif key in BOX_COLUMNS:
                    out["box"] = (out.get("box") or []) + [int(value)] if value != "" else None
                elif value == "":
                    out[key] = None
                elif key in ("frame", "track_id"):
                    out[key] = int(value)
                else:
                    out[key] = float(value)
            yield out


def read_provenance(path: str | os.PathLike) -> dict[str, Any]:
    """The provenance of a CSV or JSON log."""
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        if path.suffix.lower() == ".json":
            return json.load(f)["provenance"]
        found = {}
        for line in f:
            if not line.startswith("#"):
                break
            key, sep, value = line[2:].partition(": ")
            if sep and key.isidentifier():
                found[key] = json.loads(value)
        return found

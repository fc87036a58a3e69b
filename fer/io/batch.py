"""Annotate many files at once, images and videos told apart by their content: what
``fer annotate`` runs.

Each input gets an annotated copy (``NAME.annotated.EXT``; videos always ``.mp4``) and
its results beside it (a JSON list of faces for an image, the per-frame CSV and JSON
logs for a video), unless one combined log for all inputs is asked for.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image, UnidentifiedImageError

from fer.io.facelog import FaceLog, read_log_csv, read_provenance
from fer.io.images import WRITE_FORMATS, ImageError, read_image, save_image
from fer.io.provenance import image_input, provenance
from fer.io.summary import write_summary
from fer.io.video import Progress, VideoError, open_video
from fer.recognizer import EmotionRecognizer

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")


@dataclass
class Result:
    """One input's outcome: what was written and a one-line description, or the error."""

    source: Path
    kind: str  # "image" or "video"
    output: Path | None = None
    text: str = ""
    error: Exception | None = None


def kind_of(path: Path) -> str:
    """``"image"`` or ``"video"``, from the file's content (its name can lie)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    try:
        with Image.open(path):
            return "image"
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        pass
    if path.suffix.lower() in IMAGE_SUFFIXES:
        read_image(path)  # raises the image reader's own explanation
    open_video(path).close()  # raises VideoError when FFmpeg cannot read it either
    return "video"


def output_path(src: Path, kind: str, out: Path | None, many: bool) -> Path:
    """Where ``src``'s annotated copy goes: ``out`` itself for one input and a file name,
    else ``NAME.annotated.EXT`` in ``out`` (a folder) or beside ``src``."""
    if out is not None and not many and not out.is_dir() and out.suffix:
        return out
    suffix = ".mp4" if kind == "video" else (src.suffix.lower() if src.suffix.lower() in WRITE_FORMATS else ".png")
    folder = out if out is not None else src.parent
    return folder / f"{src.stem}.annotated{suffix}"


def annotate_files(inputs: Sequence[str | os.PathLike], recognizer: EmotionRecognizer, out: str | os.PathLike | None = None,
                   log: str | os.PathLike | None = None, fit: bool = False,
                   progress: Callable[[Path], Progress | None] | None = None, summary: bool = False) -> Iterator[Result]:
    """Annotate each input, yielding a :class:`Result` per input as it finishes; a bad
    input yields its error and the others still run.

    ``out``: an output file (one input) or folder (created when missing); default: beside
    each input. ``log``: one ``.csv`` or ``.json`` file for all inputs (with a ``source``
    column) instead of per-input results. ``fit``: fit outputs into the recognizer's
    display size. ``progress(src)`` may return a progress callback for a video.
    ``summary``: also write each video's per-face table and timeline plot beside it
    (see :mod:`fer.io.summary`).
    """
    paths = [Path(p) for p in inputs]
    out_path = Path(out) if out is not None else None
    many = len(paths) > 1
    if out_path is not None and (many or str(out).endswith(os.sep)):
        if out_path.suffix and not out_path.is_dir():
            raise ValueError(f"with several inputs, -o must be a folder, not {out_path.name}")
        out_path.mkdir(parents=True, exist_ok=True)
    combined = Path(log) if log is not None else None
    if combined is not None and combined.suffix.lower() not in (".csv", ".json"):
        raise ValueError(f"--log {combined.name}: the log must be a .csv or .json file")
    partial = combined.with_name(combined.name + ".partial") if combined else None
    try:
        with FaceLog([(partial, combined)] if combined else [], source=True,
                     provenance=provenance(recognizer.classifier, recognizer.settings)) as sink:
            for src in paths:
                result = _annotate_one(src, recognizer, out_path, many, sink if combined else None, fit, progress,
                                       summary)
                yield result
        if partial is not None:
            partial.replace(combined)
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)


def _annotate_one(src: Path, rec: EmotionRecognizer, out: Path | None, many: bool, sink: FaceLog | None, fit: bool,
                  progress, summary: bool) -> Result:
    kind = "image"
    try:
        kind = kind_of(src)
        dst = output_path(src, kind, out, many)
        if dst.resolve() == src.resolve():
            raise (VideoError if kind == "video" else ImageError)(f"{dst} is the input itself; choose another output")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if kind == "image":
            return _image(src, dst, rec, sink, fit)
        return _video(src, dst, rec, sink, fit, progress(src) if progress else None, summary)
    except (ImageError, VideoError, FileNotFoundError) as e:
        return Result(src, kind, error=e)


def _image(src: Path, dst: Path, rec: EmotionRecognizer, sink: FaceLog | None, fit: bool) -> Result:
    image = read_image(src)
    annotated, faces = rec.annotate_image(image, fit=fit)
    save_image(annotated, dst)
    picture = image_input(src, image.shape[1], image.shape[0])
    if sink is not None:
        sink.add(0, 0.0, faces, source=str(src))  # a picture without a face gets its "no face" row
        sink.provenance["inputs"].append(picture)
    else:
        partial, final = dst.with_name(dst.name + ".json.partial"), dst.with_suffix(".json")
        with FaceLog([(partial, final)], provenance=provenance(rec.classifier, rec.settings, [picture])) as face_log:
            face_log.add(0, 0.0, faces)
        partial.replace(final)
    labels = ", ".join(f"{r['label']} {r['confidence']:.0%}" for r in faces.to_records())
    return Result(src, "image", dst, f"{len(faces)} face{'s' if len(faces) != 1 else ''}" + (f" ({labels})" if labels else ""))


def _video(src: Path, dst: Path, rec: EmotionRecognizer, sink: FaceLog | None, fit: bool, progress,
           summary: bool) -> Result:
    with tempfile.TemporaryDirectory(prefix="fer-") as tmp:
        log = Path(tmp) / "faces.csv" if sink is not None else None
        result = rec.annotate_video(src, dst, progress=progress, log=log, fit=fit)
        log = log or dst.with_suffix(".csv")
        if sink is not None:
            for row in read_log_csv(log):
                sink.add_row(row, source=str(src))
            sink.provenance["inputs"] += read_provenance(log)["inputs"]
        written = write_summary(pd.read_csv(log, comment="#"), rec.class_names, dst.with_suffix("")) if summary else []
    return Result(src, "video", dst, f"{result.frames} frames, {result.face_rows} face rows, "
                                     f"{result.frames_without_face} frames without a face, "
                                     f"{result.processing_fps:.0f} frames/s, audio {result.audio}"
                                     + "".join(f"; wrote {p}" for p in written))

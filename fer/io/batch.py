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

from PIL import Image, UnidentifiedImageError

from fer.io.facelog import FaceLog
from fer.io.images import WRITE_FORMATS, ImageError, read_image, save_image
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
                   progress: Callable[[Path], Progress | None] | None = None) -> Iterator[Result]:
    """Annotate each input, yielding a :class:`Result` per input as it finishes; a bad
    input yields its error and the others still run.

    ``out``: an output file (one input) or folder (created when missing); default: beside
    each input. ``log``: one ``.csv`` or ``.json`` file for all inputs (with a ``source``
    column) instead of per-input results. ``fit``: fit outputs into the recognizer's
    display size. ``progress(src)`` may return a progress callback for a video.
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
        with FaceLog([(partial, combined)] if combined else [], source=True) as sink:
            for src in paths:
                result = _annotate_one(src, recognizer, out_path, many, sink if combined else None, fit, progress)
                yield result
        if partial is not None:
            partial.replace(combined)
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)


def _annotate_one(src: Path, rec: EmotionRecognizer, out: Path | None, many: bool, sink: FaceLog | None, fit: bool,
                  progress) -> Result:
    kind = "image"
    try:
        kind = kind_of(src)
        dst = output_path(src, kind, out, many)
        if dst.resolve() == src.resolve():
            raise (VideoError if kind == "video" else ImageError)(f"{dst} is the input itself; choose another output")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if kind == "image":
            return _image(src, dst, rec, sink, fit)
        return _video(src, dst, rec, sink, fit, progress(src) if progress else None)
    except (ImageError, VideoError, FileNotFoundError) as e:
        return Result(src, kind, error=e)


def _image(src: Path, dst: Path, rec: EmotionRecognizer, sink: FaceLog | None, fit: bool) -> Result:
    annotated, faces = rec.annotate_image(read_image(src), fit=fit)
    save_image(annotated, dst)
    if sink is not None:
        sink.add(0, 0.0, faces, source=str(src))
    else:
        partial, final = dst.with_name(dst.name + ".json.partial"), dst.with_suffix(".json")
        with FaceLog([(partial, final)]) as face_log:
            face_log.add(0, 0.0, faces)
        partial.replace(final)
    labels = ", ".join(f"{r['label']} {r['confidence']:.0%}" for r in faces.to_records())
    return Result(src, "image", dst, f"{len(faces)} face{'s' if len(faces) != 1 else ''}" + (f" ({labels})" if labels else ""))


def _video(src: Path, dst: Path, rec: EmotionRecognizer, sink: FaceLog | None, fit: bool, progress) -> Result:
    with tempfile.TemporaryDirectory(prefix="fer-") as tmp:
        log = Path(tmp) / "faces.csv" if sink is not None else None
        summary = rec.annotate_video(src, dst, progress=progress, log=log, fit=fit)
        if sink is not None:
            sink.add_log(log, source=str(src))
    return Result(src, "video", dst, f"{summary.frames} frames, {summary.face_rows} face rows, "
                                     f"{summary.processing_fps:.0f} frames/s, audio {summary.audio}")


"""Annotate many files at once, images and videos told apart by their content: what
``fer annotate`` runs.

Each input gets an annotated copy (``NAME.annotated.EXT``; videos always ``.mp4``) and
its results beside it (a JSON list of faces for an image, the per-frame CSV and JSON
logs for a video), unless one combined log for all inputs is asked for.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from fer.io.facelog import FaceLog, read_provenance
from fer.io.images import ImageError, encode_image, read_image
from fer.io.output_names import Planned, plan_outputs
from fer.io.outputs import (
    OutputError,
    check_writable,
    discard,
    make_folder,
    no_new_empty_folders,
    output_error,
    refuse_folder,
    written_together,
)
from fer.io.provenance import image_input, provenance
from fer.io.video import Progress, VideoError, open_video
from fer.recognizer import EmotionRecognizer

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
#: What a folder given as an input is searched for, besides images (a single file is told by content).
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts", ".wmv", ".flv")
#: What is wrong with an input: it is skipped with its error and the others still run.
INPUT_ERRORS = (ImageError, VideoError, FileNotFoundError)


@dataclass
class Result:
    """One input's outcome: what was written and a one-line description, or the error,
    or why it was skipped."""

    source: Path
    kind: str  # "image" or "video"
    output: Path | None = None
    text: str = ""
    error: Exception | None = None
    skipped: str = ""  # why nothing was done (an output from an earlier run is in the way)
    worker: str = ""  # where it ran, on a Ray cluster ("pid 4242 on node-3")
    attempts: int = 1  # more than one when a Ray worker died on it and it was retried


def kind_of(path: Path) -> str:
    """``"image"`` or ``"video"``, from the file's content (its name can lie)."""
    try:
        is_file, exists = path.is_file(), path.exists()
    except OSError as e:  # no permission to look, a name too long
        raise FileNotFoundError(f"{path} cannot be reached: {e.strerror or e}") from None
    if not is_file:
        raise FileNotFoundError(f"{path} does not exist" if not exists else f"{path} is not a file")
    try:
        with Image.open(path):
            return "image"
    except Image.DecompressionBombError:  # an image, and a huge one: the reader says how huge
        read_image(path)
    except (UnidentifiedImageError, OSError, ValueError):
        pass
    if path.suffix.lower() in IMAGE_SUFFIXES:
        read_image(path)  # raises the image reader's own explanation
    open_video(path).close()  # raises VideoError when FFmpeg cannot read it either
    return "video"


def expand_inputs(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """The input files: a folder stands for the images and videos in it (by extension, in
    name order, not its subfolders; earlier outputs, ``*.annotated*``, left out), a
    pattern with ``*``, ``?`` or ``[`` that names no existing file for the files it
    matches, as a shell expands it (``**`` for any depth); any other name, or a pattern
    matching nothing, is kept as given (a missing file fails later with its own error)."""
    paths: list[Path] = []
    for given in inputs:
        path = Path(given)
        try:
            is_dir = path.is_dir()
        except OSError:  # no permission to look, a name too long: kind_of says so, for this input alone
            paths.append(path)
            continue
        if is_dir:
            try:
                paths += sorted(p for p in path.iterdir() if p.is_file() and _is_media_name(p))
            except OSError as e:
                raise FileNotFoundError(f"cannot list the folder {path}: {e.strerror or e}") from None
        elif not path.exists() and glob.has_magic(str(given)):
            matches = [Path(p) for p in sorted(glob.glob(str(given), recursive=True)) if Path(p).is_file()]
            paths += matches or [path]  # none: it fails as a missing file does
        else:
            paths.append(path)
    return paths


def _is_media_name(path: Path) -> bool:
    return path.suffix.lower() in (*IMAGE_SUFFIXES, *VIDEO_SUFFIXES) and ".annotated" not in path.name


def names_a_file(out: str | os.PathLike) -> bool:
    """Whether ``-o`` names a file rather than a folder: it has a suffix, is not an existing
    folder and does not end in a separator (``runs.v2/`` is a folder to create)."""
    return bool(Path(out).suffix) and not Path(out).is_dir() and not os.fspath(out).endswith(os.sep)


def check_output(inputs: Sequence[str | os.PathLike], out: str | os.PathLike | None) -> None:
    """Several inputs write several outputs, so ``out`` must then be a folder: raise
    :class:`ValueError` before anything runs otherwise."""
    if out is not None and len(inputs) > 1 and names_a_file(out):
        raise ValueError(f"-o {out}: with several inputs, -o must be a folder")


def plan_batch(inputs: Sequence[str | os.PathLike], out: str | os.PathLike | None = None,
               log: str | os.PathLike | None = None, overwrite: bool = False,
               summary: bool = False) -> list[Planned | Result]:
    """Decide, before anything is annotated, where each input's outputs go: a
    :class:`Planned` per usable input, in input order, and a :class:`Result` with the error
    for an input that is not a readable image or video. Creates nothing: the output folder
    is only checked here, and made by the first input written into it, so a run that
    stops before (a log in the way, no usable input) leaves no empty folder.

    Shared by the sequential run and the Ray one (:mod:`fer.io.cluster`), so both write the
    same files. Raises :class:`OutputError` or :class:`ValueError` for outputs that cannot
    be (see :func:`annotate_files`).
    """
    paths = [Path(p) for p in inputs]
    check_output(paths, out)
    out_path = Path(out) if out is not None else None
    out_is_file = out is not None and len(paths) == 1 and names_a_file(out)
    if out_path is not None and not out_is_file and not out_path.is_dir():
        check_writable(out_path, folder=True)
    combined = Path(log) if log is not None else None
    if combined is not None and combined.suffix.lower() not in (".csv", ".json"):
        raise ValueError(f"--log {combined.name}: the log must be a .csv or .json file")
    if combined is not None:
        refuse_folder(combined)  # not an earlier run's log, and --overwrite could not replace it
        if combined.exists() and not overwrite:
            raise OutputError(f"{combined} exists (from an earlier run?); add --overwrite to replace it")

    kinds: list[str | Exception] = []
    for src in paths:
        try:
            kinds.append(kind_of(src))
        except INPUT_ERRORS as e:
            kinds.append(e)
    usable = [(src, kind) for src, kind in zip(paths, kinds) if isinstance(kind, str)]
    plans = iter(plan_outputs(usable, out_path, out_is_file, combined, summary))
    return [Result(src, "image", error=kind) if isinstance(kind, Exception) else next(plans)
            for src, kind in zip(paths, kinds)]


def annotate_files(inputs: Sequence[str | os.PathLike], recognizer: EmotionRecognizer,
                   out: str | os.PathLike | None = None, log: str | os.PathLike | None = None, fit: bool = False,
                   progress: Callable[[Path], Progress | None] | None = None, overwrite: bool = False,
                   summary: bool = False) -> Iterator[Result]:
    """Annotate each input, yielding a :class:`Result` per input as it finishes; a bad
    input, or an output that cannot be written, yields its error and the others still run.

    ``out``: an output file (one input) or folder (created when missing, and removed again
    when the run leaves it empty: every input failed, or it was stopped); default: beside
    each input. Names never clash within a run (see :mod:`fer.io.output_names`). ``log``:
    one ``.csv`` or ``.json`` file for all inputs (with a ``source`` column) instead of
    per-input results. ``fit``: fit outputs into the recognizer's display size.
    ``progress(src)`` may return a progress callback for a video. ``overwrite``: replace
    outputs left by an earlier run; else an input whose outputs exist is skipped.
    Raises :class:`OutputError` when the output folder or the combined log cannot be written.
    ``summary``: also write each video's per-face table and timeline plot beside it
    (see :mod:`fer.io.summary`).

    With ``log``, each input's rows are first written to its own part (see
    :func:`log_parts`), so a rerun after an interruption skips the inputs done and still
    gathers their rows.
    """
    items = plan_batch(inputs, out, log, overwrite, summary)
    planned = []
    folders = output_folders([item for item in items if isinstance(item, Planned)], log)
    with no_new_empty_folders(folders), open_parts(log) as parts:
        for item in items:
            if isinstance(item, Result):
                yield item
                continue
            plan = with_part(item, log)
            planned.append(plan)
            if (done := skipped(plan, overwrite)) is not None:
                yield done
            else:
                report = progress(plan.source) if progress and plan.kind == "video" else None
                yield annotate_one(plan, recognizer, fit, report, overwrite)
        if parts is not None:
            assemble_log(Path(log), parts, planned, provenance(recognizer.classifier, recognizer.settings))


def output_folders(plans: Iterable[Planned], log: str | os.PathLike | None) -> set[Path]:
    """The folders a run writes into, for :func:`no_new_empty_folders`: its outputs', and
    its combined log's (made by :func:`open_parts`, for the log's parts)."""
    return {plan.output.parent for plan in plans} | ({Path(log).parent} if log is not None else set())


def log_parts(log: str | os.PathLike | None) -> Path | None:
    """Where the inputs' rows wait for the combined ``log``: a hidden ``.LOG.parts``
    folder beside it; None without a combined log. Each input's part is renamed
    into place with its outputs, and the log is assembled from the parts, in input order,
    at the end: a rerun after an interruption finds the parts of the inputs it skips."""
    if log is None:
        return None
    return Path(log).with_name(f".{Path(log).name}.parts")


@contextmanager
def open_parts(log: str | os.PathLike | None) -> Iterator[Path | None]:
    """:func:`log_parts`' folder for the length of a run: created first (a failure is an
    :class:`OutputError` about ``log``, a read-only folder, before any input is annotated),
    removed at the end when empty, so an interrupted run leaves only the parts it finished."""
    parts = log_parts(log)
    if parts is None:
        yield None
        return
    try:
        parts.mkdir(parents=True, exist_ok=True)  # the log's folder too, where it is new
    except OSError as e:
        raise output_error(e, [Path(log)], [parts]) from None
    try:
        yield parts
    finally:
        with suppress(OSError):
            parts.rmdir()


def with_part(plan: Planned, log: str | os.PathLike | None) -> Planned:
    """``plan`` writing its rows to its part of the combined ``log`` (see :func:`log_parts`)
    instead of its own results. The part is named after the planned output, so a rerun with
    the same inputs finds it, whatever their order."""
    parts = log_parts(log)
    if parts is None:
        return plan
    key = hashlib.sha256(os.path.abspath(plan.output).encode()).hexdigest()[:20]
    return dataclasses.replace(plan, results=(parts / f"{key}.csv",), log=Path(log))


def assemble_log(log: Path, parts: Path, planned: Sequence[Planned], prov: dict[str, Any]) -> None:
    """Write the combined log from the parts of ``planned`` (those that exist: an input that
    failed has none), in input order, then remove the parts. Without any part (every input
    failed) there is no log: an empty one would only stop the corrected rerun, as a log
    of an earlier run."""
    done = [plan for plan in planned if plan.results[0].exists()]
    if done:
        with written_together(log) as (partial,), FaceLog([(partial, log)], source=True, provenance=prov) as sink:
            for plan in done:
                sink.add_log(plan.results[0], source=str(plan.source))
                sink.provenance["inputs"] += read_provenance(plan.results[0])["inputs"]
    shutil.rmtree(parts, ignore_errors=True)


def skipped(plan: Planned, overwrite: bool) -> Result | None:
    """The result of an input whose outputs an earlier run left (nothing to do), unless
    ``overwrite``: what makes a rerun resume. Only files count: a folder in the way was
    not written by a run, and writing the input reports it as an error."""
    existing = [p for p in plan.files if p.is_file()]
    if existing and not overwrite:
        return Result(plan.source, plan.kind, skipped=f"{existing[0]} exists (from an earlier run?); "
                                                      "add --overwrite to replace it")
    return None


def annotate_one(plan: Planned, rec: EmotionRecognizer, fit: bool = False, progress: Progress | None = None,
                 overwrite: bool = False) -> Result:
    """Annotate one planned input (one unit of work, also on a Ray worker). A bad input or
    an output that cannot be written becomes the result's error."""
    done = skipped(plan, overwrite)
    if done is not None:
        return done
    try:
        make_folder(plan.output.parent)
        if plan.kind == "image":
            result = _image(plan, rec, fit)
        else:
            result = _video(plan, rec, fit, progress)
    except OutputError as e:
        return Result(plan.source, plan.kind, error=in_user_terms(e, plan))
    except INPUT_ERRORS as e:
        return Result(plan.source, plan.kind, error=e)
    if plan.usual is not None:
        result.text += f" (not {plan.usual.name}: another input of this run, or an input, has that name)"
    return result


def in_user_terms(e: OutputError, plan: Planned) -> OutputError:
    """``e``, naming the combined log where it names the log's hidden part: the part is
    bookkeeping, the log is what the user asked for (a full disk there, say)."""
    if plan.log is None or e.path not in plan.results:
        return e
    return OutputError(f"cannot write {plan.log} (this input's rows): {e.reason}", path=plan.log, reason=e.reason)


def _image(plan: Planned, rec: EmotionRecognizer, fit: bool) -> Result:
    image = read_image(plan.source)
    annotated, faces = rec.annotate_image(image, fit=fit)
    picture = image_input(plan.source, image.shape[1], image.shape[0])
    with written_together(plan.output, *plan.results) as (written, *results):
        written.write_bytes(encode_image(annotated, plan.output.suffix))
        if results:
            with FaceLog([(results[0], plan.results[0])],
                         provenance=provenance(rec.classifier, rec.settings, [picture])) as face_log:
                face_log.add(0, 0.0, faces)  # a picture without a face gets its "no face" row
    labels = ", ".join(f"{r['label']} {r['confidence']:.0%}" for r in faces.to_records())
    return Result(plan.source, "image", plan.output,
                  f"{len(faces)} face{'s' if len(faces) != 1 else ''}" + (f" ({labels})" if labels else ""))


def _video(plan: Planned, rec: EmotionRecognizer, fit: bool, progress: Progress | None) -> Result:
    result = rec.annotate_video(plan.source, plan.output, progress=progress, log=list(plan.results), fit=fit)
    written = []
    if plan.summary:
        try:
            written = _write_summary(next(p for p in plan.results if p.suffix == ".csv"), rec.class_names,
                                     plan.summary)
        except BaseException:
            discard(plan.files)  # an input's outputs appear together or not at all (an earlier run's too)
            raise
    skipped = f", {result.skipped} damaged frames skipped" if result.skipped else ""
    return Result(plan.source, "video", plan.output, f"{result.frames} frames{skipped}, {result.face_rows} face rows, "
                                                     f"{result.frames_without_face} frames without a face, "
                                                     f"{result.processing_fps:.0f} frames/s, audio {result.audio}"
                                                     + "".join(f"; wrote {p}" for p in written))


def _write_summary(csv_log: Path, class_names: Sequence[str], paths: tuple[Path, Path]) -> list[Path]:
    """``--summary``'s files from a video's log. pandas (0.6 s to import) is imported here, for
    the runs that ask for a summary, not at the start of every ``fer`` command and Ray worker."""
    import pandas as pd

    from fer.io.summary import write_summary

    return write_summary(pd.read_csv(csv_log, comment="#"), class_names, paths)

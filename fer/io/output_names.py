"""Names of a batch's outputs, decided for all inputs before anything is written, so that
no two inputs of one run write the same file and no output replaces an input.

The usual name is ``NAME.annotated.EXT`` (videos ``.mp4``) with its results beside it
(``.json`` for an image, ``.csv`` and ``.json`` for a video; with ``--summary`` also a
video's ``.faces.csv`` and ``.timeline.png``). Inputs whose files would
clash take longer names, step by step, until every name is unique: first the source's
own extension (``face.jpg.annotated.jpg``, ``face.mp4.annotated.mp4``), then, in a shared
output folder, the names of the folders above the source (``a-face.jpg.annotated.jpg``),
and last the input's position on the command line (``face.jpg.annotated-2.jpg``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fer.io.images import WRITE_FORMATS
from fer.io.outputs import OutputError

#: Results files written beside each output, by kind of input.
RESULT_SUFFIXES = {"image": (".json",), "video": (".csv", ".json")}


@dataclass(frozen=True)
class Planned:
    """Where one input's outputs go."""

    source: Path
    kind: str  # "image" or "video"
    output: Path
    results: tuple[Path, ...]  # empty when one combined log gathers all inputs
    usual: Path | None = None  # the usual output name, when it had to change
    summary: tuple[Path, ...] = ()  # a video's per-face table and timeline, when asked for
    log: Path | None = None  # the combined log whose hidden part ``results`` holds, if any

    @property
    def files(self) -> tuple[Path, ...]:
        return (self.output, *self.results, *self.summary)


def plan_outputs(sources: Sequence[tuple[Path, str]], out: Path | None = None, out_is_file: bool = False,
                 combined_log: Path | None = None, summary: bool = False) -> list[Planned]:
    """Plan the outputs of ``sources`` (path and kind pairs) into the folder ``out``
    (default: beside each source), or into the file ``out`` when ``out_is_file`` (one
    input). ``combined_log``: the one log of the run, if any (then no per-input results).
    ``summary``: videos also write their summary files (:func:`summary_paths`).

    Raises :class:`OutputError` when a name the user chose would replace an input, or
    names an image format that cannot be written.
    """
    reserved = {_key(p) for p, _ in sources} | ({_key(combined_log)} if combined_log else set())
    results = () if combined_log else None
    if out_is_file:
        (src, kind), = sources
        if kind == "image" and out.suffix.lower() not in WRITE_FORMATS:
            raise OutputError(f"{out}: an annotated image is written as {', '.join(sorted(WRITE_FORMATS))}")
        plan = Planned(src, kind, out, _results(out, kind, results), summary=_summary(out, kind, summary))
        for path in plan.files:
            if _key(path) in reserved:
                what = "the --log file" if combined_log and _key(path) == _key(combined_log) else "an input"
                raise OutputError(f"{path} is {what}; choose another output name")
        return [plan]

    levels = [0] * len(sources)
    while True:
        plans = [_plan(src, kind, out, level, i, len(sources), results, summary)
                 for i, ((src, kind), level) in enumerate(zip(sources, levels))]
        owners: dict[str, set[int]] = {}
        for i, plan in enumerate(plans):
            for path in plan.files:
                owners.setdefault(_key(path), set()).add(i)
        clashing = {i for key, who in owners.items() if len(who) > 1 or key in reserved for i in who}
        if not clashing:
            return [p if not levels[i] else Planned(p.source, p.kind, p.output, p.results,
                                                    _plan(p.source, p.kind, out, 0, i, 0, results).output, p.summary)
                    for i, p in enumerate(plans)]
        for i in clashing:
            levels[i] += 1


def _plan(src: Path, kind: str, out: Path | None, level: int, index: int, count: int,
          results: tuple | None, summary: bool = False) -> Planned:
    folder = out if out is not None else src.parent
    ext = ".mp4" if kind == "video" else (src.suffix.lower() if src.suffix.lower() in WRITE_FORMATS else ".png")
    parents = Path(os.path.abspath(src)).parent.parts[1:] if out is not None else ()
    base, counter = (src.stem if level == 0 else src.name), ""
    if 2 <= level <= 1 + len(parents):
        base = "-".join([*parents[len(parents) - level + 1:], src.name])
    elif level > 1 + len(parents):  # the same file twice, or names chosen to clash: number them
        counter = f"-{index + 1 + count * (level - 2 - len(parents))}"
    output = folder / f"{base}.annotated{counter}{ext}"
    return Planned(src, kind, output, _results(output, kind, results), summary=_summary(output, kind, summary))


def summary_paths(stem: str | os.PathLike) -> tuple[Path, Path]:
    """Where a video's summary goes: ``STEM.faces.csv`` (the per-face table) and
    ``STEM.timeline.png``; a batch plans them with its other outputs, so they never clash."""
    stem = Path(stem)
    return stem.with_name(stem.name + ".faces.csv"), stem.with_name(stem.name + ".timeline.png")


def _summary(output: Path, kind: str, summary: bool) -> tuple[Path, ...]:
    return summary_paths(output.with_suffix("")) if summary and kind == "video" else ()


def _results(output: Path, kind: str, results: tuple | None) -> tuple[Path, ...]:
    return results if results is not None else tuple(output.with_suffix(s) for s in RESULT_SUFFIXES[kind])


def _key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))

"""User-facing settings of the frame pipeline, with their defaults and allowed ranges.

The command line, the Python API and the app's Settings page all read this one
definition, so a default or a bound is never written twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, get_args

RGB = tuple[int, int, int]

#: Face detectors (see :mod:`fer.engine.detect`): OpenCV's Haar cascade, BlazeFace's
#: short-range model run at the resolution ``min_face`` asks for, and BlazeFace's
#: full-range model (one fixed 192x192 pass; measured weaker, kept for comparison).
Detector = Literal["haar", "blazeface", "blazeface-full"]
DETECTORS: tuple[str, ...] = get_args(Detector)

#: Display sizes the app offers (its width and height sliders), in pixels.
DISPLAY_WIDTH_RANGE = (120, 800)
DISPLAY_HEIGHT_RANGE = (80, 600)
#: Sides a picture or video may be fitted into (``fer annotate --size``, the API): files
#: are not bound by what the app's display needs.
FIT_SIDE_RANGE = (16, 7680)


def parse_rgb(text: str) -> tuple[int, int, int]:
    """``"255,0,0"`` -> ``(255, 0, 0)``; how colours are written on the command line and in
    environment variables."""
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() and int(p) <= 255 for p in parts):
        raise ValueError(f"expected R,G,B with each 0-255, e.g. 255,0,0, not {text!r}")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


def parse_size(text: str) -> tuple[int, int]:
    """``"640x480"`` -> ``(640, 480)``; how sizes are written on the command line and in
    environment variables."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"expected WIDTHxHEIGHT in pixels, e.g. 640x480, not {text!r}")
    return int(parts[0]), int(parts[1])


def option(label: str, help: str, range: tuple[float, float] | None = None, step: float | None = None,
           aliases: tuple[str, ...] = (), camera_only: bool = False) -> dict[str, Any]:
    """A field's description for the command line and the app: ``label`` (the app's
    control), ``help``, the allowed ``range`` (inclusive; it is what the app's slider
    offers and what validation accepts), the slider's ``step``, and extra option
    names for ``fer annotate``. ``camera_only`` fields apply to a camera's pictures
    (the live stream, snapshots), so ``fer annotate``, which reads files, has no option
    for them."""
    return {"label": label, "help": help, "range": range, "step": step, "aliases": aliases,
            "camera_only": camera_only}


@dataclass(frozen=True)
class Settings:
    """How faces are found, labelled and drawn. Immutable: change with :meth:`replace`.

    Each field's metadata (see :func:`option`) gives its label, help and range to the
    ``fer annotate`` options (:mod:`fer.settings_cli`) and the app's controls.
    """

    box_color: RGB = field(default=(0, 255, 0), metadata=option("Box colour", "colour of the face boxes"))
    text_color: RGB = field(default=(0, 255, 0), metadata=option("Text colour", "colour of the labels"))
    display_size: tuple[int, int] = field(default=(640, 480), metadata=option(
        "Display size", "fit the output into this width x height, keeping the aspect ratio (on the app's Live "
        "page, also the video's size on screen)", aliases=("--size",)))
    tencrop: bool = field(default=False, metadata=option(
        "Ten-crop (slower, a little more accurate)",
        "average the model over ten shifted and mirrored crops of each face"))
    smoothing: float = field(default=0.6, metadata=option(
        "Smoothing", "how much each face's label keeps of its past (exponential moving average; 0 = none): "
        "higher is steadier but slower to follow a change of expression", (0.0, 0.95), 0.05))
    min_face: float = field(default=0.12, metadata=option(
        "Minimum face size (fraction of the frame's shorter side)",
        "smallest face to find, as a fraction of the frame's shorter side; smaller finds faces further away, "
        "at some cost in speed", (0.05, 0.5), 0.01))
    min_neighbors: int = field(default=5, metadata=option(
        "Detector strictness", "Haar min neighbours: lower is more sensitive, finding more faces and more "
        "false ones", (1, 12), 1))
    show_bars: bool = field(default=False, metadata=option(
        "Probability bars beside each face", "draw the seven probabilities beside each face"))
    show_track_id: bool = field(default=False, metadata=option("Show track ids", "draw each face's track id"))
    uncertain_below: float = field(default=0.0, metadata=option(
        "Show 'uncertain' below this confidence",
        "label a face 'uncertain' when its top probability is below this; 0 = always the most likely emotion",
        (0.0, 0.99), 0.01))
    scale_factor: float = field(default=1.1, metadata=option(
        "Scale step between scans", "Haar detector: size step between scans; higher is faster and misses "
        "more faces", (1.05, 1.5), 0.05))
    full_scan_every: int = field(default=5, metadata=option(
        "Scan the whole frame every N frames", "live and video: between full scans the detector looks only "
        "near known faces; lower finds newcomers sooner, at some cost in speed", (1, 15), 1))
    equalize: bool = field(default=False, metadata=option(
        "Equalise lighting before detection", "equalise the histogram before detection (helps in dim or flat "
        "light)"))
    detector: Detector = field(default="haar", metadata=option(
        "Face detector", "haar (fast, upright frontal faces) or blazeface (finds tilted, turned and half-covered "
        "faces too); blazeface-full is BlazeFace's full-range model"))
    align: bool = field(default=True, metadata=option(
        "Turn faces upright by the eyes (BlazeFace)", "BlazeFace: rotate a face leaning over 10 degrees upright "
        "by its eye keypoints before classifying it"))
    label_size: float = field(default=0.04, metadata=option(
        "Label size", "height of the labels' capital letters, as a fraction of the picture's height (0.04 = 4%: "
        "readable from about 2 m on a 24-inch screen filled by the picture)", (0.02, 0.12), 0.005))
    mirror: bool = field(default=True, metadata=option(
        "Mirror the camera view", "show the live camera and snapshots mirrored, as a mirror or a video call "
        "does (labels still read the right way; boxes and logs stay in the camera's coordinates)",
        camera_only=True))

    def __post_init__(self) -> None:
        w, h = self.display_size
        lo, hi = FIT_SIDE_RANGE
        if not (lo <= w <= hi and lo <= h <= hi):
            raise ValueError(f"display size {w}x{h} is outside {lo}-{hi} x {lo}-{hi}")
        for name in ("box_color", "text_color"):
            color = getattr(self, name)
            if len(color) != 3 or not all(0 <= int(c) <= 255 for c in color):
                raise ValueError(f"{name} must be three integers 0-255, got {color}")
        for f in fields(self):
            bounds = f.metadata.get("range")
            if bounds is not None and not bounds[0] <= getattr(self, f.name) <= bounds[1]:
                raise ValueError(f"{f.name} must be in [{bounds[0]}, {bounds[1]}], got {getattr(self, f.name)}")
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}")

    def replace(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

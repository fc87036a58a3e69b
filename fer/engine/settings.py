"""User-facing settings of the frame pipeline, with their defaults and allowed ranges.

The command line, the Python API and the app's Settings page all read this one
definition, so a default or a bound is never written twice.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

RGB = tuple[int, int, int]

#: Face detectors (see :mod:`fer.engine.detect`): OpenCV's Haar cascade, BlazeFace's
#: short-range model run at the resolution ``min_face`` asks for, and BlazeFace's
#: full-range model (one fixed 192x192 pass; measured weaker, kept for comparison).
DETECTORS = ("haar", "blazeface", "blazeface-full")

#: Allowed display sizes (width, height), in pixels.
DISPLAY_WIDTH_RANGE = (120, 800)
DISPLAY_HEIGHT_RANGE = (80, 600)


@dataclass(frozen=True)
class Settings:
    """How faces are found, labelled and drawn. Immutable: change with :meth:`replace`."""

    box_color: RGB = (0, 255, 0)
    text_color: RGB = (0, 255, 0)
    display_size: tuple[int, int] = (640, 480)
    tencrop: bool = False
    smoothing: float = 0.6  # EMA weight of the past, 0 = off, < 1
    min_face: float = 0.12  # smallest face, as a fraction of the frame's shorter side
    min_neighbors: int = 5  # Haar detector: higher = fewer false faces, lower = more sensitive
    show_bars: bool = False
    show_track_id: bool = False
    uncertain_below: float = 0.0  # show "uncertain" when the top probability is below this
    scale_factor: float = 1.1  # Haar detector: size step between scans; higher = faster, misses more
    full_scan_every: int = 5  # live/video: scan the whole frame every N frames, near known faces between
    equalize: bool = False  # equalise the histogram before detection (helps in dim or flat light)
    detector: str = "haar"  # one of DETECTORS
    align: bool = True  # BlazeFace: turn faces leaning over 10 degrees upright by their eyes before classifying

    def __post_init__(self) -> None:
        w, h = self.display_size
        if not (DISPLAY_WIDTH_RANGE[0] <= w <= DISPLAY_WIDTH_RANGE[1]
                and DISPLAY_HEIGHT_RANGE[0] <= h <= DISPLAY_HEIGHT_RANGE[1]):
            raise ValueError(f"display size {w}x{h} is outside {DISPLAY_WIDTH_RANGE[0]}-{DISPLAY_WIDTH_RANGE[1]} "
                             f"x {DISPLAY_HEIGHT_RANGE[0]}-{DISPLAY_HEIGHT_RANGE[1]}")
        for name in ("box_color", "text_color"):
            color = getattr(self, name)
            if len(color) != 3 or not all(0 <= int(c) <= 255 for c in color):
                raise ValueError(f"{name} must be three integers 0-255, got {color}")
        if not 0 <= self.smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {self.smoothing}")
        if not 0 < self.min_face <= 1:
            raise ValueError(f"min_face must be in (0, 1], got {self.min_face}")
        if self.min_neighbors < 1:
            raise ValueError(f"min_neighbors must be at least 1, got {self.min_neighbors}")
        if not 0 <= self.uncertain_below < 1:
            raise ValueError(f"uncertain_below must be in [0, 1), got {self.uncertain_below}")
        if not 1 < self.scale_factor <= 2:
            raise ValueError(f"scale_factor must be in (1, 2], got {self.scale_factor}")
        if self.detector not in DETECTORS:
            raise ValueError(f"detector must be one of {', '.join(DETECTORS)}, got {self.detector!r}")
        if self.full_scan_every < 1:
            raise ValueError(f"full_scan_every must be at least 1, got {self.full_scan_every}")

    def replace(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

"""Graceful degradation of a live stream: when frames take longer than their budget,
turn off, one step at a time, what costs most and is missed least; turn it back on once
frames are fast again. The Live page says which steps are in force.

The latest-frame path (:mod:`fer.app.framepath`) already keeps the delay to about one or
two frames' processing time; these steps keep that processing time itself short on a
loaded machine.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import replace

from fer.engine.settings import Settings

BUDGET_MS = 100.0  # processing time per frame above which a stream degrades
WINDOW = 10  # frames between two decisions

# (what the page says, the cheaper settings): each step applies on top of the ones before
STEPS: tuple[tuple[str, Callable[[Settings], Settings]], ...] = (
    ("ten-crop off", lambda s: replace(s, tencrop=False)),
    ("whole-frame scans every 15 frames", lambda s: replace(s, full_scan_every=max(s.full_scan_every, 15))),
)


class Degrader:
    """Decides, from recent processing times, how many :data:`STEPS` a stream takes.

    Every :data:`WINDOW` frames: a median above ``budget_ms`` takes one more step, a
    median below half of it gives one back (the gap between the two keeps it from
    flapping). Steps that would change nothing (ten-crop already off) are skipped.
    """

    def __init__(self, budget_ms: float = BUDGET_MS, window: int = WINDOW):
        self.budget_ms = budget_ms
        self.window = window
        self.level = 0
        self._times: list[float] = []

    def observe(self, ms: float, requested: Settings) -> None:
        """Record one frame's processing time (milliseconds) under ``requested`` settings."""
        self._times.append(ms)
        if len(self._times) < self.window:
            return
        median, self._times = statistics.median(self._times), []
        useful = len(self._useful_steps(requested))
        if median > self.budget_ms and self.level < useful:
            self.level += 1
        elif median < self.budget_ms / 2 and self.level > 0:
            self.level -= 1
        self.level = min(self.level, useful)

    def settings(self, requested: Settings) -> Settings:
        """``requested`` with the steps in force applied."""
        for _, step in self._useful_steps(requested)[:self.level]:
            requested = step(requested)
        return requested

    def notes(self, requested: Settings) -> list[str]:
        """What the steps in force turned off, for the page."""
        return [name for name, _ in self._useful_steps(requested)[:self.level]]

    @staticmethod
    def _useful_steps(requested: Settings) -> list[tuple[str, Callable[[Settings], Settings]]]:
        useful, s = [], requested
        for name, step in STEPS:
            cheaper = step(s)
            if cheaper != s:
                useful.append((name, step))
                s = cheaper
        return useful

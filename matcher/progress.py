"""Progress reporting without a UI dependency: the engine reports (stage, fraction); callers render it.

The CLI draws a bar on stderr; the workers will store the same numbers on the task run row. A callback may
raise to cancel: the engine calls it between chunks, so cancellation is cooperative and prompt.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

ProgressCallback = Callable[[str, float], None]


class Progress:
    """Weighted stages mapped onto one overall fraction in [0, 1]."""

    STAGES = {"prepare": 0.1, "blocking": 0.25, "features": 0.3, "model": 0.15, "clustering": 0.15, "output": 0.05}

    def __init__(self, callback: ProgressCallback | None = None) -> None:
        self.callback = callback
        self._done = 0.0
        self._stage = ""
        self._weight = 0.0

    def stage(self, name: str) -> None:
        self._done += self._weight
        self._stage = name
        self._weight = self.STAGES.get(name, 0.0)
        self.update(0.0)

    def update(self, fraction: float) -> None:
        if self.callback is not None:
            overall = min(1.0, self._done + self._weight * max(0.0, min(1.0, fraction)))
            self.callback(self._stage, overall)

    def finish(self) -> None:
        if self.callback is not None:
            self.callback("done", 1.0)


class StderrBar:
    """A one-line progress bar on stderr, redrawn at most 10 times a second."""

    mid_line = False  # a bar is drawn and its line not finished: an error message must start a new line

    def __init__(self, width: int = 30) -> None:
        self.width = width
        self._last = 0.0
        self._start = time.monotonic()

    def __call__(self, stage: str, fraction: float) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and fraction < 1.0:
            return
        self._last = now
        filled = int(self.width * fraction)
        bar = "#" * filled + "-" * (self.width - filled)
        end = "\n" if stage == "done" else ""
        sys.stderr.write(f"\r[{bar}] {fraction * 100:5.1f}% {stage:<12} {now - self._start:6.1f}s{end}")
        sys.stderr.flush()
        StderrBar.mid_line = not end

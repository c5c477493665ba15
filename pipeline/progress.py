"""A one-line progress bar on a terminal; silent when output is redirected (CI, sweeps, logs)."""

import sys
import time


class Progress:
    """Shows ``label [#####.....] i/n`` on stderr, rewritten in place."""

    def __init__(self, total, label="", stream=None, width=30):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty()
        self.total, self.label, self.width = max(int(total), 1), label, width
        self._last = 0.0

    def update(self, done, detail=""):
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.1 and done < self.total):
            return  # redraw at most ten times a second
        self._last = now
        filled = int(self.width * done / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{self.label} [{bar}] {done}/{self.total} {detail}\033[K")
        self.stream.flush()

    def close(self):
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()

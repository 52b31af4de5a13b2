"""Stage log lines and a progress bar over a run's stages, for the terminal.

The pipeline and the writers log each finished stage through :func:`log_stage` (``[name
1.2s, peak 512 MB] message``); :class:`StageProgress` is a logging handler that advances a
tqdm bar on those records. The bar is off with ``--quiet`` and when stderr is not a
terminal (scripts, CI, log files), so it never ends up in captured output.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import TextIO

from tqdm import tqdm

__all__ = ["StageProgress", "log_stage"]

logger = logging.getLogger("mujun.pipeline")


class StageProgress(logging.Handler):
    """Advance a bar of ``total`` steps for every log record that names a ``stage``."""

    def __init__(self, total: int, *, quiet: bool, file: TextIO | None = None) -> None:
        super().__init__(level=logging.INFO)
        # disable=None: tqdm turns itself off when the file is not a terminal
        self.bar = tqdm(
            total=total,
            desc="mujun",
            unit="stage",
            file=file or sys.stderr,
            disable=True if quiet else (False if file is not None else None),
            leave=False,
            bar_format="{desc}: {n}/{total} stages |{bar}| {elapsed} {postfix}",
        )

    def emit(self, record: logging.LogRecord) -> None:
        stage = getattr(record, "stage", None)
        if stage:
            self.bar.set_postfix_str(f"{stage} done", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
        super().close()


def log_stage(name: str, started: float, message: str, *args: object) -> float:
    """Log ``[name 1.2s, peak 512 MB] message``: seconds since ``started`` and the process's
    peak memory so far (its high-water resident set; where the peak rose is the stage that
    raised it). Returns the time now."""
    peak = _peak_mb()
    logger.info(
        "[%s %.1fs%s] " + message,
        name,
        time.perf_counter() - started,
        f", peak {peak:.0f} MB" if peak is not None else "",
        *args,
        extra={"stage": name, "peak_mb": peak},
    )
    return time.perf_counter()


def _peak_mb() -> float | None:
    """The process's peak resident set so far in MB (None where the OS does not say)."""
    try:
        import resource  # noqa: PLC0415 - not on Windows
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB; bytes on macOS
    return peak / (1 << 20) if sys.platform == "darwin" else peak / 1024

"""A progress bar over a run's stages, for the terminal.

The pipeline and the writers log each finished stage through
:func:`mujun.pipeline.log_stage`; :class:`StageProgress` is a logging handler that advances a
tqdm bar on those records. The bar is off with ``--quiet`` and when stderr is not a terminal
(scripts, CI, log files), so it never ends up in captured output.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

from tqdm import tqdm

__all__ = ["StageProgress"]


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

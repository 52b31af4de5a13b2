"""All or nothing: a run's outputs are written into a staging folder and moved into place
only once the whole run has succeeded.

Layout: ``OUT/.mujun-staging/new/`` mirrors ``OUT`` (``maps/``, ``exports/``); the files of
the previous run that are replaced or no longer written are moved to
``OUT/.mujun-staging/old/`` during the commit. The commit is a journal
(``OUT/.mujun-commit.json``) followed by one rename per file, ``exports/run.json`` last, with
Ctrl-C held back until it is done; deleting the journal is the commit point. A run killed
before it leaves the previous outputs as they were, plus a staging folder that the next run
removes; a run killed during the commit (a few renames) leaves the journal, and the next run
(or any ``mujun`` command on the folder) puts the previous outputs back, byte for byte, before
doing anything else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import signal
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mujun.errors import OutputPathError

__all__ = ["JOURNAL", "STAGING", "Staging", "recover", "refuse_symlinks"]

logger = logging.getLogger(__name__)

STAGING = ".mujun-staging"
JOURNAL = ".mujun-commit.json"


def refuse_symlinks(out: Path, paths: Sequence[Path]) -> None:
    """Refuse a symbolic link anywhere between ``out`` and each of ``paths`` (``out`` itself
    may be one): a run never writes through a link, dangling or not, out of its folder."""
    for path in paths:
        rel = path.relative_to(out)
        current = out
        for part in rel.parts:
            current = current / part
            if current.is_symlink():
                raise OutputPathError(
                    f"{current} is a symbolic link (to {current.readlink()}); mujun does not "
                    "write through links: remove it, or choose another --out"
                )


def _move(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    src.replace(dst)


@contextlib.contextmanager
def _no_interrupt() -> Iterator[None]:
    """Hold back SIGINT (Ctrl-C) and SIGTERM while the renames of the commit are made; they
    are delivered right after. Where the platform cannot, nothing is held back."""
    signals = {signal.SIGINT, signal.SIGTERM}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    except (AttributeError, ValueError, OSError):  # Windows, or not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def recover(out: Path, *, stale: bool = True) -> str | None:
    """Tidy ``out`` after an interrupted run: a commit cut short is undone (the previous
    outputs are put back) and, with ``stale``, a staging folder left by a run killed before
    its commit is removed. Returns what was done, or None."""
    journal = out / JOURNAL
    staging = out / STAGING
    if not out.is_dir():
        return None
    if journal.exists():
        plan = json.loads(journal.read_text("utf-8"))
        for staged, final in plan["moves"]:
            if not Path(staged).exists() and Path(final).exists():
                _move(Path(final), Path(staged))  # a new file already moved in: out again
        old = staging / "old"
        for rel in plan["replaced"]:
            if (old / rel).exists():
                _move(old / rel, out / rel)
        journal.unlink()
        shutil.rmtree(staging, ignore_errors=True)
        said = f"{out}: an interrupted run's outputs were rolled back; the previous ones are kept"
        logger.warning("%s", said)
        return said
    if stale and staging.exists():
        shutil.rmtree(staging, ignore_errors=True)
        said = f"{out}: removed the staging folder of an interrupted run"
        logger.info("%s", said)
        return said
    return None


@dataclass
class Staging:
    """The staging folder of one run under ``out``; see the module docs."""

    out: Path
    notes: list[str] = field(default_factory=list)

    @classmethod
    def begin(cls, out: Path) -> Staging:
        """Start a run's staging under ``out`` (created if needed), tidying up first."""
        if out.exists() and not out.is_dir():
            raise OutputPathError(f"--out {out} is a file, not a folder; give a folder")
        out.mkdir(parents=True, exist_ok=True)
        staging = cls(out)
        said = recover(out)
        if said:
            staging.notes.append(said)
        (out / STAGING / "new").mkdir(parents=True)
        return staging

    @property
    def root(self) -> Path:
        return self.out / STAGING / "new"

    def path(self, final: Path) -> Path:
        """Where ``final`` (a path under ``out``) is written until the commit."""
        staged = self.root / final.relative_to(self.out)
        staged.parent.mkdir(parents=True, exist_ok=True)
        return staged

    def commit(self, finals: Sequence[Path], remove: Sequence[Path] = ()) -> None:
        """Move the staged ``finals`` into place (the last one last: run.json) and take away
        ``remove`` (files of the previous run this one does not write)."""
        old = self.out / STAGING / "old"
        moves = [(self.path(f), f) for f in finals if self.path(f).exists()]
        replaced = [p for p in [*remove, *finals] if p.exists() or p.is_symlink()]
        plan = {
            "moves": [[str(a), str(b)] for a, b in moves],
            "replaced": [str(p.relative_to(self.out)) for p in replaced],
        }
        journal = self.out / JOURNAL
        tmp = journal.with_suffix(".tmp")
        tmp.write_text(json.dumps(plan), encoding="utf-8")
        with _no_interrupt():
            tmp.replace(journal)
            if len(finals) and finals[-1] in replaced:  # the old run.json first: no valid run
                _move(finals[-1], old / finals[-1].relative_to(self.out))
            for path in replaced:
                if path.exists() or path.is_symlink():
                    _move(path, old / path.relative_to(self.out))
            for staged, final in moves:
                _move(staged, final)
            journal.unlink()  # the commit point
        shutil.rmtree(self.out / STAGING, ignore_errors=True)

    def abort(self) -> None:
        """Forget everything staged; the previous outputs stay as they were."""
        shutil.rmtree(self.out / STAGING, ignore_errors=True)

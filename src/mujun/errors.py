"""Exceptions and warnings raised by mujun.

Every error that a problem in the user's data can cause is a :class:`MujunError`. Each one also
inherits the builtin exception a caller would naturally catch (``ValueError`` for bad values,
``OSError`` for unreadable files), so ``except ValueError`` keeps working for callers that do not
know mujun. The CLI maps any ``MujunError`` to a message and exit code 2, never a traceback.
"""

from __future__ import annotations

__all__ = [
    "CRSError",
    "ConfigError",
    "DataQualityWarning",
    "InputError",
    "InputFileError",
    "JoinError",
    "MujunError",
    "NotARunError",
    "OutputError",
    "OutputExistsError",
    "OutputPathError",
    "ReconciliationError",
    "SchemaError",
]


class MujunError(Exception):
    """Base class of every error mujun raises on purpose."""


class InputError(MujunError, ValueError):
    """Input data that cannot be used as given (values, geometry, identifiers)."""


class SchemaError(InputError):
    """A required column is missing, ambiguous, or has no known unit.

    ``missing``: the canonical columns that were not found (so that a caller can add what
    it knows, e.g. which columns would join the two files)."""

    def __init__(self, message: str = "", *, missing: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.missing = missing


class CRSError(InputError):
    """A coordinate reference system is missing, unsuitable for area, or inconsistent."""


class JoinError(InputError):
    """Filings and parcels cannot be joined as configured."""


class ConfigError(MujunError, ValueError):
    """A configuration file or option is invalid."""


class InputFileError(MujunError, OSError):
    """An input file is missing or cannot be read in any supported format."""


class OutputExistsError(MujunError, FileExistsError):
    """An output file exists and ``overwrite`` was not requested."""


class OutputPathError(MujunError, ValueError):
    """The output folder or a name in it cannot be used: ``--out`` is a file, ``--map-name``
    is not a plain file name, a symbolic link lies in the output tree."""


class NotARunError(MujunError, ValueError):
    """A folder given to ``mujun report`` holds no finished run (no readable
    ``exports/run.json`` or an export it lists is missing)."""


class OutputError(MujunError, OSError):
    """The outputs could not be written (disk full, permission denied); the previous outputs
    are kept."""


class ReconciliationError(MujunError, RuntimeError):
    """Record counts or money totals do not reconcile between input and output.

    This signals a bug, not bad data: the run stops rather than publish numbers that lost or
    double-counted something.
    """


class DataQualityWarning(UserWarning):
    """Data were usable but suspicious (for example a credit code failing its check character)."""

"""Input paths, including files inside a zip archive.

Counties and assessors publish layers and tables as zip files (a shapefile with its DBF
tables, several layers per archive); mujun reads them in place. A member of an archive is
written ``zip://archive.zip!folder/table.dbf`` (the form pyogrio and fiona use) or
``archive.zip!folder/table.dbf``; inside mujun it is the path ``archive.zip!folder/table.dbf``
(``pathlib`` would fold the ``//`` of ``zip://``), and :func:`gdal_path` gives GDAL's form.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from mujun.errors import InputFileError

__all__ = [
    "exists",
    "gdal_path",
    "input_path",
    "member",
    "read_bytes",
    "sha256",
    "sibling",
    "size",
]

_SCHEME = "zip://"


def input_path(value: str | Path, base: Path | None = None) -> Path:
    """The path mujun keeps for ``value`` (a file, a folder, or ``zip://a.zip!member``),
    relative paths taken from ``base`` if given.

    Examples
    --------
    >>> str(input_path("zip://data/a.zip!L3/t.dbf"))
    'data/a.zip!L3/t.dbf'
    >>> str(input_path("a.zip!t.dbf", Path("/x")))
    '/x/a.zip!t.dbf'
    """
    text = str(value)
    if text.startswith(_SCHEME):
        text = text[len(_SCHEME) :]
    path = Path(text)
    if base is not None and not path.is_absolute():
        path = base / path
    return path


def member(path: Path) -> tuple[Path, str] | None:
    """``(archive, member)`` of a path into a zip archive, None for a plain path."""
    text = str(path)
    head, sep, tail = text.partition("!")
    if sep and head.lower().endswith(".zip") and tail:
        return Path(head), tail.lstrip("/")
    return None


def gdal_path(path: Path) -> str:
    """The path as pyogrio/GDAL open it (``zip:///abs/a.zip!member`` for a member)."""
    inside = member(path)
    if inside is None:
        return str(path)
    archive, name = inside
    return f"{_SCHEME}{archive.resolve()}!{name}"


def _names(archive: Path) -> list[str]:
    try:
        with zipfile.ZipFile(archive) as zf:
            return zf.namelist()
    except (OSError, zipfile.BadZipFile) as err:
        raise InputFileError(f"{archive} cannot be read as a zip archive: {err}") from err


def exists(path: Path) -> bool:
    """Whether the file (or the archive member) exists."""
    inside = member(path)
    if inside is None:
        return path.exists()
    archive, name = inside
    return archive.is_file() and name in _names(archive)


def sibling(path: Path, suffix: str) -> Path | None:
    """The file beside ``path`` with another suffix (``.cpg`` beside a ``.shp``), in the same
    folder or archive, matching the suffix in any case; None if there is none."""
    inside = member(path)
    if inside is None:
        for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
            if candidate.exists():
                return candidate
        return None
    archive, name = inside
    stem = name[: len(name) - len(Path(name).suffix)]
    wanted = (stem + suffix).lower()
    found = next((n for n in _names(archive) if n.lower() == wanted), None)
    return None if found is None else Path(f"{archive}!{found}")


def read_bytes(path: Path) -> bytes:
    """The bytes of the file or archive member."""
    inside = member(path)
    if inside is None:
        return path.read_bytes()
    archive, name = inside
    try:
        with zipfile.ZipFile(archive) as zf:
            return zf.read(name)
    except KeyError as err:
        raise InputFileError(f"{archive} holds no member {name!r}") from err
    except (OSError, zipfile.BadZipFile) as err:
        raise InputFileError(f"{archive} cannot be read as a zip archive: {err}") from err


def size(path: Path) -> int:
    """Size in bytes of the file or (uncompressed) archive member."""
    inside = member(path)
    if inside is None:
        return path.stat().st_size
    archive, name = inside
    with zipfile.ZipFile(archive) as zf:
        return zf.getinfo(name).file_size


def sha256(path: Path) -> str:
    """SHA-256 of the file, or of the archive member's content."""
    digest = hashlib.sha256()
    inside = member(path)
    if inside is None:
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    archive, name = inside
    with zipfile.ZipFile(archive) as zf, zf.open(name) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

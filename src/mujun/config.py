"""Configuration: one frozen dataclass tree, layered preset -> TOML file -> CLI options.

Every number the method uses lives here with its default and its meaning; nothing reads module
globals. A preset is a TOML file shipped in ``mujun/presets/``; a user's TOML file names the
preset it extends (``preset = "zhejiang"``) and overrides any key; CLI options override both.

Example user file::

    preset = "zhejiang"

    [input]
    parcels = "cadastre.gpkg"
    filings = "filings_2023.xlsx"
    sheet = "规上企业"

    [columns.filings]
    tax = "税收实际贡献"

    [units.filings]
    tax = "万元"

    [area]
    working_crs = "EPSG:4549"
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from mujun.errors import ConfigError

__all__ = [
    "AreaConfig",
    "Config",
    "InputConfig",
    "MapConfig",
    "OutputConfig",
    "available_presets",
    "load_config",
]

AreaMethod = Literal["plane", "ellipsoidal"]
DisplayUnit = Literal["万元/亩", "元/m2", "万元/公顷", "USD/acre"]


@dataclass(frozen=True)
class InputConfig:
    """Where the inputs are and how to read them."""

    parcels: Path | None = None
    """Parcel polygons: any vector format GDAL reads, or GeoParquet. None: the bundled sample."""
    filings: Path | None = None
    """Enterprise filings: CSV or XLSX, one row per enterprise and year."""
    parks: Path | None = None
    """Optional park boundary polygons."""
    parcels_layer: str | None = None
    """Layer name in a multi-layer parcel file (GeoPackage); default the first layer."""
    parcels_crs: str | None = None
    """CRS to assume for parcel files that carry none (e.g. "EPSG:4549"). Never guessed."""
    parks_crs: str | None = None
    """CRS to assume for a park file that carries none."""
    encoding: str | None = None
    """Encoding of CSV filings; None tries UTF-8 (with or without BOM), then GB18030."""
    sheet: str | None = None
    """Sheet of an XLSX workbook holding the filings; default the first sheet."""
    year: int | None = None
    """Year of filings that have no year column."""
    parcels_encoding: str | None = None
    """Encoding of a Shapefile's DBF; None: its .cpg file, else UTF-8 if it decodes, else
    GB18030."""
    on_invalid: Literal["raise", "reject"] = "raise"
    """A filing cell that is not a number: "raise" stops with a list of every such cell;
    "reject" sets those rows aside in the ledger (fate rejected) and goes on."""


@dataclass(frozen=True)
class AreaConfig:
    """How surveyed area is measured."""

    working_crs: str | None = None
    """Projected CRS for area and overlays. None: CGCS2000 3-degree Gauss-Krüger zone by
    longitude inside China (EPSG:4534-4554), the local UTM zone elsewhere."""
    method: AreaMethod = "plane"
    """"plane": area in the working CRS (cadastral practice). "ellipsoidal": geodesic area on
    the CGCS2000/GRS80 ellipsoid (land-survey statistics practice)."""
    declared_tolerance_pct: float = 5.0
    """Declared area differing from surveyed area by more than this percent is flagged."""
    geodesic_check_pct: float = 0.01
    """Warn when plane and ellipsoidal county totals differ by more than this percent."""
    overlap_tolerance_m2: float = 1.0
    """Parcels overlapping by more than this many m² are reported (digitising slivers below
    it are ignored)."""


@dataclass(frozen=True)
class OutputConfig:
    """What is written where."""

    out_dir: Path = Path()
    """Folder receiving maps/ and exports/."""
    map_name: str = "mujun"
    """The planner's map is written to maps/<map_name>.html."""
    overwrite: bool = False
    """Replace existing outputs; without it an existing output is an error."""
    display_unit: DisplayUnit = "万元/亩"
    """Unit of per-area money figures in the map and exports."""
    year: int | None = None
    """Evaluation year shown on the map and in parcels.geojson; None: the latest year."""
    coordinate_precision: int = 7
    """Decimals of longitude/latitude in GeoJSON (7 is about 1 cm)."""


@dataclass(frozen=True)
class MapConfig:
    """The HTML map."""

    scheme: str = "Quantiles"
    """mapclassify scheme for the choropleths (Quantiles, NaturalBreaks, EqualInterval...)."""
    k: int = 5
    """Number of classes."""
    title: str = "亩均效益地图"
    """Title shown on the map."""
    basemap: str = "OpenStreetMap"
    """Basemap tiles (folium tile name), or "none"."""
    offline: bool = False
    """Embed Leaflet and jQuery in the page (from the XStatic packages) so it draws without a
    network; basemap tiles still need one."""


@dataclass(frozen=True)
class Config:
    """The whole configuration of a run."""

    preset: str = "zhejiang"
    input: InputConfig = field(default_factory=InputConfig)
    area: AreaConfig = field(default_factory=AreaConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    map: MapConfig = field(default_factory=MapConfig)
    columns: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Header for each canonical column, per table: columns["filings"]["tax"] = "税收"."""
    units: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Unit for columns whose header has none: units["filings"]["tax"] = "万元"."""

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable dict (paths as strings), for run.json."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def available_presets() -> list[str]:
    """Names of the presets shipped with mujun."""
    folder = resources.files("mujun") / "presets"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def _read_preset(name: str) -> dict[str, Any]:
    if name not in available_presets():
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(available_presets())}")
    text = (resources.files("mujun") / "presets" / f"{name}.toml").read_text("utf-8")
    return tomllib.loads(text)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as err:
        raise ConfigError(f"config file {path} does not exist") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"config file {path} is not valid TOML: {err}") from err


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _resolve_paths(data: dict[str, Any], base: Path) -> None:
    """Make relative input paths in a config file relative to that file's folder."""
    for key in ("parcels", "filings", "parks"):
        value = data.get("input", {}).get(key)
        if isinstance(value, str) and not Path(value).is_absolute():
            data["input"][key] = str(base / value)


def load_config(
    path: str | Path | None = None,
    *,
    preset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the configuration: preset, then the TOML file at ``path``, then ``overrides``.

    ``overrides`` is a nested mapping like the TOML file (``{"output": {"overwrite": True}}``);
    the CLI passes its options this way. Unknown keys and wrong types raise
    :class:`~mujun.errors.ConfigError` naming the key.
    """
    user: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        user = _read_toml(path)
        _resolve_paths(user, path.parent)
    name = preset or user.get("preset") or "zhejiang"
    data = _merge(_read_preset(name), user)
    data = _merge(data, overrides or {})
    data["preset"] = name
    return _build(Config, data, "config")


def _build(cls: type, data: Mapping[str, Any], where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where} must be a table, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        known = ", ".join(sorted(names))
        raise ConfigError(f"unknown key(s) {', '.join(unknown)} in [{where}]; known keys: {known}")
    kwargs = {key: _coerce(hints[key], value, f"{where}.{key}") for key, value in data.items()}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, where: str) -> Any:
    """Check ``value`` against the type hint of a config field; build nested dataclasses."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(typing.cast(type, hint), value, where)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        return _coerce(next(a for a in args if a is not type(None)), value, where)
    return _coerce_plain(hint, origin, value, where)


def _coerce_plain(hint: Any, origin: Any, value: Any, where: str) -> Any:
    args = typing.get_args(hint)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where} = {value!r}; expected one of {', '.join(map(repr, args))}")
        return value
    if hint is Path:
        return Path(value)
    if origin is not None and issubclass(origin, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a table")
        return {k: dict(v) if isinstance(v, Mapping) else v for k, v in value.items()}
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{where} = {value!r} must be {hint.__name__}")
    return value

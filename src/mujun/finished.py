"""A finished run read back from its folder: run.json, the exports, the configuration.

The notice package and ``mujun compare`` work from what a run wrote, never by running it
again: :func:`read_run` checks that the folder holds a finished run (``exports/run.json``
last written, every export the report reads present and unchanged) and loads the tables.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from mujun.config import Config, load_config
from mujun.errors import ConfigError, NotARunError

__all__ = ["CYCLE_TABLES", "FinishedRun", "read_run"]

CYCLE_TABLES = (
    "commitments",
    "redevelopment",
    "corrections",
    "compare_enterprises",
    "compare_parcels",
)
"""The yearly cycle's exports a report shows when a run (or ``mujun compare``) wrote them."""

_NEEDED = (
    "enterprises.csv",
    "county.csv",
    "parks.csv",
    "changes.csv",
    "park_changes.csv",
    "ledger.csv",
    "parcels.parquet",
)


@dataclass(frozen=True)
class FinishedRun:
    """What a run wrote, as the report needs it."""

    out: Path
    record: dict[str, Any]
    """run.json."""
    config: Config
    enterprises: pd.DataFrame
    county: pd.DataFrame
    parks: pd.DataFrame
    changes: pd.DataFrame
    park_changes: pd.DataFrame
    ledger: pd.DataFrame
    parcels: gpd.GeoDataFrame
    """parcels.parquet: the working CRS, surveyed outlines."""
    zones: gpd.GeoDataFrame | None
    park_outlines: gpd.GeoDataFrame | None
    """The parks input (if the file the run read is still there), in the working CRS."""
    cycle: dict[str, pd.DataFrame] = field(default_factory=dict)
    """The yearly cycle's tables the run wrote (commitments, redevelopment, corrections) and
    the comparison ``mujun compare`` added (compare_enterprises, compare_parcels), by name."""
    compare: dict[str, Any] | None = None
    """compare.json, when ``mujun compare`` compared this run with an earlier one."""

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.record.get("summary", {}))

    @property
    def year(self) -> int:
        return int(self.summary["year"])

    @property
    def years(self) -> list[int]:
        return [int(y) for y in self.summary.get("years", [self.year])]


def _not_a_run(out: Path, why: str) -> NotARunError:
    return NotARunError(
        f"{out} holds no finished mujun run: {why}. Give the --out folder of a run that "
        "ended with 'done' (mujun run --out FOLDER), or run it again"
    )


def _csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(
        path,
        encoding="utf-8-sig",
        dtype={"uscc": "string", "industry": "string", "parcel_id": "string"},
    )


def read_run(out: Path) -> FinishedRun:
    """The run whose outputs are under ``out``; :class:`NotARunError` if there is none."""
    out = Path(out)
    exports = out / "exports"
    record_path = exports / "run.json"
    if not out.is_dir():
        raise _not_a_run(out, "the folder does not exist")
    if (out / ".mujun-commit.json").exists():
        raise _not_a_run(out, "a run's commit was cut short (run 'mujun run' there to recover)")
    try:
        record = json.loads(record_path.read_text("utf-8"))
    except FileNotFoundError:
        raise _not_a_run(out, "there is no exports/run.json") from None
    except (OSError, ValueError) as err:
        raise _not_a_run(out, f"exports/run.json cannot be read ({err})") from err
    if not isinstance(record, dict) or "mujun_run" not in record or "summary" not in record:
        raise _not_a_run(out, "exports/run.json is not a mujun run record")
    missing = [n for n in _NEEDED if not (exports / n).exists()]
    if missing:
        raise _not_a_run(out, "exports/ lacks " + ", ".join(missing))
    changed = _changed(exports, record.get("outputs", {}))
    if changed:
        raise _not_a_run(
            out,
            "exports/" + ", exports/".join(changed) + " changed after the run wrote them "
            "(the SHA-256 in run.json differs); a report of edited exports would not be the run's",
        )
    try:
        config = load_config(preset=record["config"].get("preset"), overrides=record["config"])
    except (ConfigError, KeyError, TypeError) as err:
        raise _not_a_run(out, f"the configuration in run.json cannot be read ({err})") from err
    zones_path = exports / "zones.geojson"
    parcels = gpd.read_parquet(exports / "parcels.parquet")
    zones = gpd.read_file(zones_path).to_crs(parcels.crs) if zones_path.exists() else None
    cycle = {
        name: _csv(exports / f"{name}.csv")
        for name in CYCLE_TABLES
        if (exports / f"{name}.csv").is_file()
    }
    return FinishedRun(
        out=out,
        record=record,
        config=config,
        enterprises=_csv(exports / "enterprises.csv"),
        county=_csv(exports / "county.csv"),
        parks=_csv(exports / "parks.csv"),
        changes=_csv(exports / "changes.csv"),
        park_changes=_csv(exports / "park_changes.csv"),
        ledger=_csv(exports / "ledger.csv"),
        parcels=parcels,
        zones=zones,
        park_outlines=_park_outlines(record, parcels.crs),
        cycle=cycle,
        compare=_comparison(exports, record, cycle),
    )


def _comparison(
    exports: Path, record: dict[str, Any], cycle: dict[str, pd.DataFrame]
) -> dict[str, Any] | None:
    """compare.json if it speaks of this run (``new.finished_utc`` is this run's) and its
    tables are there; else the comparison is left out (and its tables with it)."""
    try:
        found = json.loads((exports / "compare.json").read_text("utf-8"))
    except (OSError, ValueError):
        found = None
    ok = (
        isinstance(found, dict)
        and found.get("new", {}).get("finished_utc") == record.get("finished_utc")
        and {"compare_enterprises", "compare_parcels"} <= set(cycle)
    )
    if not ok:
        cycle.pop("compare_enterprises", None)
        cycle.pop("compare_parcels", None)
        return None
    return found


def _changed(exports: Path, outputs: Any) -> list[str]:
    """The exports the report reads whose SHA-256 is not the one run.json recorded."""
    recorded = {
        Path(str(v.get("path", ""))).name: v.get("sha256")
        for v in (outputs.values() if isinstance(outputs, dict) else ())
        if isinstance(v, dict)
    }
    changed = []
    for name in (
        *_NEEDED,
        "zones.geojson",
        "commitments.csv",
        "redevelopment.csv",
        "corrections.csv",
    ):
        path = exports / name
        if name not in recorded or not path.is_file():  # a folder of parts: not checked
            continue
        with path.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256")
        if digest.hexdigest() != recorded[name]:
            changed.append(name)
    return changed


def _park_outlines(record: dict[str, Any], crs: Any) -> gpd.GeoDataFrame | None:
    """The parks file the run read, if it is still there unchanged (same SHA-256)."""
    entry = record.get("inputs", {}).get("parks")
    if not isinstance(entry, dict) or not entry.get("path"):
        return None
    path = Path(str(entry["path"]))
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if entry.get("sha256") and digest != entry["sha256"]:
            return None
        parks = gpd.read_file(path)
    except (OSError, ValueError):
        return None
    if parks.crs is None:
        return None
    return parks.to_crs(crs)

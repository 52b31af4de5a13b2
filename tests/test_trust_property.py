"""Property (issue 12): filings and parcel layers with random defects of the kinds real data
has. Every run either stops with exit 2 and a message naming the file, the row and the column,
or exits 0 with every record in the ledger, money in = money out + set aside, and tax per mu
equal to a computation done here from the generated values.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from conftest import CODES, X0, Y0
from mujun.cli import main
from mujun.schema import MU_M2

FULL_WIDTH = str.maketrans("0123456789.,", "０１２３４５６７８９．，")


@dataclass
class County:
    """What was generated, with the truth the run must reproduce."""

    features: list[dict] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    area_m2: dict[str, float] = field(default_factory=dict)  # true area per parcel id
    tax_wan: list[float | None] = field(default_factory=list)  # per row; None: not a figure
    lists: list[list[str]] = field(default_factory=list)  # parcels each row names
    refused: list[str] = field(default_factory=list)  # per row: why it must be refused, or ""
    missing_code: bool = False


GOOD = st.sampled_from(["plain", "thousands", "full-width"])
BAD = st.sampled_from(["decimal comma", "misplaced", "nan", "overflow", "ragged"])


def _cell(value: float, how: str) -> str:
    if how == "thousands":
        return f"{value:,.2f}"
    if how == "full-width":
        return f"{value:.2f}".translate(FULL_WIDTH)
    return f"{value:.2f}"


def _draw_parcels(draw: st.DrawFn, c: County) -> None:
    """Squares far apart; some cut in two by a road (two features, one id), some stored
    twice, roads with placeholder ids, maybe a stray feature at 0,0."""
    for i in range(draw(st.integers(2, 6))):
        x, w, h = X0 + 1000 * i, draw(st.integers(20, 300)), draw(st.integers(20, 300))
        pid = f"P{i}"
        pieces = [box(x, Y0, x + w, Y0 + h)]
        if draw(st.integers(0, 4)) == 0:
            gap = draw(st.integers(5, 30))
            pieces.append(box(x, Y0 + h + gap, x + w, Y0 + 2 * h + gap))
        c.features += [{"宗地号": pid, "geometry": g} for g in pieces]
        c.area_m2[pid] = float(w * h * len(pieces))
        if draw(st.integers(0, 6)) == 0:  # the same feature twice
            c.features.append(dict(c.features[-1]))
    for k in range(draw(st.integers(0, 2))):
        road = box(X0 - 500, Y0 - 400 - 200 * k, X0 + 5000, Y0 - 300 - 200 * k)
        pid = draw(st.sampled_from(["---", "ROAD", "0", "无"]))
        c.features.append({"宗地号": pid, "geometry": road})
    if draw(st.booleans()):
        c.features.append({"宗地号": "STRAY", "geometry": box(0, 0, 5, 5)})


def _tax_cell(draw: st.DrawFn, tax: float, bad: str) -> str:
    return {
        "decimal comma": f"{tax:.1f}".replace(".", ","),
        "misplaced": f"{int(tax) + 1000},{int(tax) % 100}",  # "1234,5": not a group of 3
        "nan": "nan",
        "overflow": "1e308",
    }.get(bad) or _cell(tax, draw(GOOD))


def _draw_rows(draw: st.DrawFn, c: County) -> None:
    """A firm per group of parcels (no parcel shared), some lessees; tax cells well formed,
    broken, or the missing-value code."""
    owners = draw(st.permutations(list(c.area_m2)))
    firms = min(len(CODES), draw(st.integers(1, len(owners))))
    groups = np.array_split(np.array(owners, dtype=object), firms)
    for j, code in enumerate(list(CODES.values())[:firms]):
        listed = [] if draw(st.integers(0, 5)) == 0 else [str(p) for p in groups[j]]
        tax = round(draw(st.floats(0.5, 5000, allow_nan=False)), 2)
        bad = draw(st.one_of(st.just(""), st.just(""), BAD))
        cell = _tax_cell(draw, tax, bad)
        coded = not bad and draw(st.integers(0, 8)) == 0
        if coded:
            cell, c.missing_code = "-9999", True
        ids = "、".join(listed + (["无"] if listed and draw(st.booleans()) else []))
        row = [code, f"企业{j}", "2021", ids, cell, str(draw(st.integers(-3, 50)))]
        c.rows.append(row[:-2] if bad == "ragged" else row)
        unreadable = bad in {"nan", "overflow", "decimal comma", "misplaced"}
        c.tax_wan.append(None if unreadable or coded else tax)
        c.lists.append(listed)
        c.refused.append(bad)


@st.composite
def counties(draw: st.DrawFn) -> County:
    c = County()
    _draw_parcels(draw, c)
    _draw_rows(draw, c)
    return c


HEADER = ["统一社会信用代码", "企业名称", "年份", "宗地号", "实缴税金(万元)", "年平均职工人数"]


def _write(c: County, folder: Path) -> dict[str, Path]:
    files = {"parcels": folder / "parcels.gpkg", "filings": folder / "filings.csv"}
    gpd.GeoDataFrame(c.features, geometry="geometry", crs=4549).to_file(
        files["parcels"], engine="pyogrio"
    )
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([HEADER, *c.rows])
    files["filings"].write_text(buf.getvalue() + "\n\n", encoding="utf-8")  # a blank end
    return files


def _run(files: dict[str, Path], out: Path, *extra: str) -> tuple[int, str]:
    err = io.StringIO()
    args = ["run", "--parcels", str(files["parcels"]), "--filings", str(files["filings"])]
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([*args, "--out", str(out), "--no-map", "-q", *extra])
    return code, err.getvalue()


@pytest.mark.filterwarnings("ignore::mujun.errors.DataQualityWarning")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(county=counties(), on_invalid=st.sampled_from(["raise", "reject"]))
def test_random_defects_stop_loudly_or_come_out_right(county: County, on_invalid: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = _write(county, folder)
        config = folder / "c.toml"
        config.write_text("[input]\nmissing_values = [-9999]\n[join]\nmin_rate = 0\n", "utf-8")
        code, err = _run(files, folder / "out", "--on-invalid", on_invalid, "--config", str(config))
        refused = [i for i, why in enumerate(county.refused) if why]
        usable = [t for t, why in zip(county.tax_wan, county.refused, strict=True) if not why]
        if all(t is None for t in usable) and not (refused and on_invalid == "raise"):
            assert code == 2, err  # no tax figure at all: nothing to score on
            assert "column tax holds no number" in err or "no usable filing row" in err
            return
        if refused and on_invalid == "raise":
            assert code == 2, err
            first = refused[0] + 2  # spreadsheet row: the header is row 1
            assert f"filings.csv row {first}" in err
            if county.refused[refused[0]] != "ragged":
                assert "column '实缴税金(万元)'" in err
            assert "Traceback" not in err
            return
        assert code == 0, err
        exports = folder / "out" / "exports"
        ledger = pd.read_csv(exports / "ledger.csv", dtype={"key": str})
        summary = json.loads((exports / "run.json").read_text("utf-8"))["summary"]
        _check(county, ledger, summary, pd.read_csv(exports / "enterprises.csv"))


def _check(c: County, ledger: pd.DataFrame, summary: dict, enterprises: pd.DataFrame) -> None:
    # every record has one fate
    assert (ledger["source"] == "parcels.gpkg").sum() == len(c.features)
    assert (ledger["source"] == "filings.csv").sum() == len(c.rows)
    assert ledger["fate"].notna().all()
    # roads, placeholders and the stray never become land
    kept = ledger.loc[
        (ledger["source"] == "parcels.gpkg") & ledger["fate"].isin(["used", "vacant", "fixed"])
    ]
    assert set(kept["key"]) == set(c.area_m2)
    # money in = out + set aside, and out is exactly the rows kept, from the values written
    tax = summary["money"]["tax"]
    assert tax["input_yuan"] == pytest.approx(tax["enterprises_yuan"] + tax["set_aside_yuan"])
    expected_out = sum(t for t, why in zip(c.tax_wan, c.refused, strict=True) if t and not why)
    assert tax["enterprises_yuan"] == pytest.approx(expected_out * 1e4)
    # tax per mu of every firm on land, over the true area of all its parcels
    by_code = enterprises.set_index("uscc")
    for row, listed, t, why in zip(c.rows, c.lists, c.tax_wan, c.refused, strict=True):
        if why or not listed:
            continue
        got = by_code.loc[row[0], "tax_per_mu"]
        if t is None:
            assert np.isnan(got)
            continue
        area_mu = sum(c.area_m2[p] for p in listed) / MU_M2
        assert got == pytest.approx(t / area_mu, rel=1e-9)

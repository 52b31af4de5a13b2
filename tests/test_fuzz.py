"""Fuzz the readers and the pipeline: random bytes, random CSV tables, random geometries.

Whatever the input, ``mujun.run`` either finishes with a ledger that accounts for every input
record exactly once (records in = records accounted for, money in = money out + set aside) or
raises a :class:`~mujun.errors.MujunError`; any other exception is a bug.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import tempfile
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mujun
from conftest import CODES, X0, Y0, tiny_filings, tiny_parcels
from mujun.errors import MujunError
from mujun.schema import FILING_COLUMNS, split_unit
from mujun.validate import FATES

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
dq_ok = pytest.mark.filterwarnings("ignore::mujun.errors.DataQualityWarning")

ALIASES = frozenset(a for spec in FILING_COLUMNS for a in spec.aliases)


# --------------------------------------------------------------------------------------------
# running and the ledger invariant


def _run(
    parcels: Path, filings: Path, *, top: dict[str, Any] | None = None, **extra: Any
) -> mujun.RunResult | None:
    """Run the pipeline; ``None`` when it refused the input with a MujunError.

    ``extra`` goes to the config's ``[input]`` table, ``top`` holds other tables.
    """
    overrides = {"input": {"parcels": str(parcels), "filings": str(filings), **extra}}
    cfg = mujun.load_config(overrides={**overrides, **(top or {})})
    try:
        return mujun.run(cfg)
    except MujunError:
        return None


def _check_ledger(res: mujun.RunResult, expected: dict[str, int]) -> None:
    """One ledger row per input record per source, known fates, money reconciled."""
    ledger = res.ledger
    assert ledger.groupby("source").size().to_dict() == expected
    assert not ledger.duplicated(["source", "record"]).any()
    assert ledger["fate"].notna().all()
    assert set(ledger["fate"]) <= set(FATES), set(ledger["fate"])
    for figure, money in res.summary.money.items():
        total_in = money["input_yuan"]
        accounted = money["enterprises_yuan"] + money["set_aside_yuan"]
        # a non-finite total (a cell read as inf) would make the reconciliation vacuous
        assert math.isfinite(total_in), (figure, money)
        assert math.isclose(total_in, accounted, rel_tol=1e-9, abs_tol=0.01), (figure, money)


def _feature_count(path: Path) -> int:
    """Features in a vector file, counted without mujun's readers."""
    if path.suffix == ".parquet":
        return int(pq.ParquetFile(path).metadata.num_rows)
    return int(pyogrio.read_info(path, force_feature_count=True)["features"])


# --------------------------------------------------------------------------------------------
# valid inputs and byte-level mutations of them

VECTOR_WRITERS = {
    ".gpkg": lambda g, p: g.to_file(p, layer="parcels", engine="pyogrio"),
    ".geojson": lambda g, p: g.to_file(p, driver="GeoJSON", engine="pyogrio"),
    ".shp": lambda g, p: g.rename(columns={"登记用地面积(亩)": "DJMJ"}).to_file(
        p, engine="pyogrio", encoding="utf-8"
    ),
    ".fgb": lambda g, p: g.to_file(p, driver="FlatGeobuf", engine="pyogrio"),
    ".parquet": lambda g, p: g.to_parquet(p),
}


@functools.cache
def _valid_bytes(suffix: str) -> bytes:
    """Bytes of a valid tiny-county file in the format of ``suffix`` (the main file only)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"valid{suffix}"
        if suffix == ".csv":
            tiny_filings().to_csv(path, index=False, encoding="utf-8-sig")
        elif suffix == ".xlsx":
            tiny_filings().to_excel(path, index=False, engine="openpyxl")
        else:
            VECTOR_WRITERS[suffix](tiny_parcels(), path)
        return path.read_bytes()


@st.composite
def mutated(draw: st.DrawFn, suffix: str) -> bytes:
    """Random bytes, or a valid file of that format truncated or with bytes overwritten."""
    kind = draw(st.sampled_from(["random", "truncated", "overwritten", "prefixed"]))
    if kind == "random":
        return draw(st.binary(max_size=4096))
    valid = _valid_bytes(suffix)
    if kind == "truncated":
        return valid[: draw(st.integers(0, len(valid)))]
    if kind == "prefixed":  # a valid magic number followed by garbage
        return valid[: draw(st.integers(0, 64))] + draw(st.binary(max_size=2048))
    data = bytearray(valid)
    for pos, value in draw(
        st.lists(st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)), max_size=20)
    ):
        data[pos] = value
    return bytes(data)


def _write_valid_parcels(folder: Path) -> Path:
    path = folder / "parcels.gpkg"
    VECTOR_WRITERS[".gpkg"](tiny_parcels(), path)
    return path


def _write_valid_filings(folder: Path) -> Path:
    path = folder / "filings.csv"
    tiny_filings().to_csv(path, index=False, encoding="utf-8-sig")
    return path


# --------------------------------------------------------------------------------------------
# 1. random bytes as the filings file


@dq_ok
@FUZZ
@given(data=st.data(), suffix=st.sampled_from([".csv", ".xlsx"]))
def test_random_bytes_as_filings(data: st.DataObject, suffix: str) -> None:
    payload = data.draw(mutated(suffix))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        parcels = _write_valid_parcels(folder)
        filings = folder / f"filings{suffix}"
        filings.write_bytes(payload)
        res = _run(parcels, filings)
        if res is not None:
            # only a (nearly) intact file can succeed; count its data rows independently
            if suffix == ".xlsx":  # calamine: openpyxl refuses parts calamine never reads
                n_rows = len(pd.read_excel(filings, header=None, engine="calamine")) - 1
            else:
                n_rows = len(list(csv.reader(io.StringIO(payload.decode("utf-8-sig"))))) - 1
            _check_ledger(res, {"parcels.gpkg": 5, filings.name: n_rows})


# --------------------------------------------------------------------------------------------
# 2. random bytes as the parcels file


@dq_ok
@FUZZ
@given(data=st.data(), suffix=st.sampled_from(sorted(VECTOR_WRITERS)))
def test_random_bytes_as_parcels(data: st.DataObject, suffix: str) -> None:
    payload = data.draw(mutated(suffix))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        filings = _write_valid_filings(folder)
        parcels = folder / f"parcels{suffix}"
        if suffix == ".shp":  # valid .shx/.dbf/.prj beside a fuzzed .shp
            VECTOR_WRITERS[suffix](tiny_parcels(), parcels)
        parcels.write_bytes(payload)
        top: dict[str, Any] = {}
        if suffix == ".shp":  # DBF names hold 10 bytes: map the declared area explicitly
            top = {
                "columns": {"parcels": {"declared_area": "DJMJ"}},
                "units": {"parcels": {"declared_area": "亩"}},
            }
        res = _run(parcels, filings, top=top)
        if res is not None:
            _check_ledger(res, {parcels.name: _feature_count(parcels), "filings.csv": 7})


# --------------------------------------------------------------------------------------------
# 3. random CSV tables

KNOWN_HEADERS = [
    "统一社会信用代码",
    "企业名称",
    "年份",
    "宗地号",
    "实缴税金(万元)",
    "工业增加值(万元)",
    "营业收入（亿元）",
    "年平均职工人数",
    "tax (yuan)",
    "规模",
    "税收",  # no unit: a SchemaError
]
REQUIRED = ["统一社会信用代码", "企业名称", "年份"]


def _not_header_like(text: str) -> bool:
    """True for text that names no filing column (so the header row is unambiguous)."""
    return not text.strip() or split_unit(text)[0] not in ALIASES


junk_text = st.text(max_size=12).filter(_not_header_like)
junk_header = st.text(min_size=1, max_size=10).filter(
    lambda t: bool(t.strip()) and _not_header_like(t)
)

digits = st.integers(-(10**9), 10**9)
numbers = st.one_of(
    digits.map(str),
    digits.map(lambda n: f"{n:,}"),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.decimals(-(10**6), 10**6, places=2).map(str),
    digits.map(lambda n: str(n).translate(str.maketrans("0123456789-", "０１２３４５６７８９－"))),
    st.sampled_from(["-", "—", "", " ", "——", "n/a", "1e400", "inf", "-inf", "nan", "1,2,3"]),
)
codes = st.one_of(
    st.sampled_from(list(CODES.values())),
    st.sampled_from(list(CODES.values())).map(str.lower),
    st.sampled_from(list(CODES.values())).map(
        lambda c: c.translate(
            str.maketrans("0123456789ABCDEFGHMNX", "０１２３４５６７８９ＡＢＣＤＥＦＧＨＭＮＸ")
        )
    ),
    st.sampled_from(["", "91330522MA2B00000X", "123", " "]),
)
years = st.sampled_from(["2021", "2016", "２０２１", "2021.0", "", "-", "二〇二一", "20 21"])
parcel_cells = st.lists(
    st.sampled_from(["P1", "p2", "Ｐ３", "P4", "P5", "P99", " "]), max_size=3
).flatmap(lambda ids: st.sampled_from(["、", ",", ";", "/", " "]).map(lambda s: s.join(ids)))

CELLS = {
    "统一社会信用代码": codes,
    "企业名称": st.one_of(st.sampled_from(["甲公司", "乙公司", "合计", ""]), junk_text),
    "年份": years,
    "宗地号": parcel_cells,
    "规模": st.sampled_from(["规上", "规下", "", "above", "是"]),
}


def _cell(header: str) -> st.SearchStrategy[str]:
    specific = CELLS.get(header, numbers)
    return st.one_of(specific, specific, specific, junk_text)


@st.composite
def csv_tables(draw: st.DrawFn) -> tuple[list[list[str]], int, int]:
    """Rows to write, the 0-based header row and the number of data rows below it."""
    headers = draw(st.lists(st.one_of(st.sampled_from(KNOWN_HEADERS), junk_header), max_size=8))
    if draw(st.booleans()):
        headers = REQUIRED + headers
    headers = draw(st.permutations(headers)) if headers else ["x"]
    width = len(headers)
    titles = draw(
        st.lists(
            st.lists(junk_text, min_size=1, max_size=width).map(
                lambda r: r + [""] * (width - len(r))
            ),
            max_size=3,
        )
    )
    row_kind = st.sampled_from(["data", "data", "data", "blank", "total"])
    rows: list[list[str]] = []
    for kind in draw(st.lists(row_kind, max_size=10)):
        if kind == "blank":
            rows.append([""] * width)
            continue
        row = [draw(_cell(h)) for h in headers]
        if kind == "total":
            row[0] = draw(st.sampled_from(["合计", "总计", "Total", "合 计"]))
        rows.append(row)
    # rows of empty cells at the end of the file are no records (a blank trailing line)
    records = len(rows)
    while records and all(cell == "" for cell in rows[records - 1]):
        records -= 1
    return [*titles, headers, *rows], len(titles), records


@dq_ok
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    table=csv_tables(),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
    on_invalid=st.sampled_from(["raise", "reject"]),
    year=st.sampled_from([None, 2021]),
)
def test_random_csv_filings(
    table: tuple[list[list[str]], int, int], encoding: str, on_invalid: str, year: int | None
) -> None:
    rows, header_row, n_rows = table
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        parcels = _write_valid_parcels(folder)
        filings = folder / "filings.csv"
        filings.write_bytes(buf.getvalue().encode(encoding))
        extra: dict[str, Any] = {"on_invalid": on_invalid}
        if year is not None:
            extra["year"] = year
        res = _run(parcels, filings, **extra)
        if res is not None:
            _check_ledger(res, {"parcels.gpkg": 5, "filings.csv": n_rows})
            # record numbers are spreadsheet rows: the header is row header_row + 1
            records = res.ledger.loc[res.ledger["source"] == "filings.csv", "record"]
            assert sorted(records) == list(range(header_row + 2, header_row + 2 + n_rows))


# --------------------------------------------------------------------------------------------
# 4. random geometries

ID_VARIANTS = ["P1", "p1", "Ｐ１", " P1 ", "P2", "p2", "P3", "P 3", "ｐ３", "P4", None, ""]
offset = (
    st.integers(-400, 400).map(float)
    | st.floats(-400, 400, allow_nan=False)
    | st.sampled_from([0.0, 1e-9, -1e-9, 1e5, -1e6, 3.2e10])  # slivers and far-away vertices
)


@st.composite
def ring(draw: st.DrawFn, z: bool) -> list[tuple[float, ...]]:
    """3-8 random vertices near the tiny county (bow-ties and spikes happen)."""
    n = draw(st.integers(3, 8))
    pts = []
    for _ in range(n):
        x, y = X0 + draw(offset), Y0 + draw(offset)
        pts.append((x, y, draw(st.floats(-100, 1000, allow_nan=False))) if z else (x, y))
    return pts


@st.composite
def geometries(draw: st.DrawFn) -> shapely.Geometry | None:
    z = draw(st.booleans())
    kind = draw(
        st.sampled_from(
            [
                "polygon",
                "polygon",
                "polygon",
                "holed",
                "multi",
                "box",
                "empty",
                "collection",
                "none",
                "point",
                "line",
            ]
        )
    )
    if kind == "none":
        return None
    if kind == "empty":
        return shapely.Polygon()
    if kind == "box":
        x, y = X0 + draw(offset), Y0 + draw(offset)
        return shapely.box(x, y, x + draw(st.floats(0, 200)), y + draw(st.floats(0, 200)))
    if kind == "point":
        return shapely.Point(draw(ring(z))[0])
    if kind == "line":
        return shapely.LineString(draw(ring(z)))
    if kind == "holed":
        return shapely.Polygon(draw(ring(z)), [draw(ring(z))])
    if kind == "collection":
        return shapely.GeometryCollection([shapely.Polygon(draw(ring(z))), shapely.Point(X0, Y0)])
    if kind == "multi":
        return shapely.MultiPolygon(
            [shapely.Polygon(draw(ring(z))) for _ in range(draw(st.integers(1, 3)))]
        )
    return shapely.Polygon(draw(ring(z)))


features = st.tuples(
    st.sampled_from(ID_VARIANTS),
    geometries(),
    st.one_of(st.none(), st.floats(-10, 100, allow_nan=False), st.just(0.0)),
)
filing_rows = st.tuples(
    st.sampled_from(list(CODES.values())),
    st.sampled_from([2021, 2016]),
    st.lists(st.sampled_from(["P1", "p2", "Ｐ３", "P4", "P5", "P99"]), max_size=3),
    st.one_of(st.none(), st.floats(-100, 1000, allow_nan=False)),
)


@dq_ok
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    feats=st.lists(features, min_size=1, max_size=10),
    rows=st.lists(filing_rows, min_size=1, max_size=8),
    crs=st.sampled_from([4549, 4549, 4490, 3857, None]),
)
def test_random_geometries(
    feats: list[tuple[str | None, shapely.Geometry | None, float | None]],
    rows: list[tuple[str, int, list[str], float | None]],
    crs: int | None,
) -> None:
    frame = gpd.GeoDataFrame(
        {"宗地号": [f[0] for f in feats], "登记用地面积(亩)": [f[2] for f in feats]},
        geometry=[f[1] for f in feats],
        crs="EPSG:4549",
    )
    frame = frame.to_crs(crs) if crs else frame.set_crs(None, allow_override=True)
    filings = pd.DataFrame(
        {
            "统一社会信用代码": [r[0] for r in rows],
            "企业名称": [f"企业{i}" for i in range(len(rows))],
            "年份": [r[1] for r in rows],
            "宗地号": ["、".join(r[2]) for r in rows],
            "实缴税金(万元)": [r[3] for r in rows],
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        parcels_path = folder / "parcels.gpkg"
        with warnings.catch_warnings():  # a layer without a CRS is what we want here
            warnings.filterwarnings(
                "ignore", message="'crs' was not provided", category=UserWarning
            )
            frame.to_file(parcels_path, layer="parcels", engine="pyogrio")
        filings_path = folder / "filings.csv"
        filings.to_csv(filings_path, index=False, encoding="utf-8-sig")
        res = _run(parcels_path, filings_path)
        if res is not None:
            assert _feature_count(parcels_path) == len(frame)
            _check_ledger(res, {"parcels.gpkg": len(frame), "filings.csv": len(filings)})

"""The pipeline on the tiny county: values computed by hand, the ledger, reconciliation."""

from __future__ import annotations

import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

import mujun
from conftest import CODES, X0, Y0
from mujun.errors import InputError, SchemaError
from mujun.join import isin_values, join_per_key, positions
from mujun.pipeline import RunResult
from mujun.validate import Ledger


def _run(files: dict[str, Path], **overrides) -> RunResult:
    cfg = mujun.load_config(overrides={"input": {k: str(v) for k, v in files.items()}, **overrides})
    return mujun.run(cfg)


@pytest.fixture
def result(tiny_files) -> RunResult:
    return _run(tiny_files)


def test_working_crs_and_surveyed_area(result):
    assert result.working_crs.to_epsg() == 4549
    parcels = result.parcels.set_index("parcel_id")
    np.testing.assert_allclose(parcels["area_mu"], [15, 30, 15, 30, 15], rtol=1e-9)
    assert result.summary.area_check["max_abs_diff_pct"] < 0.01


def test_per_mu_for_own_multi_parcel_and_shared_land(result):
    parcels = result.parcels.set_index("parcel_id")
    # A: 30 万元 on 15 mu; B: 90 万元 on 30 + 15 mu; C + D: 90 万元 on 30 mu
    np.testing.assert_allclose(parcels["tax_per_mu"].iloc[:4], [2.0, 2.0, 2.0, 3.0])
    np.testing.assert_allclose(parcels["value_added_per_mu"].iloc[:4], [10, 10, 10, 12])
    assert parcels.loc["P5", "vacant"]
    assert np.isnan(parcels.loc["P5", "tax_per_mu"])
    assert parcels.loc["P4", "enterprises"] == "丁公司、丙公司"
    assert parcels.loc["P4", "n_enterprises"] == 2
    # B's tax is apportioned to its two parcels by surveyed area, so totals reconcile
    np.testing.assert_allclose(parcels.loc[["P2", "P3"], "tax"], [600_000, 300_000])


def test_previous_year_column(result):
    parcels = result.parcels.set_index("parcel_id")
    assert parcels.loc["P1", "tax_per_mu_2016"] == pytest.approx(1.0)
    assert parcels.loc["P1", "tax_per_mu_2021"] == pytest.approx(2.0)


def test_enterprise_table_keeps_lessees_and_orphans(result):
    ent = result.enterprises.set_index(["name", "year"])
    assert len(result.enterprises) == 7
    assert ent.loc[("丙公司", 2021), "land_status"] == "shared"
    assert ent.loc[("丙公司", 2021), "tax_per_mu"] == pytest.approx(3.0)
    assert ent.loc[("丙公司", 2021), "area_mu"] == pytest.approx(30.0)
    assert ent.loc[("乙公司", 2021), "area_mu"] == pytest.approx(45.0)
    assert ent.loc[("戊公司", 2021), "land_status"] == "lessee"
    assert np.isnan(ent.loc[("戊公司", 2021), "tax_per_mu"])
    assert ent.loc[("己公司", 2021), "land_status"] == "orphan"
    assert ent.loc[("己公司", 2021), "missing_parcels"] == "P99"
    assert ent.loc[("甲公司", 2016), "tax_per_mu"] == pytest.approx(1.0)


def test_declared_area_mismatch_flagged(result):
    parcels = result.parcels.set_index("parcel_id")
    assert parcels.loc["P2", "area_diff_pct"] == pytest.approx(100 * (30 - 27) / 27)
    assert parcels["area_mismatch"].tolist() == [False, True, False, False, False]


def test_ledger_accounts_for_every_record(result):
    ledger = result.ledger
    assert (
        ledger.groupby("source").size() == pd.Series({"filings.csv": 7, "parcels.gpkg": 5})
    ).all()
    fates = ledger.set_index(["source", "key"])["fate"]
    assert fates[("parcels.gpkg", "P5")] == "vacant"
    assert (ledger.loc[ledger["key"] == CODES["F"], "fate"] == "orphan").all()
    assert "P99" in ledger.loc[ledger["key"] == CODES["F"], "reason"].iloc[0]
    assert ledger["fate"].notna().all()


def test_money_reconciles(result):
    tax = result.summary.money["tax"]
    assert tax["input_yuan"] == pytest.approx(2_370_000)
    assert tax["enterprises_yuan"] == pytest.approx(2_370_000)
    assert tax["on_land_2021_yuan"] == pytest.approx(tax["parcels_2021_yuan"])
    assert tax["on_land_2021_yuan"] == pytest.approx(2_100_000)


def test_county_per_mu_counts_each_parcel_once(result):
    county = result.summary.county["2021"]["all"]
    assert county["area_mu"] == pytest.approx(90.0)
    assert county["tax_per_mu"] == pytest.approx(210 / 90)
    assert county["enterprises"] == 6  # every firm-year, as county.csv counts them
    assert county["enterprises_on_land"] == 4  # those the per-mu figure covers


def test_ellipsoidal_method(tiny_files):
    res = _run(tiny_files, area={"method": "ellipsoidal"})
    area = res.parcels.set_index("parcel_id")["area_mu"]
    assert area["P1"] == pytest.approx(15.0, rel=1e-4)
    assert area["P1"] != pytest.approx(15.0, rel=1e-9)


def test_duplicate_filing_rows_kept_once(tiny_files):
    path = tiny_files["filings"]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.concat([frame, frame.iloc[[0]]]).to_csv(path, index=False, encoding="utf-8-sig")
    res = _run(tiny_files)
    dup = res.ledger.loc[res.ledger["fate"] == "duplicate"]
    assert dup["record"].tolist() == [9]
    assert "row 2" in dup["reason"].iloc[0]
    assert res.summary.money["tax"]["set_aside_yuan"] == pytest.approx(300_000)
    assert len(res.enterprises) == 7


def test_bad_number_names_file_row_column_and_fix(tiny_files):
    path = tiny_files["filings"]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[2, "实缴税金(万元)"] = "三十"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    with pytest.raises(
        InputError,
        match=r"filings.csv row 4, column '实缴税金\(万元\)': "
        r"'三十' is not a number",
    ):
        _run(tiny_files)


def test_gbk_csv_is_read(tiny_files):
    path = tiny_files["filings"]
    pd.read_csv(path, dtype=str, keep_default_na=False).to_csv(
        path, index=False, encoding="gb18030"
    )
    res = _run(tiny_files)
    assert res.inputs["filings"]["encoding"] == "gb18030"
    assert "丙公司" in set(res.enterprises["name"])


def test_money_without_unit_stops_the_run(tiny_files):
    path = tiny_files["filings"]
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.rename(columns={"实缴税金(万元)": "税收"}).to_csv(path, index=False, encoding="utf-8-sig")
    with pytest.raises(SchemaError, match="has no unit"):
        _run(tiny_files)


# ---------------------------------------------------------------- ledger property


@st.composite
def counties(draw):
    n = draw(st.integers(1, 12))
    ids = [f"Q{i}" for i in range(n)]
    rows = []
    for j in range(draw(st.integers(1, 15))):
        listed = draw(st.lists(st.sampled_from([*ids, "NOPE1", "NOPE2"]), max_size=3))
        tax = draw(st.one_of(st.none(), st.floats(-50, 500, allow_nan=False)))
        rows.append(
            {
                "统一社会信用代码": f"C{draw(st.integers(0, 8))}",
                "企业名称": f"企业{j}",
                "年份": draw(st.sampled_from([2016, 2021])),
                "宗地号": "、".join(listed),
                "实缴税金(万元)": "" if tax is None else f"{tax:.2f}",
            }
        )
    broken = draw(st.sets(st.integers(0, n - 1), max_size=2))
    dup_ids = draw(st.booleans())
    return ids, rows, broken, dup_ids


@pytest.mark.filterwarnings("ignore::mujun.errors.DataQualityWarning")
@settings(max_examples=30, deadline=None)
@given(counties())
def test_ledger_invariant_records_in_equal_sum_of_fates(county):
    ids, rows, broken, dup_ids = county
    geoms = [box(X0 + 200 * i, Y0, X0 + 200 * i + 150, Y0 + 150) for i in range(len(ids))]
    for i in broken:  # empty geometry: must be rejected, not lost
        geoms[i] = box(X0 + 50, Y0 + 50, X0 + 50, Y0 + 50)  # a degenerate outline
    pids = list(ids)
    if dup_ids and len(pids) > 1:
        pids[-1] = pids[0]
    parcels = gpd.GeoDataFrame({"宗地号": pids}, geometry=geoms, crs=4549)
    with tempfile.TemporaryDirectory() as tmp:
        files = {"parcels": Path(tmp) / "p.gpkg", "filings": Path(tmp) / "f.csv"}
        parcels.to_file(files["parcels"], engine="pyogrio")
        pd.DataFrame(rows).to_csv(files["filings"], index=False, encoding="utf-8-sig")
        kept = {}  # the first row per credit code and year is the one used
        for r in rows:
            kept.setdefault((r["统一社会信用代码"], r["年份"]), r)
        no_tax = all(r["实缴税金(万元)"] == "" for r in kept.values())
        if len(broken) == len(ids) or no_tax:  # nothing usable, or no tax: a clear error
            with pytest.raises(InputError, match=r"no parcel polygon|holds no number|none of"):
                _run(files, join={"min_rate": 0.0})
            return
        res = _run(files, join={"min_rate": 0.0})  # any join rate must keep the ledger whole
    counts = res.ledger.groupby("source").size()
    assert counts["p.gpkg"] == len(ids)
    assert counts["f.csv"] == len(rows)
    assert (
        res.ledger["fate"]
        .isin(["used", "fixed", "vacant", "orphan", "merged", "duplicate", "rejected"])
        .all()
    )
    money = res.summary.money["tax"]
    assert money["input_yuan"] == pytest.approx(
        money["enterprises_yuan"] + money["set_aside_yuan"], abs=0.01
    )


_names = st.text(
    alphabet=st.sampled_from(
        [*"aAbZz09 ._-、丙丁甲乙公司厂", "é", "Ω", "\U0001f600", "\U00020000"]
    ),
    min_size=0,
    max_size=4,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.one_of(st.none(), _names)), max_size=40))
def test_join_per_key_equals_python_join_of_sorted_set(pairs):
    """Vectorised per-key listings equal the per-group Python they replace, in Python's str
    order (code points), with missing values left out."""
    keys = pd.Series([k for k, _ in pairs], dtype="int64", name="parcel_id")
    values = pd.Series([v for _, v in pairs], dtype="string", name="name")
    got = join_per_key(keys, values, sort=True, distinct=True).to_dict()
    want: dict[int, set[str]] = {}
    for k, v in pairs:
        if v is not None:
            want.setdefault(k, set()).add(v)
    assert got == {k: "、".join(sorted(vs)) for k, vs in want.items()}
    in_order = join_per_key(keys, values).to_dict()
    assert in_order == {
        k: "、".join(v for kk, v in pairs if kk == k and v is not None) for k in want
    }
    order = {"D": 3, "A": 0, "C": 2}
    ranked = join_per_key(keys, values, sort=order, distinct=True).to_dict()
    assert ranked == {
        k: "、".join(sorted(vs, key=lambda v: (order.get(v, 99), v))) for k, vs in want.items()
    }


def test_parcel_listings_and_missing_parcels(tiny_files):
    """A parcel lists each of its firms once, sorted; a vacant parcel lists none."""
    res = _run(tiny_files)
    parcels = res.parcels.set_index("parcel_id")
    assert parcels["enterprises"].dtype == "string"
    assert parcels.loc["P4", "uscc"].count("、") == 1
    assert pd.isna(parcels.loc["P5", "enterprises"])
    assert pd.isna(parcels.loc["P5", "uscc"])
    assert res.enterprises["missing_parcels"].dtype == "string"


# ---------------------------------------------------------------- bulk helpers


_ids = st.sampled_from(["P1", "P2", "中3", "p1", "P10", ""])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), _ids), max_size=20), st.sets(_ids, max_size=6))
def test_positions_are_get_indexer(values, universe):
    index = pd.Index(sorted(universe), dtype="string")
    for kind in ("string", "str", object):
        got = positions(pd.Series(values, dtype=kind), index)
        np.testing.assert_array_equal(got, index.get_indexer(pd.Series(values, dtype=kind)))
    numbers = pd.Index([3, 1, 2])
    np.testing.assert_array_equal(positions(pd.Series([2, 5, 3]), numbers), [2, -1, 0])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), _ids), max_size=20), st.sets(_ids, max_size=6))
def test_isin_values_is_isin(values, universe):
    got = isin_values(pd.Series(values, dtype="string"), pd.Index(sorted(universe), dtype="str"))
    want = pd.Series(values, dtype=object).isin(list(universe)).to_numpy()
    np.testing.assert_array_equal(got, want)


def _ledger_pair() -> tuple[Ledger, Ledger]:
    """Two ledgers on the same records; the second is worked label by label only."""
    fast, slow = Ledger(), Ledger()
    for ledger in (fast, slow):
        ledger.register("p", np.arange(1, 11), [f"P{i}" for i in range(1, 11)])
        ledger.register("f", np.array([5, 2, 9, 7]), ["a", None, "c", "d"])  # not 1, 2, ...
    slow._rows = lambda source, idx: None  # type: ignore[method-assign]
    return fast, slow


def test_ledger_fast_path_equals_the_label_path():
    """Fates and reasons set by position (Arrow) equal those set label by label, with fixed
    kept, terminal fates final, repeated records, empty and missing reasons."""
    fast, slow = _ledger_pair()
    calls = [
        ("set_fate", ("p", [3, 4], "fixed", ["ring closed", "ring closed"])),
        ("note", ("p", np.array([4, 5]), "declared 2 mu")),
        ("set_fate", ("p", [1, 2, 3], "rejected", "no id")),
        ("note", ("p", [6, 6, 7], pd.Series(["overlaps P7", "overlaps P8", ""]))),
        ("set_fate", ("p", [4, 5, 6, 7, 8], "used", pd.Series(["u4", "u5", "", "u7", "u8"]))),
        ("set_fate", ("p", [9, 10], "vacant", pd.Series(["x", None], dtype="string"))),
        ("set_fate", ("f", pd.Series([7, 2]), "duplicate", "repeats row 5")),
        ("note", ("f", [5, 9], pd.array(["odd", "flag"], dtype="string"))),
        ("set_fate", ("f", [5, 9, 2], "used", "land unit 2021-U00001")),
        ("set_fate", ("p", [3, 4], "rejected", "no area")),
        ("set_fate", ("p", [9], "merged", "part of P8")),
    ]
    for name, args in calls:
        for ledger in (fast, slow):
            getattr(ledger, name)(*args, check="a check")
    pd.testing.assert_frame_equal(fast.frame(), slow.frame())
    pd.testing.assert_frame_equal(fast.events(), slow.events())

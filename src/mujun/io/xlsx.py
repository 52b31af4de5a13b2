"""The evaluation result workbook: one sheet per list, laid out like a county's published table.

Each sheet has a title row (e.g. "2021年度 规上企业 亩均效益综合评价结果"), a header row in
Chinese or English, and one row per firm in rank order: identity, land, the indicators, the
sub-scores, score, rank, class, how solid the class is, and the surcharge.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from mujun.io.writers import check_writable
from mujun.scoring import INDICATORS, LIST_NAMES_ZH

__all__ = ["write_enterprise_workbook"]

_LIST_NAMES_EN = {
    "above_scale": "Above designated size",
    "below_scale": "Below size, own land",
    "below_scale_small": "Below size, small land",
    "lessee": "Lessees",
    "parcels": "Parcels",
}

_HEADERS: dict[str, tuple[str, str]] = {
    "rank": ("排名", "Rank"),
    "name": ("企业名称", "Enterprise"),
    "uscc": ("统一社会信用代码", "Credit code"),
    "industry": ("所属行业", "Industry"),
    "park": ("所属园区", "Park"),
    "land_status": ("用地情况", "Land"),
    "area_mu": ("用地面积(亩，实测)", "Land (mu, surveyed)"),
    "score": ("综合得分", "Score"),
    "class": ("分类", "Class"),
    "class_name": ("分类名称", "Class name"),
    "class_stability": ("分类稳定度", "Class stability"),
    "borderline": ("临界", "Borderline"),
    "imputed": ("按平均得分的指标", "Indicators at list average"),
    "d_streak": ("连续D类年数", "Years in D running"),
    "surcharge_per_kwh": ("差别电价(元/千瓦时)", "Surcharge (yuan/kWh)"),
    "surcharge_yuan": ("差别电价金额(元)", "Surcharge (yuan)"),
    "data_flags": ("数据提示", "Data flags"),
}
_STATUS = {
    "own": ("自有", "own"),
    "shared": ("共用", "shared"),
    "lessee": ("租赁", "lessee"),
    "orphan": ("宗地号不存在", "parcels not found"),
}


def _columns(frame: pd.DataFrame, group: str, weights: dict[str, float]) -> list[str]:
    lead = ["rank", "name", "uscc", "industry", "park", "land_status", "area_mu"]
    tail = [
        "score",
        "class",
        "class_name",
        "class_stability",
        "borderline",
        "imputed",
        "d_streak",
        "surcharge_per_kwh",
        "surcharge_yuan",
        "data_flags",
    ]
    inds = list(weights)
    subs = [f"score_{n}" for n in inds]
    cols = lead + inds + subs + tail
    if group == "lessee":
        cols.remove("area_mu")
    return [c for c in cols if c in frame]


def _header(col: str, lang: str) -> str:
    i = 0 if lang == "zh" else 1
    if col in _HEADERS:
        return _HEADERS[col][i]
    name = col.removeprefix("score_")
    ind = INDICATORS.get(name)
    if ind is None:
        return col
    label = (ind.label_zh, ind.label_en)[i]
    if col.startswith("score_"):
        return f"{label}得分" if lang == "zh" else f"{label} score"
    return f"{label}({ind.unit})"


def write_enterprise_workbook(
    enterprises: pd.DataFrame,
    path: Path,
    *,
    year: int,
    weights: dict[str, dict[str, float]],
    lang: str = "zh",
    overwrite: bool = False,
) -> Path:
    """Write ``enterprises.xlsx`` for ``year``: one sheet per list, in rank order."""
    check_writable(path, overwrite=overwrite)
    wb = Workbook()
    wb.remove(wb.active)
    data = enterprises.loc[enterprises["year"] == year]
    for group in ("above_scale", "below_scale", "below_scale_small", "lessee", "parcels"):
        rows = data.loc[data["group"] == group]
        if rows.empty:
            continue
        name = LIST_NAMES_ZH[group] if lang == "zh" else _LIST_NAMES_EN[group]
        ws = wb.create_sheet(title=name[:31].replace("/", "-"))
        cols = _columns(rows, group, dict(weights.get(group, {})))
        title = (
            f"{year}年度 {name} 亩均效益综合评价结果"
            if lang == "zh"
            else f"{name}: per-mu evaluation results, {year}"
        )
        ws.cell(row=1, column=1, value=title).font = Font(bold=True, size=14)
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(cols))
        for j, col in enumerate(cols, start=1):
            cell = ws.cell(row=2, column=j, value=_header(col, lang))
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="center")
            ws.column_dimensions[get_column_letter(j)].width = 14 if col != "name" else 30
        ordered = rows.sort_values(["rank", "uscc"], na_position="last")
        for i, rec in enumerate(ordered[cols].itertuples(index=False), start=3):
            for j, (col, value) in enumerate(zip(cols, rec, strict=True), start=1):
                ws.cell(row=i, column=j, value=_cell(col, value, lang))
        ws.freeze_panes = "C3"
    wb.save(path)
    return path


def _cell(col: str, value: object, lang: str) -> object:
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return None
    if col == "land_status":
        return _STATUS.get(str(value), (value, value))[0 if lang == "zh" else 1]
    if col == "borderline":
        return ("是" if value else "") if lang == "zh" else ("yes" if value else "")
    if isinstance(value, float):
        return round(value, 4)
    if hasattr(value, "item"):
        return value.item()  # numpy scalars
    return value

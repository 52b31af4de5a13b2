"""The map in English, and the public map that carries no confidential figure."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from browser import drawn, hover_parcel, wait_for_map
from conftest import page_data, run_mujun

# distinctive figures: 37.13 万元 on 15 mu, 91.7 万元 on 45 mu, 123.45 万元 + 66.6 万元 on 30 mu
TAX = ["37.13", "91.7", "123.45", "66.6", "5", "7", "15"]


@pytest.fixture
def maps(tiny_files, tmp_path: Path) -> dict[str, Path]:
    frame = pd.read_csv(tiny_files["filings"], dtype=str, keep_default_na=False)
    frame["实缴税金(万元)"] = TAX
    frame.to_csv(tiny_files["filings"], index=False, encoding="utf-8-sig")
    out = tmp_path / "out"
    paths = {}
    for name, extra in {
        "internal": [],
        "public": ["--profile", "public"],
        "english": ["--lang", "en"],
    }.items():
        # a folder per map: an overwrite replaces a whole run, maps included
        assert run_mujun(tiny_files, out / name, "--offline", "--map-name", name, *extra) == 0
        paths[name] = out / name / "maps" / f"{name}.html"
    paths["enterprises"] = out / "internal" / "exports" / "enterprises.csv"
    return paths


def _confidential(enterprises: Path) -> set[str]:
    """Every tax, value added, revenue and score figure as the map would print it."""
    ent = pd.read_csv(enterprises)
    numbers: set[str] = set()
    for col in ent.columns:
        if col.startswith(("tax", "value_added", "revenue", "score")):
            for v in ent[col].dropna():
                numbers.add(f"{v:,.2f}")  # as a tooltip shows it
                numbers.add(json.dumps(round(float(v), 2)))  # as the page's data holds it
    small = {"0.00", "1.00", "2.00", "3.00", "0.0", "1.0", "2.0", "3.0"}
    return {n for n in numbers if n not in small and len(n) > 2}


def _page_text(path: Path) -> str:
    """The page and the data packed in it, as text."""
    page = path.read_text(encoding="utf-8")
    return page + json.dumps(page_data(page), ensure_ascii=False)


def test_internal_map_shows_the_figures(maps):
    page = _page_text(maps["internal"])
    # 37.13 万元 on 15 mu = 2.4753 万元/亩
    assert "2.48" in page
    assert "亩均税收" in page


def test_public_map_has_no_confidential_number(maps):
    page = _page_text(maps["public"])
    secret = _confidential(maps["enterprises"])
    assert len(secret) > 10
    leaked = sorted(n for n in secret if n in page)
    assert leaked == []
    internal = _page_text(maps["internal"])
    assert len([n for n in secret if n in internal]) >= 5  # the check does find figures
    for word in ("亩均税收", "亩均增加值", "综合得分", "现状税收"):
        assert word not in page
    assert "综合评价分类" in page  # classes and areas remain


def test_english_map(maps):
    page = _page_text(maps["english"])
    assert "Tax per mu (10k yuan/mu, 2021)" in page
    assert "Vacant parcels (1)" in page
    assert "Surveyed area: {v} mu" in page
    assert not re.search(r"实测面积|空置地块", page)


@pytest.mark.browser
def test_public_and_english_tooltips_in_browser(maps, chromium):
    page = chromium.new_page(viewport={"width": 1000, "height": 700})
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    page.goto(maps["public"].as_uri())
    wait_for_map(page)
    assert set(drawn(page)) == {"class", "vacant"}  # no tax theme on a public map
    text = hover_parcel(page, "P1")
    assert "实测面积：15.00 亩" in text
    assert "亩均" not in text
    page.goto(maps["english"].as_uri())
    wait_for_map(page)
    text = hover_parcel(page, "P1")
    assert "Surveyed area: 15.00 mu" in text
    assert "Tax per mu: 2.48 10k yuan/mu" in text
    page.close()


def test_a_text_key_in_two_sections_is_refused():
    """Each part of the page has its own section of words; one may not replace another's."""
    from mujun.maps import text  # noqa: PLC0415

    with pytest.raises(ValueError, match="two sections: parcel"):
        text._joined((text._BASE, {"parcel": ("宗地", "Parcel")}))
    assert len(text.TEXT) == sum(len(s) for s in text._SECTIONS)

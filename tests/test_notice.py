"""The notice package (``mujun report``): the PDF's text, pages, fonts, the public edition,
hostile names, the XLSX lists, and a folder without a finished run.

Expected values are computed here from the run's exports with pandas, not by the report's code.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from python_calamine import CalamineWorkbook

from conftest import run_mujun, tiny_filings, write_tiny
from mujun.cli import main
from mujun.config import load_config
from mujun.errors import ConfigError

pypdf = pytest.importorskip("pypdf")

LISTS = ("above_scale", "below_scale", "below_scale_small", "lessee")


def _text(pdf: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in pypdf.PdfReader(pdf).pages)


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _exports(out: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(out / "exports" / name, encoding="utf-8-sig", dtype={"uscc": "string"})


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample county run once, with both editions of its report."""
    out = tmp_path_factory.mktemp("sample")
    assert main(["run", "--out", str(out), "-q", "--report"]) == 0
    assert main(["report", str(out), "--profile", "public", "-q"]) == 0
    return out


@pytest.mark.slow
def test_pdf_holds_county_figure_parks_and_first_firms(sample: Path) -> None:
    text = _flat(_text(sample / "reports" / "mujun.pdf"))
    e = _exports(sample, "enterprises.csv")
    # the county's 规上 tax per mu of 2021: tax of the 规上 firms on land over their land
    above = e[(e["year"] == 2021) & (e["scale"] == "规上") & (e["land_share_mu"] > 0)]
    county = above["tax"].sum() / 1e4 / above["land_share_mu"].sum()
    assert f"{county:.2f}" == "33.40"  # Changxing's published figure (README)
    assert "33.40" in text
    parks = _exports(sample, "parks.csv")
    for park in parks["park"].dropna().unique():
        assert _flat(park) in text, park
    year = e[e["year"] == 2021]
    for group in LISTS:
        firms = year[year["group"] == group].sort_values(["rank", "uscc"])
        first = firms.iloc[0]
        assert _flat(first["name"]) in text, (group, first["name"])
        assert first["uscc"] in text


@pytest.mark.slow
def test_pages_not_blank_and_fonts_embedded(sample: Path, tmp_path: Path) -> None:
    pdf = sample / "reports" / "mujun.pdf"
    reader = pypdf.PdfReader(pdf)
    fonts = set()
    for page in reader.pages:
        for ref in (page["/Resources"].get("/Font") or {}).values():
            font = ref.get_object()
            for desc in font.get("/DescendantFonts", [font]):
                d = desc.get_object().get("/FontDescriptor")
                if d is not None:
                    d = d.get_object()
                    fonts.add(
                        (
                            str(d["/FontName"]),
                            any(k in d for k in ("/FontFile", "/FontFile2", "/FontFile3")),
                        )
                    )
    assert fonts
    assert all(embedded for _, embedded in fonts), fonts
    assert any("CJK" in name for name, _ in fonts)
    assert "公示名单" in _text(pdf)  # Chinese glyphs in the text layer
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) not installed: scripts/setup-system.sh")
    subprocess.run(["pdftoppm", "-png", "-r", "20", str(pdf), str(tmp_path / "p")], check=True)
    pages = sorted(tmp_path.glob("p-*.png"))
    assert len(pages) == len(reader.pages) > 10
    for png in pages:
        pixels = np.asarray(Image.open(png).convert("L"))
        assert (pixels < 200).mean() > 0.002, png.name  # more than the page number


@pytest.mark.slow
def test_public_report_has_no_confidential_figure(sample: Path) -> None:
    pdf = sample / "reports" / "mujun-public.pdf"
    lines = _text(pdf).splitlines()
    text = "\n".join(lines)
    e = _exports(sample, "enterprises.csv")
    year = e[e["year"] == 2021]
    for group in LISTS:
        assert year.loc[year["group"] == group, "uscc"].iloc[0] in text
    by_code = {r.uscc: r for r in year.itertuples()}
    checked = 0
    for line in lines:
        codes = [c for c in re.findall(r"[0-9A-Z]{18}", line) if c in by_code]
        for code in codes:
            r = by_code[code]
            # the land is shown: a figure printing like it is no leak
            tokens = set(re.findall(r"\d[\d,]*\.\d+", line)) - {f"{r.area_mu:,.2f}"}
            for v in (r.tax_per_mu, r.value_added_per_mu, r.score, r.tax_per_kwh):
                if pd.notna(v):
                    assert f"{v:,.2f}" not in tokens, (code, v)
                    assert f"{v:.4f}" not in tokens, (code, v)
            checked += 1
    assert checked >= len(year) * 0.9
    # no county or park money figure either, outside the lists (where a firm's 9.40 mu of
    # land is no 2016 tax per mu); numbers as numbers of their own (39.40 holds no 9.40)
    start = text.rfind("四、公示名单")  # the section, not its line in the contents
    end = text.find("五、低效用地", start)
    assert 0 < start < end
    head, tail = text[:start], text[end:]
    numbers = set(re.findall(r"\d[\d,]*\.\d+|\d[\d,]*", head + tail))
    county = _exports(sample, "county.csv")
    for v in county["tax_per_mu"]:
        assert f"{v:.2f}" not in numbers
    assert "33.40" not in numbers
    assert "9.40" not in numbers
    gains = _exports(sample, "parks.csv")["potential_gain_wan"].dropna()
    assert all(f"{v:,.0f}" not in numbers for v in gains if abs(v) >= 1000)


@pytest.mark.slow
def test_xlsx_has_one_sheet_per_list(sample: Path) -> None:
    book = CalamineWorkbook.from_path(str(sample / "reports" / "mujun.xlsx"))
    e = _exports(sample, "enterprises.csv")
    year = e[e["year"] == 2021]
    counts = year["group"].value_counts()
    assert len(book.sheet_names) == len(counts)
    for name, group in zip(book.sheet_names, [g for g in LISTS if g in counts], strict=True):
        rows = book.get_sheet_by_name(name).to_python()
        assert len(rows) == counts[group] + 2  # title and header rows
        first = year[year["group"] == group].sort_values(["rank", "uscc"]).iloc[0]
        assert rows[2][1] == first["uscc"]
        assert rows[2][2] == first["name"]


def test_hostile_names_come_out_literally(tmp_path: Path) -> None:
    names = [
        "#set page(width: 1cm)",
        "*bold* _x_",
        "]",
        "$x$ <a> @b",
        "#{panic()}",
        "\\u{41}",
        "戊",
    ]
    filings = tiny_filings()
    filings["企业名称"] = [*names[:6], names[0]]
    files = write_tiny(tmp_path, filings)
    out = tmp_path / "out"
    assert run_mujun(files, out) == 0
    assert main(["report", str(out), "-q"]) == 0
    text = _text(out / "reports" / "mujun.pdf")
    flat = _flat(text)
    e = _exports(out, "enterprises.csv")
    shown = e.loc[(e["year"] == 2021) & e["class"].notna(), "name"]
    assert len(shown) >= 4
    for name in shown:
        assert _flat(name) in flat, name
    assert len(pypdf.PdfReader(out / "reports" / "mujun.pdf").pages) > 3  # no 1 cm pages


def test_report_on_a_folder_without_a_run_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no finished mujun run" in err
    assert "run.json" in err
    (tmp_path / "exports").mkdir()
    (tmp_path / "exports" / "run.json").write_text("{}", "utf-8")
    assert main(["report", str(tmp_path)]) == 2
    assert "not a mujun run record" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2


def test_report_does_not_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    files = write_tiny(tmp_path)
    out = tmp_path / "out"
    assert run_mujun(files, out, "--report") == 0
    assert (out / "reports" / "mujun.pdf").exists()
    assert main(["report", str(out), "-q"]) == 3
    assert "--overwrite" in capsys.readouterr().err
    assert main(["report", str(out), "-q", "--overwrite", "--lang", "en"]) == 0
    assert "The lists" in _text(out / "reports" / "mujun.pdf")


def test_a_new_run_removes_the_old_report(tmp_path: Path) -> None:
    """A report speaks of one run: an overwriting run takes the old one away (run.json says
    so), and ``--report`` writes the new one."""
    files = write_tiny(tmp_path)
    out = tmp_path / "out"
    assert run_mujun(files, out, "--report") == 0
    assert main(["report", str(out), "-q", "--profile", "public"]) == 0
    reports = out / "reports"
    assert sorted(p.name for p in reports.iterdir()) == [
        "mujun-public.pdf",
        "mujun-public.xlsx",
        "mujun.pdf",
        "mujun.xlsx",
    ]
    assert run_mujun(files, out, "--overwrite") == 0
    assert list(reports.iterdir()) == []
    record = json.loads((out / "exports" / "run.json").read_text("utf-8"))
    assert str(reports / "mujun.pdf") in record["removed"]
    assert run_mujun(files, out, "--overwrite", "--report") == 0
    assert sorted(p.name for p in reports.iterdir()) == ["mujun.pdf", "mujun.xlsx"]


def _rewrite_enterprises(out: Path, frame: pd.DataFrame, *, record: bool) -> None:
    """Write enterprises.csv again; with ``record``, as the run would have (run.json's hash)."""
    path = out / "exports" / "enterprises.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    if record:
        run = out / "exports" / "run.json"
        data = json.loads(run.read_text("utf-8"))
        data["outputs"]["enterprises"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        run.write_text(json.dumps(data), "utf-8")


def test_what_it_takes_columns_shown_when_present(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = write_tiny(tmp_path)
    out = tmp_path / "out"
    assert run_mujun(files, out) == 0
    e = _exports(out, "enterprises.csv")
    assert main(["report", str(out), "-q"]) == 0
    # the run writes the columns itself now (mujun.takes): the report shows them
    assert "升档需亩均税收" in _flat(_text(out / "reports" / "mujun.pdf"))
    graded = e["class"].notna()
    e["tax_per_mu_to_next_class"] = np.where(graded, 7.77, np.nan)
    e["tax_per_mu_to_leave_d"] = np.where(graded & (e["class"] == "D"), 3.21, np.nan)
    _rewrite_enterprises(out, e, record=False)  # edited behind the run's back: refused
    assert main(["report", str(out), "-q", "--overwrite"]) == 2
    assert "enterprises.csv changed after the run" in capsys.readouterr().err
    _rewrite_enterprises(out, e, record=True)
    assert main(["report", str(out), "-q", "--overwrite"]) == 0
    text = _text(out / "reports" / "mujun.pdf")
    assert "升档需亩均税收" in _flat(text)  # a header may wrap in its column
    assert "脱离D档需亩均税收" in _flat(text)
    assert text.count("7.77") >= int(graded.sum() - (e["year"] != 2021).sum())
    public = out / "reports" / "mujun-public.pdf"
    assert main(["report", str(out), "-q", "--profile", "public"]) == 0
    assert "7.77" not in _text(public)
    book = CalamineWorkbook.from_path(str(out / "reports" / "mujun.xlsx"))
    header = book.get_sheet_by_name(book.sheet_names[0]).to_python()[1]
    assert "升档需亩均税收" in header


def test_report_section_of_the_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="objection_days"):
        load_config(overrides={"report": {"objection_days": 0}})
    files = write_tiny(tmp_path)
    config = tmp_path / "county.toml"
    config.write_text(
        '[report]\nobjection_days = 7\ncontact = "县经信局 0572-6043210 *bold* #x"\n'
        'publisher = "长兴县亩均办"\n',
        "utf-8",
    )
    out = tmp_path / "out"
    assert run_mujun(files, out, "--config", str(config), "--report") == 0
    text = _flat(_text(out / "reports" / "mujun.pdf"))
    assert "公示期7天" in text
    assert "县经信局0572-6043210*bold*#x" in text
    assert "长兴县亩均办" in text
    assert "[report]contact" not in text  # no placeholder where the config gives a value
    assert "[report]published" in text  # and one where it does not

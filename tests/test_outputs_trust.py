"""Outputs that can be trusted (issue 13): no code from configuration, a run is all or
nothing, paths stay contained, CSV cells never run as formulas, every failure is one line with
a documented exit code, and a public map tells nothing confidential by inference.

Faults are injected for real where they can be (a SIGKILL or SIGINT to a running mujun, a
symbolic link, a file where a folder should be) and by a patched write where the machine
cannot give them on demand (a full disk).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from browser import offline_page, wait_for_map
from conftest import X0, Y0, page_data, run_mujun, tiny_filings, tiny_parcels, write_tiny
from mujun.cli import main

TEMPLATES = ["{{7*7}}", "{% if %}", "${x}", "</script>", "{{ cycler.__init__ }}"]


def _single_zones(tmp: Path) -> list[str]:
    """``--config`` arguments letting one underused parcel make a zone: the tiny county's
    parcels are 50 m apart, so without it a run writes no zones."""
    path = tmp / "zones.toml"
    path.write_text("[underuse]\nzone_min_parcels = 1\n", encoding="utf-8")
    return ["--config", str(path)]


def _snapshot(out: Path) -> dict[str, str]:
    """SHA-256 of every file under ``out``'s maps/ and exports/ (relative paths)."""
    found = {}
    for folder in ("maps", "exports"):
        for path in sorted((out / folder).rglob("*")) if (out / folder).exists() else []:
            if path.is_file():
                found[str(path.relative_to(out))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


# ------------------------------------------------------------ no code from configuration


def _template_config(tmp: Path, crafted: str) -> Path:
    config = tmp / "templates.toml"
    title = " ".join(TEMPLATES) + " " + crafted
    names = ", ".join(f"'{t}'" for t in TEMPLATES[:4])
    config.write_text(f"[map]\ntitle = '{title}'\n[classes]\nnames = [{names}]\n", "utf-8")
    return config


def test_template_text_in_the_config_is_never_compiled(tmp_path, monkeypatch):
    crafted = '{{ cycler.__init__.__globals__.os.mkdir("PWNED") }}'
    config = _template_config(tmp_path, crafted)
    out = tmp_path / "out"
    monkeypatch.chdir(tmp_path)  # where the crafted title would create its folder
    assert run_mujun(write_tiny(tmp_path), out, "--config", str(config), "--offline") == 0
    assert not (tmp_path / "PWNED").exists()
    page = (out / "maps" / "mujun.html").read_text("utf-8")
    assert "{{7*7}} {% if %} ${x} &lt;/script&gt;" in page
    assert ">49<" not in page


@pytest.mark.browser
def test_template_text_renders_literally_in_chromium(tmp_path, chromium):
    config = _template_config(tmp_path, "")
    out = tmp_path / "out"
    assert run_mujun(write_tiny(tmp_path), out, "--config", str(config), "--offline") == 0
    with offline_page(chromium) as page:
        page.goto((out / "maps" / "mujun.html").as_uri())
        wait_for_map(page)
        title = page.inner_text(".mj-title")
        for text in TEMPLATES:
            assert text in title, text
        page.locator(".mj-layer[data-layer='class']").click()  # the class theme's legend
        legend = page.text_content(".mj-legend")
        for text in TEMPLATES[:4]:
            assert text in legend, text


# -------------------------------------------------------------------- all or nothing

_INJECT = """
import os, signal, sys
import mujun.io.writers as writers, mujun.io.staging as staging
mode, count = sys.argv[1], int(sys.argv[2])
calls = {"n": 0}
def tick():
    calls["n"] += 1
    if calls["n"] == count:
        if mode in ("kill", "kill-commit"):
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "interrupt":
            raise KeyboardInterrupt
        if mode == "full":
            raise OSError(28, "No space left on device", "exports/units.csv")
original_csv, original_move = writers.write_csv, staging._move
def write_csv(*a, **k):
    if mode != "kill-commit":
        tick()
    return original_csv(*a, **k)
def move(*a, **k):
    if mode == "kill-commit":
        tick()
    return original_move(*a, **k)
writers.write_csv, staging._move = write_csv, move
import mujun.outputs
mujun.outputs.write_csv = write_csv
from mujun.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _injected(mode: str, count: int, args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _INJECT, mode, str(count), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def first_run(tmp_path: Path) -> tuple[dict[str, Path], Path, dict[str, str], list[str]]:
    """A finished run (with a GeoTIFF surface and zones), its file hashes, and the arguments
    of a second, different --overwrite run."""
    files = write_tiny(tmp_path)
    out = tmp_path / "out"
    assert run_mujun(files, out, "--surface-m", "20", *_single_zones(tmp_path)) == 0
    before = _snapshot(out)
    changed = tiny_filings()
    changed["实缴税金(万元)"] = changed["实缴税金(万元)"] * 3
    (tmp_path / "again").mkdir()
    again = write_tiny(tmp_path / "again", changed)
    args = ["run", "--parcels", str(again["parcels"]), "--filings", str(again["filings"])]
    args += _single_zones(tmp_path)
    return files, out, before, [*args, "--out", str(out), "--overwrite", "-q"]


@pytest.mark.parametrize("count", [1, 4, 8])
def test_a_run_killed_while_writing_leaves_the_previous_outputs_byte_identical(first_run, count):
    _, out, before, args = first_run
    done = _injected("kill", count, args)
    assert done.returncode == -signal.SIGKILL
    assert _snapshot(out) == before
    assert (out / ".mujun-staging").exists()  # left behind by the kill...
    assert main(args) == 0  # ...and cleared by the next run
    assert not (out / ".mujun-staging").exists()
    assert _snapshot(out) != before


@pytest.mark.parametrize("count", [1, 10, 20, 29])
def test_a_run_killed_during_the_commit_never_mixes_and_is_rolled_back(first_run, count):
    _, out, before, args = first_run
    elsewhere = out.parent / "complete"  # the second run, done whole, for its file hashes
    assert main([*args[:7], "--out", str(elsewhere), "-q"]) == 0
    after = _snapshot(elsewhere)
    done = _injected("kill-commit", count, args)
    assert done.returncode == -signal.SIGKILL
    now = _snapshot(out)
    assert "exports/run.json" not in now or now == before  # no valid run while half done
    old = {k for k, v in now.items() if v == before.get(k) and v != after.get(k)}
    new = {k for k, v in now.items() if v == after.get(k) and v != before.get(k)}
    assert not (old and new), "old and new files side by side"
    assert (out / ".mujun-commit.json").exists()
    assert main(["validate", *args[1:5], "--out", str(out), "-q"]) == 3  # recovers, then...
    assert _snapshot(out) == before  # ...the previous outputs are back, byte for byte


def test_ctrl_c_and_a_full_disk_keep_the_previous_outputs(first_run):
    _, out, before, args = first_run
    done = _injected("interrupt", 3, args)
    assert done.returncode == 130
    assert done.stderr.strip() == "mujun: interrupted; previous outputs kept"
    assert _snapshot(out) == before
    done = _injected("full", 2, args)
    assert done.returncode == 5
    assert "No space left on device" in done.stderr
    assert "the previous outputs are kept" in done.stderr
    assert "Traceback" not in done.stderr
    assert _snapshot(out) == before
    assert not (out / ".mujun-staging").exists()


def test_a_real_sigint_mid_run_exits_130_with_the_outputs_kept(first_run):
    _, out, before, args = first_run
    proc = subprocess.Popen(
        [sys.executable, "-m", "mujun.cli", *args],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not (out / ".mujun-staging").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:  # the run won the race: then it is whole
        assert json.loads((out / "exports" / "run.json").read_text("utf-8"))["outputs"]
        return
    assert proc.returncode == 130, err
    assert "interrupted; previous outputs kept" in err
    assert _snapshot(out) == before


def test_run_json_lists_every_output_with_size_and_hash_and_what_it_removed(first_run):
    _, out, before, args = first_run
    assert "exports/tax_per_mu.tif" in before
    assert "exports/zones.geojson" in before
    assert main([*args, "--map-name", "second"]) == 0
    now = _snapshot(out)
    # the earlier run's map and surface are gone: this run wrote neither
    assert "maps/mujun.html" not in now
    assert "exports/tax_per_mu.tif" not in now
    run = json.loads((out / "exports" / "run.json").read_text("utf-8"))
    assert sorted(Path(p).name for p in run["removed"]) == ["mujun.html", "tax_per_mu.tif"]
    for entry in run["outputs"].values():
        path = Path(entry["path"])
        assert path.exists()
        if path.is_file():
            assert entry["bytes"] == path.stat().st_size
            assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    listed = {str(Path(e["path"]).relative_to(out)) for e in run["outputs"].values()}
    assert listed | {"exports/run.json"} == set(now)


def test_a_stale_staging_folder_is_cleared(tmp_path):
    out = tmp_path / "out"
    (out / ".mujun-staging" / "new" / "exports").mkdir(parents=True)
    (out / ".mujun-staging" / "new" / "exports" / "units.csv").write_text("half", "utf-8")
    assert run_mujun(write_tiny(tmp_path), out) == 0
    assert not (out / ".mujun-staging").exists()
    run = json.loads((out / "exports" / "run.json").read_text("utf-8"))
    assert any("staging folder of an interrupted run" in n for n in run["notes"])


# -------------------------------------------------------------------- contained paths


@pytest.mark.parametrize("name", ["../../x", "/tmp/abs", "", ".hidden", "a/b", "a\\b"])
def test_map_name_must_be_a_plain_file_name(tmp_path, capsys, name):
    assert run_mujun(write_tiny(tmp_path), tmp_path / "out", "--map-name", name) == 2
    assert "is not a plain file name" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert not Path("/tmp/abs.html").exists()


def test_symbolic_links_in_the_output_tree_are_refused(tmp_path, capsys):
    files = write_tiny(tmp_path)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    (out / "maps").mkdir(parents=True)
    (out / "maps" / "mujun.html").symlink_to(elsewhere / "planted.html")  # dangling
    assert run_mujun(files, out) == 2
    assert "is a symbolic link" in capsys.readouterr().err
    assert not (elsewhere / "planted.html").exists()
    (out / "maps" / "mujun.html").unlink()
    elsewhere.mkdir()
    (out / "exports").symlink_to(elsewhere, target_is_directory=True)
    assert run_mujun(files, out, "--overwrite") == 2
    assert list(elsewhere.iterdir()) == []


# ------------------------------------------------------------------ formula injection

FORMULAS = ['=HYPERLINK("http://x","click")', "+1+1", "-2+3", "@SUM(A1)", "-x"]


def test_csv_cells_that_would_run_as_formulas_are_neutralised(tmp_path):
    filings = tiny_filings()
    filings["企业名称"] = [*FORMULAS, "正常公司", "正常公司"]
    filings.loc[0, "实缴税金(万元)"] = -30  # a refund: a negative number stays a number
    files = write_tiny(tmp_path, filings)
    assert run_mujun(files, tmp_path / "out") == 0
    ent = pd.read_csv(tmp_path / "out" / "exports" / "enterprises.csv", dtype={"name": str})
    names = ent.set_index("uscc")["name"]
    assert set(names) == {"'" + f for f in FORMULAS} | {"正常公司"}
    assert ent["tax"].min() == -300_000
    text = (tmp_path / "out" / "exports" / "enterprises.csv").read_text("utf-8-sig")
    assert ",-300000," in text  # a bare number, not text
    ledger = (tmp_path / "out" / "exports" / "ledger.csv").read_text("utf-8-sig")
    assert "\n=" not in ledger
    # raw, for machine pipelines
    config = tmp_path / "raw.toml"
    config.write_text('[output]\ncsv_formulas = "raw"\n', encoding="utf-8")
    assert run_mujun(files, tmp_path / "raw", "--config", str(config)) == 0
    raw = pd.read_csv(tmp_path / "raw" / "exports" / "enterprises.csv", dtype={"name": str})
    assert {'=HYPERLINK("http://x","click")', "+1+1", "-2+3", "@SUM(A1)"} <= set(raw["name"])


def test_every_risky_first_character_is_neutralised_and_numbers_are_not():
    from mujun.io.writers import neutralise_formulas  # noqa: PLC0415

    frame = pd.DataFrame(
        {
            "text": ["=a", "+a", "-a", "@a", "\ta", "\ra", "a=b", None],
            "n": [-1.5, 2, 3, 4, 5, 6, 7, 8],
        }
    )
    got = neutralise_formulas(frame)
    assert got["text"].tolist()[:7] == ["'=a", "'+a", "'-a", "'@a", "'\ta", "'\ra", "a=b"]
    assert got["n"].tolist() == frame["n"].tolist()


def test_xlsx_cells_stay_typed_strings(tmp_path):
    import openpyxl  # noqa: PLC0415

    filings = tiny_filings()
    filings["企业名称"] = [*FORMULAS, "正常公司", "正常公司"]
    assert run_mujun(write_tiny(tmp_path, filings), tmp_path / "out") == 0
    book = openpyxl.load_workbook(tmp_path / "out" / "exports" / "enterprises.xlsx")
    cells = [c for sheet in book.worksheets for row in sheet.iter_rows() for c in row]
    hyperlink = [c for c in cells if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert hyperlink
    assert all(c.data_type == "s" for c in hyperlink)  # text, not a formula


# --------------------------------------------------------------------- no tracebacks


def test_failures_are_one_line_with_their_exit_code(tmp_path, capsys):
    files = write_tiny(tmp_path)
    (tmp_path / "afile").write_text("x", "utf-8")
    assert run_mujun(files, tmp_path / "afile") == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert (
        run_mujun({"parcels": files["filings"], "filings": files["filings"]}, tmp_path / "o") == 2
    )
    assert "has no geometry: it is a table" in capsys.readouterr().err
    garbage = tmp_path / "garbage.gpkg"
    garbage.write_bytes(b"SQLite format 3\x00" + os.urandom(2000))
    assert run_mujun({"parcels": garbage, "filings": files["filings"]}, tmp_path / "o") == 2
    assert "cannot be read as a vector layer" in capsys.readouterr().err


def test_a_permission_error_reading_an_input_is_one_line(tmp_path):
    files = write_tiny(tmp_path)
    script = (
        "import sys, mujun.io.sources as s\n"
        "def denied(path): raise PermissionError(13, 'Permission denied', str(path))\n"
        "s.read_bytes = denied\n"
        "from mujun.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, "run", "--parcels", str(files["parcels"]), "--filings",
         str(files["filings"]), "--out", str(tmp_path / "o"), "-q"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"mujun: cannot read {files['filings']}: Permission denied; check the file and its "
        "permissions"
    )


@pytest.mark.filterwarnings("ignore::mujun.errors.DataQualityWarning")  # 30 mu declared
def test_millimetre_parcels_export_without_a_geos_error(tmp_path):
    parcels = tiny_parcels()
    parcels.loc[3, "geometry"] = box(X0 + 700, Y0, X0 + 700.001, Y0 + 0.001)  # 1 mm
    parcels.loc[4, "geometry"] = box(X0 + 600, Y0, X0 + 600.005, Y0 + 0.004)
    files = {"parcels": tmp_path / "p.gpkg", "filings": write_tiny(tmp_path)["filings"]}
    parcels.to_file(files["parcels"], engine="pyogrio")
    assert run_mujun(files, tmp_path / "out") == 0
    doc = json.loads((tmp_path / "out" / "exports" / "parcels.geojson").read_text("utf-8"))
    shapes = {f["properties"]["parcel_id"]: f["geometry"] for f in doc["features"]}
    assert len(shapes["P4"]["coordinates"][0]) == 5  # kept whole, at full precision


# ---------------------------------------------------------- public maps leak nothing


def test_public_map_marks_only_what_non_confidential_reasons_mark(tmp_path):
    filings = tiny_filings()
    filings.loc[0, "实缴税金(万元)"] = 1  # A: under the 4 万元/亩 floor, on P1 alone
    files = write_tiny(tmp_path, filings)
    out = tmp_path / "out"
    zones = _single_zones(tmp_path)
    assert run_mujun(files, out / "internal", *zones) == 0
    assert run_mujun(files, out / "public", "--profile", "public", *zones) == 0
    internal = gpd.read_file(out / "internal" / "exports" / "parcels.geojson").set_index(
        "parcel_id"
    )
    public_reasons = {"vacant", "unused_buildings", "low_coverage", "low_far"}
    expected = {
        pid
        for pid, reasons in internal["underuse_reasons"].fillna("").items()
        if set(reasons.split("; ")) & public_reasons
    }
    assert "P1" in set(internal.index[internal["underused"]])  # low tax, internally
    data = page_data((out / "public" / "maps" / "mujun.html").read_text("utf-8"))
    cols = data["sets"]["parcels"]["cols"]
    ids = _texts(cols["parcel_id"])
    marked = _decoded_flags(cols["underused"], len(ids))
    assert {pid for pid, m in zip(ids, marked, strict=True) if m} == expected
    page = json.dumps(data, ensure_ascii=False)
    for figure in ("tax", "value_added", "revenue", "score", "rank", "gain"):
        assert not [k for k in cols if figure in k], figure
    assert set(data["firms"]["cols"]) == {"name", "class"}  # popups: who and the class only
    assert [z["k"] for z in data["sets"]["zones"]["cols"].values()]  # zones there, ...
    assert set(data["sets"]["zones"]["cols"]) == {"zone_id", "rank", "park", "n_parcels", "area_mu"}
    zone_area = data["sets"]["zones"]["cols"]["area_mu"]["v"]
    assert zone_area == sorted(zone_area, reverse=True)  # ...numbered by area, not by gain
    assert "P1" not in expected
    assert "low_tax" not in page
    assert "class_d" not in json.dumps(data["themes"])


def _decoded_flags(column: dict, n: int) -> list[bool]:
    """A bit-set column of the page's data (bit i % 8 of byte i // 8), decoded here."""
    import base64  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    assert column["k"] == "bool"
    raw = np.frombuffer(base64.b64decode(column["bits"]), dtype=np.uint8)
    return [bool(b) for b in np.unpackbits(raw, bitorder="little")[:n]]


def _texts(column: dict) -> list[str | None]:
    if column["k"] == "cat":
        return [None if c < 0 else column["dict"][c] for c in column["codes"]]
    return list(column["v"])


@pytest.mark.browser
def test_the_maps_csv_export_neutralises_formulas_too(tmp_path, chromium):
    filings = tiny_filings()
    filings["企业名称"] = [*FORMULAS, "正常公司", "正常公司"]
    out = tmp_path / "out"
    assert run_mujun(write_tiny(tmp_path, filings), out, "--offline") == 0
    context = chromium.new_context(accept_downloads=True)
    page = context.new_page()
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    page.goto((out / "maps" / "mujun.html").as_uri())
    wait_for_map(page)
    with page.expect_download() as info:
        page.click(".mj-export-csv")
    path = tmp_path / "shown.csv"
    info.value.save_as(path)
    table = pd.read_csv(path, encoding="utf-8-sig", dtype={"enterprises": str})
    names = set(table["enterprises"].dropna())
    assert '\'=HYPERLINK("http://x","click")' in names
    assert not [n for n in names if n[0] in "=+-@"]
    context.close()

from __future__ import annotations

from pathlib import Path

import pytest

from mujun.config import available_presets, load_config
from mujun.errors import ConfigError


def test_default_preset_is_zhejiang_with_per_mu_display():
    cfg = load_config()
    assert cfg.preset == "zhejiang"
    assert cfg.output.display_unit == "万元/亩"
    assert cfg.area.declared_tolerance_pct == 5.0
    assert "zhejiang" in available_presets()


def test_layers_file_then_overrides(tmp_path: Path):
    path = tmp_path / "county.toml"
    path.write_text(
        '[input]\nparcels = "p.gpkg"\nfilings = "/abs/f.csv"\n'
        "[area]\ndeclared_tolerance_pct = 3\n"
        '[columns.filings]\ntax = "税收实际贡献"\n',
        encoding="utf-8",
    )
    cfg = load_config(path, overrides={"area": {"declared_tolerance_pct": 2.5}})
    assert cfg.input.parcels == tmp_path / "p.gpkg"  # relative to the config file
    assert cfg.input.filings == Path("/abs/f.csv")
    assert cfg.area.declared_tolerance_pct == 2.5
    assert cfg.columns["filings"]["tax"] == "税收实际贡献"


def test_unknown_key_is_named(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text("[area]\ntolerance = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) tolerance in \[config.area\]"):
        load_config(path)


def test_wrong_type_and_bad_choice_are_refused():
    with pytest.raises(ConfigError, match=r"config\.map\.k = 'five' must be int"):
        load_config(overrides={"map": {"k": "five"}})
    with pytest.raises(ConfigError, match="expected one of 'plane', 'ellipsoidal'"):
        load_config(overrides={"area": {"method": "mercator"}})


def test_unknown_preset_lists_available():
    with pytest.raises(ConfigError, match=r"unknown preset 'nowhere'; available: .*zhejiang"):
        load_config(preset="nowhere")


def test_invalid_toml_names_the_file(tmp_path: Path):
    path = tmp_path / "broken.toml"
    path.write_text("[area\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml is not valid TOML"):
        load_config(path)

"""In-page controls that need no server: search, filters, and export of the filtered parcels.

Every parcel feature drawn on the map carries plain data properties (id, park, class, industry,
underuse reasons, enterprises, credit codes, area and, on internal maps, per-mu figures). The
control script reads them from the map's layers, never as HTML: results and options are built
with ``textContent``, so a firm's name stays text. Filters hide the parcels' SVG paths on every
layer; the export buttons download the parcels that pass the filters as RFC 7946 GeoJSON
(longitude/latitude, counter-clockwise exteriors; never GCJ-02 shifted) or as CSV (UTF-8 with
BOM for Excel).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import branca
from jinja2 import Template

from mujun.maps.text import Texts

__all__ = ["FilterControl"]

_CSS = """
.mj-panel{position:fixed;top:52px;left:54px;z-index:9999;background:#fff;padding:8px 10px;
 width:260px;border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.35);font:12px/1.5
 "Noto Sans CJK SC","Microsoft YaHei",sans-serif}
.mj-panel input,.mj-panel select{width:100%;box-sizing:border-box;margin:2px 0;font-size:12px}
.mj-panel button{margin:4px 4px 0 0;font-size:12px}
.mj-results{max-height:140px;overflow:auto;margin:2px 0}
.mj-results div{cursor:pointer;padding:1px 2px}.mj-results div:hover{background:#eef}
.mj-count{color:#333;margin-top:4px}
"""

_JS_SOURCE = """
(function() {
  var map = {{ this._parent.get_name() }};
  var T = {{ this.texts | tojson }};
  var trueGeoms = {{ this.true_geometries | tojson }};
  var fields = ["class", "park", "industry2", "reasons"];
  var panel = document.createElement("div");
  panel.className = "mj-panel";
  document.body.appendChild(panel);
  function el(tag, text, parent) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  var search = el("input", null, panel);
  search.type = "search"; search.placeholder = T.search; search.className = "mj-search";
  var results = el("div", null, panel); results.className = "mj-results";
  var selects = {};
  fields.forEach(function(f) {
    var s = el("select", null, panel); s.className = "mj-filter"; s.dataset.field = f;
    el("option", T["all_" + f], s).value = "";
    selects[f] = s;
  });
  var count = el("div", "", panel); count.className = "mj-count";
  var bGeo = el("button", T.export_geojson, panel); bGeo.className = "mj-export-geojson";
  var bCsv = el("button", T.export_csv, panel); bCsv.className = "mj-export-csv";

  var index = {};  // parcel id -> the base layer's feature (full data)
  function parcelLayers() {
    var out = [];
    map.eachLayer(function(l) {
      if (l.feature && l.feature.properties && l.feature.properties.parcel_id !== undefined) {
        out.push(l);
        if (l.feature.properties._d) { index[l.feature.properties.parcel_id] = l; }
      }
    });
    return out;
  }
  function dataOf(l) {
    var base = index[l.feature.properties.parcel_id];
    return base ? base.feature.properties : l.feature.properties;
  }
  function values(p, f) {
    var v = p[f];
    if (v === null || v === undefined || v === "") { return []; }
    return f === "reasons" ? String(v).split("; ") : [String(v)];
  }
  function fill() {
    var seen = {};
    fields.forEach(function(f) { seen[f] = {}; });
    parcelLayers().forEach(function(l) {
      fields.forEach(function(f) {
        values(dataOf(l), f).forEach(function(v) { seen[f][v] = true; });
      });
    });
    fields.forEach(function(f) {
      Object.keys(seen[f]).sort().forEach(function(v) {
        var o = el("option", f === "reasons" && T.reason[v] ? T.reason[v] : v, selects[f]);
        o.value = v;
      });
    });
  }
  function passes(p) {
    return fields.every(function(f) {
      var want = selects[f].value;
      return !want || values(p, f).indexOf(want) >= 0;
    });
  }
  function apply() {
    var shown = {};
    parcelLayers().forEach(function(l) {
      var ok = passes(dataOf(l));
      var path = l.getElement ? l.getElement() : null;
      if (path) { path.style.display = ok ? "" : "none"; }
      if (ok && l.feature.properties._d) { shown[l.feature.properties.parcel_id] = l; }
    });
    var n = Object.keys(shown).length;
    count.textContent = T.shown.replace("{n}", n);
    count.dataset.n = n;
    return shown;
  }
  function matches(q) {
    q = q.trim().toLowerCase();
    if (!q) { return []; }
    var hits = {};
    parcelLayers().forEach(function(l) {
      var p = l.feature.properties;
      if (!p._d) { return; }
      var text = [p.parcel_id, p.enterprises, p.uscc].join(" ").toLowerCase();
      if (text.indexOf(q) >= 0) { hits[p.parcel_id] = l; }
    });
    return Object.keys(hits).sort().map(function(k) { return hits[k]; });
  }
  search.addEventListener("input", function() {
    results.textContent = "";
    matches(search.value).slice(0, 50).forEach(function(l) {
      var p = l.feature.properties;
      var row = el("div", p.parcel_id + (p.enterprises ? " · " + p.enterprises : ""), results);
      row.className = "mj-hit";
      row.addEventListener("click", function() {
        map.fitBounds(l.getBounds(), {maxZoom: 17});
        if (l.openTooltip) { l.openTooltip(l.getBounds().getCenter()); }
      });
    });
  });
  function features() {
    var shown = apply();
    return Object.keys(shown).sort().map(function(k) {
      var f = shown[k].feature, props = {};
      Object.keys(f.properties).forEach(function(key) {
        if (key !== "tip" && key !== "fill" && key !== "_d") {
          props[key] = f.properties[key];
        }
      });
      var geom = trueGeoms ? trueGeoms[k] : f.geometry;
      return {type: "Feature", properties: props, geometry: geom};
    });
  }
  function download(name, type, text) {
    var blob = new Blob([text], {type: type});
    var a = document.createElement("a");
    a.href = URL.createObjectURL(blob); a.download = name;
    document.body.appendChild(a); a.click(); a.remove();
  }
  bGeo.addEventListener("click", function() {
    download("parcels-filtered.geojson", "application/geo+json",
             JSON.stringify({type: "FeatureCollection", features: features()}));
  });
  bCsv.addEventListener("click", function() {
    var fs = features();
    var keys = fs.length ? Object.keys(fs[0].properties) : ["parcel_id"];
    function q(v) {
      if (v === null || v === undefined) { return ""; }
      var s = String(v);
      return /[",\\n]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
    }
    var lines = [keys.join(",")].concat(fs.map(function(f) {
      return keys.map(function(k) { return q(f.properties[k]); }).join(",");
    }));
    download("parcels-filtered.csv", "text/csv", "\\ufeff" + lines.join("\\n") + "\\n");
  });
  L.control.scale({imperial: false, position: "bottomright"}).addTo(map);  // metres only
  function syncLegends() {  // a legend block shows while its layer is on
    var on = {};
    document.querySelectorAll(".leaflet-control-layers-overlays label").forEach(function(lab) {
      var box = lab.querySelector("input");
      if (box) { on[lab.textContent.trim()] = box.checked; }
    });
    document.querySelectorAll(".mj-legend-block").forEach(function(block) {
      var title = block.querySelector("b").textContent.trim();
      if (title in on) { block.style.display = on[title] ? "" : "none"; }
    });
  }
  map.on("overlayadd overlayremove", function() { setTimeout(syncLegends, 0); });
  syncLegends();
  fields.forEach(function(f) { selects[f].addEventListener("change", apply); });
  map.on("overlayadd", apply);
  fill();
  apply();
})();
"""


class FilterControl(branca.element.MacroElement):
    """Search box, filter menus, shown-parcel count and export buttons, added to a map."""

    def __init__(self, tx: Texts, *, true_geometries: Mapping[str, Any] | None) -> None:
        super().__init__()
        self._name = "MujunFilterControl"
        en = tx.lang == "en"
        self.texts = {
            "search": "Search enterprise, credit code or parcel"
            if en
            else "搜索企业名称、信用代码或宗地号",
            "all_class": "All classes" if en else "全部分类",
            "all_park": "All parks" if en else "全部园区",
            "all_industry2": "All industries" if en else "全部行业",
            "all_reasons": "All underuse reasons" if en else "全部低效原因",
            "shown": "{n} parcels shown" if en else "显示 {n} 宗地块",
            "export_geojson": "Export GeoJSON" if en else "导出 GeoJSON",
            "export_csv": "Export CSV" if en else "导出 CSV",
            "reason": {
                code: tx(code)
                for code in (
                    "vacant",
                    "unused_buildings",
                    "low_coverage",
                    "low_far",
                    "low_tax",
                    "below_benchmark",
                    "class_d",
                    "d_streak",
                )
            },
        }
        self.true_geometries = true_geometries
        self._template = Template(
            "{% macro header(this, kwargs) %}<style>" + _CSS + "</style>{% endmacro %}\n"
            "{% macro script(this, kwargs) %}" + _JS_SOURCE + "{% endmacro %}"
        )

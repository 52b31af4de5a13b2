/*
 * panel.js: the panel's search (parcel id, firm name, credit code, lessees), filter menus,
 * the count of parcels shown, and the export buttons (GeoJSON and CSV of the attribute
 * table's rows, table.js; RFC 7946 longitude/latitude, never GCJ-02 shifted; CSV in UTF-8
 * with BOM for Excel). The figure and legend filters are find.js's (findPasses, keepLowest).
 * Plain script assigning mj.panel (see the comment at the top of decode.js); the methods are
 * mixed into the App of main.js.
 */

const { el, fill, present } = mj.dom;

/**
 * One CSV cell. Text that a spreadsheet would run as a formula gets a leading quote (OWASP)
 * unless `raw` ([output] csv_formulas = "raw"); numbers stay numbers.
 */
function csvCell(v, raw) {
  if (v === null || v === undefined) {
    return "";
  }
  let s = String(v);
  if (!raw && typeof v === "string" && /^[=+\-@\t\r]/.test(s)) {
    s = `'${s}`;
  }
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Offer text as a file download. */
function download(name, type, text) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([text], { type }));
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

/** Sort parcel indices by parcel id (as text). */
function byParcelId(P, idx) {
  return idx.sort((a, b) => {
    const x = String(P.col.parcel_id(a));
    const y = String(P.col.parcel_id(b));
    if (x < y) {
      return -1;
    }
    return x > y ? 1 : 0;
  });
}

const methods = {
  /** The values of filter field f for parcel i (reasons: several). */
  values(f, i) {
    if (f === "reasons") {
      return this.reasons(i);
    }
    const v = this.parcels.col[f] ? this.parcels.col[f](i) : null;
    return present(v) ? [String(v)] : [];
  },

  /**
   * Build the panel, in sections other modules add to (app.sections): "layers" (themes and
   * overlays), "find" (search, a menu per filter, the figure filter of find.js, the count,
   * the export and table buttons) and "tools".
   */
  controls() {
    const T = this.T;
    const root = el("div", null, document.body, "mj-panel");
    this.panel = root;
    this.sections = {};
    for (const name of ["layers", "find", "tools"]) {
      this.sections[name] = el("div", null, root, `mj-section mj-sec-${name}`);
    }
    const panel = this.sections.find;
    const search = el("input", null, panel, "mj-search");
    search.type = "search";
    search.placeholder = T.search;
    const results = el("div", null, panel, "mj-results");
    this.selects = {};
    for (const f of this.P.filters) {
      this.selects[f] = this.filterMenu(panel, f);
    }
    this.figureControls(panel);
    this.count = el("div", "", panel, "mj-count");
    this.chips = el("div", null, panel, "mj-chips");
    const buttons = el("div", null, panel, "mj-buttons");
    this.exportButtons = buttons;
    const bGeo = el("button", T.export_geojson, buttons, "mj-export-geojson");
    const bCsv = el("button", T.export_csv, buttons, "mj-export-csv");
    search.addEventListener("input", () => this.showMatches(results, search.value));
    bGeo.addEventListener("click", () => this.exportGeojson());
    bCsv.addEventListener("click", () => this.exportCsv());
    L.DomEvent.disableClickPropagation(root);
    L.DomEvent.disableScrollPropagation(root);
    this.apply();
  },

  /** A menu of the values of filter field f that the parcels have, sorted. */
  filterMenu(panel, f) {
    const T = this.T;
    const s = el("select", null, panel, "mj-filter");
    s.dataset.field = f;
    el("option", T[`all_${f}`], s).value = "";
    for (const v of [...this.fieldValues(f)].sort()) {
      el("option", f === "reasons" && T.reason[v] ? T.reason[v] : v, s).value = v;
    }
    s.addEventListener("change", () => this.apply());
    return s;
  },

  /** The values of filter field f that the parcels have: a dictionary column's from its
   * codes (one pass over integers, not a string per parcel), else parcel by parcel. */
  fieldValues(f) {
    const c = this.parcels.cols[f];
    if (f !== "reasons" && c?.k === "cat") {
      const used = new Uint8Array(c.dict.length);
      for (const k of c.codes) {
        if (k >= 0) {
          used[k] = 1;
        }
      }
      return new Set(c.dict.filter((_, k) => used[k]).map(String));
    }
    const seen = new Set();
    for (let i = 0; i < this.parcels.n; i++) {
      for (const v of this.values(f, i)) {
        seen.add(v);
      }
    }
    return seen;
  },

  /** List the first 50 search hits in results (parcels, then lessees); a click on a parcel
   * zooms to it and keeps it highlighted. */
  showMatches(results, query) {
    const P = this.parcels;
    results.textContent = "";
    const hits = this.matches(query).slice(0, 50);
    for (const i of hits) {
      const firms = P.col.enterprises(i);
      const text = P.col.parcel_id(i) + (present(firms) ? ` · ${firms}` : "");
      const row = el("div", text, results, "mj-hit");
      row.addEventListener("click", () => {
        this.zoomTo([i]);
        this.keep(i);
      });
    }
    for (const j of this.lesseeMatches(query).slice(0, 50 - hits.length)) {
      el("div", this.lesseeText(j), results, "mj-hit mj-lessee");
    }
  },

  /** Whether parcel i passes the menus, the legend class and a "below a value" figure
   * filter (the "lowest N" filter ranks the parcels that pass: keepLowest). */
  passes(i, menus = this.menusSet()) {
    for (const [f, want] of menus) {
      if (this.values(f, i).indexOf(want) < 0) {
        return false;
      }
    }
    return this.findPasses(i);
  },

  /** The filter menus set: [field, value] pairs. */
  menusSet() {
    return Object.keys(this.selects)
      .map((f) => [f, this.selects[f].value])
      .filter(([, want]) => want);
  },

  /** Apply the filters: mark the parcels shown, count them, repaint. */
  apply() {
    const P = this.parcels;
    const menus = this.menusSet();
    for (let i = 0; i < P.n; i++) {
      P.visible[i] = this.passes(i, menus) ? 1 : 0;
    }
    this.keepLowest(P.visible);
    let n = 0;
    for (let i = 0; i < P.n; i++) {
      n += P.visible[i];
    }
    this.count.textContent = fill(this.T.shown, { n });
    this.count.dataset.n = n;
    this.hideTip();
    this.redraw();
    this.changed("filter");
    return n;
  },

  /** Parcels whose id, firm names or credit codes contain q (any case), by parcel id. */
  matches(q) {
    const P = this.parcels;
    const query = q.trim().toLowerCase();
    if (!query) {
      return [];
    }
    if (!this.searchText) {
      this.searchText = [];
      for (let i = 0; i < P.n; i++) {
        const uscc = P.col.uscc ? P.col.uscc(i) : "";
        this.searchText.push(
          [P.col.parcel_id(i), P.col.enterprises(i), uscc].join(" ").toLowerCase(),
        );
      }
    }
    const out = [];
    for (let j = 0; j < P.n; j++) {
      if (this.searchText[j].indexOf(query) >= 0) {
        out.push(j);
      }
    }
    return byParcelId(P, out);
  },

  /** Fit the map to parcels idx; one parcel is highlighted with its tooltip. */
  zoomTo(idx) {
    if (!idx.length) {
      return;
    }
    const [x0, y0, x1, y1] = mj.popups.unionBox(this.parcels.box, idx);
    const sw = this.map.unproject([x0, y1], 0);
    const ne = this.map.unproject([x1, y0], 0);
    this.map.fitBounds(L.latLngBounds(sw, ne), { maxZoom: 17, animate: false });
    if (idx.length === 1) {
      this.showHighlight(idx[0]);
      this.showTip(L.latLngBounds(sw, ne).getCenter(), this.tip(idx[0]));
    }
  },

  /** Filter to one consolidation zone and fit the map to it. */
  showZone(zone) {
    const s = this.selects.zone_id;
    if (s) {
      s.value = zone;
    }
    this.apply();
    this.map.closePopup();
    this.zoomTo(this.shown());
  },

  /** The parcels that pass the filters, in their order. */
  shown() {
    const P = this.parcels;
    const idx = [];
    for (let i = 0; i < P.n; i++) {
      if (P.visible[i]) {
        idx.push(i);
      }
    }
    return idx;
  },
};

mj.panel = { byParcelId, csvCell, download, methods };

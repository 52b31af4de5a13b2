/*
 * table.js: the attribute table of the parcels shown (those passing every filter), in a
 * panel at the bottom: parcel id, park, enterprises, class, area, the per-area figures,
 * coverage, FAR, reasons (in the page's language), zone. A click on a header sorts by it
 * (ascending, again descending; numbers as numbers, missing values last, ties by parcel id);
 * a click on a row zooms to the parcel and keeps it highlighted. Only PAGE rows are in the
 * DOM at a time (paging), and sorting uses a typed key per column, so it stays fast at
 * 100,000 parcels. The export buttons write exactly the table's rows, in its order, with its
 * columns: GeoJSON (RFC 7946; the units in a foreign member "units" of the FeatureCollection,
 * RFC 7946 section 6.1) and CSV. Plain script assigning mj.table (see the comment at the top
 * of decode.js); its methods are mixed into the App of main.js.
 */

const { el, fill, present } = mj.dom;

const PAGE = 100;

const methods = {
  /** The table's columns: key (export name), head, unit, num, get(i), digits. */
  tableColumns() {
    if (this.tcols) {
      return this.tcols;
    }
    const T = this.T;
    const c = this.parcels.col;
    const cols = [];
    const add = (key, head, src, more) => {
      if (c[src]) {
        cols.push({ key, head, num: false, unit: null, get: (i) => c[src](i), ...more });
      }
    };
    add("parcel_id", T.col_parcel_id, "parcel_id");
    add("park", T.col_park, "park");
    add("enterprises", T.col_enterprises, "enterprises");
    add("class", T.col_class, "class");
    add(this.areaCol, T.col_area, this.areaCol, { num: true, unit: T.unit_area });
    for (const [label, col] of this.P.figures) {
      const head = fill(T.col_figure, { label, unit: this.P.unit });
      add(col, head, col, { num: true, unit: this.P.unit });
    }
    add("coverage_pct", T.col_coverage, "coverage", {
      num: true,
      unit: "%",
      digits: 1,
      get: (i) => (present(c.coverage(i)) ? Math.round(1000 * c.coverage(i)) / 10 : null),
    });
    add("far", T.col_far, "far", { num: true });
    add("reasons", T.col_reasons, "reasons", {
      get: (i) => {
        const r = this.reasons(i).map((code) => T.reason[code] || code);
        return r.length ? r.join(T.sep) : null;
      },
    });
    add("zone_id", T.col_zone, "zone_id");
    this.tcols = cols;
    return cols;
  },

  /** Each parcel's rank by parcel id (the table's first order and its tie-break). */
  idRank() {
    if (!this.rankById) {
      const all = Array.from({ length: this.parcels.n }, (_, i) => i);
      const rank = new Int32Array(this.parcels.n);
      mj.panel.byParcelId(this.parcels, all).forEach((i, r) => {
        rank[i] = r;
      });
      this.rankById = rank;
    }
    return this.rankById;
  },

  /** A typed sort key of column col for every parcel: numbers (NaN missing) or text. */
  sortKey(col) {
    this.sortKeys = this.sortKeys || {};
    if (!this.sortKeys[col.key]) {
      const n = this.parcels.n;
      const key = col.num ? new Float64Array(n) : new Array(n);
      for (let i = 0; i < n; i++) {
        const v = col.get(i);
        key[i] = col.num ? (typeof v === "number" ? v : Number.NaN) : present(v) ? String(v) : null;
      }
      this.sortKeys[col.key] = key;
    }
    return this.sortKeys[col.key];
  },

  /** The table's rows: the parcels shown, in the table's order (by parcel id at first). */
  tableRows() {
    if (this.trows) {
      return this.trows;
    }
    const rank = this.idRank();
    const rows = Uint32Array.from(this.shown());
    const s = this.tsort;
    if (!s) {
      rows.sort((a, b) => rank[a] - rank[b]);
    } else {
      const key = this.sortKey(this.tableColumns().find((c) => c.key === s.key));
      const missing = (v) => v === null || (typeof v === "number" && Number.isNaN(v));
      rows.sort((a, b) => {
        const x = key[a];
        const y = key[b];
        const mx = missing(x);
        const my = missing(y);
        if (mx || my) {
          return mx && my ? rank[a] - rank[b] : mx ? 1 : -1;
        }
        const d = x < y ? -1 : x > y ? 1 : 0;
        return s.dir * d || rank[a] - rank[b];
      });
    }
    this.trows = rows;
    return rows;
  },

  /** Open or close the table. */
  toggleTable() {
    if (this.tpanel) {
      this.tpanel.remove();
      this.tpanel = null;
      document.body.classList.remove("mj-table-on");
      return;
    }
    document.body.classList.add("mj-table-on");
    const T = this.T;
    const box = el("div", null, document.body, "mj-table-panel");
    this.tpanel = box;
    const bar = el("div", null, box, "mj-table-bar");
    el("b", T.table_open, bar);
    this.tinfo = el("span", "", bar, "mj-table-info");
    const prev = el("button", T.table_prev, bar, "mj-table-prev");
    const next = el("button", T.table_next, bar, "mj-table-next");
    const geo = el("button", T.export_geojson, bar, "mj-table-geojson");
    const csv = el("button", T.export_csv, bar, "mj-table-csv");
    const close = el("button", T.table_close, bar, "mj-table-close");
    geo.addEventListener("click", () => this.exportGeojson());
    csv.addEventListener("click", () => this.exportCsv());
    prev.addEventListener("click", () => this.tablePage(this.tpage - 1));
    next.addEventListener("click", () => this.tablePage(this.tpage + 1));
    close.addEventListener("click", () => this.toggleTable());
    this.tscroll = el("div", null, box, "mj-table-scroll");
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.disableScrollPropagation(box);
    this.tablePage(0);
  },

  /** Show page p of the table (PAGE rows). */
  tablePage(p) {
    if (!this.tpanel) {
      return;
    }
    const rows = this.tableRows();
    const pages = Math.max(1, Math.ceil(rows.length / PAGE));
    this.tpage = Math.min(Math.max(0, p), pages - 1);
    const a = this.tpage * PAGE;
    const b = Math.min(rows.length, a + PAGE);
    this.tinfo.textContent = fill(this.T.table_rows, {
      a: rows.length ? a + 1 : 0,
      b,
      n: rows.length,
    });
    this.tinfo.dataset.n = rows.length;
    const cols = this.tableColumns();
    const table = el("table", null, null, "mj-table");
    const head = el("tr", null, el("thead", null, table));
    for (const col of cols) {
      const s = this.tsort;
      const arrow = s && s.key === col.key ? (s.dir > 0 ? " ▲" : " ▼") : "";
      const th = el("th", col.head + arrow, head);
      th.dataset.key = col.key;
      th.tabIndex = 0;
      th.addEventListener("click", () => this.sortTable(col.key));
      th.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          this.sortTable(col.key);
          this.tscroll.querySelector(`th[data-key="${CSS.escape(col.key)}"]`)?.focus();
        }
      });
    }
    const body = el("tbody", null, table);
    for (let r = a; r < b; r++) {
      const i = rows[r];
      const tr = el("tr", null, body);
      tr.dataset.i = i;
      for (const col of cols) {
        const v = col.get(i);
        const text = col.num
          ? present(v)
            ? this.fmt(v, col.digits === 1)
            : "—"
          : present(v)
            ? v
            : "";
        el("td", text, tr, col.num ? "mj-num" : null);
      }
      tr.tabIndex = 0;
      const pick = () => {
        this.zoomTo([i]);
        this.keep(i);
      };
      tr.addEventListener("click", pick);
      tr.addEventListener("keydown", (e) => {
        if (e.key === "Enter") {
          pick();
        }
      });
    }
    this.tscroll.textContent = "";
    this.tscroll.appendChild(table);
    this.tscroll.scrollTop = 0;
  },

  /** Sort by column key: ascending, a second click descending. */
  sortTable(key) {
    const s = this.tsort;
    this.tsort = { key, dir: s && s.key === key && s.dir > 0 ? -1 : 1 };
    this.trows = null;
    this.tablePage(0);
  },

  /** A cell's value for the export: as the table holds it (numbers stay numbers). */
  cellValue(col, i) {
    const v = col.get(i);
    return present(v) ? v : null;
  },

  /** The table's rows as GeoJSON features with its columns. */
  features() {
    const cols = this.tableColumns();
    return Array.from(this.tableRows(), (i) => {
      const props = {};
      for (const col of cols) {
        props[col.key] = this.cellValue(col, i);
      }
      return { type: "Feature", properties: props, geometry: this.parcels.geometry(i) };
    });
  },

  /** The table as a GeoJSON FeatureCollection; the columns' units in the foreign member
   * "units" (RFC 7946 section 6.1). */
  geojson() {
    const units = {};
    for (const col of this.tableColumns()) {
      if (col.unit) {
        units[col.key] = col.unit;
      }
    }
    return { type: "FeatureCollection", units, features: this.features() };
  },

  exportGeojson() {
    const text = JSON.stringify(this.geojson());
    mj.panel.download("parcels-filtered.geojson", "application/geo+json", text);
  },

  exportCsv() {
    mj.panel.download("parcels-filtered.csv", "text/csv", `\ufeff${this.csv()}`);
  },

  /** The table's rows as CSV text with its columns (no BOM). */
  csv() {
    const cols = this.tableColumns();
    const raw = this.P.csv_formulas === "raw";
    const lines = [cols.map((c) => c.key).join(",")];
    for (const i of this.tableRows()) {
      lines.push(cols.map((c) => mj.panel.csvCell(this.cellValue(c, i), raw)).join(","));
    }
    return `${lines.join("\n")}\n`;
  },
};

/** The table's button beside the exports; the table follows the filters. */
function init(app) {
  const b = el("button", app.T.table_open, app.exportButtons, "mj-table-open");
  b.addEventListener("click", () => app.toggleTable());
  app.onChange((a, what) => {
    if (what === "filter") {
      a.trows = null;
      a.tablePage(0);
    }
  });
}

mj.table = { PAGE, init, methods };

/*
 * find.js: filters by a figure (lowest N, below a value) and by a legend class, the park
 * filter that zooms to its park, the kept highlight (a parcel found or clicked stays marked
 * until Esc or its clear button) and the lessees in the search (firms with no parcel of their
 * own). Plain script assigning mj.find (see the comment at the top of decode.js); its methods
 * are mixed into the App of main.js and its init(app) runs once the panel is built.
 *
 * Figure filters: a parcel without the figure (vacant, or no value) never passes a figure
 * filter while one is set. "Below a value" is strict (v < x). "Lowest N" ranks the parcels
 * that pass every other filter by the figure, ties broken by parcel id (as text), so exactly
 * N parcels (or fewer, if fewer have the figure) are shown.
 */

const { el, fill, present } = mj.dom;

/** A number typed in an input, or null when empty or not a number. */
function typed(input) {
  const s = input.value.trim();
  if (s === "") {
    return null;
  }
  const v = Number(s);
  return Number.isFinite(v) ? v : null;
}

/** Whether the set's column col at i is a number. */
function numberAt(get, i) {
  const v = get(i);
  return typeof v === "number" && Number.isFinite(v);
}

const methods = {
  /**
   * The figure filter (internal maps only: hidden when the payload has no figures): a menu of
   * the per-area figures, "lowest N parcels" and "below a value", combined with the menus.
   */
  figureControls(panel) {
    const T = this.T;
    this.fig = { col: null, lowest: null, below: null };
    this.legendFilter = null;
    if (!this.P.figures.length) {
      return;
    }
    const box = el("div", null, panel, "mj-figure");
    const menu = el("select", null, box, "mj-fig");
    el("option", T.fig_any, menu).value = "";
    for (const [label, col] of this.P.figures) {
      if (this.parcels.col[col]) {
        el("option", label, menu).value = col;
      }
    }
    const field = (text, cls) => {
      const row = el("label", null, box, "mj-fig-row");
      el("span", text, row);
      const input = el("input", null, row, cls);
      input.type = "number";
      input.step = "any";
      return input;
    };
    const lowest = field(T.fig_lowest, "mj-fig-lowest");
    lowest.min = "1";
    lowest.step = "1";
    const below = field(fill(T.fig_below, { unit: this.P.unit }), "mj-fig-below");
    const update = () => {
      this.fig = { col: menu.value || null, lowest: typed(lowest), below: typed(below) };
      this.apply();
    };
    for (const input of [menu, lowest, below]) {
      input.addEventListener(input === menu ? "change" : "input", update);
    }
    this.figInputs = { menu, lowest, below };
  },

  /** Set the figure filter as a person would in the panel (the permalink uses it). */
  setFigureFilter(state) {
    const inp = this.figInputs;
    if (!inp) {
      return;
    }
    inp.menu.value = state?.col || "";
    inp.lowest.value = state?.lowest ?? "";
    inp.below.value = state?.below ?? "";
    this.fig = { col: inp.menu.value || null, lowest: typed(inp.lowest), below: typed(inp.below) };
    this.apply();
  },

  /** Whether parcel i passes the legend class and the "below a value" figure filter. */
  findPasses(i) {
    if (this.legendFilter && !this.legendFilter.test(i)) {
      return false;
    }
    const f = this.fig;
    if (!f?.col || (f.lowest === null && f.below === null)) {
      return true;
    }
    const get = this.parcels.col[f.col];
    if (!numberAt(get, i)) {
      return false;
    }
    return f.below === null || get(i) < f.below;
  },

  /** Of the parcels marked in visible, keep the lowest N by the figure (ties: parcel id). */
  keepLowest(visible) {
    const f = this.fig;
    if (!f?.col || f.lowest === null) {
      return;
    }
    const P = this.parcels;
    const get = P.col[f.col];
    const idx = [];
    for (let i = 0; i < P.n; i++) {
      if (visible[i]) {
        idx.push(i);
      }
    }
    const id = (i) => String(P.col.parcel_id(i));
    idx.sort((a, b) => get(a) - get(b) || (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));
    for (const i of idx.slice(Math.max(0, Math.floor(f.lowest)))) {
      visible[i] = 0;
    }
  },

  /**
   * Toggle a filter to the parcels of one class of a layer's legend: key is the class index
   * for numeric themes (bins are upper bounds), the category value for class-like themes.
   * A key that is not a class of a numeric theme (e.g. "vacant") means the parcels without
   * a value. Called by a click on a legend row (legend.js).
   */
  legendClick(layerId, key) {
    const k = String(key);
    const cur = this.legendFilter;
    if (cur && cur.layer === layerId && cur.key === k) {
      this.clearLegendFilter();
      return;
    }
    const layer = this.layers.find((l) => l.theme.id === layerId);
    if (layer?.theme.set !== "parcels") {
      return;
    }
    const test = this.classTest(layer.theme, k);
    if (!test) {
      return;
    }
    this.legendFilter = { layer: layerId, key: k, test: test.test, label: test.label };
    this.apply();
    this.showChips();
  },

  clearLegendFilter() {
    this.legendFilter = null;
    this.apply();
    this.showChips();
  },

  /** The test and the label of class key of theme t. */
  classTest(t, key) {
    const get = t.col ? this.parcels.col[t.col] : null;
    if (t.kind === "num" && get) {
      const k = /^\d+$/.test(key) ? Number(key) : -1;
      if (k < 0 || k >= t.bins.length) {
        return { test: (i) => !numberAt(get, i), label: this.T.legend_nodata };
      }
      const left = t.closed === "left"; // as layers.js and the legend class values
      return {
        test: (i) => numberAt(get, i) && mj.layers.bin(t.bins, get(i), left) === k,
        label: this.rowLabel(t, key) || this.classLabel(t, get, k),
      };
    }
    if (t.kind === "cat" && get) {
      if (t.cats && key in t.cats) {
        const label = this.rowLabel(t, key) || key;
        return { test: (i) => present(get(i)) && String(get(i)) === key, label };
      }
      const cats = t.cats || {};
      return { test: (i) => present(get(i)) && !(String(get(i)) in cats), label: key };
    }
    if (t.kind === "mask" && get) {
      return { test: (i) => get(i) === true, label: key };
    }
    return null;
  },

  /** The words of the legend row of class key of theme t, unless they hold a count. */
  rowLabel(t, key) {
    const row = t.legend?.rows.find((r) => String(r.key) === key);
    return row && !row.label.includes("{n}") ? row.label : null;
  },

  /** Mark the legend row of the class filtered by (legend.js redraws the rows). */
  markLegendRow() {
    const f = this.legendFilter;
    for (const row of document.querySelectorAll(".mj-legend-row[data-key]")) {
      const on = f && row.dataset.layer === f.layer && row.dataset.key === f.key;
      row.classList.toggle("mj-active", Boolean(on));
    }
  },

  /** "lower – upper" of class k of a numeric theme (the first class starts at the minimum). */
  classLabel(t, get, k) {
    let lo = k > 0 ? t.bins[k - 1] : Number.POSITIVE_INFINITY;
    if (k === 0) {
      for (let i = 0; i < this.parcels.n; i++) {
        if (numberAt(get, i)) {
          lo = Math.min(lo, get(i));
        }
      }
    }
    return `${this.fmt(lo)} – ${this.fmt(t.bins[k])}`;
  },

  /** The chips under the count: the legend class filter and the kept parcel, each with a
   * clear button. */
  showChips() {
    const box = this.chips;
    box.textContent = "";
    const chip = (text, cls, clear, title) => {
      const c = el("div", null, box, `mj-chip ${cls}`);
      el("span", text, c).title = title || text;
      const b = el("button", "×", c, "mj-chip-clear");
      b.title = this.T.clear;
      b.setAttribute("aria-label", this.T.clear);
      b.addEventListener("click", clear);
    };
    if (this.legendFilter) {
      const text = fill(this.T.legend_chip, { v: this.legendFilter.label });
      const t = this.layers.find((l) => l.theme.id === this.legendFilter.layer).theme;
      const title = `${t.legend?.title || t.label}: ${this.legendFilter.label}`;
      chip(text, "mj-legend-chip", () => this.clearLegendFilter(), title);
    }
    if (this.keptIndex >= 0) {
      const text = fill(this.T.kept, { id: this.parcels.col.parcel_id(this.keptIndex) });
      chip(text, "mj-kept-chip", () => this.clearKept());
    }
  },

  /** Keep parcel i highlighted (apart from the hover highlight) until cleared. */
  keep(i) {
    this.clearKept(true);
    if (i < 0) {
      this.showChips();
      return;
    }
    this.keptIndex = i;
    this.kept = L.polygon(this.parcels.latlngs(i), {
      interactive: false,
      color: "#ff6f00",
      weight: 4,
      fillColor: "#ffab40",
      fillOpacity: 0.25,
      className: "mj-kept",
    }).addTo(this.map);
    this.showChips();
  },

  clearKept(quiet) {
    if (this.kept) {
      this.map.removeLayer(this.kept);
      this.kept = null;
    }
    this.keptIndex = -1;
    if (!quiet) {
      this.showChips();
    }
  },

  /** Fit the map to a park: its boundary if the page has the parks, else its parcels. */
  zoomToPark(name) {
    const set = this.sets.parks;
    const idx = [];
    let box = this.parcels.box;
    if (set?.col.park) {
      for (let j = 0; j < set.n; j++) {
        if (String(set.col.park(j)) === name) {
          idx.push(j);
        }
      }
      box = set.box;
    }
    if (!idx.length) {
      box = this.parcels.box;
      for (let i = 0; i < this.parcels.n; i++) {
        if (String(this.parcels.col.park(i)) === name) {
          idx.push(i);
        }
      }
    }
    if (!idx.length) {
      return;
    }
    const [x0, y0, x1, y1] = mj.popups.unionBox(box, idx);
    const bounds = L.latLngBounds(this.map.unproject([x0, y1], 0), this.map.unproject([x1, y0], 0));
    this.map.fitBounds(bounds, { animate: false, ...this.panelPadding() });
  },

  /** Fit padding that keeps a fitted view clear of the panel, when the map is wide enough
   * to leave room beside it (on a phone the panel folds instead). */
  panelPadding() {
    const map = this.map.getContainer().getBoundingClientRect();
    const panel = this.panel.getBoundingClientRect();
    const left = panel.right - map.left;
    const right = map.right - panel.left;
    if (panel.width === 0 || Math.min(left, right) > map.width / 2) {
      return {};
    }
    return left < right ? { paddingTopLeft: [left, 0] } : { paddingBottomRight: [right, 0] };
  },

  /** The lessees' table (firms with no parcel of their own), decoded once. */
  lesseeTable() {
    const L0 = this.P.lessees;
    if (!L0) {
      return null;
    }
    if (!this.lessees) {
      const col = {};
      for (const name of Object.keys(L0.cols)) {
        col[name] = mj.decode.column(L0.cols[name], L0.n);
      }
      const text = [];
      for (let j = 0; j < L0.n; j++) {
        text.push([col.name(j), col.uscc ? col.uscc(j) : ""].join(" ").toLowerCase());
      }
      this.lessees = { n: L0.n, col, text };
    }
    return this.lessees;
  },

  /** Lessees whose name or credit code contains q (any case), by name. */
  lesseeMatches(q) {
    const query = q.trim().toLowerCase();
    const t = this.lesseeTable();
    if (!query || !t) {
      return [];
    }
    const out = [];
    for (let j = 0; j < t.n; j++) {
      if (t.text[j].indexOf(query) >= 0) {
        out.push(j);
      }
    }
    const name = (j) => String(t.col.name(j));
    return out.sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
  },

  /** A lessee's search line: name, "lessee, no parcel of its own", class, figures. */
  lesseeText(j) {
    const t = this.lesseeTable();
    const T = this.T;
    const parts = [t.col.name(j), T.lessee];
    const cls = t.col.class ? t.col.class(j) : null;
    if (present(cls)) {
      parts.push(fill(T.lessee_class, { v: cls }));
    }
    for (const [label, col] of this.P.figures) {
      const v = t.col[col] ? t.col[col](j) : null;
      if (present(v)) {
        parts.push(fill(T.lessee_figure, { label, v: this.fmt(v), unit: this.P.unit }));
      }
    }
    return parts.join(" · ");
  },
};

/** Park menu zooms to its park; Esc clears the kept parcel (a parcel's click keeps it: see
 * popups.js clickAt, which waits out a double-click and a tool first). */
function init(app) {
  app.keptIndex = -1;
  const park = app.selects.park;
  if (park) {
    park.addEventListener("change", () => {
      if (park.value) {
        app.zoomToPark(park.value);
      }
    });
  }
  app.onChange(() => app.markLegendRow());
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && app.keptIndex >= 0) {
      app.clearKept();
    }
  });
}

mj.find = { init, methods };

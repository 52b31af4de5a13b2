/*
 * popups.js: hover and click. Finding the parcel under the pointer (the tiles' boxes, then
 * their parcels' boxes, then an even-odd point-in-polygon test), the tooltip, the highlight, the
 * grid cell tooltip and the parcel popup with its enterprises. With the zones overlay on, a
 * point inside a zone answers with the zone's tooltip and popup (zones.js) instead. A click's
 * popup waits for the double-click interval, so a double-click only zooms. While a tool is on
 * (app.tool, e.g. "measure"), hover and click do nothing here. Every value from the data is
 * set as text. Plain script assigning mj.popups (see the comment at the top of decode.js); the
 * methods are mixed into the App of main.js.
 */

const { el, fill, present } = mj.dom;

/** How long a click waits for a second one before its popup opens (ms): Leaflet fires click
 * twice before dblclick. */
const DOUBLE_CLICK_MS = 250;

/** Bounding box [x0, y0, x1, y1] of the boxes of parcels idx (world pixels). */
function unionBox(box, idx) {
  const out = [
    Number.POSITIVE_INFINITY,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
  ];
  for (const i of idx) {
    out[0] = Math.min(out[0], box[4 * i]);
    out[1] = Math.min(out[1], box[4 * i + 1]);
    out[2] = Math.max(out[2], box[4 * i + 2]);
    out[3] = Math.max(out[3], box[4 * i + 3]);
  }
  return out;
}

const methods = {
  worldPoint(latlng) {
    return this.map.project(latlng, 0);
  },

  /** The parcel under latlng that passes the filters (the smallest of overlapping ones), or -1. */
  parcelAt(latlng) {
    const P = this.parcels;
    const p = this.worldPoint(latlng);
    const b = P.box;
    let best = -1;
    let bestArea = Number.POSITIVE_INFINITY;
    for (const i of this.candidates(p.x, p.y)) {
      if (!P.visible[i] || !P.contains(i, p.x, p.y)) {
        continue;
      }
      const a = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
      if (a < bestArea) {
        best = i;
        bestArea = a;
      }
    }
    return best;
  },

  /** Parcels whose box holds world pixel (x, y): those of the tiles whose box holds it (no
   * index over every parcel: 1,000,000 parcels took 0.4 s to grid, at the first hover). */
  candidates(x, y) {
    const out = [];
    this.parcels.eachInView({ x0: x, y0: y, x1: x, y1: y }, (i) => out.push(i));
    return out;
  },

  parcelLayerOn() {
    return this.layers.some((l) => l._map && l.theme.set === "parcels");
  },

  hover(e) {
    if (this.tool) {
      return;
    }
    const zone = e && this.zonesOn() ? this.zoneAt(e.latlng) : -1;
    this.showZoneHighlight(zone);
    if (zone >= 0) {
      this.showHighlight(-1);
      this.showTip(e.latlng, this.zoneTip(zone));
      return;
    }
    if (!e || !this.parcelLayerOn()) {
      this.hideTip();
      return;
    }
    let content;
    if (this.aggregated()) {
      content = this.cellTip(e.latlng);
    } else {
      const i = this.parcelAt(e.latlng);
      this.showHighlight(i);
      content = i >= 0 ? this.tip(i) : null;
    }
    if (!content) {
      this.hideTip();
      return;
    }
    this.showTip(e.latlng, content);
  },

  showTip(latlng, content) {
    this.tooltip.setLatLng(latlng).setContent(content);
    if (!this.map.hasLayer(this.tooltip)) {
      this.tooltip.addTo(this.map);
    }
  },

  hideTip() {
    if (this.map.hasLayer(this.tooltip)) {
      this.map.removeLayer(this.tooltip);
    }
    this.showHighlight(-1);
    this.showZoneHighlight(-1);
  },

  showHighlight(i) {
    if (this.highlightIndex === i) {
      return;
    }
    this.highlightIndex = i;
    if (this.highlight) {
      this.map.removeLayer(this.highlight);
      this.highlight = null;
    }
    if (i >= 0) {
      this.highlight = L.polygon(this.parcels.latlngs(i), {
        interactive: false,
        color: "#00bcd4",
        weight: 3,
        fill: false,
      }).addTo(this.map);
    }
  },

  /** A number in the page's language, two decimals (one with `one`), or a dash. */
  fmt(v, one) {
    if (!present(v)) {
      return "—";
    }
    return (one ? this.num1 : this.num).format(v);
  },

  /** The tooltip of parcel i. */
  tip(i) {
    const c = this.parcels.col;
    const T = this.T;
    const box = el("div", null, null, "mj-tip");
    const line = (text, tag) => el(tag || "div", text, box);
    const get = (name) => (c[name] ? c[name](i) : null);
    line(fill(T.parcel, { id: get("parcel_id") }), "b");
    if (present(get("park"))) {
      line(fill(T.park, { v: get("park") }));
    }
    line(fill(T.firms, { v: present(get("enterprises")) ? get("enterprises") : T.no_firm }));
    line(fill(T.surveyed, { v: this.fmt(get(this.areaCol)) }));
    const declared = get(`declared_${this.areaCol}`);
    if (present(declared)) {
      line(fill(T.declared, { v: this.fmt(declared), d: this.fmt(get("area_diff_pct"), true) }));
    }
    for (const f of this.P.figures) {
      line(fill(T.figure, { label: f[0], v: this.fmt(get(f[1])), unit: this.P.unit }));
    }
    if (present(get("classes"))) {
      line(fill(T.class, { v: get("classes") }));
    }
    const ch = this.P.change_col ? get(this.P.change_col) : null;
    if (present(ch)) {
      line(fill(T.change, { v: (ch > 0 ? "+" : "") + this.fmt(ch), unit: this.P.unit }));
    }
    if (present(get("class_change"))) {
      line(fill(T.class_change, { v: get("class_change") }));
    }
    if (present(get("coverage"))) {
      const far = present(get("far")) ? fill(T.far, { v: this.fmt(get("far")) }) : "";
      line(fill(T.coverage, { v: this.fmt(100 * get("coverage"), true) }) + far);
    }
    const reasons = this.reasons(i);
    if (reasons.length) {
      line(fill(T.reasons, { v: reasons.map((r) => T.reason[r] || r).join(T.sep) }));
    }
    if (present(get("zone_id"))) {
      line(fill(T.zone, { v: get("zone_id") }));
    }
    return box;
  },

  /** The underuse reason codes of parcel i. */
  reasons(i) {
    const r = this.parcels.col.reasons ? this.parcels.col.reasons(i) : null;
    return present(r) ? String(r).split("; ") : [];
  },

  /** The tooltip of the grid cell under latlng: its parcels that pass the filters. */
  cellTip(latlng) {
    const P = this.parcels;
    const s = 2 ** this.map.getZoom();
    const cell = this.P.aggregate.cell_px;
    const po = this.map.getPixelOrigin();
    const lp = this.map.latLngToLayerPoint(latlng);
    const cx = Math.floor(lp.x / cell);
    const cy = Math.floor(lp.y / cell);
    const fig = this.P.figures[0];
    const sum = { n: 0, area: 0, vacant: 0, under: 0, money: 0, moneyArea: 0 };
    for (let i = 0; i < P.n; i++) {
      if (!P.visible[i]) {
        continue;
      }
      const c = this.cellOf(i, s, po.x, po.y, cell);
      if (c[0] !== cx || c[1] !== cy) {
        continue;
      }
      const a = P.col[this.areaCol](i) || 0;
      sum.n++;
      sum.area += a;
      sum.vacant += P.col.vacant?.(i) ? 1 : 0;
      sum.under += P.col.underused?.(i) ? 1 : 0;
      if (fig && present(P.col[fig[1]](i))) {
        sum.money += P.col[fig[1]](i) * a;
        sum.moneyArea += a;
      }
    }
    if (!sum.n) {
      return null;
    }
    const box = el("div", null, null, "mj-tip");
    const T = this.T;
    el("b", fill(T.cell, { n: sum.n, a: this.fmt(sum.area) }), box);
    el("div", fill(T.cell_flags, { vacant: sum.vacant, under: sum.under }), box);
    if (fig && sum.moneyArea) {
      const v = this.fmt(sum.money / sum.moneyArea);
      el("div", fill(T.figure, { label: fig[0], v, unit: this.P.unit }), box);
    }
    el("div", T.cell_zoom, box, "mj-unit");
    return box;
  },

  /** A click: its popup opens once no second click follows (see doubleClick). */
  click(e) {
    if (this.tool) {
      return;
    }
    window.clearTimeout(this.clickTimer);
    this.clickTimer = window.setTimeout(() => {
      this.clickTimer = null;
      this.clickAt(e.latlng);
    }, DOUBLE_CLICK_MS);
  },

  /** A double-click zooms (Leaflet): no popup for its clicks, even one already open from a
   * slow double-click. */
  doubleClick() {
    window.clearTimeout(this.clickTimer);
    this.clickTimer = null;
    if (this.clickPopupAt && Date.now() - this.clickPopupAt < 2 * DOUBLE_CLICK_MS + 100) {
      this.map.closePopup();
    }
  },

  /** The popup of what is at latlng: the zone (zones overlay on), else the parcel. */
  clickAt(latlng) {
    const zone = this.zonesOn() ? this.zoneAt(latlng) : -1;
    let content = zone >= 0 ? this.zonePopup(zone) : null;
    if (!content && this.parcelLayerOn() && !this.aggregated()) {
      const i = this.parcelAt(latlng);
      content = i >= 0 ? this.popup(i) : null;
      if (i >= 0 && this.keep) {
        this.keep(i); // a clicked parcel stays marked until cleared (find.js)
      }
    }
    if (content) {
      this.openPopup(latlng, content);
      this.clickPopupAt = Date.now();
    }
  },

  /** How much of the map's top and bottom the page's boxes that span much of its width cover
   * (on a phone: the title, panel and layer list above, the legend below), in pixels. */
  coveredEdges() {
    const map = this.map.getContainer().getBoundingClientRect();
    const edges = { top: 0, bottom: 0 };
    const boxes = ".mj-panel, .mj-title, .mj-legend, .leaflet-control-layers";
    for (const box of document.querySelectorAll(boxes)) {
      const r = box.getBoundingClientRect();
      if (r.width < 0.4 * map.width || r.height === 0) {
        continue;
      }
      if (r.top + r.bottom < map.top + map.bottom) {
        edges.top = Math.max(edges.top, r.bottom - map.top);
      } else {
        edges.bottom = Math.max(edges.bottom, map.bottom - r.top);
      }
    }
    if (map.height - edges.top - edges.bottom < 240) {
      return { top: 0, bottom: 0 }; // no room between them: over them is better than nothing
    }
    return { top: Math.round(edges.top), bottom: Math.round(edges.bottom) };
  },

  /** Open a popup at latlng, no wider or taller than the map leaves room for (it scrolls). */
  openPopup(latlng, content) {
    const size = this.map.getSize();
    const width = Math.max(200, Math.min(460, size.x - 60));
    const edge = this.coveredEdges();
    const room = size.y - edge.top - edge.bottom - 90; // less the tip and the popup's margins
    L.popup({
      maxWidth: width,
      minWidth: Math.min(240, width),
      maxHeight: Math.max(160, Math.round(Math.min(0.6 * size.y, room))),
      autoPanPaddingTopLeft: [12, edge.top + 12],
      autoPanPaddingBottomRight: [12, edge.bottom + 12],
      className: "mj-popup-frame",
    })
      .setLatLng(latlng)
      .setContent(content)
      .openOn(this.map);
  },

  /** The popup of parcel i: its enterprises and its consolidation zone. */
  popup(i) {
    const P = this.parcels;
    const T = this.T;
    const box = el("div", null, null, "mj-popup");
    el("b", fill(T.parcel, { id: P.col.parcel_id(i) }), box);
    el("div", fill(T.surveyed, { v: this.fmt(P.col[this.areaCol](i)) }), box);
    const F = this.firms;
    if (F && F.off[i + 1] > F.off[i]) {
      this.firmTable(box, i);
    } else if (!present(P.col.enterprises(i))) {
      el("div", T.no_firm, box);
    }
    const zone = P.col.zone_id ? P.col.zone_id(i) : null;
    if (present(zone)) {
      const zl = el("div", null, box, "mj-zone");
      const z = this.zoneRow(zone);
      el("div", fill(T.zone, { v: zone }) + (z ? ` · ${fill(T.zone_line, z)}` : ""), zl);
      const btn = el("button", T.zone_show, zl, "mj-zone-show");
      btn.addEventListener("click", () => this.showZone(zone));
    }
    return box;
  },

  /** The table of parcel i's enterprises, in box. */
  firmTable(box, i) {
    const F = this.firms;
    const table = el("table", null, box, "mj-firms");
    const head = el("tr", null, table);
    for (const fc of this.P.firm_columns) {
      el("th", fc[0], head);
    }
    for (let k = F.off[i]; k < F.off[i + 1]; k++) {
      const row = el("tr", null, table);
      const f = F.index[k];
      for (const fc of this.P.firm_columns) {
        const v = F.col[fc[1]](f);
        el("td", typeof v === "number" ? this.fmt(v) : present(v) ? v : "—", row);
      }
    }
  },

  /** Rank, parcels and area of a consolidation zone, for the popup's zone line. */
  zoneRow(zone) {
    const Z = this.sets.zones;
    if (!Z) {
      return null;
    }
    for (let j = 0; j < Z.n; j++) {
      if (Z.col.zone_id(j) === zone) {
        return { rank: Z.col.rank(j), n: Z.col.n_parcels(j), a: this.fmt(Z.col[this.areaCol](j)) };
      }
    }
    return null;
  },
};

/** Double-clicks cancel the popup of their clicks. */
function init(app) {
  app.map.on("dblclick", () => app.doubleClick());
}

mj.popups = { DOUBLE_CLICK_MS, init, methods, unionBox };

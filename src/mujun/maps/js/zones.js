/*
 * zones.js: the consolidation zones answer the planner's question. With the zones overlay on,
 * a point inside a zone gives its tooltip (rank, land, firms, today's tax, the gain at the
 * park's median) and its popup: the same, the reasons counted over its parcels, its firms
 * (from the firm table), and a row per parcel saying why it is in the zone (a click on the
 * parcel id opens that parcel), with buttons to show only its parcels or export them.
 * A zone's parcels are those whose zone_id is the zone's (the parcel set), so their reasons are
 * the parcels' own (a public map's parcels carry no money-derived reason, its zones no money).
 * Plain script assigning mj.zones (see the comment at the top of decode.js); its methods are
 * mixed into the App of main.js.
 */

const { el, fill, present } = mj.dom;

/** Compare two values as text (parcel ids, firm names). */
function byText(x, y) {
  const a = String(x);
  const b = String(y);
  if (a < b) {
    return -1;
  }
  return a > b ? 1 : 0;
}

const methods = {
  /** Whether the zones overlay is shown. */
  zonesOn() {
    return Boolean(this.sets.zones) && this.layers.some((l) => l._map && l.theme.id === "zones");
  },

  /** The zone under latlng (index in the zone set), or -1. */
  zoneAt(latlng) {
    const Z = this.sets.zones;
    if (!Z) {
      return -1;
    }
    const p = this.worldPoint(latlng);
    for (let j = 0; j < Z.n; j++) {
      if (Z.contains(j, p.x, p.y)) {
        return j;
      }
    }
    return -1;
  },

  /** Zone j's column `name`, or null. */
  zoneValue(j, name) {
    const c = this.sets.zones.col[name];
    return c ? c(j) : null;
  },

  /** The parcels (indices) of zone j, by parcel id. */
  zoneParcels(j) {
    if (!this.zoneMembers) {
      const P = this.parcels;
      this.zoneMembers = new Map();
      for (let i = 0; P.col.zone_id && i < P.n; i++) {
        const z = P.col.zone_id(i);
        if (present(z)) {
          if (!this.zoneMembers.has(z)) {
            this.zoneMembers.set(z, []);
          }
          this.zoneMembers.get(z).push(i);
        }
      }
      for (const idx of this.zoneMembers.values()) {
        idx.sort((a, b) => byText(P.col.parcel_id(a), P.col.parcel_id(b)));
      }
    }
    return this.zoneMembers.get(this.zoneValue(j, "zone_id")) || [];
  },

  /** [reason code, number of parcels] over parcels idx, most frequent first. */
  zoneReasons(idx) {
    const count = new Map();
    for (const i of idx) {
      for (const r of this.reasons(i)) {
        count.set(r, (count.get(r) || 0) + 1);
      }
    }
    // a stable sort: ties stay in the order of first mention
    return [...count.entries()].sort((a, b) => b[1] - a[1]);
  },

  /** The firms (rows of the firm table) on parcels idx, each once, by name. */
  zoneFirms(idx) {
    const F = this.firms;
    if (!F) {
      return [];
    }
    const seen = new Set();
    for (const i of idx) {
      for (let k = F.off[i]; k < F.off[i + 1]; k++) {
        seen.add(F.index[k]);
      }
    }
    const name = F.col.name;
    return [...seen].sort((a, b) => (name ? byText(name(a), name(b)) : a - b));
  },

  /** Zone j's heading, park, land, firms and (internal maps) money lines, into box. */
  zoneSummary(box, j, full) {
    const T = this.T;
    const v = (name) => this.zoneValue(j, name);
    const id = v("zone_id");
    el("b", fill(T.zone_tip_head, { id, rank: v("rank") }), box);
    if (present(v("park"))) {
      el("div", fill(T.zone_tip_park, { v: v("park") }), box);
    }
    const land = { n: v("n_parcels"), a: this.fmt(v(this.areaCol)) };
    el("div", fill(T.zone_tip_land, land), box, "mj-zone-land");
    const vacant = v(this.areaCol.replace("area_", "vacant_"));
    if (full && vacant > 0) {
      el("div", fill(T.zone_vacant, { v: this.fmt(vacant) }), box);
    }
    if (full && present(v("share_of_park_land"))) {
      el("div", fill(T.zone_share, { v: this.fmt(100 * v("share_of_park_land"), true) }), box);
    }
    if (present(v("n_enterprises"))) {
      el("div", fill(T.zone_tip_firms, { n: v("n_enterprises") }), box);
    }
    // a public map has neither the words (T.zone_tip_tax) nor the figures
    if (T.zone_tip_tax && present(v("tax_wan"))) {
      el("div", fill(T.zone_tip_tax, { v: this.fmt(v("tax_wan")) }), box, "mj-zone-tax");
    }
    if (full && T.zone_tax_per_area && present(v("tax_per_mu"))) {
      const m = this.fmt(v("park_median_tax_per_mu"));
      const line = { v: this.fmt(v("tax_per_mu")), unit: this.P.unit, m };
      el("div", fill(T.zone_tax_per_area, line), box);
    }
    if (full && T.zone_potential && present(v("potential_tax_wan"))) {
      el("div", fill(T.zone_potential, { v: this.fmt(v("potential_tax_wan")) }), box);
    }
    if (T.zone_tip_gain && present(v("gain_wan"))) {
      el("div", fill(T.zone_tip_gain, { v: this.fmt(v("gain_wan")) }), box, "mj-zone-gain");
    }
  },

  /** The tooltip of zone j. */
  zoneTip(j) {
    const box = el("div", null, null, "mj-tip mj-zone-tip");
    this.zoneSummary(box, j, false);
    return box;
  },

  /** Reason codes in the page's language, joined. */
  reasonText(codes) {
    return codes.map((r) => this.T.reason[r] || r).join(this.T.sep);
  },

  /** The popup of zone j. */
  zonePopup(j) {
    const T = this.T;
    const id = this.zoneValue(j, "zone_id");
    const idx = this.zoneParcels(j);
    const box = el("div", null, null, "mj-popup mj-zone-popup");
    box.dataset.zone = id;
    this.zoneSummary(box, j, true);
    const counts = this.zoneReasons(idx).map((r) =>
      fill(T.zone_reason_n, { label: T.reason[r[0]] || r[0], n: r[1] }),
    );
    if (counts.length) {
      el("div", fill(T.zone_reasons, { v: counts.join(T.sep) }), box, "mj-zone-reasons");
    }
    const buttons = el("div", null, box, "mj-zone-buttons");
    el("button", T.zone_show, buttons, "mj-zone-show").addEventListener("click", () =>
      this.showZone(id),
    );
    el("button", T.zone_export, buttons, "mj-zone-export").addEventListener("click", () =>
      this.exportZone(j),
    );
    const firms = this.zoneFirms(idx);
    if (firms.length) {
      el("b", fill(T.zone_firms_head, { n: firms.length }), box, "mj-zone-head");
      this.zoneFirmTable(box, firms);
    }
    el("b", fill(T.zone_parcels_head, { n: idx.length }), box, "mj-zone-head");
    el("div", T.zone_parcel_open, box, "mj-unit");
    this.zoneParcelTable(box, idx);
    return box;
  },

  /** A table of firms (rows of the firm table): the parcel popup's columns. */
  zoneFirmTable(box, firms) {
    const F = this.firms;
    const table = el("table", null, box, "mj-firms mj-zone-firms");
    const head = el("tr", null, table);
    for (const fc of this.P.firm_columns) {
      el("th", fc[0], head);
    }
    for (const f of firms) {
      const row = el("tr", null, table);
      for (const fc of this.P.firm_columns) {
        const v = F.col[fc[1]](f);
        el("td", typeof v === "number" ? this.fmt(v) : present(v) ? v : "—", row);
      }
    }
  },

  /** A row per parcel of idx: id (a button opening the parcel), reasons, figure, class. */
  zoneParcelTable(box, idx) {
    const T = this.T;
    const P = this.parcels;
    const fig = this.P.figures[0]; // tax per area on internal maps, none on public ones
    const table = el("table", null, box, "mj-firms mj-zone-parcels");
    const head = el("tr", null, table);
    el("th", T.zone_col_parcel, head);
    el("th", T.zone_col_reasons, head);
    if (fig) {
      el("th", fig[0], head);
    }
    if (P.col.class) {
      el("th", T.zone_col_class, head);
    }
    for (const i of idx) {
      const row = el("tr", null, table);
      row.dataset.parcel = P.col.parcel_id(i);
      const open = el("button", P.col.parcel_id(i), el("td", null, row), "mj-zone-parcel");
      open.addEventListener("click", () => this.openParcel(i));
      el("td", this.reasonText(this.reasons(i)) || "—", row);
      if (fig) {
        el("td", this.fmt(P.col[fig[1]](i)), row);
      }
      if (P.col.class) {
        const c = P.col.class(i);
        el("td", present(c) ? c : "—", row);
      }
    }
  },

  /** Zoom to parcel i and open its popup. */
  openParcel(i) {
    this.map.closePopup();
    this.zoomTo([i]);
    if (this.map.hasLayer(this.tooltip)) {
      this.map.removeLayer(this.tooltip); // the popup says it all; the highlight stays
    }
    const b = this.parcels.box;
    const at = this.map.unproject(
      [(b[4 * i] + b[4 * i + 2]) / 2, (b[4 * i + 1] + b[4 * i + 3]) / 2],
      0,
    );
    this.openPopup(at, this.popup(i));
  },

  /** Download zone j's parcels as RFC 7946 GeoJSON, with the columns and units of the
   * attribute table's export (table.js), so both files read alike. */
  exportZone(j) {
    const cols = this.tableColumns();
    const units = {};
    for (const col of cols) {
      if (col.unit) {
        units[col.key] = col.unit;
      }
    }
    const features = this.zoneParcels(j).map((i) => {
      const props = {};
      for (const col of cols) {
        props[col.key] = this.cellValue(col, i);
      }
      return { type: "Feature", properties: props, geometry: this.parcels.geometry(i) };
    });
    const text = JSON.stringify({ type: "FeatureCollection", units, features });
    const name = `zone-${this.zoneValue(j, "zone_id")}-parcels.geojson`;
    mj.panel.download(name, "application/geo+json", text);
  },

  /** Outline zone j (-1: none). */
  showZoneHighlight(j) {
    if (this.zoneHighlightIndex === j) {
      return;
    }
    this.zoneHighlightIndex = j;
    if (this.zoneHighlight) {
      this.map.removeLayer(this.zoneHighlight);
      this.zoneHighlight = null;
    }
    if (j >= 0) {
      this.zoneHighlight = L.polygon(this.sets.zones.latlngs(j), {
        interactive: false,
        color: "#ff7f00",
        weight: 3,
        fill: false,
      }).addTo(this.map);
    }
  },
};

mj.zones = { methods };

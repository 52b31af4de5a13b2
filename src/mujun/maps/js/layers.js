/*
 * layers.js: one canvas per layer (an L.Renderer, so Leaflet positions and animates it),
 * painted from the decoded shape sets: parcels batched by colour in paths of CHUNK shapes, or,
 * above aggregate.above parcels and below aggregate.zoom, grid cells summed in the page.
 * Themes (role "theme") are shown one at a time in the pane THEME_PANE; each overlay has its
 * own pane above it, in the payload's order, so the drawing order never depends on the order
 * they were ticked. Highlights and tools draw in Leaflet's overlayPane, above all of them.
 * Plain script assigning mj.layers (see the comment at the top of decode.js); the methods are
 * mixed into the App of main.js.
 */

const CHUNK = 1000; // parcels per canvas path: one path of 100,000 took 23 s to build
const THEME_PANE = "mjTheme";
const PANE_Z = 300; // Leaflet: tiles 200, overlayPane (highlights) 400

/** The pane of layer k of themes: themes share one, each overlay has its own, in order. */
function makePanes(map, themes) {
  const panes = [];
  map.createPane(THEME_PANE).style.zIndex = PANE_Z;
  let k = 0;
  for (const t of themes) {
    if (t.role === "theme") {
      panes.push(THEME_PANE);
    } else {
      k++;
      const name = `mjOverlay${k}`;
      map.createPane(name).style.zIndex = PANE_Z + k;
      panes.push(name);
    }
  }
  return panes;
}

/** A canvas pattern of lines or dots in colour: how overlays mark shapes without hiding the
 * theme's colours below them. */
function makePattern(ctx, kind, colour) {
  const c = document.createElement("canvas");
  c.width = 8;
  c.height = 8;
  const g = c.getContext("2d");
  g.strokeStyle = colour;
  g.fillStyle = colour;
  g.lineWidth = 1.5;
  const line = (x0, y0, x1, y1) => {
    g.beginPath();
    g.moveTo(x0, y0);
    g.lineTo(x1, y1);
    g.stroke();
  };
  if (kind === "dots") {
    g.beginPath();
    g.arc(4, 4, 1.6, 0, 2 * Math.PI);
    g.fill();
  } else {
    if (kind === "hatch" || kind === "cross") {
      line(0, 8, 8, 0);
      line(-2, 2, 2, -2);
      line(6, 10, 10, 6);
    }
    if (kind === "backhatch" || kind === "cross") {
      line(0, 0, 8, 8);
      line(-2, 6, 2, 10);
      line(6, -2, 10, 2);
    }
  }
  return ctx.createPattern(c, "repeat");
}

const CanvasLayer = L.Renderer.extend({
  initialize(app, theme, pane) {
    L.Renderer.prototype.initialize.call(this, { padding: 0.1, pane });
    this._app = app;
    this.theme = theme;
    this.drawn = 0;
  },
  _initContainer() {
    const c = document.createElement("canvas");
    this._container = c;
    c.className = "mj-canvas";
    c.style.pointerEvents = "none";
    c.dataset.theme = this.theme.id;
    this._ctx = c.getContext("2d");
  },
  _destroyContainer() {
    L.DomUtil.remove(this._container);
    delete this._container;
    delete this._ctx;
  },
  _updatePaths() {},
  _onZoomEnd() {},
  _update() {
    if (this._map._animatingZoom && this._bounds) {
      return;
    }
    L.Renderer.prototype._update.call(this);
    const b = this._bounds;
    const size = b.getSize();
    const m = window.devicePixelRatio || 1;
    const c = this._container;
    L.DomUtil.setPosition(c, b.min);
    c.width = m * size.x;
    c.height = m * size.y;
    c.style.width = `${size.x}px`;
    c.style.height = `${size.y}px`;
    this._ctx.setTransform(m, 0, 0, m, 0, 0);
    this.redraw();
  },
  redraw() {
    if (this._map && this._ctx) {
      this._app.paint(this);
    }
  },
});

/** Index of the first bound >= v (> v if `left`, intervals closed on the left: a value on a
 * line is in the class above it); the last class for larger values. */
function bin(bins, v, left) {
  let lo = 0;
  let hi = bins.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (bins[mid] < v || (left && bins[mid] === v)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

/** Group the shapes of a set inside a view box by their style (key), in order of first use;
 * only the tiles of the set that meet the view are looked at (and decoded, when drawn). */
function groupByStyle(app, t, set, view) {
  const groups = {};
  const order = [];
  let drawn = 0;
  set.eachInView(view, (i) => {
    if (set.visible && !set.visible[i]) {
      return;
    }
    const st = app.style(t, i);
    if (!st) {
      return;
    }
    const key = st.key || "_";
    if (!groups[key]) {
      groups[key] = { st, items: [] };
      order.push(key);
    }
    groups[key].items.push(i);
    drawn++;
  });
  return { groups: order.map((key) => groups[key]), drawn };
}

/** Fill and stroke one group's shapes, CHUNK shapes a path; `pattern`, if any, fills. */
function paintGroup(ctx, set, group, s, ox, oy, pattern) {
  const { st, items } = group;
  for (let start = 0; start < items.length; start += CHUNK) {
    ctx.beginPath();
    for (let j = start; j < Math.min(items.length, start + CHUNK); j++) {
      set.trace(ctx, items[j], s, ox, oy);
    }
    if (st.fill && st.fillOpacity) {
      ctx.globalAlpha = st.fillOpacity;
      ctx.fillStyle = st.pattern && pattern ? pattern : st.fill;
      ctx.fill("nonzero");
    }
    if (st.stroke && st.weight) {
      ctx.globalAlpha = 1;
      ctx.strokeStyle = st.stroke;
      ctx.lineWidth = st.weight;
      ctx.setLineDash(st.dash || []);
      ctx.stroke();
    }
  }
}

/** Add parcel i's area (and value) to its grid cell's accumulator. */
function accumulate(e, t, P, i, a) {
  e.a += a;
  if (t.kind === "mask") {
    if (P.col[t.col](i)) {
      e.m += a;
    }
    return;
  }
  if (t.kind === "outline") {
    return;
  }
  const v = P.col[t.col](i);
  if (!mj.dom.present(v)) {
    return;
  }
  if (t.kind === "num") {
    e.vs += v * a;
    e.va += a;
  } else {
    e.cats[v] = (e.cats[v] || 0) + a;
  }
}

/**
 * A grid cell's colour and opacity, or null to leave it out: the area-weighted mean
 * (numbers), the class with the most area (classes), or the share of flagged area (masks).
 */
function cellColour(t, e) {
  if (t.kind === "outline") {
    return { colour: "#9e9e9e", alpha: 0.35 };
  }
  const alpha = t.fillOpacity || 0.8;
  if (t.kind === "mask") {
    return e.m ? { colour: t.fill || t.stroke, alpha: 0.15 + 0.75 * (e.a ? e.m / e.a : 0) } : null;
  }
  if (t.kind === "num") {
    return e.va ? { colour: t.colors[bin(t.bins, e.vs / e.va, t.closed === "left")], alpha } : null;
  }
  let best = null;
  for (const cat of Object.keys(e.cats)) {
    if (best === null || e.cats[cat] > e.cats[best]) {
      best = cat;
    }
  }
  return best === null ? null : { colour: t.cats[best] || t.other, alpha };
}

/** How a theme draws a shape it has no value for (vacant land): a grey outline. */
const NO_VALUE = { key: "_none", stroke: "#9e9e9e", weight: 0.6 };

const methods = {
  /** Add a canvas layer per theme and overlay, in panes by role; show the theme marked shown
   * (the first if none is) and the overlays marked shown. */
  addLayers() {
    const themes = this.P.themes;
    const panes = makePanes(this.map, themes);
    this.layers = themes.map((t, k) => new mj.layers.CanvasLayer(this, t, panes[k]));
    const shown =
      themes.find((t) => t.role === "theme" && t.show) || themes.find((t) => t.role === "theme");
    this.themeId = shown ? shown.id : null;
    for (const l of this.layers) {
      if (l.theme.role === "theme" ? l.theme.id === this.themeId : l.theme.show) {
        l.addTo(this.map);
      }
    }
  },

  layer(id) {
    return this.layers.find((l) => l.theme.id === id) || null;
  },

  /** Show theme id (and hide the one shown). */
  setTheme(id) {
    const next = this.layer(id);
    if (next?.theme.role !== "theme" || id === this.themeId) {
      return;
    }
    const old = this.layer(this.themeId);
    if (old) {
      this.map.removeLayer(old);
    }
    this.themeId = id;
    next.addTo(this.map);
    this.changed("theme");
  },

  /** Show or hide overlay id; it keeps its place in the drawing order. */
  setOverlay(id, on) {
    const l = this.layer(id);
    if (l?.theme.role !== "overlay" || Boolean(l._map) === Boolean(on)) {
      return;
    }
    if (on) {
      l.addTo(this.map);
    } else {
      this.map.removeLayer(l);
    }
    this.changed("overlay");
  },

  /** The ids of the overlays shown, bottom up. */
  overlaysOn() {
    return this.layers.filter((l) => l.theme.role === "overlay" && l._map).map((l) => l.theme.id);
  },

  /** Whether the parcels are drawn as grid cells at this zoom. */
  aggregated() {
    const a = this.P.aggregate;
    return this.parcels.n > a.above && this.map.getZoom() < a.zoom;
  },

  /** How layer t draws shape i of its set, or null if it does not. */
  style(t, i) {
    const set = this.sets[t.set];
    if (t.kind === "outline") {
      return t;
    }
    if (t.kind === "mask") {
      return set.col[t.col](i) ? t : null;
    }
    const v = set.col[t.col](i);
    if (!mj.dom.present(v)) {
      return t.role === "theme" ? NO_VALUE : null;
    }
    const colour =
      t.kind === "num" ? t.colors[bin(t.bins, v, t.closed === "left")] : t.cats[v] || t.other;
    return {
      key: colour,
      fill: colour,
      fillOpacity: t.fillOpacity,
      stroke: t.stroke,
      weight: t.weight,
      dash: t.dash,
    };
  },

  bin,

  /** Paint a layer's canvas for the current view. */
  paint(layer) {
    const ctx = layer._ctx;
    const b = layer._bounds;
    const t = layer.theme;
    const s = 2 ** this.map.getZoom();
    const po = this.map.getPixelOrigin();
    const ox = po.x + b.min.x;
    const oy = po.y + b.min.y;
    const w = b.max.x - b.min.x;
    const h = b.max.y - b.min.y;
    ctx.clearRect(0, 0, w, h);
    const set = this.sets[t.set];
    if (t.set === "parcels" && this.aggregated()) {
      layer.drawn = 0;
      layer.blank = 0;
      layer.cells = this.paintCells(ctx, t, s, ox, oy, w, h);
      return;
    }
    const view = { x0: ox / s, y0: oy / s, x1: (ox + w) / s, y1: (oy + h) / s };
    const { groups, drawn } = groupByStyle(this, t, set, view);
    // one path per colour, in chunks: a canvas path grows slower than linearly with its size
    if (t.pattern && !layer.pattern) {
      layer.pattern = makePattern(ctx, t.pattern, t.fill);
    }
    for (const group of groups) {
      paintGroup(ctx, set, group, s, ox, oy, layer.pattern);
    }
    ctx.globalAlpha = 1;
    ctx.setLineDash([]);
    layer.drawn = drawn;
    const none = groups.find((g) => g.st === NO_VALUE);
    layer.blank = none ? none.items.length : 0;
    layer.cells = 0;
  },

  /** The grid cell (column, row) of parcel i's box centre at scale s, offset (ox, oy). */
  cellOf(i, s, ox, oy, cell) {
    const b = this.parcels.box;
    return [
      Math.floor((((b[4 * i] + b[4 * i + 2]) / 2) * s - ox) / cell),
      Math.floor((((b[4 * i + 1] + b[4 * i + 3]) / 2) * s - oy) / cell),
    ];
  },

  /** Grid aggregates of aggregate.cell_px screen pixels from the parcels that pass the filters. */
  paintCells(ctx, t, s, ox, oy, w, h) {
    const P = this.parcels;
    const cell = this.P.aggregate.cell_px;
    const area = P.col[this.areaCol];
    const acc = {};
    const nx = Math.ceil(w / cell) + 1;
    for (let i = 0; i < P.n; i++) {
      if (!P.visible[i]) {
        continue;
      }
      const c = this.cellOf(i, s, ox, oy, cell);
      if (c[0] < 0 || c[1] < 0 || c[0] * cell > w || c[1] * cell > h) {
        continue;
      }
      const k = c[1] * nx + c[0];
      if (!acc[k]) {
        acc[k] = { x: c[0], y: c[1], a: 0, va: 0, vs: 0, cats: {}, m: 0 };
      }
      accumulate(acc[k], t, P, i, area(i) || 0);
    }
    let n = 0;
    for (const key of Object.keys(acc)) {
      const e = acc[key];
      const paint = cellColour(t, e);
      if (!paint) {
        continue;
      }
      ctx.globalAlpha = paint.alpha;
      ctx.fillStyle = paint.colour;
      ctx.fillRect(e.x * cell, e.y * cell, cell - 1, cell - 1);
      n++;
    }
    ctx.globalAlpha = 1;
    return n;
  },

  redraw() {
    for (const l of this.layers) {
      l.redraw();
    }
  },

  /** Shapes drawn by each layer that is on, by layer id (tests and the benchmark). */
  drawn() {
    const out = {};
    for (const l of this.layers) {
      if (l._map) {
        out[l.theme.id] = l.drawn;
      }
    }
    return out;
  },

  /** Shapes drawn as outlines without a value (vacant land) by each theme shown, by id. */
  blank() {
    const out = {};
    for (const l of this.layers) {
      if (l._map && l.theme.role === "theme") {
        out[l.theme.id] = l.blank;
      }
    }
    return out;
  },

  /** Grid cells drawn by each layer that is on, by layer id. */
  cells() {
    const out = {};
    for (const l of this.layers) {
      if (l._map) {
        out[l.theme.id] = l.cells;
      }
    }
    return out;
  },
};

mj.layers = { CHUNK, CanvasLayer, bin, methods };

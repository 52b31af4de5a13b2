/*
 * mujun's planner map: every shape set is decoded once from the page's JSON payload
 * (see mujun/maps/encode.py) and each layer paints it on its own canvas, batched by colour.
 * Tooltips, popups, search results and filter menus are built with textContent: a value from
 * the data is always text, never markup.
 *
 * window.mujunMap is the running map (used by the tests and the benchmark).
 */
(function () {
  "use strict";

  // ---- decoding -------------------------------------------------------------------------
  function bytes(b64) {
    var s = atob(b64), out = new Uint8Array(s.length);
    for (var i = 0; i < s.length; i++) { out[i] = s.charCodeAt(i); }
    return out;
  }
  function varints(b64) {  // LEB128, low group first
    var b = bytes(b64), n = 0, i;
    for (i = 0; i < b.length; i++) { if (b[i] < 128) { n++; } }
    var out = new Float64Array(n), v = 0, mul = 1, j = 0;
    for (i = 0; i < b.length; i++) {
      var c = b[i];
      v += (c & 127) * mul;
      if (c < 128) { out[j++] = v; v = 0; mul = 1; } else { mul *= 128; }
    }
    return out;
  }
  function coords(b64) {  // zigzag deltas of x0 y0 x1 y1 ... -> integers
    var d = varints(b64), out = new Float64Array(d.length), x = 0, y = 0;
    for (var i = 0; i < d.length; i += 2) {
      var dx = d[i], dy = d[i + 1];
      x += dx % 2 ? -(dx + 1) / 2 : dx / 2;
      y += dy % 2 ? -(dy + 1) / 2 : dy / 2;
      out[i] = x; out[i + 1] = y;
    }
    return out;
  }
  function column(c, n) {  // -> function(i) giving the value or null
    if (c.k === "num" || c.k === "str") { return function (i) { return c.v[i]; }; }
    if (c.k === "cat") {
      return function (i) { var k = c.codes[i]; return k < 0 ? null : c.dict[k]; };
    }
    var b = bytes(c.bits);
    return function (i) { return i < n && (b[i >> 3] >> (i & 7)) & 1 ? true : false; };
  }

  var D2R = Math.PI / 180;
  function worldX(lon) { return (lon + 180) / 360 * 256; }  // Web Mercator pixels at zoom 0
  function worldY(lat) {
    var s = Math.sin(lat * D2R);
    return (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * 256;
  }

  function Shapes(enc, cols) {
    var n = this.n = enc.n, i, k;
    var parts = varints(enc.parts), rings = varints(enc.rings), verts = varints(enc.verts);
    this.scale = Math.pow(10, enc.precision);
    this.polyOff = new Int32Array(n + 1);     // polygons of shape i
    this.ringOff = new Int32Array(parts.length ? rings.length + 1 : 1);  // rings of polygon
    this.vertOff = new Int32Array(verts.length + 1);  // vertices of ring
    for (i = 0; i < n; i++) { this.polyOff[i + 1] = this.polyOff[i] + parts[i]; }
    for (i = 0; i < rings.length; i++) { this.ringOff[i + 1] = this.ringOff[i] + rings[i]; }
    for (i = 0; i < verts.length; i++) { this.vertOff[i + 1] = this.vertOff[i] + verts[i]; }
    this.q = coords(enc.xy);                                  // exported (true) coordinates
    this.qd = enc.xy_display ? coords(enc.xy_display) : this.q;  // drawn coordinates
    var m = this.qd.length / 2, w = this.w = new Float64Array(2 * m);
    for (k = 0; k < m; k++) {
      w[2 * k] = worldX(this.qd[2 * k] / this.scale);
      w[2 * k + 1] = worldY(this.qd[2 * k + 1] / this.scale);
    }
    var box = this.box = new Float64Array(4 * n);
    for (i = 0; i < n; i++) {
      var v0 = this.vertOff[this.ringOff[this.polyOff[i]]];
      var v1 = this.vertOff[this.ringOff[this.polyOff[i + 1]]];
      var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (k = v0; k < v1; k++) {
        var x = w[2 * k], y = w[2 * k + 1];
        if (x < x0) { x0 = x; } if (x > x1) { x1 = x; }
        if (y < y0) { y0 = y; } if (y > y1) { y1 = y; }
      }
      box[4 * i] = x0; box[4 * i + 1] = y0; box[4 * i + 2] = x1; box[4 * i + 3] = y1;
    }
    this.col = {};
    for (var name in cols) { this.col[name] = column(cols[name], n); }
    this.cols = cols;
    this.visible = null;  // Uint8Array of the filters, parcels only
  }
  Shapes.prototype.rings = function (i) {
    return [this.ringOff[this.polyOff[i]], this.ringOff[this.polyOff[i + 1]]];
  };
  Shapes.prototype.trace = function (path, i, s, ox, oy) {
    var w = this.w, r = this.rings(i);
    for (var ring = r[0]; ring < r[1]; ring++) {
      var v0 = this.vertOff[ring], v1 = this.vertOff[ring + 1];
      if (v1 - v0 < 3) { continue; }
      path.moveTo(w[2 * v0] * s - ox, w[2 * v0 + 1] * s - oy);
      for (var k = v0 + 1; k < v1; k++) { path.lineTo(w[2 * k] * s - ox, w[2 * k + 1] * s - oy); }
      path.closePath();
    }
  };
  Shapes.prototype.contains = function (i, x, y) {  // even-odd over every ring, world pixels
    var b = this.box;
    if (x < b[4 * i] || x > b[4 * i + 2] || y < b[4 * i + 1] || y > b[4 * i + 3]) { return false; }
    var w = this.w, r = this.rings(i), inside = false;
    for (var ring = r[0]; ring < r[1]; ring++) {
      var v0 = this.vertOff[ring], v1 = this.vertOff[ring + 1];
      for (var k = v0, j = v1 - 1; k < v1; j = k++) {
        var xk = w[2 * k], yk = w[2 * k + 1], xj = w[2 * j], yj = w[2 * j + 1];
        if ((yk > y) !== (yj > y) && x < (xj - xk) * (y - yk) / (yj - yk) + xk) { inside = !inside; }
      }
    }
    return inside;
  };
  Shapes.prototype.geometry = function (i) {  // RFC 7946 (true coordinates, closed rings)
    var q = this.q, s = this.scale, polys = [];
    for (var p = this.polyOff[i]; p < this.polyOff[i + 1]; p++) {
      var rs = [];
      for (var ring = this.ringOff[p]; ring < this.ringOff[p + 1]; ring++) {
        var pts = [];
        for (var k = this.vertOff[ring]; k < this.vertOff[ring + 1]; k++) {
          pts.push([q[2 * k] / s, q[2 * k + 1] / s]);
        }
        if (pts.length) { pts.push(pts[0].slice()); }
        rs.push(pts);
      }
      polys.push(rs);
    }
    return polys.length === 1 ? {type: "Polygon", coordinates: polys[0]}
      : {type: "MultiPolygon", coordinates: polys};
  };
  Shapes.prototype.latlngs = function (i) {  // as drawn, for the highlight
    var q = this.qd, s = this.scale, out = [], r = this.rings(i);
    for (var ring = r[0]; ring < r[1]; ring++) {
      var pts = [];
      for (var k = this.vertOff[ring]; k < this.vertOff[ring + 1]; k++) {
        pts.push([q[2 * k + 1] / s, q[2 * k] / s]);
      }
      out.push(pts);
    }
    return out;
  };

  var CHUNK = 1000;  // parcels per canvas path

  // ---- canvas layer ---------------------------------------------------------------------
  var CanvasLayer = L.Renderer.extend({
    initialize: function (app, theme) {
      L.Renderer.prototype.initialize.call(this, {padding: 0.1});
      this._app = app;
      this.theme = theme;
      this.drawn = 0;
    },
    _initContainer: function () {
      var c = this._container = document.createElement("canvas");
      c.className = "mj-canvas";
      c.style.pointerEvents = "none";
      c.dataset.theme = this.theme.id;
      this._ctx = c.getContext("2d");
    },
    _destroyContainer: function () {
      L.DomUtil.remove(this._container);
      delete this._container;
      delete this._ctx;
    },
    _updatePaths: function () {},
    _onZoomEnd: function () {},
    _update: function () {
      if (this._map._animatingZoom && this._bounds) { return; }
      L.Renderer.prototype._update.call(this);
      var b = this._bounds, size = b.getSize(), m = window.devicePixelRatio || 1;
      var c = this._container;
      L.DomUtil.setPosition(c, b.min);
      c.width = m * size.x; c.height = m * size.y;
      c.style.width = size.x + "px"; c.style.height = size.y + "px";
      this._ctx.setTransform(m, 0, 0, m, 0, 0);
      this.redraw();
    },
    redraw: function () {
      if (this._map && this._ctx) { this._app.paint(this); }
    }
  });

  // ---- the map --------------------------------------------------------------------------
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (m, k) {
      return values[k] === undefined ? m : String(values[k]);
    });
  }
  function el(tag, text, parent, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (cls) { e.className = cls; }
    if (parent) { parent.appendChild(e); }
    return e;
  }
  function present(v) { return v !== null && v !== undefined && v !== ""; }

  function App(map, control, P) {
    this.map = map;
    this.P = P;
    this.T = P.texts;
    this.areaCol = P.area_col || "area_mu";  // the area in the preset's unit (mu, acres)
    formulasRaw = P.csv_formulas === "raw";
    this.num = new Intl.NumberFormat(P.lang === "zh" ? "zh-CN" : "en-US",
      {minimumFractionDigits: 2, maximumFractionDigits: 2});
    this.num1 = new Intl.NumberFormat(P.lang === "zh" ? "zh-CN" : "en-US",
      {minimumFractionDigits: 1, maximumFractionDigits: 1});
    this.sets = {};
    for (var name in P.sets) { this.sets[name] = new Shapes(P.sets[name].shapes, P.sets[name].cols); }
    this.parcels = this.sets.parcels;
    this.parcels.visible = new Uint8Array(this.parcels.n).fill(1);
    this.firms = P.firms ? this._firms(P.firms) : null;
    this.layers = [];
    var self = this;
    P.themes.forEach(function (t) {
      var layer = new CanvasLayer(self, t);
      self.layers.push(layer);
      control.addOverlay(layer, t.label_html);
      if (t.show) { layer.addTo(map); }
    });
    this.highlight = null;
    this.tooltip = L.tooltip({direction: "top", offset: [0, -6], opacity: 0.95});
    this._hoverQueued = null;
    map.on("mousemove", function (e) {
      if (self._hoverQueued === null) {
        window.requestAnimationFrame(function () {
          var ev = self._hoverQueued; self._hoverQueued = null; self.hover(ev);
        });
      }
      self._hoverQueued = e;
    });
    map.on("mouseout", function () { self.hideTip(); });
    map.on("click", function (e) { self.click(e); });
  }

  App.prototype._firms = function (F) {
    var n = this.parcels.n, counts = varints(F.count), index = varints(F.index);
    var off = new Int32Array(n + 1);
    for (var i = 0; i < n; i++) { off[i + 1] = off[i] + counts[i]; }
    var col = {};
    for (var name in F.cols) { col[name] = column(F.cols[name], F.n); }
    return {off: off, index: index, col: col};
  };

  App.prototype.aggregated = function () {
    var a = this.P.aggregate;
    return this.parcels.n > a.above && this.map.getZoom() < a.zoom;
  };

  App.prototype.style = function (t, i) {
    var set = this.sets[t.set], v;
    if (t.kind === "outline") { return t; }
    if (t.kind === "mask") { return set.col[t.col](i) ? t : null; }
    v = set.col[t.col](i);
    if (!present(v)) { return null; }
    var colour = t.kind === "num" ? t.colors[this.bin(t.bins, v)] : t.cats[v] || t.other;
    return {key: colour, fill: colour, fillOpacity: t.fillOpacity, stroke: t.stroke,
            weight: t.weight, dash: t.dash};
  };
  App.prototype.bin = function (bins, v) {  // first upper bound >= v
    var lo = 0, hi = bins.length - 1;
    while (lo < hi) { var mid = (lo + hi) >> 1; if (bins[mid] < v) { lo = mid + 1; } else { hi = mid; } }
    return lo;
  };

  App.prototype.paint = function (layer) {
    var ctx = layer._ctx, b = layer._bounds, map = this.map, t = layer.theme;
    var s = Math.pow(2, map.getZoom()), po = map.getPixelOrigin();
    var ox = po.x + b.min.x, oy = po.y + b.min.y, w = b.max.x - b.min.x, h = b.max.y - b.min.y;
    ctx.clearRect(0, 0, w, h);
    var set = this.sets[t.set];
    if (t.set === "parcels" && this.aggregated()) {
      layer.drawn = 0;
      layer.cells = this.paintCells(ctx, t, s, ox, oy, w, h);
      return;
    }
    var x0 = ox / s, y0 = oy / s, x1 = (ox + w) / s, y1 = (oy + h) / s, box = set.box;
    var groups = {}, order = [], drawn = 0;
    for (var i = 0; i < set.n; i++) {
      if (set.visible && !set.visible[i]) { continue; }
      if (box[4 * i] > x1 || box[4 * i + 2] < x0 || box[4 * i + 1] > y1 || box[4 * i + 3] < y0) {
        continue;
      }
      var st = this.style(t, i);
      if (!st) { continue; }
      var key = st.key || "_";
      var g = groups[key];
      if (!g) { g = groups[key] = {st: st, items: []}; order.push(key); }
      g.items.push(i);
      drawn++;
    }
    // one path per colour, in chunks: a canvas path grows slower than linearly with its size
    order.forEach(function (key) {
      var g = groups[key], st = g.st, items = g.items;
      for (var start = 0; start < items.length; start += CHUNK) {
        ctx.beginPath();
        for (var j = start; j < Math.min(items.length, start + CHUNK); j++) {
          set.trace(ctx, items[j], s, ox, oy);
        }
        if (st.fill) {
          ctx.globalAlpha = st.fillOpacity; ctx.fillStyle = st.fill; ctx.fill("nonzero");
        }
        if (st.stroke && st.weight) {
          ctx.globalAlpha = 1; ctx.strokeStyle = st.stroke; ctx.lineWidth = st.weight;
          ctx.setLineDash(st.dash || []); ctx.stroke();
        }
      }
    });
    ctx.globalAlpha = 1; ctx.setLineDash([]);
    layer.drawn = drawn;
    layer.cells = 0;
  };

  App.prototype.cellOf = function (i, s, ox, oy, cell) {
    var b = this.parcels.box;
    return [Math.floor(((b[4 * i] + b[4 * i + 2]) / 2 * s - ox) / cell),
            Math.floor(((b[4 * i + 1] + b[4 * i + 3]) / 2 * s - oy) / cell)];
  };

  App.prototype.paintCells = function (ctx, t, s, ox, oy, w, h) {
    // grid aggregates: cells of aggregate.cell_px screen pixels, from the parcels that pass
    // the filters; a cell shows the area-weighted mean (numbers), the class with the most
    // area (classes), or the share of flagged area (masks)
    var P = this.parcels, cell = this.P.aggregate.cell_px, area = P.col[this.areaCol], acc = {};
    var nx = Math.ceil(w / cell) + 1;
    for (var i = 0; i < P.n; i++) {
      if (!P.visible[i]) { continue; }
      var c = this.cellOf(i, s, ox, oy, cell);
      if (c[0] < 0 || c[1] < 0 || c[0] * cell > w || c[1] * cell > h) { continue; }
      var k = c[1] * nx + c[0], a = area(i) || 0, e = acc[k];
      if (!e) { e = acc[k] = {x: c[0], y: c[1], a: 0, va: 0, vs: 0, cats: {}, m: 0}; }
      e.a += a;
      if (t.kind === "mask") { if (P.col[t.col](i)) { e.m += a; } continue; }
      if (t.kind === "outline") { continue; }
      var v = P.col[t.col](i);
      if (!present(v)) { continue; }
      if (t.kind === "num") { e.vs += v * a; e.va += a; } else { e.cats[v] = (e.cats[v] || 0) + a; }
    }
    var n = 0;
    for (var key in acc) {
      var e2 = acc[key], colour = null, alpha = t.fillOpacity || 0.8;
      if (t.kind === "outline") { colour = "#9e9e9e"; alpha = 0.35; }
      else if (t.kind === "mask") {
        if (!e2.m) { continue; }
        colour = t.fill || t.stroke; alpha = 0.15 + 0.75 * (e2.a ? e2.m / e2.a : 0);
      } else if (t.kind === "num") {
        if (!e2.va) { continue; }
        colour = t.colors[this.bin(t.bins, e2.vs / e2.va)];
      } else {
        var best = null;
        for (var cat in e2.cats) { if (best === null || e2.cats[cat] > e2.cats[best]) { best = cat; } }
        if (best === null) { continue; }
        colour = t.cats[best] || t.other;
      }
      ctx.globalAlpha = alpha; ctx.fillStyle = colour;
      ctx.fillRect(e2.x * cell, e2.y * cell, cell - 1, cell - 1);
      n++;
    }
    ctx.globalAlpha = 1;
    return n;
  };

  App.prototype.redraw = function () {
    this.layers.forEach(function (l) { l.redraw(); });
  };

  // ---- hover, tooltip, popup --------------------------------------------------------------
  App.prototype.worldPoint = function (latlng) { return this.map.project(latlng, 0); };

  App.prototype.parcelAt = function (latlng) {
    var P = this.parcels, p = this.worldPoint(latlng), best = -1, bestArea = Infinity, b = P.box;
    var cand = this.candidates(p.x, p.y);
    for (var j = 0; j < cand.length; j++) {
      var i = cand[j];
      if (!P.visible[i] || !P.contains(i, p.x, p.y)) { continue; }
      var a = (b[4 * i + 2] - b[4 * i]) * (b[4 * i + 3] - b[4 * i + 1]);
      if (a < bestArea) { best = i; bestArea = a; }  // the smallest of overlapping parcels
    }
    return best;
  };
  App.prototype.candidates = function (x, y) {  // grid index over the parcels' boxes
    var P = this.parcels, b = P.box, g = this.grid, i, gx, gy;
    if (!g) {
      var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (i = 0; i < P.n; i++) {
        x0 = Math.min(x0, b[4 * i]); y0 = Math.min(y0, b[4 * i + 1]);
        x1 = Math.max(x1, b[4 * i + 2]); y1 = Math.max(y1, b[4 * i + 3]);
      }
      var side = Math.max(1, Math.ceil(Math.sqrt(P.n / 2)));
      g = this.grid = {x0: x0, y0: y0, dx: (x1 - x0) / side || 1, dy: (y1 - y0) / side || 1,
                       side: side, cells: []};
      for (i = 0; i < side * side; i++) { g.cells.push([]); }
      for (i = 0; i < P.n; i++) {
        var cx0 = Math.min(side - 1, Math.floor((b[4 * i] - x0) / g.dx));
        var cx1 = Math.min(side - 1, Math.floor((b[4 * i + 2] - x0) / g.dx));
        var cy0 = Math.min(side - 1, Math.floor((b[4 * i + 1] - y0) / g.dy));
        var cy1 = Math.min(side - 1, Math.floor((b[4 * i + 3] - y0) / g.dy));
        for (gy = cy0; gy <= cy1; gy++) { for (gx = cx0; gx <= cx1; gx++) { g.cells[gy * side + gx].push(i); } }
      }
    }
    gx = Math.floor((x - g.x0) / g.dx); gy = Math.floor((y - g.y0) / g.dy);
    if (gx < 0 || gy < 0 || gx >= g.side || gy >= g.side) { return []; }
    return g.cells[gy * g.side + gx];
  };

  App.prototype.parcelLayerOn = function () {
    return this.layers.some(function (l) { return l._map && l.theme.set === "parcels"; });
  };

  App.prototype.hover = function (e) {
    if (!e || !this.parcelLayerOn()) { this.hideTip(); return; }
    var content;
    if (this.aggregated()) {
      content = this.cellTip(e.latlng);
    } else {
      var i = this.parcelAt(e.latlng);
      this.showHighlight(i);
      content = i >= 0 ? this.tip(i) : null;
    }
    if (!content) { this.hideTip(); return; }
    this.tooltip.setLatLng(e.latlng).setContent(content);
    if (!this.map.hasLayer(this.tooltip)) { this.tooltip.addTo(this.map); }
  };
  App.prototype.hideTip = function () {
    if (this.map.hasLayer(this.tooltip)) { this.map.removeLayer(this.tooltip); }
    this.showHighlight(-1);
  };
  App.prototype.showHighlight = function (i) {
    if (this.highlightIndex === i) { return; }
    this.highlightIndex = i;
    if (this.highlight) { this.map.removeLayer(this.highlight); this.highlight = null; }
    if (i >= 0) {
      this.highlight = L.polygon(this.parcels.latlngs(i), {
        interactive: false, color: "#00bcd4", weight: 3, fill: false}).addTo(this.map);
    }
  };

  App.prototype.fmt = function (v, one) {
    return present(v) ? (one ? this.num1 : this.num).format(v) : "—";
  };

  App.prototype.tip = function (i) {
    var P = this.parcels, c = P.col, T = this.T, box = el("div", null, null, "mj-tip"), self = this;
    function line(text, tag) { el(tag || "div", text, box); }
    function get(name) { return c[name] ? c[name](i) : null; }
    line(fill(T.parcel, {id: get("parcel_id")}), "b");
    if (present(get("park"))) { line(fill(T.park, {v: get("park")})); }
    line(fill(T.firms, {v: present(get("enterprises")) ? get("enterprises") : T.no_firm}));
    line(fill(T.surveyed, {v: this.fmt(get(this.areaCol))}));
    if (present(get("declared_" + this.areaCol))) {
      line(fill(T.declared, {v: this.fmt(get("declared_" + this.areaCol)), d: this.fmt(get("area_diff_pct"), true)}));
    }
    this.P.figures.forEach(function (f) {
      line(fill(T.figure, {label: f[0], v: self.fmt(get(f[1])), unit: self.P.unit}));
    });
    if (present(get("classes"))) { line(fill(T["class"], {v: get("classes")})); }
    if (this.P.change_col && present(get(this.P.change_col))) {
      var ch = get(this.P.change_col);
      line(fill(T.change, {v: (ch > 0 ? "+" : "") + this.fmt(ch), unit: this.P.unit}));
    }
    if (present(get("class_change"))) { line(fill(T.class_change, {v: get("class_change")})); }
    if (present(get("coverage"))) {
      line(fill(T.coverage, {v: this.fmt(100 * get("coverage"), true)}) +
           (present(get("far")) ? fill(T.far, {v: this.fmt(get("far"))}) : ""));
    }
    var reasons = this.reasons(i);
    if (reasons.length) { line(fill(T.reasons, {v: reasons.map(function (r) { return T.reason[r] || r; }).join(T.sep)})); }
    if (present(get("zone_id"))) { line(fill(T.zone, {v: get("zone_id")})); }
    return box;
  };
  App.prototype.reasons = function (i) {
    var r = this.parcels.col.reasons ? this.parcels.col.reasons(i) : null;
    return present(r) ? String(r).split("; ") : [];
  };

  App.prototype.cellTip = function (latlng) {
    var P = this.parcels, s = Math.pow(2, this.map.getZoom()), cell = this.P.aggregate.cell_px;
    var po = this.map.getPixelOrigin(), lp = this.map.latLngToLayerPoint(latlng);
    var cx = Math.floor(lp.x / cell), cy = Math.floor(lp.y / cell);
    var n = 0, mu = 0, vacant = 0, under = 0, money = 0, moneyArea = 0, fig = this.P.figures[0];
    for (var i = 0; i < P.n; i++) {
      if (!P.visible[i]) { continue; }
      var c = this.cellOf(i, s, po.x, po.y, cell);
      if (c[0] !== cx || c[1] !== cy) { continue; }
      var a = P.col[this.areaCol](i) || 0;
      n++; mu += a;
      if (P.col.vacant && P.col.vacant(i)) { vacant++; }
      if (P.col.underused && P.col.underused(i)) { under++; }
      if (fig && present(P.col[fig[1]](i))) { money += P.col[fig[1]](i) * a; moneyArea += a; }
    }
    if (!n) { return null; }
    var box = el("div", null, null, "mj-tip"), T = this.T;
    el("b", fill(T.cell, {n: n, a: this.fmt(mu)}), box);
    el("div", fill(T.cell_flags, {vacant: vacant, under: under}), box);
    if (fig && moneyArea) {
      el("div", fill(T.figure, {label: fig[0], v: this.fmt(money / moneyArea), unit: this.P.unit}), box);
    }
    el("div", T.cell_zoom, box, "mj-unit");
    return box;
  };

  App.prototype.click = function (e) {
    if (!this.parcelLayerOn() || this.aggregated()) { return; }
    var i = this.parcelAt(e.latlng);
    if (i < 0) { return; }
    L.popup({maxWidth: 420}).setLatLng(e.latlng).setContent(this.popup(i)).openOn(this.map);
  };

  App.prototype.popup = function (i) {
    var P = this.parcels, T = this.T, box = el("div", null, null, "mj-popup"), self = this;
    el("b", fill(T.parcel, {id: P.col.parcel_id(i)}), box);
    el("div", fill(T.surveyed, {v: this.fmt(P.col[this.areaCol](i))}), box);
    var F = this.firms;
    if (F && F.off[i + 1] > F.off[i]) {
      var table = el("table", null, box, "mj-firms"), head = el("tr", null, table);
      this.P.firm_columns.forEach(function (fc) { el("th", fc[0], head); });
      for (var k = F.off[i]; k < F.off[i + 1]; k++) {
        var row = el("tr", null, table), f = F.index[k];
        this.P.firm_columns.forEach(function (fc) {
          var v = F.col[fc[1]](f);
          el("td", typeof v === "number" ? self.fmt(v) : (present(v) ? v : "—"), row);
        });
      }
    } else if (!present(P.col.enterprises(i))) {
      el("div", T.no_firm, box);
    }
    var zone = P.col.zone_id ? P.col.zone_id(i) : null;
    if (present(zone)) {
      var zl = el("div", null, box, "mj-zone");
      var z = this.zoneRow(zone);
      el("div", fill(T.zone, {v: zone}) + (z ? " · " + fill(T.zone_line, z) : ""), zl);
      var btn = el("button", T.zone_show, zl, "mj-zone-show");
      btn.addEventListener("click", function () { self.showZone(zone); });
    }
    return box;
  };
  App.prototype.zoneRow = function (zone) {
    var Z = this.sets.zones;
    if (!Z) { return null; }
    for (var j = 0; j < Z.n; j++) {
      if (Z.col.zone_id(j) === zone) {
        return {rank: Z.col.rank(j), n: Z.col.n_parcels(j), a: this.fmt(Z.col[this.areaCol](j))};
      }
    }
    return null;
  };

  // ---- search, filters, export ----------------------------------------------------------
  App.prototype.values = function (f, i) {
    if (f === "reasons") { return this.reasons(i); }
    var v = this.parcels.col[f] ? this.parcels.col[f](i) : null;
    return present(v) ? [String(v)] : [];
  };
  App.prototype.controls = function () {
    var self = this, T = this.T, P = this.parcels;
    var panel = el("div", null, document.body, "mj-panel");
    var search = el("input", null, panel, "mj-search");
    search.type = "search"; search.placeholder = T.search;
    var results = el("div", null, panel, "mj-results");
    this.selects = {};
    this.P.filters.forEach(function (f) {
      var s = el("select", null, panel, "mj-filter"); s.dataset.field = f;
      el("option", T["all_" + f], s).value = "";
      var seen = {};
      for (var i = 0; i < P.n; i++) { self.values(f, i).forEach(function (v) { seen[v] = true; }); }
      Object.keys(seen).sort().forEach(function (v) {
        el("option", f === "reasons" && T.reason[v] ? T.reason[v] : v, s).value = v;
      });
      s.addEventListener("change", function () { self.apply(); });
      self.selects[f] = s;
    });
    this.count = el("div", "", panel, "mj-count");
    var bGeo = el("button", T.export_geojson, panel, "mj-export-geojson");
    var bCsv = el("button", T.export_csv, panel, "mj-export-csv");
    search.addEventListener("input", function () {
      results.textContent = "";
      self.matches(search.value).slice(0, 50).forEach(function (i) {
        var firms = P.col.enterprises(i);
        var row = el("div", P.col.parcel_id(i) + (present(firms) ? " · " + firms : ""), results, "mj-hit");
        row.addEventListener("click", function () { self.zoomTo([i]); });
      });
    });
    bGeo.addEventListener("click", function () {
      download("parcels-filtered.geojson", "application/geo+json",
               JSON.stringify({type: "FeatureCollection", features: self.features()}));
    });
    bCsv.addEventListener("click", function () {
      var keys = self.P.export, rows = [keys.join(",")];
      self.shownSorted().forEach(function (i) {
        rows.push(keys.map(function (k) { return csvCell(self.exportValue(k, i)); }).join(","));
      });
      download("parcels-filtered.csv", "text/csv", "\ufeff" + rows.join("\n") + "\n");
    });
    L.DomEvent.disableClickPropagation(panel);
    L.DomEvent.disableScrollPropagation(panel);
    this.apply();
  };
  App.prototype.passes = function (i) {
    for (var f in this.selects) {
      var want = this.selects[f].value;
      if (want && this.values(f, i).indexOf(want) < 0) { return false; }
    }
    return true;
  };
  App.prototype.apply = function () {
    var P = this.parcels, n = 0;
    for (var i = 0; i < P.n; i++) { P.visible[i] = this.passes(i) ? 1 : 0; n += P.visible[i]; }
    this.count.textContent = fill(this.T.shown, {n: n});
    this.count.dataset.n = n;
    this.hideTip();
    this.redraw();
    return n;
  };
  App.prototype.matches = function (q) {
    var P = this.parcels, out = [];
    q = q.trim().toLowerCase();
    if (!q) { return out; }
    if (!this.searchText) {
      this.searchText = [];
      for (var i = 0; i < P.n; i++) {
        this.searchText.push([P.col.parcel_id(i), P.col.enterprises(i), P.col.uscc ? P.col.uscc(i) : ""]
          .join(" ").toLowerCase());
      }
    }
    for (var j = 0; j < P.n; j++) { if (this.searchText[j].indexOf(q) >= 0) { out.push(j); } }
    return out.sort(function (a, b) {
      var x = String(P.col.parcel_id(a)), y = String(P.col.parcel_id(b));
      return x < y ? -1 : x > y ? 1 : 0;
    });
  };
  App.prototype.zoomTo = function (idx) {
    var b = this.parcels.box, x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    idx.forEach(function (i) {
      x0 = Math.min(x0, b[4 * i]); y0 = Math.min(y0, b[4 * i + 1]);
      x1 = Math.max(x1, b[4 * i + 2]); y1 = Math.max(y1, b[4 * i + 3]);
    });
    if (!idx.length) { return; }
    var sw = this.map.unproject([x0, y1], 0), ne = this.map.unproject([x1, y0], 0);
    this.map.fitBounds(L.latLngBounds(sw, ne), {maxZoom: 17, animate: false});
    if (idx.length === 1) {
      this.showHighlight(idx[0]);
      var c = L.latLngBounds(sw, ne).getCenter();
      this.tooltip.setLatLng(c).setContent(this.tip(idx[0]));
      if (!this.map.hasLayer(this.tooltip)) { this.tooltip.addTo(this.map); }
    }
  };
  App.prototype.showZone = function (zone) {
    var s = this.selects.zone_id;
    if (s) { s.value = zone; }
    this.apply();
    var P = this.parcels, idx = [];
    for (var i = 0; i < P.n; i++) { if (P.visible[i]) { idx.push(i); } }
    this.map.closePopup();
    this.zoomTo(idx);
  };
  App.prototype.shownSorted = function () {
    var P = this.parcels, idx = [];
    for (var i = 0; i < P.n; i++) { if (P.visible[i]) { idx.push(i); } }
    return idx.sort(function (a, b) {
      var x = String(P.col.parcel_id(a)), y = String(P.col.parcel_id(b));
      return x < y ? -1 : x > y ? 1 : 0;
    });
  };
  App.prototype.exportValue = function (k, i) {
    var v = this.parcels.col[k](i);
    return v === undefined ? null : v;
  };
  App.prototype.features = function () {
    var self = this, P = this.parcels;
    return this.shownSorted().map(function (i) {
      var props = {};
      self.P.export.forEach(function (k) { props[k] = self.exportValue(k, i); });
      return {type: "Feature", properties: props, geometry: P.geometry(i)};
    });
  };
  App.prototype.drawn = function () {  // shapes drawn by each layer that is on
    var out = {};
    this.layers.forEach(function (l) { if (l._map) { out[l.theme.id] = l.drawn; } });
    return out;
  };
  App.prototype.cells = function () {  // grid cells drawn by each layer that is on
    var out = {};
    this.layers.forEach(function (l) { if (l._map) { out[l.theme.id] = l.cells; } });
    return out;
  };
  var formulasRaw = false;  // set from the page's data: [output] csv_formulas = "raw"
  function csvCell(v) {
    if (v === null || v === undefined) { return ""; }
    var s = String(v);
    // text that a spreadsheet would run as a formula starts with a quote (OWASP); numbers
    // stay numbers
    if (!formulasRaw && typeof v === "string" && /^[=+\-@\t\r]/.test(s)) { s = "'" + s; }
    return /[",\n\r]/.test(s) ? "\"" + s.replace(/"/g, "\"\"") + "\"" : s;
  }
  function download(name, type, text) {
    var a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], {type: type}));
    a.download = name;
    document.body.appendChild(a); a.click(); a.remove();
  }

  function syncLegends() {  // a legend block shows while its layer is on
    var on = {};
    document.querySelectorAll(".leaflet-control-layers-overlays label").forEach(function (lab) {
      var box = lab.querySelector("input");
      if (box) { on[lab.textContent.trim()] = box.checked; }
    });
    document.querySelectorAll(".mj-legend-block").forEach(function (block) {
      var title = block.querySelector("b").textContent.trim();
      if (title in on) { block.style.display = on[title] ? "" : "none"; }
    });
  }

  function inflate(b64) {  // gzip + base64 -> text, with the browser's own decompressor
    var stream = new Blob([bytes(b64)]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }

  window.MujunMap = {
    start: function (map, control, dataId) {
      var node = document.getElementById(dataId);
      if (typeof DecompressionStream === "undefined") {
        el("div", "This browser is too old for this map (needs Chrome/Edge 80+, Firefox 113+ " +
           "or Safari 16.4+). 此浏览器版本过旧，请使用新版 Chrome、Edge、Firefox 或 360 极速模式。",
           document.body, "mj-title");
        return Promise.reject(new Error("no DecompressionStream"));
      }
      return inflate(node.textContent.trim()).then(function (text) {
        var app = new App(map, control, JSON.parse(text));
        app.controls();
        var scale = app.P.scale || {imperial: false, metric: true};  // metres, or feet and miles
        L.control.scale({imperial: scale.imperial, metric: scale.metric, position: "bottomright"})
          .addTo(map);
        map.on("overlayadd overlayremove", function () { setTimeout(syncLegends, 0); });
        syncLegends();
        window.mujunMap = app;
        return app;
      });
    }
  };
})();

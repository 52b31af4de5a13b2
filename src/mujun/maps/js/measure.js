/*
 * measure.js: the distance and area measuring tool. A button in the panel's tools turns it
 * on (app.tool = "measure": popups.js then leaves clicks alone); each click on the map adds a
 * point, drawn as a line and, from three points, a polygon; the panel and a label at the last
 * point show the length, and from three points the perimeter and area (m², ha and the run's
 * area unit: 亩, acres). A double-click or Enter ends the shape (the next click starts a new
 * one), Esc clears it and leaves the tool.
 * Lengths and areas are on a sphere of the mean Earth radius: within about 0.3 % of the WGS84
 * ellipsoid's for lengths at mid latitudes, less for areas; plenty for a planner's measure.
 * Plain script assigning mj.measure (see the comment at the top of decode.js); its methods are
 * mixed into the App of main.js and its init(app) runs once the panel is built.
 */

const { el, fill } = mj.dom;

const R = 63710088 / 10; // m, the IUGG mean Earth radius (in metres)
const RAD = Math.PI / 180;
const SAME_PX = 4; // a click this close to the last point adds none (a double-click's clicks)

/** Great-circle distance in metres between two points (the haversine formula). */
function haversine(a, b) {
  const dp = (b.lat - a.lat) * RAD;
  const dl = (b.lng - a.lng) * RAD;
  const h =
    Math.sin(dp / 2) ** 2 + Math.cos(a.lat * RAD) * Math.cos(b.lat * RAD) * Math.sin(dl / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
}

/** Length in metres of the path through points (closed: back to the first). */
function pathLength(points, closed) {
  let m = 0;
  for (let k = 1; k < points.length; k++) {
    m += haversine(points[k - 1], points[k]);
  }
  if (closed && points.length > 2) {
    m += haversine(points[points.length - 1], points[0]);
  }
  return m;
}

/**
 * Area in m² of the spherical polygon with great-circle edges through points, by spherical
 * excess: each edge with the two meridians through its ends and the equator bounds a
 * quadrilateral whose excess E is given by
 *   tan(E/2) = tan(Δλ/2) · (tan(φ1/2) + tan(φ2/2)) / (1 + tan(φ1/2) · tan(φ2/2));
 * the signed sum of E over the edges is the polygon's excess, and its area is R² · |ΣE|
 * (see "Spherical trigonometry: area and spherical excess" in e.g. Wikipedia).
 */
function sphericalArea(points) {
  const n = points.length;
  if (n < 3) {
    return 0;
  }
  let excess = 0;
  for (let k = 0; k < n; k++) {
    const a = points[k];
    const b = points[(k + 1) % n];
    let dl = (b.lng - a.lng) * RAD;
    if (dl > Math.PI) {
      dl -= 2 * Math.PI;
    } else if (dl < -Math.PI) {
      dl += 2 * Math.PI;
    }
    const t1 = Math.tan((a.lat * RAD) / 2);
    const t2 = Math.tan((b.lat * RAD) / 2);
    excess += 2 * Math.atan2(Math.tan(dl / 2) * (t1 + t2), 1 + t1 * t2);
  }
  return Math.abs(excess) * R * R;
}

const methods = {
  /** A length in the page's words: metres below 1 km, else kilometres. */
  lengthText(m) {
    const T = this.T;
    if (m < 1000) {
      return fill(T.measure_m, { v: this.num1.format(m) });
    }
    return fill(T.measure_km, { v: this.num3.format(m / 1000) });
  },

  /** An area in m², ha and the run's area unit (亩 = 10000/15 m², acres). */
  areaText(m2) {
    const T = this.T;
    const unit = this.P.area_m2 || 10000 / 15;
    return fill(T.measure_area, {
      m2: fill(T.measure_m2, { v: this.num0.format(m2) }),
      ha: fill(T.measure_ha, { v: this.num.format(m2 / 1e4) }),
      u: fill(T.measure_in_area, { v: this.num.format(m2 / unit) }),
    });
  },

  /** The lines of the readout for the points so far. */
  measureLines() {
    const pts = this.measuring.points;
    const T = this.T;
    if (!pts.length) {
      return [T.measure_hint];
    }
    const lines = [fill(T.measure_length, { v: this.lengthText(pathLength(pts, false)) })];
    if (pts.length > 2) {
      lines.push(fill(T.measure_perimeter, { v: this.lengthText(pathLength(pts, true)) }));
      lines.push(this.areaText(sphericalArea(pts)));
    }
    return lines;
  },

  /** Redraw the line, the polygon, the points and the readouts. */
  drawMeasure() {
    const m = this.measuring;
    const pts = m.points;
    m.line.setLatLngs(pts);
    m.shape.setLatLngs(pts.length > 2 ? pts : []);
    m.dots.clearLayers();
    for (const p of pts) {
      L.circleMarker(p, {
        radius: 4,
        color: "#d84315",
        weight: 2,
        fillColor: "#fff",
        fillOpacity: 1,
        interactive: false,
      }).addTo(m.dots);
    }
    const lines = this.measureLines();
    this.measureOut.textContent = "";
    for (const line of lines) {
      el("div", line, this.measureOut, pts.length ? null : "mj-measure-hint");
    }
    if (pts.length) {
      const box = el("div", null, null, "mj-measure-tip-text");
      for (const line of lines.slice(0, pts.length > 2 ? 3 : 1)) {
        el("div", line, box);
      }
      m.tip.setLatLng(pts[pts.length - 1]).setContent(box);
      if (!this.map.hasLayer(m.tip)) {
        m.tip.addTo(this.map);
      }
    } else if (this.map.hasLayer(m.tip)) {
      this.map.removeLayer(m.tip);
    }
  },

  /** Turn the measuring tool on. */
  startMeasure() {
    if (this.measuring) {
      return;
    }
    const style = { color: "#d84315", weight: 3, interactive: false };
    this.measuring = {
      points: [],
      done: false,
      zoomOnDbl: this.map.doubleClickZoom.enabled(),
      line: L.polyline([], { ...style, dashArray: "6 4" }).addTo(this.map),
      shape: L.polygon([], { ...style, weight: 0, fillColor: "#ff8a65", fillOpacity: 0.25 }).addTo(
        this.map,
      ),
      dots: L.layerGroup().addTo(this.map),
      tip: L.tooltip({
        permanent: true,
        direction: "auto",
        offset: [8, 0],
        className: "mj-measure-tip",
      }),
    };
    this.tool = "measure";
    this.map.doubleClickZoom.disable();
    this.map.closePopup();
    this.hideTip();
    this.map.getContainer().classList.add("mj-measuring");
    this.measureButton.setAttribute("aria-pressed", "true");
    this.drawMeasure();
  },

  /** Clear the measure and leave the tool. */
  stopMeasure() {
    const m = this.measuring;
    if (!m) {
      return;
    }
    for (const layer of [m.line, m.shape, m.dots, m.tip]) {
      this.map.removeLayer(layer);
    }
    if (m.zoomOnDbl) {
      this.map.doubleClickZoom.enable();
    }
    this.measuring = null;
    if (this.tool === "measure") {
      this.tool = null;
    }
    this.map.getContainer().classList.remove("mj-measuring");
    this.measureButton.setAttribute("aria-pressed", "false");
    this.measureOut.textContent = "";
  },

  /** A click on the map while measuring: a new point (a new shape after one has ended). */
  measureClick(e) {
    const m = this.measuring;
    if (m.done) {
      m.points = [];
      m.done = false;
    }
    const last = m.points[m.points.length - 1];
    if (last) {
      const a = this.map.latLngToContainerPoint(last);
      if (a.distanceTo(e.containerPoint) < SAME_PX) {
        return;
      }
    }
    m.points.push(e.latlng);
    this.drawMeasure();
  },

  /** End the shape being measured (it stays drawn with its figures). */
  endMeasure() {
    if (this.measuring?.points.length) {
      this.measuring.done = true;
    }
  },
};

function init(app) {
  const T = app.T;
  const locale = app.P.lang === "zh" ? "zh-CN" : "en-US";
  const digits = (d) => ({ minimumFractionDigits: d, maximumFractionDigits: d });
  app.num0 = new Intl.NumberFormat(locale, digits(0));
  app.num3 = new Intl.NumberFormat(locale, digits(3));
  const sec = app.sections.tools;
  const b = el("button", T.measure, sec, "mj-measure");
  b.type = "button";
  b.setAttribute("aria-pressed", "false");
  app.measureButton = b;
  app.measureOut = el("div", null, sec, "mj-measure-out");
  app.measureOut.setAttribute("aria-live", "polite");
  b.addEventListener("click", () => (app.measuring ? app.stopMeasure() : app.startMeasure()));
  app.map.on("click", (e) => {
    if (app.measuring) {
      app.measureClick(e);
    }
  });
  app.map.on("dblclick", () => app.measuring && app.endMeasure());
  document.addEventListener("keydown", (e) => {
    if (!app.measuring || /^(INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName || "")) {
      return;
    }
    if (e.key === "Escape") {
      app.stopMeasure();
    } else if (e.key === "Enter") {
      app.endMeasure();
    }
  });
}

mj.measure = { haversine, init, methods, pathLength, sphericalArea };

/*
 * main.js: the running map. App decodes the payload's shape sets, adds one canvas layer per
 * theme and overlay (layers.js), and wires hover and click; its methods come from the modules
 * of MODULES. The panel lists the layers and the legend shows the theme and the overlays that
 * are on (legend.js), both by the layers' ids. MujunMap.start is what the page calls; Leaflet's
 * own layer control holds only the basemaps. Plain script (see the comment at the top of
 * decode.js); the last file joined, it sets window.MujunMap.
 *
 * window.mujunMap is the running map (used by the tests and the benchmark).
 */

const { notice } = mj.dom;

class App {
  constructor(map, control, P) {
    this.map = map;
    this.P = P;
    this.T = P.texts;
    this.areaCol = P.area_col; // the area in the preset's unit (mu, acres)
    const locale = P.lang === "zh" ? "zh-CN" : "en-US";
    const digits = (d) => ({ minimumFractionDigits: d, maximumFractionDigits: d });
    this.num = new Intl.NumberFormat(locale, digits(2));
    this.num1 = new Intl.NumberFormat(locale, digits(1));
    this.sets = {};
    for (const name of Object.keys(P.sets)) {
      this.sets[name] = new mj.decode.Shapes(P.sets[name].shapes, P.sets[name].cols);
    }
    this.parcels = this.sets.parcels;
    this.parcels.visible = new Uint8Array(this.parcels.n).fill(1);
    this.firms = P.firms ? this.firmIndex(P.firms) : null;
    this.listeners = [];
    this.baseControl = control; // Leaflet's control of the basemaps
    this.addLayers();
    this.highlight = null;
    this.tooltip = L.tooltip({ direction: "top", offset: [0, -6], opacity: 0.95 });
    this.hoverQueued = null;
    map.on("mousemove", (e) => {
      if (this.hoverQueued === null) {
        window.requestAnimationFrame(() => {
          const ev = this.hoverQueued;
          this.hoverQueued = null;
          this.hover(ev);
        });
      }
      this.hoverQueued = e;
    });
    map.on("mouseout", () => this.hideTip());
    map.on("click", (e) => this.click(e));
  }

  /** Each parcel's enterprises: offsets into the firm index, and the firm table's columns. */
  firmIndex(F) {
    const counts = mj.decode.varints(F.count);
    const col = {};
    for (const name of Object.keys(F.cols)) {
      col[name] = mj.decode.column(F.cols[name], F.n);
    }
    return {
      off: mj.decode.offsets(counts, this.parcels.n),
      index: mj.decode.varints(F.index),
      col,
    };
  }

  /** Call fn(app, what) after every change of what is shown: what is "theme", "overlay"
   * or "filter" (the permalink and the table listen). */
  onChange(fn) {
    this.listeners.push(fn);
  }

  changed(what) {
    for (const fn of this.listeners) {
      fn(this, what);
    }
  }
}

/** The modules whose methods App has, in the order of assets.PAGE_MODULES. */
const MODULES = [
  "layers",
  "legend",
  "popups",
  "zones",
  "panel",
  "find",
  "table",
  "share",
  "measure",
];
for (const name of MODULES) {
  Object.assign(App.prototype, mj[name].methods);
}

/** Run each module's init(app), once the panel exists. */
function initModules(app) {
  for (const name of MODULES) {
    if (mj[name].init) {
      mj[name].init(app);
    }
  }
}

function tooOld() {
  notice(
    "This browser is too old for this map (needs Chrome/Edge 80+, Firefox 113+ or Safari " +
      "16.4+). 此浏览器版本过旧，请使用新版 Chrome、Edge、Firefox 或 360 极速模式。",
  );
  return Promise.reject(new Error("no DecompressionStream"));
}

/** Say once, in the page's language, when basemap tiles fail (no network): the parcels are
 * drawn on their own canvas and do not need them. */
function watchBasemap(map, text) {
  let said = false;
  map.eachLayer((layer) => {
    if (layer instanceof L.TileLayer) {
      layer.on("tileerror", () => {
        if (!said && text) {
          said = true;
          const box = notice(text);
          box.classList.add("mj-basemap-failed");
          box.title = text;
          // a note, not an error: a click puts it away (it may sit over a small screen's panel)
          box.addEventListener("click", () => box.remove());
        }
      });
    }
  });
}

/** Start the map on Leaflet map `map` with its layer control, from the data element's id. */
function start(map, control, dataId) {
  if (typeof DecompressionStream === "undefined") {
    return tooOld();
  }
  const node = document.getElementById(dataId);
  return mj.decode
    .inflate(node.textContent.trim())
    .then((text) => {
      const app = new App(map, control, mj.decode.parsePayload(text));
      app.controls();
      initModules(app);
      const scale = app.P.scale; // metres, or feet and miles
      L.control
        .scale({ imperial: scale.imperial, metric: scale.metric, position: "bottomright" })
        .addTo(map);
      watchBasemap(map, app.T.basemap_failed);
      window.mujunMap = app;
      return app;
    })
    .catch((err) => {
      notice(err.message);
      throw err;
    });
}

mj.main = { App, start };
window.MujunMap = { start };

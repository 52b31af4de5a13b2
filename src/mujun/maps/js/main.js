/*
 * main.js: the running map. App decodes the payload's shape sets, adds one canvas layer per
 * theme and overlay (layers.js), and wires hover and click; its methods come from the modules
 * of MODULES. The panel lists the layers and the legend shows the theme and the overlays that
 * are on (legend.js), both by the layers' ids. MujunMap.start is what the page calls; Leaflet's
 * own layer control holds only the basemaps. Plain script (see the comment at the top of
 * decode.js); the last file joined, it sets window.MujunMap.
 *
 * The page's data comes in two parts (mujun.maps.payload.Payload.parts): start draws the first
 * view from the first (shapes, the layers' columns), then reads the rest (the other columns,
 * the firms, the lessees: most of the bytes) and builds the panel, the legend and the tools.
 * The performance marks "mj:first-view" and "mj:ready" say when (the benchmark reads them).
 *
 * window.mujunMap is the running map, set once it is ready (used by the tests and the
 * benchmark).
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
    this.firms = null;
    this.ready = false; // until complete(): no hover, no popup (their columns are not read)
    this.listeners = [];
    this.baseControl = control; // Leaflet's control of the basemaps
    this.addLayers();
    this.highlight = null;
    this.tooltip = L.tooltip({ direction: "top", offset: [0, -6], opacity: 0.95 });
    this.hoverQueued = null;
    map.on("mousemove", (e) => {
      if (!this.ready) {
        return;
      }
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
    map.on("click", (e) => this.ready && this.click(e));
  }

  /** Take the payload's second part R: the columns no layer draws, the firms, the lessees. */
  complete(R) {
    mj.decode.join(this.P, R);
    for (const name of Object.keys(R.sets || {})) {
      this.sets[name].addColumns(R.sets[name].cols);
    }
    this.firms = this.P.firms ? this.firmIndex(this.P.firms) : null;
    this.ready = true;
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

/** The modules whose methods App has: those of mj that export `methods`, in the order their
 * files ran (mujun.maps.assets.PAGE_MODULES, the one list of them; an object keeps the order
 * its keys were added in). */
const MODULES = Object.keys(mj).filter((name) => mj[name].methods);
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

/** A promise kept once the frame after this moment is painted (a hidden tab paints no frame:
 * then after 200 ms). */
function afterPaint() {
  return new Promise((resolve) => {
    window.requestAnimationFrame(() => setTimeout(resolve, 0));
    setTimeout(resolve, 200);
  });
}

/** Start the map on Leaflet map `map` with its layer control, from the ids of the data's two
 * elements: the first view is drawn from the first, the panel and the tools once the second
 * is read. */
function start(map, control, dataId, restId) {
  if (typeof DecompressionStream === "undefined") {
    return tooOld();
  }
  const data = (id) => mj.decode.inflate(document.getElementById(id).textContent.trim());
  let app = null;
  let reading = null; // where the panel will be: says the rest is on its way
  const movedEarly = () => {
    app.movedEarly = true; // the planner moved the map: a shared link's view is not forced back
  };
  return data(dataId)
    .then((text) => {
      // a shared link's view, theme and overlays from the first view on (its filters and
      // the rest of its state once the panel is built: share.js)
      const opened = mj.share.parseHash(window.location.hash);
      mj.share.openView(map, opened);
      app = new App(map, control, mj.decode.parsePayload(text));
      app.restoreLayers(opened);
      reading = mj.dom.el("div", app.T.reading, document.body, "mj-reading");
      const scale = app.P.scale; // metres, or feet and miles
      L.control
        .scale({ imperial: scale.imperial, metric: scale.metric, position: "bottomright" })
        .addTo(map);
      watchBasemap(map, app.T.basemap_failed);
      return afterPaint();
    })
    .then(() => {
      performance.mark("mj:first-view");
      map.once("movestart", movedEarly);
      return data(restId);
    })
    .then((text) => {
      map.off("movestart", movedEarly); // from here on the page moves it itself
      app.complete(mj.decode.parsePayload(text));
      app.controls();
      initModules(app);
      reading.remove();
      window.mujunMap = app;
      performance.mark("mj:ready");
      return app;
    })
    .catch((err) => {
      reading?.remove();
      notice(err.message);
      throw err;
    });
}

mj.main = { App, start };
window.MujunMap = { start };

/*
 * legend.js: the layer list and the legend. The panel's "layers" section lists the themes as
 * radio buttons (one shown) and the overlays as check boxes, each with its swatch; the legend
 * box shows the theme's classes (with how they were made and the number of parcels shown in
 * each) and a row for every overlay that is on. Legend rows of classes are buttons: a click
 * calls app.legendClick(layer id, class key) when the page has it (find.js). The panel and the
 * legend fold away (and start folded on small screens), so they never hide the map.
 * Plain script assigning mj.legend (see the comment at the top of decode.js); its methods are
 * mixed into the App of main.js.
 */

const { el, fill, present } = mj.dom;

const SMALL = 700; // px: narrower screens start with the panel and the legend folded

/** A swatch for a legend row or a layer entry: the layer's fill, outline and pattern. */
function swatch(parent, colour, t) {
  const sw = el("span", null, parent, "mj-sw");
  if (!t || t.kind === "num" || t.kind === "cat") {
    sw.style.background = colour;
    return sw;
  }
  sw.style.borderColor = t.stroke || colour;
  sw.style.borderWidth = `${Math.min(3, Math.max(1, t.weight || 1))}px`;
  sw.style.borderStyle = t.dash ? "dashed" : "solid";
  sw.style.background = "transparent";
  if (t.pattern) {
    sw.classList.add(`mj-pat-${t.pattern}`);
    sw.style.color = t.fill;
  }
  return sw;
}

/** A fold button: clicking it hides or shows `body`; `name` is its data-fold. */
function folder(parent, text, body, name, folded) {
  const b = el("button", text, parent, "mj-fold");
  b.type = "button";
  b.dataset.fold = name;
  const set = (f) => {
    body.hidden = f;
    b.setAttribute("aria-expanded", String(!f));
  };
  set(folded);
  b.addEventListener("click", () => set(!body.hidden));
  return b;
}

const methods = {
  /** The layer list in the panel's layers section. */
  layerList() {
    const T = this.T;
    const sec = this.sections.layers;
    const themes = this.layers.filter((l) => l.theme.role === "theme");
    const overlays = this.layers.filter((l) => l.theme.role === "overlay");
    this.layerInputs = {};
    el("div", T.themes, sec, "mj-head");
    for (const l of themes) {
      const t = l.theme;
      const row = el("label", null, sec, "mj-layer");
      row.dataset.layer = t.id;
      const input = el("input", null, row);
      input.type = "radio";
      input.name = "mj-theme";
      input.value = t.id;
      input.checked = t.id === this.themeId;
      input.addEventListener("change", () => this.setTheme(t.id));
      el("span", t.label, row);
      this.layerInputs[t.id] = input;
    }
    const list = el("div", null, null, "mj-overlay-list");
    if (overlays.length) {
      folder(sec, T.overlays, list, "overlays", false).classList.add("mj-head");
      sec.appendChild(list);
    }
    // listed top down: the last drawn (on top) first
    for (const l of [...overlays].reverse()) {
      const t = l.theme;
      const row = el("label", null, list, "mj-layer");
      row.dataset.layer = t.id;
      const input = el("input", null, row);
      input.type = "checkbox";
      input.value = t.id;
      input.checked = Boolean(l._map);
      input.addEventListener("change", () => this.setOverlay(t.id, input.checked));
      swatch(row, t.fill || t.stroke, t);
      el("span", t.label, row);
      this.layerInputs[t.id] = input;
    }
  },

  /** Number of parcels shown in each class of theme t (key -> n) and without a value. */
  classCounts(t) {
    const P = this.parcels;
    const counts = {};
    let none = 0;
    const get = P.col[t.col];
    for (let i = 0; i < P.n; i++) {
      if (!P.visible[i]) {
        continue;
      }
      const v = get ? get(i) : null;
      if (!present(v)) {
        none++;
        continue;
      }
      const key = t.kind === "num" ? mj.layers.bin(t.bins, v, t.closed === "left") : String(v);
      counts[key] = (counts[key] || 0) + 1;
    }
    return { counts, none };
  },

  /** Redraw the legend: the theme shown, then each overlay that is on, top down. */
  drawLegend() {
    const T = this.T;
    const box = this.legendBody;
    box.textContent = "";
    const theme = this.layer(this.themeId);
    if (theme?.theme.legend) {
      const t = theme.theme;
      const g = t.legend;
      const block = el("div", null, box, "mj-legend-block");
      block.dataset.layer = t.id;
      el("b", g.title, block);
      if (g.unit) {
        el("div", g.unit, block, "mj-unit");
      }
      if (g.scheme) {
        el("div", g.scheme, block, "mj-unit mj-scheme");
      }
      const { counts, none } = t.col ? this.classCounts(t) : { counts: {}, none: 0 };
      for (const r of g.rows) {
        const row = el("div", null, block, "mj-legend-row");
        row.dataset.layer = t.id;
        row.dataset.key = String(r.key);
        swatch(row, r.colour, t.kind === "outline" ? t : null);
        const n = counts[String(r.key)] || 0;
        // a row's words may place the count themselves ({n}), else it follows them
        const words = r.label.includes("{n}")
          ? fill(r.label, { n })
          : fill(T.row_count, { label: r.label, n });
        el("span", t.col ? words : r.label, row);
        if (t.col && this.legendClick) {
          row.classList.add("mj-clickable");
          row.tabIndex = 0;
          const pick = () => this.legendClick(t.id, r.key);
          row.addEventListener("click", pick);
          row.addEventListener("keydown", (e) => {
            if (e.key === "Enter" || e.key === " ") {
              e.preventDefault();
              pick();
            }
          });
        }
      }
      if (g.none && none) {
        const row = el("div", null, block, "mj-legend-row mj-none");
        row.dataset.layer = t.id;
        swatch(row, "#ffffff", { kind: "outline", stroke: "#9e9e9e", weight: 1 });
        el("span", fill(T.row_count, { label: g.none, n: none }), row);
      }
    }
    const on = this.layers.filter((l) => l.theme.role === "overlay" && l._map).reverse();
    if (on.length) {
      const block = el("div", null, box, "mj-legend-block mj-legend-overlays");
      for (const l of on) {
        const row = el("div", null, block, "mj-legend-row");
        row.dataset.layer = l.theme.id;
        swatch(row, l.theme.fill || l.theme.stroke, l.theme);
        el("span", l.theme.label, row);
      }
    }
  },
};

/** Leaflet's own controls' titles in the page's language. */
function titleControls(T) {
  const titles = {
    ".leaflet-control-zoom-in": T.zoom_in,
    ".leaflet-control-zoom-out": T.zoom_out,
    ".leaflet-control-layers-toggle": T.basemaps,
  };
  for (const selector of Object.keys(titles)) {
    for (const e of document.querySelectorAll(selector)) {
      e.title = titles[selector];
      e.setAttribute("aria-label", titles[selector]);
    }
  }
}

/** Build the layer list, the legend box and the fold buttons; keep them in step. */
function init(app) {
  const T = app.T;
  titleControls(T);
  app.map.on("popupopen", (e) => {
    const close = e.popup.getElement()?.querySelector(".leaflet-popup-close-button");
    if (close) {
      close.setAttribute("aria-label", T.close);
      close.title = T.close;
    }
  });
  const small = window.innerWidth < SMALL;
  const panel = app.panel;
  const body = el("div", null, null, "mj-panel-body");
  while (panel.firstChild) {
    body.appendChild(panel.firstChild);
  }
  folder(panel, T.panel, body, "panel", small);
  panel.appendChild(body);
  const legend = el("div", null, document.body, "mj-legend");
  app.legendBody = el("div", null, null, "mj-legend-body");
  folder(legend, T.legend, app.legendBody, "legend", small);
  legend.appendChild(app.legendBody);
  L.DomEvent.disableClickPropagation(legend);
  L.DomEvent.disableScrollPropagation(legend);
  app.layerList();
  app.drawLegend();
  app.onChange(() => {
    for (const l of app.layers) {
      const input = app.layerInputs[l.theme.id];
      if (input) {
        input.checked = Boolean(l._map);
      }
    }
    app.drawLegend();
  });
}

mj.legend = { init, methods, swatch };

/*
 * share.js: the permalink and the print layout.
 *
 * Permalink: the view (z, c), the theme (t), the overlays shown (o) and the filter menus (f)
 * live in the URL hash, e.g. #z=14&c=<lat>,<lng>&t=tax&o=zones,parks&f=park:X, each
 * value URL-encoded; it is rewritten with history.replaceState after every move and change,
 * and read back when the page opens (or the hash is edited). Other parts add their own keys
 * with app.registerState(key, get, set). A value the page does not know (a layer id it lacks,
 * a menu value no option has, a number out of range, text that is not valid URL encoding) is
 * ignored: hash values are only compared with known ids and options, never run or shown.
 *
 * Print: the paper (A4 or A3, landscape) sets the page's @page size; before printing (the
 * button, or the browser's own print) the map is sized to the sheet, keeping its centre and
 * zoom, so the scale bar holds on paper; the print stylesheet (share.css) shows the title,
 * the date, the source, the legend, the scale bar and a north arrow, and hides the panel,
 * search, zoom buttons and layer control. After printing the map returns to the window.
 * Plain script assigning mj.share (see the comment at the top of decode.js); its methods are
 * mixed into the App of main.js and its init(app) runs once the panel is built.
 */

const { el, fill } = mj.dom;

const KEYS = ["z", "c", "t", "o", "f"];
const NAME = /^[A-Za-z0-9_-]+$/;

/** Printable area of each paper, landscape, in mm (the sheet less MARGIN_MM each side). */
const PAPERS = { A4: [297, 210], A3: [420, 297] };
const MARGIN_MM = 6;

/** The hash's pairs: key -> list of decoded values; bad encoding drops that pair. */
function parseHash(hash) {
  const out = {};
  for (const pair of hash.replace(/^#/, "").split("&")) {
    const at = pair.indexOf("=");
    if (at <= 0) {
      continue;
    }
    const key = pair.slice(0, at);
    if (!NAME.test(key)) {
      continue;
    }
    try {
      out[key] = pair
        .slice(at + 1)
        .split(",")
        .map((v) => decodeURIComponent(v));
    } catch {
      // not valid URL encoding: left out
    }
  }
  return out;
}

/** One hash pair: key=v1,v2 with each value URL-encoded (`encoded`: they already are). */
function pair(key, values, encoded) {
  return `${key}=${(encoded ? values : values.map((v) => encodeURIComponent(v))).join(",")}`;
}

/** Set map to the zoom (z) and centre (c) of hash pairs h, where they are valid. */
function openView(map, h) {
  const z = h.z ? Number(h.z[0]) : Number.NaN;
  const c = h.c && h.c.length === 2 ? h.c.map(Number) : null;
  const zoomOk = Number.isInteger(z) && z >= map.getMinZoom() && z <= map.getMaxZoom();
  const centreOk =
    c &&
    Number.isFinite(c[0]) &&
    Number.isFinite(c[1]) &&
    Math.abs(c[0]) <= L.Projection.SphericalMercator.MAX_LATITUDE &&
    Math.abs(c[1]) <= 180;
  if (zoomOk || centreOk) {
    map.setView(centreOk ? c : map.getCenter(), zoomOk ? z : map.getZoom(), { animate: false });
  }
}

/** The north arrow (the map is north-up): an SVG drawn here, no markup from elsewhere. */
function northArrow(parent) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 40 56");
  svg.setAttribute("width", "40");
  svg.setAttribute("height", "56");
  svg.classList.add("mj-north");
  const part = (tag, attrs) => {
    const e = document.createElementNS(ns, tag);
    for (const k of Object.keys(attrs)) {
      e.setAttribute(k, attrs[k]);
    }
    svg.appendChild(e);
    return e;
  };
  part("polygon", { points: "20,14 30,52 20,44", fill: "#222" });
  part("polygon", {
    points: "20,14 10,52 20,44",
    fill: "#fff",
    stroke: "#222",
    "stroke-width": "1.5",
  });
  part("text", {
    x: "20",
    y: "12",
    "text-anchor": "middle",
    "font-size": "12",
    "font-weight": "bold",
    "font-family": "sans-serif",
  }).textContent = "N";
  parent.appendChild(svg);
  return svg;
}

const methods = {
  /**
   * Keep part of the page's state in the permalink under `key` (letters, digits, _ or -):
   * get() returns a string, a list of strings or null (nothing to keep); set(values) gets the
   * list of decoded strings from the hash and must ignore what it does not know.
   */
  registerState(key, get, set) {
    if (!NAME.test(key) || KEYS.includes(key)) {
      throw new Error(`permalink key ${JSON.stringify(key)} is taken or not a plain name`);
    }
    this.stateParts = this.stateParts || {};
    this.stateParts[key] = { get, set };
    if (this.shareReady) {
      // the link the page was opened with: its keys for parts added later are still there
      const values = parseHash(this.openedHash)[key];
      if (values) {
        set(values);
      }
      this.writeHash();
    }
  },

  /** The permalink's hash for what the page shows now. */
  permalink() {
    const map = this.map;
    const c = map.getCenter();
    const parts = [pair("z", [String(map.getZoom())])];
    parts.push(pair("c", [c.lat.toFixed(6), c.lng.toFixed(6)]));
    if (this.themeId) {
      parts.push(pair("t", [this.themeId]));
    }
    parts.push(pair("o", this.overlaysOn()));
    const f = [];
    for (const field of Object.keys(this.selects)) {
      const v = this.selects[field].value;
      if (v) {
        f.push(`${field}:${encodeURIComponent(v)}`);
      }
    }
    if (f.length) {
      parts.push(pair("f", f, true)); // field:value, the value encoded: f=park:%E5%8C%97...
    }
    for (const key of Object.keys(this.stateParts || {})) {
      const v = this.stateParts[key].get();
      if (v !== null && v !== undefined && v !== "" && !(Array.isArray(v) && !v.length)) {
        parts.push(pair(key, (Array.isArray(v) ? v : [v]).map(String)));
      }
    }
    return `#${parts.join("&")}`;
  },

  writeHash() {
    if (this.restoring) {
      return;
    }
    const hash = this.permalink();
    if (hash !== window.location.hash) {
      window.history.replaceState(window.history.state, "", hash);
    }
  },

  /** Show what a permalink's hash says; what it does not name stays as it is. With `view`
   * false the map stays where it is (the planner moved it while the page was still reading
   * its data: start in main.js). */
  restore(hash, view = true) {
    const h = parseHash(hash);
    this.restoring = true;
    try {
      this.restoreLayers(h);
      this.restoreFilters(h.f);
      for (const key of Object.keys(this.stateParts || {})) {
        if (h[key]) {
          this.stateParts[key].set(h[key]);
        }
      }
      if (view) {
        openView(this.map, h);
      }
    } finally {
      this.restoring = false;
    }
    this.writeHash();
  },

  restoreLayers(h) {
    if (h.t) {
      const l = this.layer(h.t[0]);
      if (l && l.theme.role === "theme") {
        this.setTheme(l.theme.id);
      }
    }
    if (h.o) {
      const want = new Set(h.o);
      for (const l of this.layers) {
        if (l.theme.role === "overlay") {
          this.setOverlay(l.theme.id, want.has(l.theme.id));
        }
      }
    }
  },

  restoreFilters(f) {
    if (!f) {
      return;
    }
    const want = {};
    for (const item of f) {
      const at = item.indexOf(":");
      if (at > 0) {
        want[item.slice(0, at)] = item.slice(at + 1);
      }
    }
    for (const field of Object.keys(this.selects)) {
      const s = this.selects[field];
      const v = want[field];
      // only a value one of the menu's options has
      s.value = v !== undefined && [...s.options].some((o) => o.value === v) ? v : "";
    }
    this.apply();
  },

  /** Copy the permalink; say so beside the button (or show the link to copy by hand). */
  copyLink(note) {
    this.writeHash();
    const url = window.location.href;
    const said = (text) => {
      note.textContent = text;
      clearTimeout(this.copyTimer);
      this.copyTimer = setTimeout(() => {
        note.textContent = "";
      }, 4000);
    };
    const byHand = () => {
      const box = el("input", null, null, "mj-link-box");
      box.value = url;
      box.readOnly = true;
      note.textContent = "";
      note.appendChild(box);
      box.select();
    };
    if (navigator.clipboard?.writeText) {
      navigator.clipboard.writeText(url).then(() => said(this.T.link_copied), byHand);
    } else {
      byHand();
    }
  },

  /** The print sheet's head (title, date, source, what is shown) and north arrow: made while
   * printing only (the source names input files, words of neither language). */
  printHead() {
    const T = this.T;
    const head = el("div", null, document.body, "mj-print-head");
    this.printParts = [head, el("div", null, document.body, "mj-print-north")];
    const title = document.querySelector(".mj-title");
    el("div", title ? title.textContent : "", head, "mj-print-title");
    if (this.P.made) {
      el("div", fill(T.print_made, { d: this.P.made }), head, "mj-print-made");
    }
    if (this.P.source) {
      el("div", fill(T.print_source, { v: this.P.source }), head, "mj-print-source");
    }
    el("div", this.printSummary(), head, "mj-print-shown");
    northArrow(this.printParts[1]);
  },

  /** What the sheet says is shown: the filters chosen and the count. */
  printSummary() {
    const parts = [];
    for (const field of Object.keys(this.selects)) {
      const s = this.selects[field];
      if (s.value) {
        parts.push(s.options[s.selectedIndex].textContent);
      }
    }
    parts.push(this.count.textContent);
    return parts.join(this.T.sep);
  },

  /** Use paper (A4 or A3, landscape) for printing: the @page size and the map's size. */
  setPaper(paper) {
    const size = PAPERS[paper] ? paper : "A4";
    this.paper = size;
    this.pageStyle.textContent = `@page{size:${size} landscape;margin:${MARGIN_MM}mm}`;
  },

  /** Size the map to the sheet, keeping its centre and zoom (before printing). */
  printLayout() {
    if (this.printing) {
      return;
    }
    const [w, h] = PAPERS[this.paper];
    this.printing = { centre: this.map.getCenter(), zoom: this.map.getZoom() };
    this.printHead();
    const box = this.map.getContainer();
    document.body.classList.add("mj-printing");
    box.style.width = `${w - 2 * MARGIN_MM}mm`;
    box.style.height = `${h - 2 * MARGIN_MM}mm`;
    this.map.invalidateSize({ pan: false });
    this.map.setView(this.printing.centre, this.printing.zoom, { animate: false });
    // Chromium prints a large canvas painted inside beforeprint blank: each layer goes on
    // the sheet as an image of its canvas instead
    for (const c of box.querySelectorAll("canvas")) {
      const img = document.createElement("img");
      img.src = c.toDataURL("image/png");
      img.style.cssText = c.style.cssText;
      img.style.position = "absolute";
      img.className = "mj-print-canvas";
      c.parentElement.insertBefore(img, c);
      c.classList.add("mj-print-hidden");
      this.printParts.push(img);
    }
  },

  /** Back to the window after printing. */
  screenLayout() {
    if (!this.printing) {
      return;
    }
    const { centre, zoom } = this.printing;
    this.printing = null;
    for (const e of this.printParts) {
      e.remove();
    }
    for (const c of document.querySelectorAll("canvas.mj-print-hidden")) {
      c.classList.remove("mj-print-hidden");
    }
    const box = this.map.getContainer();
    document.body.classList.remove("mj-printing");
    box.style.width = "";
    box.style.height = "";
    this.map.invalidateSize({ pan: false });
    this.map.setView(centre, zoom, { animate: false });
  },
};

/** A finite number from hash text, or null. */
function number(text) {
  const v = text === "" || text === undefined ? Number.NaN : Number(text);
  return Number.isFinite(v) ? v : null;
}

/**
 * The find helper's filters in the permalink: g=column,lowest,below (the figure filter) and
 * l=layer,key (a legend class), set through its own methods as the panel would.
 */
function findState(app) {
  if (app.setFigureFilter) {
    app.registerState(
      "g",
      () => {
        const f = app.fig;
        return f?.col ? [f.col, f.lowest ?? "", f.below ?? ""] : null;
      },
      ([col, lowest, below]) => {
        if (app.P.figures.some((f) => f[1] === col)) {
          app.setFigureFilter({ col, lowest: number(lowest), below: number(below) });
        }
      },
    );
  }
  if (app.legendClick) {
    app.registerState(
      "l",
      () => (app.legendFilter ? [app.legendFilter.layer, app.legendFilter.key] : null),
      ([layer, key]) => {
        const cur = app.legendFilter;
        if (app.layer(layer) && key !== undefined && !(cur?.layer === layer && cur.key === key)) {
          app.legendClick(layer, key); // it checks that key is a class of the layer
        }
      },
    );
  }
}

/** The tools: copy link, paper and print. */
function tools(app) {
  const T = app.T;
  const sec = app.sections.tools;
  const row = el("div", null, sec, "mj-share");
  const copy = el("button", T.copy_link, row, "mj-copy-link");
  copy.type = "button";
  const note = el("span", "", row, "mj-link-note");
  note.setAttribute("role", "status");
  copy.addEventListener("click", () => app.copyLink(note));
  const prow = el("div", null, sec, "mj-print-row");
  const paper = el("select", null, prow, "mj-paper");
  paper.setAttribute("aria-label", T.paper);
  paper.title = T.paper;
  for (const p of Object.keys(PAPERS)) {
    el("option", fill(T.paper_size, { p }), paper).value = p;
  }
  paper.addEventListener("change", () => app.setPaper(paper.value));
  const print = el("button", T.print, prow, "mj-print");
  print.type = "button";
  print.addEventListener("click", () => {
    app.setPaper(paper.value);
    window.print();
  });
}

function init(app) {
  app.pageStyle = el("style", null, document.head);
  app.setPaper("A4");
  tools(app);
  window.addEventListener("beforeprint", () => app.printLayout());
  window.addEventListener("afterprint", () => app.screenLayout());
  findState(app);
  app.shareReady = true;
  app.openedHash = window.location.hash;
  app.restore(app.openedHash, !app.movedEarly);
  app.map.on("moveend", () => {
    if (!app.printing) {
      app.writeHash();
    }
  });
  app.onChange(() => app.writeHash());
  window.addEventListener("hashchange", () => {
    app.openedHash = window.location.hash;
    app.restore(app.openedHash);
  });
}

mj.share = { init, methods, openView, parseHash };

/*
 * decode.js: the map's data, from the page's element to typed arrays (see mujun/maps/encode.py
 * for the encoding and mujun/maps/payload.py for the schema).
 *
 * How the page's script is built: every file in this folder is a plain script whose only
 * effect is to assign its exports into the shared namespace object `mj` (mj.decode, mj.dom,
 * mj.layers, mj.popups, mj.panel, ..., mj.main). mujun/maps/assets.py:page_script concatenates them
 * in a fixed order, each in its own block, inside one function that declares `mj`; no bundler.
 * This file uses no DOM and no Leaflet, so node's tests (tests/js/) run it alone with
 * vm.compileFunction(code, ["mj"]).
 */

/** The payload version this script reads: mujun.maps.payload.SCHEMA_VERSION. */
const SCHEMA_VERSION = 4;

/** Base64 to bytes (the browser's own decoder where it has one: Chrome 140+, Firefox 133+,
 * Safari 18.2+; 60 MB of a 1,000,000-parcel page took 0.2 s the other way). */
function bytes(b64) {
  if (typeof Uint8Array.fromBase64 === "function") {
    return Uint8Array.fromBase64(b64);
  }
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    out[i] = s.charCodeAt(i);
  }
  return out;
}

/** LEB128 varints (7 bits a byte, low group first) in base64, exact up to 2**53. */
function varints(b64) {
  const b = bytes(b64);
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    if (b[i] < 128) {
      n++;
    }
  }
  const out = new Float64Array(n);
  let v = 0;
  let mul = 1;
  let j = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    v += (c & 127) * mul;
    if (c < 128) {
      out[j++] = v;
      v = 0;
      mul = 1;
    } else {
      mul *= 128;
    }
  }
  return out;
}

/** Zigzag-mapped value back to a signed integer (0 1 2 3 ... -> 0 -1 1 -2 ...). */
function unzigzag(z) {
  return z % 2 ? -(z + 1) / 2 : z / 2;
}

/** Zigzag deltas of x0 y0 x1 y1 ... to the quantised integers. */
function coords(b64) {
  const d = varints(b64);
  const out = new Float64Array(d.length);
  let x = 0;
  let y = 0;
  for (let i = 0; i < d.length; i += 2) {
    x += unzigzag(d[i]);
    y += unzigzag(d[i + 1]);
    out[i] = x;
    out[i + 1] = y;
  }
  return out;
}

/** One encoded column (encode.encode_column) as a function of the row giving value or null. */
function column(c, n) {
  if (c.k === "num" || c.k === "str") {
    return (i) => c.v[i];
  }
  if (c.k === "cat") {
    return (i) => {
      const k = c.codes[i];
      return k < 0 ? null : c.dict[k];
    };
  }
  const b = bytes(c.bits);
  return (i) => i < n && ((b[i >> 3] >> (i & 7)) & 1) === 1;
}

const D2R = Math.PI / 180;

/** Web Mercator pixels at zoom 0 (256 px world). */
function worldX(lon) {
  return ((lon + 180) / 360) * 256;
}
function worldY(lat) {
  const s = Math.sin(lat * D2R);
  return (0.5 - Math.log((1 + s) / (1 - s)) / (4 * Math.PI)) * 256;
}

/** Cumulative offsets (length n + 1) of counts. */
function offsets(counts, n) {
  const off = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) {
    off[i + 1] = off[i] + counts[i];
  }
  return off;
}

/** Whether box k of boxes b (x0 y0 x1 y1 each, world pixels) is wholly outside view. */
function outside(b, k, view) {
  return (
    b[4 * k] > view.x1 || b[4 * k + 2] < view.x0 || b[4 * k + 1] > view.y1 || b[4 * k + 3] < view.y0
  );
}

/** Most vertices a shape set keeps decoded: past it, the tiles used longest ago go (about
 * 32 bytes a vertex; a 1,000,000-parcel map has some 4,000,000). */
const MAX_VERTICES = 2000000;

/**
 * A shape set: offsets of polygons per shape, rings per polygon and vertices per ring; a box
 * per shape in world pixels; its columns as functions of the row; and its vertices in tiles
 * (runs of shapes, encode.encode_shapes), each decoded the first time one of its shapes is
 * drawn or read (true and drawn vertices, quantised; the drawn ones in world pixels) and kept
 * in a cache of at most MAX_VERTICES vertices.
 */
class Shapes {
  constructor(enc, cols, maxVertices = MAX_VERTICES) {
    const n = enc.n;
    this.n = n;
    this.enc = enc;
    const parts = varints(enc.parts);
    const rings = varints(enc.rings);
    const verts = varints(enc.verts);
    this.scale = 10 ** enc.precision;
    this.polyOff = offsets(parts, n); // polygons of shape i
    this.ringOff = offsets(rings, parts.length ? rings.length : 0); // rings of polygon p
    this.vertOff = offsets(verts, verts.length); // vertices of ring r
    this.box = this._boxes(varints(enc.box), 2 ** enc.tile_zoom);
    this._tiles(varints(enc.tiles));
    this.maxVertices = maxVertices;
    this.cache = new Map(); // tile -> decoded vertices, least recently used first
    this.cached = 0; // vertices in the cache
    this.decodes = 0; // tiles decoded so far (tests and the benchmark)
    this.col = {};
    this.cols = {};
    this.addColumns(cols);
    this.visible = null; // Uint8Array of the filters, parcels only
  }

  /** Add encoded columns (the payload's second part brings the ones no layer draws). */
  addColumns(cols) {
    for (const name of Object.keys(cols)) {
      this.cols[name] = cols[name];
      this.col[name] = column(cols[name], this.n);
    }
  }

  /** Boxes (x0 y0 x1 y1, world pixels) from zigzag steps of (x0, y0) and sizes, in pixels of
   * the tile zoom (side 2**zoom worlds). */
  _boxes(v, side) {
    const box = new Float64Array(4 * this.n);
    let x = 0;
    let y = 0;
    for (let i = 0; i < this.n; i++) {
      x += unzigzag(v[4 * i]);
      y += unzigzag(v[4 * i + 1]);
      box[4 * i] = x / side;
      box[4 * i + 1] = y / side;
      box[4 * i + 2] = (x + v[4 * i + 2]) / side;
      box[4 * i + 3] = (y + v[4 * i + 3]) / side;
    }
    return box;
  }

  /** Each tile's shapes (tileOff), each shape's tile (tileOf) and each tile's box. */
  _tiles(counts) {
    const nt = counts.length;
    this.tileOff = offsets(counts, nt);
    this.tileOf = new Int32Array(this.n);
    this.tileBox = new Float64Array(4 * nt);
    const b = this.box;
    for (let t = 0; t < nt; t++) {
      const tb = [
        Number.POSITIVE_INFINITY,
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
      ];
      for (let i = this.tileOff[t]; i < this.tileOff[t + 1]; i++) {
        this.tileOf[i] = t;
        tb[0] = Math.min(tb[0], b[4 * i]);
        tb[1] = Math.min(tb[1], b[4 * i + 1]);
        tb[2] = Math.max(tb[2], b[4 * i + 2]);
        tb[3] = Math.max(tb[3], b[4 * i + 3]);
      }
      this.tileBox.set(tb, 4 * t);
    }
    this.tiles = nt;
  }

  /** The vertices of tile t (decoding it if it is not in the cache): v0, its first vertex in
   * the set; q and qd, the true and drawn quantised coordinates; w, the drawn ones in world
   * pixels. */
  tile(t) {
    let d = this.cache.get(t);
    if (d) {
      this.cache.delete(t); // most recently used last
      this.cache.set(t, d);
      return d;
    }
    const enc = this.enc;
    const v0 = this.vertOff[this.ringOff[this.polyOff[this.tileOff[t]]]];
    const v1 = this.vertOff[this.ringOff[this.polyOff[this.tileOff[t + 1]]]];
    const m = v1 - v0;
    const q = coords(enc.xy[t]).subarray(0, 2 * m);
    const qd = enc.xy_display ? coords(enc.xy_display[t]).subarray(0, 2 * m) : q;
    const w = new Float64Array(2 * m);
    for (let k = 0; k < m; k++) {
      w[2 * k] = worldX(qd[2 * k] / this.scale);
      w[2 * k + 1] = worldY(qd[2 * k + 1] / this.scale);
    }
    d = { v0, q, qd, w };
    this.decodes++;
    this.cache.set(t, d);
    this.cached += m;
    for (const [old, o] of this.cache) {
      if (this.cached <= this.maxVertices || old === t) {
        break;
      }
      this.cache.delete(old);
      this.cached -= o.w.length / 2;
    }
    return d;
  }

  /** The tiles decoded and kept, least recently used first. */
  decoded() {
    return Array.from(this.cache.keys());
  }

  /** Call fn(i) for each shape whose box meets view {x0, y0, x1, y1} (world pixels), tile by
   * tile: only tiles whose box meets the view are looked at. */
  eachInView(view, fn) {
    for (let t = 0; t < this.tiles; t++) {
      if (outside(this.tileBox, t, view)) {
        continue;
      }
      for (let i = this.tileOff[t]; i < this.tileOff[t + 1]; i++) {
        if (!outside(this.box, i, view)) {
          fn(i);
        }
      }
    }
  }

  /** The first and one past the last ring of shape i. */
  rings(i) {
    return [this.ringOff[this.polyOff[i]], this.ringOff[this.polyOff[i + 1]]];
  }

  /** Add shape i to a canvas path at scale s, offset by (ox, oy) pixels. */
  trace(path, i, s, ox, oy) {
    const d = this.tile(this.tileOf[i]);
    const w = d.w;
    const [r0, r1] = this.rings(i);
    for (let ring = r0; ring < r1; ring++) {
      const v0 = this.vertOff[ring] - d.v0;
      const v1 = this.vertOff[ring + 1] - d.v0;
      if (v1 - v0 < 3) {
        continue;
      }
      path.moveTo(w[2 * v0] * s - ox, w[2 * v0 + 1] * s - oy);
      for (let k = v0 + 1; k < v1; k++) {
        path.lineTo(w[2 * k] * s - ox, w[2 * k + 1] * s - oy);
      }
      path.closePath();
    }
  }

  /** Whether world pixel (x, y) is inside shape i: even-odd over every ring. */
  contains(i, x, y) {
    const b = this.box;
    if (x < b[4 * i] || x > b[4 * i + 2] || y < b[4 * i + 1] || y > b[4 * i + 3]) {
      return false;
    }
    const d = this.tile(this.tileOf[i]);
    const w = d.w;
    const [r0, r1] = this.rings(i);
    let inside = false;
    for (let ring = r0; ring < r1; ring++) {
      const v0 = this.vertOff[ring] - d.v0;
      const v1 = this.vertOff[ring + 1] - d.v0;
      for (let k = v0, j = v1 - 1; k < v1; j = k++) {
        const xk = w[2 * k];
        const yk = w[2 * k + 1];
        const xj = w[2 * j];
        const yj = w[2 * j + 1];
        if (yk > y !== yj > y && x < ((xj - xk) * (y - yk)) / (yj - yk) + xk) {
          inside = !inside;
        }
      }
    }
    return inside;
  }

  /** Shape i as an RFC 7946 geometry: true coordinates, closed rings. */
  geometry(i) {
    const d = this.tile(this.tileOf[i]);
    const q = d.q;
    const s = this.scale;
    const polys = [];
    for (let p = this.polyOff[i]; p < this.polyOff[i + 1]; p++) {
      const rs = [];
      for (let ring = this.ringOff[p]; ring < this.ringOff[p + 1]; ring++) {
        const pts = [];
        for (let k = this.vertOff[ring] - d.v0; k < this.vertOff[ring + 1] - d.v0; k++) {
          pts.push([q[2 * k] / s, q[2 * k + 1] / s]);
        }
        if (pts.length) {
          pts.push(pts[0].slice());
        }
        rs.push(pts);
      }
      polys.push(rs);
    }
    return polys.length === 1
      ? { type: "Polygon", coordinates: polys[0] }
      : { type: "MultiPolygon", coordinates: polys };
  }

  /** The rings of shape i as drawn, [lat, lon] open rings, for Leaflet's highlight. */
  latlngs(i) {
    const d = this.tile(this.tileOf[i]);
    const q = d.qd;
    const s = this.scale;
    const out = [];
    const [r0, r1] = this.rings(i);
    for (let ring = r0; ring < r1; ring++) {
      const pts = [];
      for (let k = this.vertOff[ring] - d.v0; k < this.vertOff[ring + 1] - d.v0; k++) {
        pts.push([q[2 * k + 1] / s, q[2 * k] / s]);
      }
      out.push(pts);
    }
    return out;
  }
}

/** gzip + base64 to text, with the browser's own decompressor (a promise). */
function inflate(b64) {
  const stream = new Blob([bytes(b64)]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Response(stream).text();
}

/** Why this script cannot read payload P (a message in both languages), or null if it can. */
function schemaProblem(P) {
  const found = P && typeof P === "object" ? P.schema_version : undefined;
  if (found === SCHEMA_VERSION) {
    return null;
  }
  return (
    `This map's data is in format version ${found === undefined ? "(none)" : found}, but its ` +
    `script reads version ${SCHEMA_VERSION}: the page was put together from two versions of ` +
    "mujun. Make the map again with one mujun version. " +
    `地图数据格式版本为 ${found === undefined ? "（无）" : found}，页面脚本只能读取版本 ` +
    `${SCHEMA_VERSION}：请用同一版本的 mujun 重新生成地图。`
  );
}

/** The payload's JSON text to the payload; throws with schemaProblem's message. */
function parsePayload(text) {
  const P = JSON.parse(text);
  const problem = schemaProblem(P);
  if (problem) {
    throw new Error(problem);
  }
  return P;
}

/** The payload of its two parts (mujun.maps.payload.join): the rest's columns added to their
 * sets' in P, its other keys (firms, lessees) to P's. Changes and returns P. */
function join(P, R) {
  for (const name of Object.keys(R.sets || {})) {
    Object.assign(P.sets[name].cols, R.sets[name].cols);
  }
  for (const key of Object.keys(R)) {
    if (key !== "sets" && key !== "schema_version") {
      P[key] = R[key];
    }
  }
  return P;
}

mj.decode = {
  MAX_VERTICES,
  SCHEMA_VERSION,
  Shapes,
  bytes,
  column,
  coords,
  inflate,
  join,
  offsets,
  parsePayload,
  schemaProblem,
  unzigzag,
  varints,
  worldX,
  worldY,
};

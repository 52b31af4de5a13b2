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
const SCHEMA_VERSION = 2;

/** Base64 to bytes. */
function bytes(b64) {
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

/**
 * A decoded shape set: offsets of polygons per shape, rings per polygon and vertices per ring;
 * the true (exported) and drawn vertices, quantised; the drawn ones in world pixels; a box per
 * shape in world pixels; and its columns as functions of the row.
 */
class Shapes {
  constructor(enc, cols) {
    const n = enc.n;
    this.n = n;
    const parts = varints(enc.parts);
    const rings = varints(enc.rings);
    const verts = varints(enc.verts);
    this.scale = 10 ** enc.precision;
    this.polyOff = offsets(parts, n); // polygons of shape i
    this.ringOff = offsets(rings, parts.length ? rings.length : 0); // rings of polygon p
    this.vertOff = offsets(verts, verts.length); // vertices of ring r
    this.q = coords(enc.xy); // exported (true) coordinates
    this.qd = enc.xy_display ? coords(enc.xy_display) : this.q; // drawn coordinates
    const m = this.qd.length / 2;
    const w = new Float64Array(2 * m);
    this.w = w;
    for (let k = 0; k < m; k++) {
      w[2 * k] = worldX(this.qd[2 * k] / this.scale);
      w[2 * k + 1] = worldY(this.qd[2 * k + 1] / this.scale);
    }
    this.box = this._boxes();
    this.col = {};
    for (const name of Object.keys(cols)) {
      this.col[name] = column(cols[name], n);
    }
    this.cols = cols;
    this.visible = null; // Uint8Array of the filters, parcels only
  }

  _boxes() {
    const w = this.w;
    const box = new Float64Array(4 * this.n);
    for (let i = 0; i < this.n; i++) {
      const v0 = this.vertOff[this.ringOff[this.polyOff[i]]];
      const v1 = this.vertOff[this.ringOff[this.polyOff[i + 1]]];
      let x0 = Number.POSITIVE_INFINITY;
      let y0 = Number.POSITIVE_INFINITY;
      let x1 = Number.NEGATIVE_INFINITY;
      let y1 = Number.NEGATIVE_INFINITY;
      for (let k = v0; k < v1; k++) {
        x0 = Math.min(x0, w[2 * k]);
        x1 = Math.max(x1, w[2 * k]);
        y0 = Math.min(y0, w[2 * k + 1]);
        y1 = Math.max(y1, w[2 * k + 1]);
      }
      box.set([x0, y0, x1, y1], 4 * i);
    }
    return box;
  }

  /** The first and one past the last ring of shape i. */
  rings(i) {
    return [this.ringOff[this.polyOff[i]], this.ringOff[this.polyOff[i + 1]]];
  }

  /** Add shape i to a canvas path at scale s, offset by (ox, oy) pixels. */
  trace(path, i, s, ox, oy) {
    const w = this.w;
    const [r0, r1] = this.rings(i);
    for (let ring = r0; ring < r1; ring++) {
      const v0 = this.vertOff[ring];
      const v1 = this.vertOff[ring + 1];
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
    const w = this.w;
    const [r0, r1] = this.rings(i);
    let inside = false;
    for (let ring = r0; ring < r1; ring++) {
      const v0 = this.vertOff[ring];
      const v1 = this.vertOff[ring + 1];
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
    const q = this.q;
    const s = this.scale;
    const polys = [];
    for (let p = this.polyOff[i]; p < this.polyOff[i + 1]; p++) {
      const rs = [];
      for (let ring = this.ringOff[p]; ring < this.ringOff[p + 1]; ring++) {
        const pts = [];
        for (let k = this.vertOff[ring]; k < this.vertOff[ring + 1]; k++) {
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
    const q = this.qd;
    const s = this.scale;
    const out = [];
    const [r0, r1] = this.rings(i);
    for (let ring = r0; ring < r1; ring++) {
      const pts = [];
      for (let k = this.vertOff[ring]; k < this.vertOff[ring + 1]; k++) {
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

mj.decode = {
  SCHEMA_VERSION,
  Shapes,
  bytes,
  column,
  coords,
  inflate,
  offsets,
  parsePayload,
  schemaProblem,
  unzigzag,
  varints,
  worldX,
  worldY,
};

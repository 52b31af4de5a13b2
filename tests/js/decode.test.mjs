/*
 * The page's decoder (src/mujun/maps/js/decode.js) against the Python encoder.
 *
 * Run by tests/test_js.py, which writes the fixtures with mujun.maps.encode (and the values
 * expected from them, computed in Python from the shapes and columns encoded) into a folder
 * and passes it as MUJUN_JS_FIXTURES: `node --test tests/js/`. The page's files are plain
 * scripts that assign into a namespace object `mj`; load() runs them the way the page's
 * joined script does, as the body of a function of `mj`.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import vm from "node:vm";

const JS = fileURLToPath(new URL("../../src/mujun/maps/js/", import.meta.url));
const FIXTURES = process.env.MUJUN_JS_FIXTURES;

function load(...names) {
  const mj = {};
  for (const name of names) {
    const file = path.join(JS, `${name}.js`);
    vm.compileFunction(fs.readFileSync(file, "utf8"), ["mj"], { filename: file })(mj);
  }
  return mj;
}

function fixturePath(file) {
  assert.ok(FIXTURES, "MUJUN_JS_FIXTURES is not set: run these through pytest tests/test_js.py");
  return path.join(FIXTURES, file);
}

function fixture(name) {
  return JSON.parse(fs.readFileSync(fixturePath(`${name}.json`), "utf8"));
}

const { decode } = load("decode");

test("varints decode to the integers encoded, up to 2**53 - 1", () => {
  for (const c of fixture("varints")) {
    assert.deepEqual(Array.from(decode.varints(c.b64)), c.values, c.name);
  }
});

test("zigzag deltas decode to the quantised coordinates, negative ones too", () => {
  for (const c of fixture("coords")) {
    assert.deepEqual(Array.from(decode.coords(c.b64)), c.values, c.name);
  }
});

test("shapes decode to the geometries encoded, holes and parts in order", () => {
  for (const c of fixture("shapes")) {
    const shapes = new decode.Shapes(c.enc, {});
    assert.equal(shapes.n, c.geometries.length, c.name);
    c.geometries.forEach((g, i) => {
      assert.deepEqual(shapes.geometry(i), g, `${c.name} shape ${i}`);
    });
  }
});

test("tiles decode on first use; a cache of one vertex keeps one tile and decodes again", () => {
  const c = fixture("shapes").find((s) => s.name.startsWith("a tile a shape"));
  const shapes = new decode.Shapes(c.enc, {}, 1);
  assert.equal(shapes.tiles, c.geometries.length);
  assert.equal(shapes.decodes, 0);
  for (const round of [1, 2]) {
    c.geometries.forEach((g, i) => {
      assert.deepEqual(shapes.geometry(i), g, `round ${round}, shape ${i}`);
      assert.deepEqual(shapes.decoded(), [shapes.tileOf[i]]);
    });
  }
  assert.equal(shapes.decodes, 2 * c.geometries.length);
  const roomy = new decode.Shapes(c.enc, {});
  c.geometries.forEach((g, i) => {
    assert.deepEqual(roomy.geometry(i), g);
    assert.deepEqual(roomy.geometry(i), g);
  });
  assert.equal(roomy.decodes, c.geometries.length);
  assert.equal(roomy.decoded().length, c.geometries.length);
});

test("drawn shapes are the display vertices, as Leaflet latlngs", () => {
  for (const c of fixture("shapes").filter((s) => s.latlngs)) {
    const shapes = new decode.Shapes(c.enc, {});
    c.latlngs.forEach((rings, i) => {
      assert.deepEqual(shapes.latlngs(i), rings, `${c.name} shape ${i}`);
    });
    assert.notDeepEqual(shapes.geometry(0).coordinates, shapes.latlngs(0), c.name);
  }
});

test("point in shape: even-odd over every ring (holes are out)", () => {
  for (const c of fixture("shapes")) {
    const shapes = new decode.Shapes(c.enc, {});
    for (const [i, lon, lat, inside] of c.contains) {
      const x = decode.worldX(lon);
      const y = decode.worldY(lat);
      assert.equal(shapes.contains(i, x, y), inside, `${c.name}: ${lon} ${lat} in shape ${i}`);
    }
  }
});

test("columns give each row's value: numbers, dictionary strings, text, bit sets", () => {
  for (const c of fixture("columns")) {
    assert.equal(c.col.k, c.kind, c.name);
    const get = decode.column(c.col, c.expected.length);
    assert.deepEqual(
      c.expected.map((_, i) => get(i)),
      c.expected,
      c.name,
    );
    if (c.kind === "bool") {
      assert.equal(get(c.expected.length), false, `${c.name}: a bit past the end`);
    }
  }
});

test("the packed payload inflates to the JSON that Python wrote", async () => {
  const { packed, expected } = fixture("packed");
  const payload = decode.parsePayload(await decode.inflate(packed));
  assert.deepEqual(payload, expected);
  assert.equal(payload.schema_version, decode.SCHEMA_VERSION);
  const parcels = new decode.Shapes(payload.sets.parcels.shapes, payload.sets.parcels.cols);
  assert.equal(parcels.col.park(0), "长兴");
});

test("the page's two parts join to the payload, the rest's columns read by the set", async () => {
  const { first, rest, expected } = fixture("parts");
  const P = decode.parsePayload(await decode.inflate(first));
  const R = decode.parsePayload(await decode.inflate(rest));
  assert.deepEqual(Object.keys(P.sets.parcels.cols).sort(), ["area_mu", "vacant"]);
  assert.equal(P.firms, undefined);
  const parcels = new decode.Shapes(P.sets.parcels.shapes, P.sets.parcels.cols);
  assert.equal(parcels.col.park, undefined);
  decode.join(P, R);
  parcels.addColumns(R.sets.parcels.cols);
  assert.deepEqual(P, expected);
  assert.equal(parcels.col.park(1), "长兴");
  assert.equal(parcels.col.parcel_id(1), "330522-002");
  assert.equal(P.firms.n, 1);
});

test("a payload of another schema version is refused with a message", async () => {
  const { packed, version } = fixture("wrong_version");
  const text = await decode.inflate(packed);
  assert.throws(() => decode.parsePayload(text), new RegExp(`format version ${version}`));
  assert.match(decode.schemaProblem({}), /\(none\)/);
  assert.equal(decode.schemaProblem({ schema_version: decode.SCHEMA_VERSION }), null);
});

test("the joined page script compiles", () => {
  const script = fs.readFileSync(fixturePath("page.js"), "utf8");
  assert.doesNotThrow(() => new vm.Script(script, { filename: "page.js" }));
});

test("CSV cells: formulas quoted unless raw, quotes doubled, numbers kept", () => {
  const { panel } = load("dom", "panel");
  assert.equal(panel.csvCell("=1+2", false), "'=1+2");
  assert.equal(panel.csvCell("=1+2", true), "=1+2");
  assert.equal(panel.csvCell(-5, false), "-5");
  assert.equal(panel.csvCell('a "b", c', false), '"a ""b"", c"');
  assert.equal(panel.csvCell(null, false), "");
  assert.equal(panel.csvCell("长兴", false), "长兴");
});

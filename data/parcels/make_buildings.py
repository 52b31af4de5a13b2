"""Add SYNTHETIC building footprints and a built-up raster to mujun's sample county.

Reads parcels.gpkg and filings.csv (written by make_sample.py) and writes:

- buildings.gpkg, layer ``buildings`` (EPSG:4490): footprints inside parcels, with ``楼层`` (floors)
  and ``高度(米)`` (height, m);
- builtup.tif: uint8 built-up raster, 1 built / 0 not built / 255 nodata, 10 m, EPSG:32650.

Nothing here is real. The generator has its own seed, so make_sample.py's outputs are untouched.

Usage (from the repository root)::

    python data/parcels/make_buildings.py [--data DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import rasterio
import shapely
from make_sample import COUNTY_BOX, OUT_CRS, WORK_CRS
from pyproj import Transformer
from rasterio import features
from rasterio.transform import from_origin
from shapely import affinity
from shapely.geometry import Polygon, box

SEED = 20211
RASTER_CRS = "EPSG:32650"  # WGS 84 / UTM zone 50N, deliberately not the parcels' CRS
RES_M = 10.0
NODATA = 255
DOUBLE_ABOVE_M = 8.0  # a storey higher than this counts twice for FAR (national rule)
UNDERUSED_SHARE = 0.17  # occupied parcels drawn with a coverage under 30 %
IDLE_SHED_SHARE = 0.20  # vacant parcels with an old shed on them
L_SHARE = 0.15  # footprints with a corner notch (L-shaped)
MIN_SIDE_M = 8.0


# --------------------------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------------------------


def load_inputs(data: Path) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Parcels in the working CRS (metres) and, per parcel, whether a 2021 filing lists it."""
    parcels = gpd.read_file(data / "parcels.gpkg", layer="parcels").to_crs(WORK_CRS)
    filings = pd.read_csv(data / "filings.csv", encoding="utf-8-sig", dtype=str)
    cells = filings.loc[filings["年份"] == "2021", "宗地号"].dropna()
    listed = {i for cell in cells for i in cell.split("、")}
    return parcels, parcels["宗地号"].isin(listed).to_numpy()


def target_coverage(rng: np.random.Generator, occupied: np.ndarray) -> np.ndarray:
    """Footprint share of each parcel to aim at (0 = no building).

    Exactly ``UNDERUSED_SHARE`` of the occupied parcels are drawn under 30 % and the rest around
    47 %; exactly ``IDLE_SHED_SHARE`` of the vacant parcels get an old shed.
    """
    out = np.zeros(len(occupied))
    occ, vac = np.flatnonzero(occupied), np.flatnonzero(~occupied)
    out[occ] = np.clip(rng.normal(0.47, 0.08, len(occ)), 0.33, 0.66)
    low = rng.choice(occ, round(UNDERUSED_SHARE * len(occ)), replace=False)
    out[low] = rng.uniform(0.08, 0.28, len(low))
    idle = rng.choice(vac, round(IDLE_SHED_SHARE * len(vac)), replace=False)
    out[idle] = rng.uniform(0.08, 0.25, len(idle))
    return out


# --------------------------------------------------------------------------------------------
# Footprints
# --------------------------------------------------------------------------------------------


def main_angle(part: Polygon) -> float:
    """Direction (degrees) of the longer side of the part's minimum rotated rectangle."""
    xy = np.asarray(part.minimum_rotated_rectangle.exterior.coords)
    edges = np.diff(xy[:3], axis=0)
    dx, dy = edges[np.argmax(np.hypot(edges[:, 0], edges[:, 1]))]
    return math.degrees(math.atan2(dy, dx))


def split_lengths(rng: np.random.Generator, total: float, n: int, gap: float) -> list[tuple]:
    """Cut ``total`` into n spans of uneven length separated by ``gap``: (start, end) pairs."""
    weights = rng.uniform(0.7, 1.3, n)
    usable = total - gap * (n - 1)
    lengths = usable * weights / weights.sum()
    starts = np.concatenate([[0.0], np.cumsum(lengths + gap)[:-1]])
    return list(zip(starts, starts + lengths, strict=True))


def fit_rectangle(cell: Polygon, inner: Polygon) -> Polygon | None:
    """A large axis-aligned rectangle inside cell∩inner, trimming its top and bottom in steps.

    For each trimmed band the rectangle spans the x-range common to the band's lower and upper
    edges (exact for a convex piece); the largest candidate that lies inside wins.
    """
    piece = cell.intersection(inner)
    if piece.is_empty or piece.area < MIN_SIDE_M**2:
        return None
    _, y0, _, y1 = piece.bounds
    best = None
    for lo in np.linspace(0.0, 0.3, 6):
        for hi in np.linspace(0.0, 0.3, 6):
            yb, yt = y0 + 0.01 + lo * (y1 - y0), y1 - 0.01 - hi * (y1 - y0)
            if yt - yb < MIN_SIDE_M:
                continue
            spans = [
                piece.intersection(shapely.LineString([(-1e9, y), (1e9, y)])) for y in (yb, yt)
            ]
            if any(sp.is_empty for sp in spans):
                continue
            xb, xt = spans[0].bounds, spans[1].bounds
            cand = box(max(xb[0], xt[0]) + 0.01, yb, min(xb[2], xt[2]) - 0.01, yt)
            if cand.is_empty or cand.area <= (best.area if best else 0):
                continue
            if cand.within(inner) and cand.bounds[2] - cand.bounds[0] >= MIN_SIDE_M:
                best = cand
    return best


def notch(rng: np.random.Generator, rect: Polygon) -> Polygon:
    """Cut a corner off a rectangle, giving an L-shaped footprint."""
    x0, y0, x1, y1 = rect.bounds
    w, h = (x1 - x0) * rng.uniform(0.3, 0.5), (y1 - y0) * rng.uniform(0.3, 0.5)
    cx, cy = (x0, x1 - w)[rng.integers(2)], (y0, y1 - h)[rng.integers(2)]
    return Polygon(rect.difference(box(cx, cy, cx + w, cy + h)).exterior)


def layout_part(rng: np.random.Generator, part: Polygon, coverage: float) -> list[Polygon]:
    """Footprints covering about ``coverage`` of one parcel part, aligned with its long side."""
    angle, origin = main_angle(part), part.centroid
    local = affinity.rotate(part, -angle, origin=origin)
    inner = local.buffer(-rng.uniform(3, 8), join_style="mitre")
    if inner.is_empty:
        return []
    inner = max(getattr(inner, "geoms", [inner]), key=lambda g: g.area)
    target = coverage * part.area
    n = int(np.clip(round(target / rng.uniform(1500, 4000)), 1, 8))
    x0, y0, x1, y1 = inner.bounds
    nx = max(1, min(n, round(math.sqrt(n * (x1 - x0) / (y1 - y0)))))
    ny = math.ceil(n / nx)
    gap = rng.uniform(8, 16)  # fire lane between buildings
    cells = [
        box(x0 + a, y0 + b, x0 + c, y0 + d)
        for a, c in split_lengths(rng, x1 - x0, nx, gap)
        for b, d in split_lengths(rng, y1 - y0, ny, gap)
    ]
    rects = [fit_rectangle(c, inner) for c in cells]
    rects = [r for r in rects if r is not None and min(side_lengths(r)) >= MIN_SIDE_M]
    rects = [
        notch(rng, r) if min(side_lengths(r)) >= 30 and rng.random() < L_SHARE else r for r in rects
    ]
    rng.shuffle(rects)
    while len(rects) > 1 and sum(r.area for r in rects[1:]) >= target:  # leave open yard
        rects.pop(0)
    total = sum(r.area for r in rects)
    if total > target:
        f = target / total
        rects = [shrink(r, f * rng.uniform(0.9, 1.0)) for r in rects]
    rects = [r for r in rects if min(side_lengths(r)) >= MIN_SIDE_M]
    return [affinity.rotate(r, angle, origin=origin) for r in rects]


def side_lengths(geom: Polygon) -> tuple[float, float]:
    """Width and height of the bounding box (in the part's local, axis-aligned frame)."""
    x0, y0, x1, y1 = geom.bounds
    return x1 - x0, y1 - y0


def shrink(geom: Polygon, f: float) -> Polygon:
    """Scale by area factor f about the bounding-box centre: the long side first."""
    w, h = side_lengths(geom)
    centre = box(*geom.bounds).centroid
    if f >= 0.6:
        sx, sy = (f, 1.0) if w >= h else (1.0, f)
    else:
        sx = sy = math.sqrt(f)
    return affinity.scale(geom, sx, sy, origin=centre)


def storeys_and_height(
    rng: np.random.Generator, area: float, occupied: bool, land_class: str
) -> tuple[int, float]:
    """Single-storey shed (6-14 m) or a 2-6 storey plant/office at 4-5 m a storey."""
    if not occupied:  # old shed on idle land
        return 1, round(rng.uniform(6.0, 9.0), 1)
    p_multi = 0.6 if area < 1500 else 0.4 if area < 5000 else 0.2
    p_multi += 0.15 if land_class == "M1" else 0.0
    if rng.random() < p_multi:
        floors = int(rng.choice([2, 3, 4, 5, 6], p=[0.3, 0.3, 0.2, 0.12, 0.08]))
        return floors, round(floors * rng.uniform(4.0, 5.0), 1)
    tall = rng.random() < 0.5
    return 1, round(rng.uniform(8.5, 14.0) if tall else rng.uniform(6.0, 8.0), 1)


def build_buildings(
    rng: np.random.Generator, parcels: gpd.GeoDataFrame, occupied: np.ndarray
) -> gpd.GeoDataFrame:
    """All footprints (working CRS) with floors, height and the parcel index they stand on."""
    rows = []
    coverage = target_coverage(rng, occupied)
    for i, (geom, land_class) in enumerate(zip(parcels.geometry, parcels["用地性质"], strict=True)):
        if coverage[i] == 0:
            continue
        for part in getattr(geom, "geoms", [geom]):
            for fp in layout_part(rng, part, coverage[i]):
                floors, height = storeys_and_height(rng, fp.area, bool(occupied[i]), land_class)
                rows.append((i, floors, height, fp))
    parcel, floors, height, geoms = zip(*rows, strict=True)
    return gpd.GeoDataFrame(
        {"parcel": parcel, "楼层": np.array(floors, dtype="int32"), "高度(米)": height},
        geometry=list(geoms),
        crs=WORK_CRS,
    )


def counted_storeys(floors: np.ndarray, height: np.ndarray) -> np.ndarray:
    """Storeys for FAR, storeys taken as equally high: one over 8 m counts twice."""
    return np.where(height / floors > DOUBLE_ABOVE_M, 2 * floors, floors)


def check_buildings(back: gpd.GeoDataFrame, parcels: gpd.GeoDataFrame) -> None:
    """Valid, inside the parcels (checked in EPSG:4549 after the round trip) and not overlapping."""
    assert back.is_valid.all()
    assert (back.geom_type == "Polygon").all()
    geoms = back.to_crs(WORK_CRS).geometry.to_numpy()
    outside = shapely.area(shapely.difference(geoms, shapely.union_all(parcels.geometry)))
    assert outside.max() < 1e-6, outside.max()
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    assert (left == right).all(), "footprints overlap or touch"


# --------------------------------------------------------------------------------------------
# Built-up raster
# --------------------------------------------------------------------------------------------


def county_outline(parcels: gpd.GeoDataFrame) -> Polygon:
    """The county box (lon/lat), grown to hold every parcel plus ~100 m, in the raster CRS."""
    w, s, e, n = parcels.to_crs(OUT_CRS).total_bounds
    w, s = min(w, COUNTY_BOX[0]) - 0.001, min(s, COUNTY_BOX[1]) - 0.001
    e, n = max(e, COUNTY_BOX[2]) + 0.001, max(n, COUNTY_BOX[3]) + 0.001
    t = np.linspace(0, 1, 201)
    lon = np.concatenate([w + (e - w) * t, np.full(201, e), e - (e - w) * t, np.full(201, w)])
    lat = np.concatenate([np.full(201, s), s + (n - s) * t, np.full(201, n), n - (n - s) * t])
    x, y = Transformer.from_crs(OUT_CRS, RASTER_CRS, always_xy=True).transform(lon, lat)
    return Polygon(zip(x, y, strict=True))


def builtup_raster(
    rng: np.random.Generator,
    buildings: gpd.GeoDataFrame,
    parcels: gpd.GeoDataFrame,
    occupied: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, rasterio.Affine]:
    """Noisy and clean rasters (noisy, clean, transform) of the footprints at 10 m."""
    outline = county_outline(parcels)
    x0, y0, x1, y1 = outline.bounds
    x0, y0 = math.floor(x0 / RES_M) * RES_M, math.floor(y0 / RES_M) * RES_M
    x1, y1 = math.ceil(x1 / RES_M) * RES_M, math.ceil(y1 / RES_M) * RES_M
    shape = (round((y1 - y0) / RES_M), round((x1 - x0) / RES_M))
    transform = from_origin(x0, y1, RES_M, RES_M)
    outside = features.geometry_mask([outline], shape, transform)
    fps = buildings.to_crs(RASTER_CRS)
    clean = features.rasterize(fps.geometry, shape, transform=transform, dtype="uint8")
    # paved yards around the buildings of some occupied parcels read as built
    yard_parcels = set(np.flatnonzero(occupied & (rng.random(len(parcels)) < 0.12)).tolist())
    yards = []
    plots = parcels.to_crs(RASTER_CRS).geometry.to_numpy()
    for i, group in fps.groupby("parcel").geometry:
        if i in yard_parcels:
            ring = shapely.union_all(group.buffer(rng.uniform(3, 8), join_style="mitre"))
            yards.append(ring.intersection(plots[i].buffer(-1)))
    noisy = clean.copy()
    if yards:
        noisy |= features.rasterize(yards, shape, transform=transform, dtype="uint8")
    # missed roofs (shadow, green roofs) and isolated false positives (bare soil, village roofs)
    noisy[(noisy == 1) & (rng.random(shape) < 0.03)] = 0
    noisy[rng.random(shape) < 0.0003] = 1
    noisy[outside] = NODATA
    clean[outside] = NODATA
    return noisy, clean, transform


def write_raster(path: Path, pixels: np.ndarray, transform: rasterio.Affine) -> None:
    """Deflate-compressed, 256x256-tiled single-band uint8 GeoTIFF."""
    profile = {
        "driver": "GTiff",
        "width": pixels.shape[1],
        "height": pixels.shape[0],
        "count": 1,
        "dtype": "uint8",
        "crs": RASTER_CRS,
        "transform": transform,
        "nodata": NODATA,
        "compress": "deflate",
        "zlevel": 9,
        "predictor": 2,
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(pixels, 1)


# --------------------------------------------------------------------------------------------
# Output and summary
# --------------------------------------------------------------------------------------------


def write_buildings(path: Path, buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Write the footprint layer (EPSG:4490, fixed timestamp) and return it as read back."""
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2022-05-24T00:00:00.000Z"})
    path.unlink(missing_ok=True)
    out = buildings[["楼层", "高度(米)", "geometry"]].to_crs(OUT_CRS)
    out.to_file(path, layer="buildings", driver="GPKG", engine="pyogrio")
    return gpd.read_file(path, layer="buildings")


def table_hash(back: gpd.GeoDataFrame) -> str:
    """SHA-256 of the footprint layer as read back (attributes + WKB)."""
    digest = hashlib.sha256(back.drop(columns="geometry").to_csv(index=False).encode())
    for geom in back.geometry:
        digest.update(geom.wkb)
    return digest.hexdigest()


def summarise(
    buildings: gpd.GeoDataFrame,
    parcels: gpd.GeoDataFrame,
    occupied: np.ndarray,
    rasters: tuple[np.ndarray, np.ndarray, rasterio.Affine],
    paths: tuple[Path, Path],
) -> str:
    """Counts, coverage and FAR of the parcels, raster noise, file sizes and content hashes."""
    floors, height = buildings["楼层"].to_numpy(), buildings["高度(米)"].to_numpy()
    area = buildings.area.to_numpy()
    per = pd.DataFrame(
        {"built": area, "floor": area * counted_storeys(floors, height), "p": buildings["parcel"]}
    )
    sums = per.groupby("p").sum().reindex(range(len(parcels)), fill_value=0)
    coverage = sums["built"].to_numpy() / parcels.area.to_numpy()
    far = sums["floor"].to_numpy() / parcels.area.to_numpy()
    cov_o, far_o = coverage[occupied], far[occupied]
    shed = floors == 1
    noisy, clean, transform = rasters
    valid = noisy != NODATA
    plots = parcels.to_crs(RASTER_CRS).geometry
    n_plot_px = features.rasterize(plots, noisy.shape, transform=transform, dtype="uint8").sum()
    flipped = (noisy != clean) & valid
    gpkg, tif = paths
    n_l = (shapely.get_num_coordinates(buildings.geometry.to_numpy()) == 7).sum()
    cov_mid = np.mean((cov_o >= 0.3) & (cov_o <= 0.6))
    far_mid = np.mean((far_o >= 0.5) & (far_o <= 1.5))
    idle = coverage[~occupied] > 0
    n_flip, n_built, n_fp = flipped.sum(), (noisy == 1).sum(), (clean == 1).sum()
    return "\n".join(
        [
            f"buildings {len(buildings)}: single-storey sheds {shed.sum()} "
            f"({(shed & (height > 8)).sum()} over 8 m), 2-6 storeys {(~shed).sum()}, "
            f"L-shaped {n_l}",
            f"occupied parcels {occupied.sum()}: coverage <30 % {np.mean(cov_o < 0.3):.1%}, "
            f"30-60 % {cov_mid:.1%}, median {np.median(cov_o):.1%}; FAR (>8 m storeys x2) median "
            f"{np.median(far_o):.2f}, p10 {np.quantile(far_o, 0.1):.2f}, p90 "
            f"{np.quantile(far_o, 0.9):.2f}, <0.5 {np.mean(far_o < 0.5):.1%}, "
            f"0.5-1.5 {far_mid:.1%}",
            f"vacant parcels {(~occupied).sum()}: with a building {idle.sum()} ({idle.mean():.1%})",
            f"raster {noisy.shape[1]}x{noisy.shape[0]} px at {RES_M:.0f} m, {RASTER_CRS}: built "
            f"{n_built} px (footprints alone {n_fp}), differing from the footprints {n_flip} px "
            f"({n_flip / n_plot_px:.1%} of the {n_plot_px} px in parcels, "
            f"{n_flip / valid.sum():.2%} of all valid px), nodata {(~valid).sum()} px",
            f"files: {gpkg.name} {gpkg.stat().st_size} bytes, {tif.name} "
            f"{tif.stat().st_size} bytes",
        ]
    )


def main() -> None:
    """Generate footprints and the raster, check them and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(__file__).parent
    parser.add_argument("--data", type=Path, default=here, help="folder with parcels.gpkg")
    parser.add_argument("--out", type=Path, help="output folder (default: --data)")
    args = parser.parse_args()
    out = args.out or args.data
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    parcels, occupied = load_inputs(args.data)
    buildings = build_buildings(rng, parcels, occupied)
    back = write_buildings(out / "buildings.gpkg", buildings)
    check_buildings(back, parcels)
    noisy, clean, transform = builtup_raster(rng, buildings, parcels, occupied)
    write_raster(out / "builtup.tif", noisy, transform)
    paths = (out / "buildings.gpkg", out / "builtup.tif")
    print(summarise(buildings, parcels, occupied, (noisy, clean, transform), paths))
    print(
        f"sha256 buildings table {table_hash(back)[:16]}…, raster pixels "
        f"{hashlib.sha256(noisy.tobytes()).hexdigest()[:16]}…"
    )


if __name__ == "__main__":
    main()

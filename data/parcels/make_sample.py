"""Generate mujun's SYNTHETIC sample county (modelled loosely on Changxing, Zhejiang).

Nothing produced here is real: parcels, parks, enterprises, codes and figures are all drawn from a
seeded random generator. The county-wide 规上 averages are calibrated to the figures Changxing
published for 2016 and 2021 (see README.md).

Usage (from the repository root)::

    python data/parcels/make_sample.py [--out DIR]

Outputs (next to this script by default): parcels.gpkg, parks.gpkg, filings.csv.
"""

from __future__ import annotations

import argparse
import hashlib
import math
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import Transformer
from shapely import affinity
from shapely.geometry import MultiPolygon, Point, Polygon, box
from shapely.ops import unary_union

SEED = 20161
MU_M2 = 10000 / 15  # 1 亩 = 10000/15 m², exactly
WORK_CRS = "EPSG:4549"  # CGCS2000 / 3-degree Gauss-Kruger CM 120E, metres
OUT_CRS = "EPSG:4490"  # CGCS2000 geographic, lon/lat
YEARS = (2016, 2021)
COUNTY_BOX = (119.62, 30.82, 120.08, 31.18)  # lon/lat box for scattered parcels

# 规上 (above designated size) county averages to calibrate, 万元/亩 (2022 work report).
TARGET_TAX = {2016: 9.4, 2021: 33.4}
TARGET_VA = {2016: 78.6, 2021: 175.0}

N_SCATTERED = 300
N_BOTH, N_CLOSED, N_NEW = 1300, 50, 150  # firms in both years / 2016 only / 2021 only
LESSEE_SHARE = 0.12
ABOVE_SIZE_SHARE = 0.35
MULTI_SHARE = 0.235  # of primary land holders
MAX_PARCELS = 5  # per multi-parcel holder
NEAR_M = 45.0  # parcels this close (across a road at most) count as near
SHARED_SHARE = 0.05  # of occupied parcels
VACANT_SHARE = 0.115  # aimed at in 2016; in 2021 it follows from the holdings drawn

USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
USCC_PREFIX = "91330522"  # 9 市场监管, 1 企业, 330522 长兴县

FILING_COLUMNS = [
    "统一社会信用代码", "企业名称", "年份", "所属行业", "规模", "宗地号",
    "实缴税金(万元)", "工业增加值(万元)", "营业收入(万元)", "研发经费支出(万元)",
    "年平均职工人数", "综合能耗(吨标煤)", "用电量(万千瓦时)", "主要污染物排放量(吨)",
]  # fmt: skip

# GB/T 4754-2017 class -> (draw weight, name word, value-added-per-mu multiplier)
INDUSTRIES: dict[str, tuple[float, str, float]] = {
    "3849": (0.10, "电源", 1.3),  # 其他电池制造 (lead-acid)
    "3841": (0.06, "新能源", 1.5),  # 锂离子电池制造
    "3484": (0.12, "机械", 0.9),  # 机械零部件加工
    "3311": (0.07, "钢构", 0.8),  # 金属结构制造
    "3824": (0.06, "电子", 1.2),  # 电力电子元器件制造
    "3989": (0.05, "电子科技", 1.1),  # 其他电子元件制造
    "2929": (0.08, "塑业", 0.8),  # 塑料零件及其他塑料制品制造
    "1751": (0.12, "纺织", 0.7),  # 化纤织造加工
    "3039": (0.05, "建材", 0.8),  # 其他建筑材料制造
    "3089": (0.06, "耐火材料", 0.9),  # 耐火陶瓷制品及其他耐火材料制造
    "3011": (0.02, "水泥", 1.4),  # 水泥制造
    "3130": (0.03, "钢业", 1.0),  # 钢压延加工
    "2669": (0.05, "化工", 1.1),  # 其他专用化学产品制造
    "3360": (0.04, "表面处理", 0.7),  # 金属表面处理及热处理加工
    "2231": (0.04, "包装", 0.7),  # 纸和纸板容器制造
    "3985": (0.05, "新材料", 1.2),  # 电子专用材料制造
}
NAME_SYLLABLES = (
    "恒泰华宏鑫达盛隆源利通诚信金天博瑞丰永安嘉润新中富佳腾远德锦力宇海明正昌浩顺邦凯欣星卓汇创益"
    "成荣晟祥福辉强美捷普威振鼎亿方圣百东南越联合运峰"
)


@dataclass(frozen=True)
class ParkSpec:
    """A park to lay out: names, centre (lon/lat) and the number of parcels wanted."""

    name: str
    code: str
    lon: float
    lat: float
    n_parcels: int


PARKS = (
    ParkSpec("东区工业园", "P01", 120.035, 31.010, 500),
    ParkSpec("南湖产业园", "P02", 119.920, 30.875, 430),
    ParkSpec("西山工业园", "P03", 119.705, 31.025, 400),
    ParkSpec("北港智造园", "P04", 120.030, 31.145, 370),
)


@dataclass
class Block:
    """A street block: a jittered quadrilateral (p00, p10, p11, p01) in park-local metres."""

    corners: np.ndarray
    scale_mu: float
    n_rows: int
    col: int
    row: int


# --------------------------------------------------------------------------------------------
# Unified social credit codes (GB 32100-2015 with a GB 11714 organisation code)
# --------------------------------------------------------------------------------------------


def org_check_char(body8: str) -> str:
    """GB 11714 check character for the first 8 characters of an organisation code."""
    total = sum(int(c, 36) * w for c, w in zip(body8, ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def uscc_check_char(body17: str) -> str:
    """GB 32100-2015 check character (18th position) for the first 17 characters."""
    total = sum(USCC_CHARSET.index(c) * w for c, w in zip(body17, USCC_WEIGHTS, strict=True))
    return USCC_CHARSET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """True when an 18-character code passes both the org-code and the USCC check."""
    if len(code) != 18 or any(c not in USCC_CHARSET for c in code):
        return False
    return code[16] == org_check_char(code[8:16]) and code[17] == uscc_check_char(code[:17])


def make_uscc(rng: np.random.Generator, recent: bool) -> str:
    """A random valid code; recently registered firms get the 'MA' style organisation part."""
    if recent:
        body8 = "MA2" + "".join(rng.choice(list(USCC_CHARSET), 5))
    else:
        body8 = "7" + "".join(rng.choice(list("0123456789"), 7))
    body17 = USCC_PREFIX + body8 + org_check_char(body8)
    return body17 + uscc_check_char(body17)


# --------------------------------------------------------------------------------------------
# Park geometry
# --------------------------------------------------------------------------------------------


def layout_blocks(rng: np.random.Generator, half: float) -> list[Block]:
    """Columns of blocks over a square canvas; roads 26-36 m wide (corner jitter ±2 m)."""
    blocks: list[Block] = []
    x, col = -half, 0
    while x < half:
        width = rng.uniform(250, 520)
        y, row = -half, 0
        while y < half:
            scale = float(np.clip(np.exp(rng.normal(math.log(30), 0.6)), 4, 150))
            n_rows = 2 if rng.random() < 0.6 else 1
            depth = n_rows * math.sqrt(scale * MU_M2) * rng.uniform(0.9, 1.3)
            rect = np.array([[x, y], [x + width, y], [x + width, y + depth], [x, y + depth]])
            corners = rect + rng.uniform(-2, 2, size=(4, 2))
            blocks.append(Block(corners, scale, n_rows, col, row))
            y += depth + rng.uniform(26, 36)
            row += 1
        x += width + rng.uniform(26, 36)
        col += 1
    return blocks


def bilinear(corners: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Map parameter points (u, v) in [0, 1]² onto the block quadrilateral."""
    p00, p10, p11, p01 = corners
    u, v = uv[:, :1], uv[:, 1:]
    return (1 - u) * (1 - v) * p00 + u * (1 - v) * p10 + u * v * p11 + (1 - u) * v * p01


def sample_widths(
    rng: np.random.Generator, length: float, depth: float, scale: float
) -> np.ndarray:
    """Frontage widths (m) filling a row exactly, parcel areas lognormal around `scale` mu."""
    for _ in range(30):
        areas = np.clip(scale * np.exp(rng.normal(0, 0.55, 40)), 2.5, 280) * MU_M2
        cum = np.cumsum(areas / depth)
        n = int(np.argmin(np.abs(cum - length))) + 1
        widths = (areas[:n] / depth) * length / cum[n - 1]
        area_mu = widths * depth / MU_M2
        if area_mu.min() >= 3.0 and area_mu.max() <= 290 and widths.min() >= 20:
            return widths
    n = max(1, math.ceil(length * depth / (290 * MU_M2)), round(length * depth / (scale * MU_M2)))
    return np.full(n, length / n)


def cut_line(
    rng: np.random.Generator, u: float, v0: float, v1: float, amp: float
) -> list[tuple[float, float]]:
    """A cut from the row bottom to its top at about u, with jitter and 0-2 kinks."""
    n_mid = int(rng.choice(3, p=[0.55, 0.35, 0.10]))
    vs = [v0, *sorted(rng.uniform(v0 + 0.2 * (v1 - v0), v1 - 0.2 * (v1 - v0), n_mid)), v1]
    return [(u + rng.uniform(-amp, amp), v) for v in vs]


def subdivide_row(
    rng: np.random.Generator, block: Block, v0: float, v1: float
) -> list[list[tuple[float, float]]]:
    """Split one row of a block into parcel rings expressed in block parameter space."""
    length = float(np.linalg.norm(block.corners[1] - block.corners[0]))
    height = float(np.linalg.norm(block.corners[3] - block.corners[0]))
    widths = sample_widths(rng, length, (v1 - v0) * height, block.scale_mu)
    edges = np.concatenate([[0.0], np.cumsum(widths) / length])
    edges[-1] = 1.0
    lines = [[(0.0, v0), (0.0, v1)]]
    for k in range(1, len(edges) - 1):
        amp = min(8.0, 0.15 * min(widths[k - 1], widths[k])) / length  # keeps parcels > 2 mu
        lines.append(cut_line(rng, float(edges[k]), v0, v1, amp))
    lines.append([(1.0, v0), (1.0, v1)])
    return [left[:1] + right + left[:0:-1] for left, right in pairwise(lines)]


def subdivide_block(rng: np.random.Generator, block: Block) -> list[np.ndarray]:
    """Parcel rings (park-local metres) of a block, neighbours sharing their cut lines."""
    splits = [0.0, 1.0] if block.n_rows == 1 else [0.0, rng.uniform(0.4, 0.6), 1.0]
    rings = []
    for v0, v1 in pairwise(splits):
        for ring in subdivide_row(rng, block, v0, v1):
            rings.append(bilinear(block.corners, np.asarray(ring)))
    return rings


def blob_distance(rng: np.random.Generator, blocks: list[Block]) -> np.ndarray:
    """Normalised distance of block centres from the park centre under an irregular blob."""
    centres = np.array([b.corners.mean(axis=0) for b in blocks])
    aspect = rng.uniform(1.0, 1.6)
    phases = rng.uniform(0, 2 * np.pi, 3)
    theta = np.arctan2(centres[:, 1], centres[:, 0])
    radius = np.hypot(centres[:, 0] / aspect, centres[:, 1])
    wobble = (
        1
        + 0.22 * np.sin(2 * theta + phases[0])
        + 0.12 * np.sin(3 * theta + phases[1])
        + 0.08 * np.sin(5 * theta + phases[2])
    )
    return radius / wobble


def to_world(points: np.ndarray, angle: float, origin: tuple[float, float]) -> np.ndarray:
    """Rotate park-local metres by `angle` (radians) and shift them to `origin` (EPSG:4549)."""
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return points @ rot.T + np.asarray(origin)


def build_park(
    rng: np.random.Generator, spec: ParkSpec, origin: tuple[float, float]
) -> tuple[Polygon, list[Polygon]]:
    """Lay out one park: its boundary and its parcels in a spatially coherent order."""
    blocks = layout_blocks(rng, half=3600)
    rings = [subdivide_block(rng, b) for b in blocks]
    chosen: list[int] = []
    count = 0
    for i in np.argsort(blob_distance(rng, blocks), kind="stable"):
        if count >= spec.n_parcels:
            break
        chosen.append(int(i))
        count += len(rings[i])
    chosen.sort(key=lambda i: (blocks[i].col, blocks[i].row))
    angle = math.radians(rng.uniform(-30, 30))
    parcels = [Polygon(to_world(r, angle, origin)) for i in chosen for r in rings[i]]
    quads = [Polygon(to_world(blocks[i].corners, angle, origin)) for i in chosen]
    outline = unary_union(quads).buffer(45, join_style="mitre").buffer(-25, join_style="mitre")
    assert outline.geom_type == "Polygon", spec.name
    return Polygon(outline.exterior), parcels


def random_shape(rng: np.random.Generator, centre: Point, area_m2: float) -> Polygon:
    """An isolated parcel: a jittered rectangle or a 5-7 vertex star-shaped polygon."""
    n_vertices = int(rng.choice([4, 5, 6, 7], p=[0.6, 0.2, 0.12, 0.08]))
    aspect = rng.uniform(1.0, 2.2)
    if n_vertices == 4:
        pts = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * [aspect, 1.0]
        pts = pts + rng.uniform(-0.08, 0.08, (4, 2))
    else:
        gaps = rng.uniform(0.6, 1.4, n_vertices)
        angles = np.cumsum(gaps) / gaps.sum() * 2 * np.pi
        radii = rng.uniform(0.9, 1.1, n_vertices)
        pts = np.column_stack([aspect * radii * np.cos(angles), radii * np.sin(angles)])
    poly = affinity.rotate(Polygon(pts), rng.uniform(0, 180), origin=(0, 0))
    poly = affinity.scale(poly, *(2 * [math.sqrt(area_m2 / poly.area)]), origin=(0, 0))
    return affinity.translate(poly, centre.x, centre.y)


def scattered_parcels(rng: np.random.Generator, parks: list[Polygon], n: int) -> list[Polygon]:
    """Isolated parcels anywhere in the county box, away from parks and from each other."""
    to_work = Transformer.from_crs(OUT_CRS, WORK_CRS, always_xy=True)
    keep_out = unary_union(parks).buffer(800)
    out: list[Polygon] = []
    while len(out) < n:
        lon = rng.uniform(COUNTY_BOX[0], COUNTY_BOX[2])
        lat = rng.uniform(COUNTY_BOX[1], COUNTY_BOX[3])
        centre = Point(to_work.transform(lon, lat))
        area = float(np.clip(np.exp(rng.normal(math.log(22), 0.8)), 2.5, 150)) * MU_M2
        poly = random_shape(rng, centre, area)
        if poly.intersects(keep_out) or any(poly.distance(p) < 400 for p in out):
            continue
        out.append(poly)
    return out


def open_gaps(rng: np.random.Generator, parcels: list[Polygon], share: float) -> None:
    """Shrink some park parcels by 5-10 m so a gap opens towards their neighbours (in place)."""
    for i in np.flatnonzero(rng.random(len(parcels)) < share):
        shrunk = parcels[i].buffer(-rng.uniform(5, 10), join_style="mitre")
        if shrunk.geom_type == "Polygon" and shrunk.area >= 3 * MU_M2:
            parcels[i] = shrunk


def split_in_two(rng: np.random.Generator, poly: Polygon) -> Polygon | MultiPolygon:
    """Cut a 6-12 m strip across the middle of a parcel; return it if it gives 2 parts."""
    rect = poly.minimum_rotated_rectangle.exterior.coords
    sides = [np.subtract(rect[k + 1], rect[k]) for k in range(2)]
    long_axis = max(sides, key=lambda s: float(np.hypot(*s)))
    angle = math.degrees(math.atan2(long_axis[1], long_axis[0]))
    width = rng.uniform(6, 12)
    strip = affinity.rotate(box(-width / 2, -5000, width / 2, 5000), angle, origin=(0, 0))
    strip = affinity.translate(strip, poly.centroid.x, poly.centroid.y)
    cut = poly.difference(strip)
    return cut if isinstance(cut, MultiPolygon) and len(cut.geoms) == 2 else poly


def make_multipart(rng: np.random.Generator, parcels: list[Polygon], n: int) -> None:
    """Turn about `n` larger parcels into 2-part MultiPolygons (in place)."""
    candidates = [i for i, p in enumerate(parcels) if p.area > 20 * MU_M2]
    for i in rng.choice(candidates, size=n, replace=False):
        parcels[i] = split_in_two(rng, parcels[i])


def build_geometry(rng: np.random.Generator) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """All parks and parcels in EPSG:4549; parcel rows are in a spatially coherent order."""
    to_work = Transformer.from_crs(OUT_CRS, WORK_CRS, always_xy=True)
    outlines, parcels, park_of = [], [], []
    for spec in PARKS:
        outline, park_parcels = build_park(rng, spec, to_work.transform(spec.lon, spec.lat))
        outlines.append(outline)
        parcels += park_parcels
        park_of += [spec.name] * len(park_parcels)
    open_gaps(rng, parcels, share=0.08)
    make_multipart(rng, parcels, n=round(0.011 * (len(parcels) + N_SCATTERED)))
    parcels += scattered_parcels(rng, outlines, N_SCATTERED)
    park_of += [None] * N_SCATTERED
    parks = gpd.GeoDataFrame(
        {"园区名称": [p.name for p in PARKS], "园区代码": [p.code for p in PARKS]},
        geometry=outlines,
        crs=WORK_CRS,
    )
    parcel_gdf = gpd.GeoDataFrame(
        {"宗地号": [f"CX-{i + 1:04d}" for i in range(len(parcels))], "园区": park_of},
        geometry=parcels,
        crs=WORK_CRS,
    )
    return parks, parcel_gdf


def check_geometry(parks: gpd.GeoDataFrame, parcels: gpd.GeoDataFrame) -> None:
    """Assert validity, no overlaps, sizes 2-300 mu and that each park holds its parcels."""
    assert parcels.is_valid.all()
    assert parks.is_valid.all()
    area_mu = parcels.area / MU_M2
    assert area_mu.between(2, 300).all(), (area_mu.min(), area_mu.max())
    union_area = shapely.union_all(parcels.geometry.values).area
    assert abs(parcels.area.sum() - union_area) <= 1e-6 * union_area
    for name, outline in zip(parks["园区名称"], parks.geometry, strict=True):
        assert parcels.loc[parcels["园区"] == name].within(outline).all(), name
    scattered = parcels.loc[parcels["园区"].isna()]
    assert not scattered.intersects(parks.union_all()).any()


# --------------------------------------------------------------------------------------------
# Enterprises and land allocation
# --------------------------------------------------------------------------------------------


def company_name(rng: np.random.Generator, industry: str, taken: set[str]) -> str:
    """A unique synthetic name like 长兴恒泰机械有限公司."""
    while True:
        syllables = "".join(rng.choice(list(NAME_SYLLABLES), 2, replace=False))
        name = f"长兴{syllables}{INDUSTRIES[industry][1]}有限公司"
        if name not in taken:
            taken.add(name)
            return name


def make_firms(rng: np.random.Generator) -> pd.DataFrame:
    """The enterprise register: status across years, lessee flag, code, name, industry."""
    status = np.array(["both"] * N_BOTH + ["closed"] * N_CLOSED + ["new"] * N_NEW)
    n = len(status)
    codes_ = list(INDUSTRIES)
    weights = np.array([INDUSTRIES[c][0] for c in codes_])
    industry = rng.choice(codes_, size=n, p=weights / weights.sum())
    recent = (status == "new") | (rng.random(n) < 0.3)
    codes: set[str] = set()
    uscc = []
    for r in recent:
        code = make_uscc(rng, bool(r))
        while code in codes:
            code = make_uscc(rng, bool(r))
        codes.add(code)
        uscc.append(code)
    assert all(is_valid_uscc(c) for c in uscc)
    taken: set[str] = set()
    return pd.DataFrame(
        {
            "code": uscc,
            "name": [company_name(rng, ind, taken) for ind in industry],
            "industry": industry,
            "status": status,
            "lessee": rng.random(n) < LESSEE_SHARE,
            "effect": rng.normal(0, 0.75, n),
        }
    )


Holdings = dict[int, list[int]]  # firm index -> parcel indices


def near_parcels(parcels: gpd.GeoDataFrame) -> list[list[int]]:
    """Per parcel: the other parcels of its park within NEAR_M m (adjacent or across a road)."""
    geoms = parcels.geometry.to_numpy()
    group = parcels["园区"].fillna("").tolist()
    pairs = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=NEAR_M)
    near: list[list[int]] = [[] for _ in geoms]
    for a, b in sorted(zip(*pairs.tolist(), strict=True)):
        if a != b and group[a] == group[b] != "":
            near[a].append(b)
    return near


def draw_size(rng: np.random.Generator) -> int:
    """Number of parcels a land holder uses: 1, or 2-5 for MULTI_SHARE of them."""
    return int(rng.integers(2, MAX_PARCELS + 1)) if rng.random() < MULTI_SHARE else 1


def grow_cluster(
    seed: int, k: int, free: set[int], near: list[list[int]], geoms: np.ndarray
) -> list[int]:
    """Up to `k` free parcels: `seed`, then repeatedly the free near parcel closest to `seed`."""
    cluster = [seed]
    while len(cluster) < k:
        frontier = {q for p in cluster for q in near[p] if q in free and q not in cluster}
        if not frontier:
            break
        cluster.append(min(sorted(frontier), key=lambda q: geoms[seed].distance(geoms[q])))
    return cluster


def place_clusters(
    rng: np.random.Generator,
    sizes: dict[int, int],
    free: set[int],
    near: list[list[int]],
    geoms: np.ndarray,
) -> Holdings:
    """Give each firm `sizes[f]` near parcels taken from `free` (updated in place)."""
    holdings: Holdings = {}
    for firm, k in sorted(sizes.items(), key=lambda item: -item[1]):  # largest first
        for seed in rng.permutation(sorted(free)).tolist():
            cluster = grow_cluster(seed, k, free, near, geoms)
            if len(cluster) == k:
                break
        else:
            raise AssertionError(f"no room for {k} near parcels")
        holdings[firm] = cluster
        free.difference_update(cluster)
    return holdings


def allocate_2021(
    rng: np.random.Generator, firms: pd.DataFrame, parcels: gpd.GeoDataFrame
) -> Holdings:
    """2021 land: vacancy, single/multi-parcel holders, shared parcels with co-holders."""
    n_parcels = len(parcels)
    landed = firms.index[(firms["status"] != "closed") & ~firms["lessee"]].to_numpy()
    landed = [int(f) for f in rng.permutation(landed)]
    n_hosts = round(SHARED_SHARE * (1 - VACANT_SHARE) * n_parcels)
    extras = 1 + (rng.random(n_hosts) < 0.3)
    coholders, primaries = landed[: extras.sum()], landed[extras.sum() :]
    sizes = {f: draw_size(rng) for f in primaries}
    n_vacant = n_parcels - sum(sizes.values())
    vacant = set(rng.choice(n_parcels, n_vacant, replace=False).tolist())
    group = parcels["园区"].fillna("").tolist()
    in_parks = {p for p in range(n_parcels) if p not in vacant and group[p] != ""}
    multi = {f: k for f, k in sizes.items() if k > 1}
    geoms = parcels.geometry.to_numpy()
    holdings = place_clusters(rng, multi, in_parks, near_parcels(parcels), geoms)
    taken = vacant.union(*holdings.values())
    rest = [p for p in range(n_parcels) if p not in taken]
    singles = [f for f in primaries if sizes[f] == 1]
    holdings.update({f: [p] for f, p in zip(singles, rest, strict=True)})
    area = parcels.area.to_numpy()
    hosts = [f for f in singles if area[holdings[f][0]] > 10 * MU_M2]
    pos = 0
    for host, n_extra in zip(rng.choice(hosts, len(extras), replace=False), extras, strict=True):
        for f in coholders[pos : pos + n_extra]:
            holdings[f] = list(holdings[host])
        pos += n_extra
    return holdings


def holders_of(holdings: Holdings) -> dict[int, list[int]]:
    """Invert holdings: parcel index -> firms listing it."""
    out: dict[int, list[int]] = {}
    for firm, plist in holdings.items():
        for p in plist:
            out.setdefault(p, []).append(firm)
    return out


def allocate_2016(
    rng: np.random.Generator, firms: pd.DataFrame, parcels: gpd.GeoDataFrame, h21: Holdings
) -> Holdings:
    """Derive the 2016 land holdings from the 2021 ones.

    Continuing firms mostly keep their parcels, closed firms sit on land that is reused later, and
    some continuing firms held surplus parcels in 2016 that they released afterwards.
    """
    near = near_parcels(parcels)
    geoms = parcels.geometry.to_numpy()
    status = firms["status"].to_numpy()
    h16 = {f: list(p) for f, p in h21.items() if status[f] == "both"}
    for plist in h16.values():  # a few firms expanded after 2016
        if len(plist) > 1 and rng.random() < 0.06:
            plist.pop()
    free = set(range(len(parcels))) - set(holders_of(h16))
    for f in firms.index[(status == "closed") & ~firms["lessee"]]:
        seed = int(rng.choice(sorted(free)))
        h16[f] = grow_cluster(seed, draw_size(rng), free, near, geoms)
        free.difference_update(h16[f])
    owner = {p: fs[0] for p, fs in holders_of(h16).items() if len(fs) == 1}
    target_vacant = round(VACANT_SHARE * len(parcels))
    for p in rng.permutation(sorted(free)).tolist():
        if len(free) <= target_vacant:
            break
        neighbours = [owner[q] for q in near[p] if q in owner and status[owner[q]] == "both"]
        holders = [f for f in neighbours if len(h16[f]) < MAX_PARCELS]
        if holders:
            h16[holders[0]].append(p)
            owner[p] = holders[0]
            free.remove(p)
    return h16


def assign_size_class(
    rng: np.random.Generator, firms: pd.DataFrame, eff_land: dict[int, np.ndarray]
) -> dict[int, np.ndarray]:
    """规上/规下 per firm and year: the larger-land, more productive 35 % are 规上."""
    best = np.maximum(eff_land[2016], eff_land[2021])
    pseudo = np.exp(rng.normal(math.log(2.0), 0.6, len(firms)))
    land = np.where(best > 0, best, pseudo)
    score = np.log(land) + firms["effect"].to_numpy() + rng.normal(0, 0.5, len(firms))
    above = score >= np.quantile(score, 1 - ABOVE_SIZE_SHARE)
    grew = above & (rng.random(len(firms)) < 0.06)  # 规下 in 2016, 规上 by 2021
    shrank = ~above & (rng.random(len(firms)) < 0.01)
    return {2016: (above & ~grew) | shrank, 2021: above}


def effective_land(holdings: Holdings, area_mu: np.ndarray, n_firms: int) -> np.ndarray:
    """Per firm: sum of its parcels' surveyed mu, a shared parcel split among its holders."""
    holders = holders_of(holdings)
    out = np.zeros(n_firms)
    for firm, plist in holdings.items():
        out[firm] = sum(area_mu[p] / len(holders[p]) for p in plist)
    return out


# --------------------------------------------------------------------------------------------
# Filing figures
# --------------------------------------------------------------------------------------------


def firm_years(firms: pd.DataFrame) -> pd.DataFrame:
    """One row per enterprise per year it filed."""
    rows = []
    for year, absent in ((2016, "new"), (2021, "closed")):
        idx = firms.index[firms["status"] != absent]
        rows.append(pd.DataFrame({"firm": idx, "year": year}))
    return pd.concat(rows, ignore_index=True)


def unit_shares(holdings: Holdings, area_mu: np.ndarray) -> dict[int, float]:
    """Per firm with land, its share of its land unit's surveyed mu: the firms linked by
    shared parcels form a unit, whose land is split equally between them (mujun's rule for
    tables that add up firms, when the filings give no declared area)."""
    parent = {f: f for f in holdings}

    def root(f: int) -> int:
        while parent[f] != f:
            parent[f] = parent[parent[f]]
            f = parent[f]
        return f

    for plist_holders in holders_of(holdings).values():
        for other in plist_holders[1:]:
            parent[root(other)] = root(plist_holders[0])
    land: dict[int, set[int]] = {}
    members: dict[int, int] = {}
    for firm, plist in holdings.items():
        r = root(firm)
        land.setdefault(r, set()).update(plist)
        members[r] = members.get(r, 0) + 1
    return {f: float(sum(area_mu[p] for p in land[root(f)])) / members[root(f)] for f in holdings}


def land_of(rows: pd.DataFrame, holdings: dict[int, Holdings], area_mu: np.ndarray) -> float:
    """Surveyed mu of the given rows' land: each row its share of its land unit, so a unit
    shared by a 规上 and a 规下 firm counts in each group only in part."""
    shares = {y: unit_shares(holdings[y], area_mu) for y in holdings}
    return float(
        sum(shares[y].get(f, 0.0) for f, y in zip(rows["firm"], rows["year"], strict=True))
    )


def raw_value_added(
    rng: np.random.Generator, rows: pd.DataFrame, firms: pd.DataFrame, eff_land: np.ndarray
) -> np.ndarray:
    """Unscaled value added: land x firm effect x year noise x industry and size multipliers."""
    f = rows["firm"].to_numpy()
    lessee = eff_land <= 0
    land = np.where(lessee, np.exp(rng.normal(math.log(2.5), 0.6, len(rows))), eff_land)
    industry = firms["industry"].to_numpy()[f]
    mult = np.array([INDUSTRIES[c][2] for c in industry])
    mult *= np.where(rows["above"], 1.0, 0.45) * np.where(lessee, 0.7, 1.0)
    noise = firms["effect"].to_numpy()[f] + rng.normal(0, 0.45, len(rows))
    return land * mult * np.exp(noise)


def calibrate(
    rows: pd.DataFrame, va_raw: np.ndarray, tax_raw: np.ndarray, land_above: dict[int, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Scale value added and tax per year so 规上 landed firms hit the target per-mu averages."""
    va, tax = va_raw.copy(), tax_raw.copy()
    for year in YEARS:
        in_year = (rows["year"] == year).to_numpy()
        ref = in_year & rows["above"].to_numpy() & rows["landed"].to_numpy()
        va[in_year] *= TARGET_VA[year] * land_above[year] / va_raw[ref].sum()
        neg = tax_raw < 0
        need = TARGET_TAX[year] * land_above[year] - tax_raw[ref & neg].sum()
        tax[in_year & ~neg] *= need / tax_raw[ref & ~neg].sum()
    return va, tax


def derived_figures(rng: np.random.Generator, rows: pd.DataFrame, va: np.ndarray) -> dict:
    """Revenue, R&D, staff, energy, electricity and emissions consistent with value added."""
    n = len(rows)
    revenue = va * rng.uniform(3.0, 4.5, n)
    rnd = revenue * rng.uniform(0.005, 0.04, n)
    rnd[~rows["above"].to_numpy() & (rng.random(n) < 0.2)] = np.nan
    staff = np.maximum(1, np.round(va / rng.uniform(15, 25, n))).astype(int)
    staff[rng.random(n) < 0.005] = 0
    energy = va / rng.uniform(1.5, 4.0, n)
    share = np.minimum(0.81 * np.exp(rng.normal(0, 0.2, n)), 0.98)  # electricity share of tce
    power = energy * share / 1.229  # 1 万kWh = 1.229 tce (当量值)
    emissions = np.maximum(va / rng.uniform(3000, 6000, n), 0.001)
    emissions[rng.random(n) < 0.10] = np.nan
    return {
        "营业收入(万元)": revenue.round(2),
        "研发经费支出(万元)": rnd.round(2),
        "年平均职工人数": staff,
        "综合能耗(吨标煤)": energy.round(2),
        "用电量(万千瓦时)": power.round(2),
        "主要污染物排放量(吨)": emissions.round(3),
    }


def build_filings(
    rng: np.random.Generator,
    firms: pd.DataFrame,
    holdings: dict[int, Holdings],
    above: dict[int, np.ndarray],
    parcels: gpd.GeoDataFrame,
) -> pd.DataFrame:
    """The filings table, one row per enterprise per year, with calibrated figures."""
    area_mu = (parcels.area / MU_M2).to_numpy()
    ids = parcels["宗地号"].to_numpy()
    rows = firm_years(firms)
    rows["above"] = [bool(above[y][f]) for f, y in zip(rows["firm"], rows["year"], strict=True)]
    rows["landed"] = [f in holdings[y] for f, y in zip(rows["firm"], rows["year"], strict=True)]
    eff = {y: effective_land(holdings[y], area_mu, len(firms)) for y in YEARS}
    eff_row = np.array([eff[y][f] for f, y in zip(rows["firm"], rows["year"], strict=True)])
    va_raw = raw_value_added(rng, rows, firms, eff_row)
    tax_raw = va_raw * np.exp(rng.normal(0, 0.45, len(rows))) * np.where(rows["above"], 1, 0.8)
    refunds = rng.random(len(rows)) < 0.01
    tax_raw[refunds] = -rng.uniform(0.5, 20, refunds.sum())
    ref = rows.loc[rows["above"] & rows["landed"]]
    land_above = {y: land_of(ref.loc[ref["year"] == y], holdings, area_mu) for y in YEARS}
    va, tax = calibrate(rows, va_raw, tax_raw, land_above)
    f = rows["firm"].to_numpy()
    out = pd.DataFrame(
        {
            "统一社会信用代码": firms["code"].to_numpy()[f],
            "企业名称": firms["name"].to_numpy()[f],
            "年份": rows["year"].to_numpy(),
            "所属行业": firms["industry"].to_numpy()[f],
            "规模": np.where(rows["above"], "规上", "规下"),
            "宗地号": [
                "、".join(sorted(ids[holdings[y].get(fi, [])]))
                for fi, y in zip(f, rows["year"], strict=True)
            ],
            "实缴税金(万元)": tax.round(2),
            "工业增加值(万元)": va.round(2),
            **derived_figures(rng, rows, va),
        }
    )
    return out[FILING_COLUMNS]


def declared_area(rng: np.random.Generator, area_mu: np.ndarray) -> np.ndarray:
    """Registered area: 85 % within ±1.5 % of the survey, 15 % off by 5-25 % either way."""
    n = len(area_mu)
    ratio = 1 + rng.uniform(-0.015, 0.015, n)
    off = rng.random(n) < 0.15
    ratio[off] = 1 + rng.choice([-1, 1], off.sum()) * rng.uniform(0.05, 0.25, off.sum())
    return (area_mu * ratio).round(2)


# --------------------------------------------------------------------------------------------
# Output and summary
# --------------------------------------------------------------------------------------------


def write_outputs(
    out: Path, parks: gpd.GeoDataFrame, parcels: gpd.GeoDataFrame, filings: pd.DataFrame
) -> None:
    """Write both GeoPackages (EPSG:4490) and the UTF-8-with-BOM CSV."""
    out.mkdir(parents=True, exist_ok=True)
    # a fixed GeoPackage timestamp keeps re-generated files byte-identical
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2022-05-24T00:00:00.000Z"})
    for gdf, name in ((parcels, "parcels"), (parks, "parks")):
        path = out / f"{name}.gpkg"
        path.unlink(missing_ok=True)
        geo = gdf.to_crs(OUT_CRS)
        assert geo.is_valid.all()
        # keep single Polygons as Polygons (the layer type becomes generic "Geometry")
        geo.to_file(path, layer=name, driver="GPKG", engine="pyogrio", promote_to_multi=False)
    filings.to_csv(out / "filings.csv", index=False, encoding="utf-8-sig")


def achieved_per_mu(filings: pd.DataFrame, area_mu: dict[str, float]) -> dict[int, tuple]:
    """规上 tax and value added per surveyed mu of their land, per year: each firm its equal
    share of its land unit (the firms linked by shared parcels), read back from the table."""
    index = {pid: i for i, pid in enumerate(area_mu)}
    areas = np.array(list(area_mu.values()))
    out = {}
    for year in YEARS:
        rows = filings.loc[(filings["年份"] == year) & (filings["宗地号"].fillna("") != "")]
        holdings = {
            int(k): [index[i] for i in cell.split("、")] for k, cell in rows["宗地号"].items()
        }
        shares = unit_shares(holdings, areas)
        above = rows.loc[rows["规模"] == "规上"]
        land = sum(shares[int(k)] for k in above.index)
        out[year] = (above["实缴税金(万元)"].sum() / land, above["工业增加值(万元)"].sum() / land)
    return out


def content_hashes(out: Path) -> tuple[str, str]:
    """SHA-256 of the CSV bytes and of the parcels layer as read back (attributes + WKB)."""
    csv_hash = hashlib.sha256((out / "filings.csv").read_bytes()).hexdigest()
    back = gpd.read_file(out / "parcels.gpkg", layer="parcels")
    digest = hashlib.sha256(back.drop(columns="geometry").to_csv(index=False).encode())
    for geom in back.geometry:
        digest.update(geom.wkb)
    return csv_hash[:16], digest.hexdigest()[:16]


def summarise(
    out: Path, parks: gpd.GeoDataFrame, parcels: gpd.GeoDataFrame, filings: pd.DataFrame
) -> str:
    """A human-readable summary of what was generated and the calibration achieved."""
    area = dict(zip(parcels["宗地号"], parcels.area / MU_M2, strict=True))
    mismatch = (parcels["登记用地面积(亩)"] / (parcels.area / MU_M2) - 1).abs() > 0.05
    lines = [
        f"parcels {len(parcels)} ({(parcels.geom_type == 'MultiPolygon').sum()} MultiPolygon, "
        f"{parcels['园区'].isna().sum()} outside parks, {min(area.values()):.1f}–"
        f"{max(area.values()):.1f} mu, median {np.median(list(area.values())):.1f}), "
        f"parks {len(parks)} "
        f"({', '.join(f'{a / 1e6:.1f}' for a in parks.area)} km²)",
        f"enterprises {filings['统一社会信用代码'].nunique()}, lessees (blank 宗地号) "
        f"{filings.loc[filings['宗地号'] == '', '统一社会信用代码'].nunique()}, "
        f"declared-area mismatches >5 %: {mismatch.sum()}",
    ]
    achieved = achieved_per_mu(filings, area)
    for year in YEARS:
        rows = filings.loc[filings["年份"] == year]
        cells = rows["宗地号"].str.split("、").loc[rows["宗地号"] != ""]
        listed = pd.Series([i for c in cells for i in c]).value_counts()
        tax, va = achieved[year]
        lines.append(
            f"{year}: rows {len(rows)} (规上 {(rows['规模'] == '规上').sum()}), vacant parcels "
            f"{len(parcels) - len(listed)}, multi-parcel enterprises {(cells.str.len() > 1).sum()}"
            f", shared parcels {(listed > 1).sum()}; 规上 tax/mu {tax:.2f} (target "
            f"{TARGET_TAX[year]}), VA/mu {va:.2f} (target {TARGET_VA[year]})"
        )
    sizes = ", ".join(
        f"{p.name} {p.stat().st_size / 1024:.0f} KiB"
        for p in sorted(out.iterdir())
        if p.suffix in {".gpkg", ".csv"}
    )
    csv_hash, parcel_hash = content_hashes(out)
    lines += [f"files: {sizes}", f"sha256 filings.csv {csv_hash}…, parcels {parcel_hash}…"]
    return "\n".join(lines)


def main() -> None:
    """Generate everything, check it and print a summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent)
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    parks, parcels = build_geometry(rng)
    check_geometry(parks, parcels)
    parcels["用地性质"] = rng.choice(["M1", "M2", "M3"], len(parcels), p=[0.22, 0.68, 0.10])
    area_mu = (parcels.area / MU_M2).to_numpy()
    parcels["登记用地面积(亩)"] = declared_area(rng, area_mu)
    parcels = parcels[["宗地号", "园区", "用地性质", "登记用地面积(亩)", "geometry"]]
    firms = make_firms(rng)
    h21 = allocate_2021(rng, firms, parcels)
    holdings = {2016: allocate_2016(rng, firms, parcels, h21), 2021: h21}
    eff = {y: effective_land(holdings[y], area_mu, len(firms)) for y in YEARS}
    above = assign_size_class(rng, firms, eff)
    filings = build_filings(rng, firms, holdings, above, parcels)
    write_outputs(args.out, parks, parcels, filings)
    print(summarise(args.out, parks, parcels, filings))


if __name__ == "__main__":
    main()

"""The words of the map in Chinese and English (``[map] lang`` / ``--lang``).

Every label the page shows is looked up here, so a translation is one table, not a search
through the code. Values are ``str.format`` templates; ``{area}`` (after a quantity) and
``{per_area}`` (after "per") are the area unit of the run's vocabulary (亩, acres), and
``{money}`` the money unit (万元, USD), filled in before the page gets a template.
"""

from __future__ import annotations

from mujun.underuse import REASONS
from mujun.vocabulary import CHINA, Vocabulary

__all__ = ["CONFIDENTIAL", "SCHEMES", "TEXT", "UNITS", "Texts"]

_BASE: dict[str, tuple[str, str]] = {
    "parcel": ("宗地 {id}", "Parcel {id}"),
    "reading": (
        "正在读取地块属性、企业与检索……",
        "Reading the parcels' attributes, the firms and the search...",
    ),
    "basemap_failed": (
        "底图未能加载（无网络？）；地块照常显示。",
        "The basemap did not load (no network?); the parcels are drawn as usual.",
    ),
    "park": ("园区：{v}", "Park: {v}"),
    "firms": ("企业：{v}", "Enterprises: {v}"),
    "no_firm": ("（空置）", "(vacant)"),
    "surveyed": ("实测面积：{v} {area}", "Surveyed area: {v} {area}"),
    "declared": ("登记面积：{v} {area}（差 {d} %）", "Declared area: {v} {area} ({d} % off)"),
    "figure": ("{label}：{v} {unit}", "{label}: {v} {unit}"),
    "class": ("综合评价分类：{v}", "Class: {v}"),
    "change": ("亩均税收变化：{v} {unit}", "Change of tax per {per_area}: {v} {unit}"),
    "class_change": ("分类变化：{v}", "Class change: {v}"),
    "change_layer": (
        "亩均税收变化（{a}→{b}，{unit}）",
        "Change of tax per {per_area} ({a}→{b}, {unit})",
    ),
    "coverage": ("建筑系数：{v} %", "Building coverage: {v} %"),
    "far": ("，容积率：{v}", ", FAR: {v}"),
    "reasons": ("低效原因：{v}", "Underused: {v}"),
    "zone": ("整合片区：{v}", "Consolidation zone: {v}"),
    "tax": ("亩均税收", "Tax per {per_area}"),
    "value_added": ("亩均增加值", "Value added per {per_area}"),
    "revenue": ("亩均营业收入", "Revenue per {per_area}"),
    "assessed_value": ("单位面积评估价值", "Assessed value per {per_area}"),
    "year_in": ("{y} 年", "{y}"),
    "parcels_n": ("{n} 宗", "{n} parcels"),
    "all_parcels": ("全部地块（{n} 宗）", "All parcels ({n})"),
    "vacant_layer": ("空置地块（{n} 宗）", "Vacant parcels ({n})"),
    "class_layer": ("综合评价分类", "Evaluation class"),
    "class_counts": ("企业数，地块数", "enterprises, parcels"),
    "class_row": (
        "{label} {name}（{firms} 家，{n} 宗）",
        "{label} {name} ({firms} firms, {n} parcels)",
    ),
    "under_all": ("低效用地（全部，{n} 宗）", "Underused land (all, {n})"),
    "under_one": ("低效：{label}（{n} 宗）", "Underused: {label} ({n})"),
    "zones": ("整合提升片区（{n} 个）", "Consolidation zones ({n})"),
    "cold": ("低产出集聚（冷点，{n} 宗）", "Low-yield clusters (cold spots, {n})"),
    "parks": ("园区边界", "Park boundaries"),
    "title_year": ("（{y} 年）", " ({y})"),
    "vacant": ("空置", "vacant"),
    "unused_buildings": ("闲置建筑", "idle buildings"),
    "low_coverage": ("建筑系数<标准", "coverage under the minimum"),
    "low_far": ("容积率<行业标准", "FAR under the industry minimum"),
    "low_tax": ("亩均税收<底线", "tax per {per_area} under the floor"),
    "below_benchmark": ("亩均税收<基准", "tax per {per_area} under the benchmark"),
    "class_d": ("末档企业", "last class"),
    "d_streak": ("连续末档", "last class years running"),
    "sep": ("、", ", "),
    "firm_name": ("企业", "Enterprise"),
    "firm_class": ("分类", "Class"),
    "firm_score": ("综合得分", "Score"),
    "firm_to_next": ("升类所需亩均税收", "Tax per {per_area} for the next class"),
    "firm_to_leave_d": ("脱离末档所需亩均税收", "Tax per {per_area} to leave the last class"),
    "zone_line": ("第 {rank} 位，{n} 宗，{a} {area}", "rank {rank}, {n} parcels, {a} {area}"),
    "zone_show": ("只显示本片区地块", "Show this zone's parcels"),
    "cell": ("本格 {n} 宗地块，{a} {area}", "{n} parcels here, {a} {area}"),
    "cell_flags": ("空置 {vacant} 宗，低效 {under} 宗", "{vacant} vacant, {under} underused"),
    "cell_zoom": ("放大查看单个地块", "Zoom in for single parcels"),
    "search": ("搜索企业名称、信用代码或宗地号", "Search enterprise, credit code or parcel"),
    "all_class": ("全部分类", "All classes"),
    "all_park": ("全部园区", "All parks"),
    "all_industry2": ("全部行业", "All industries"),
    "all_reasons": ("全部低效原因", "All underuse reasons"),
    "all_zone_id": ("全部整合片区", "All consolidation zones"),
    "shown": ("显示 {n} 宗地块", "{n} parcels shown"),
    "export_geojson": ("导出 GeoJSON", "Export GeoJSON"),
    "export_csv": ("导出 CSV", "Export CSV"),
}

# One table per part of the page, so that the parts' words stay together.

_THEMES: dict[str, tuple[str, str]] = {
    # themes, overlays and the legend (themes.py, legend.js, layers.js)
    "default_title": ("亩均效益地图", "Land-use efficiency per {per_area}"),
    "themes": ("专题", "Theme"),
    "overlays": ("叠加图层", "Overlays"),
    "panel": ("图层与查询", "Layers and search"),
    "legend": ("图例", "Legend"),
    "find_head": ("查询与筛选", "Find and filter"),
    "tools_head": ("工具", "Tools"),
    "row_count": ("{label}（{n} 宗）", "{label} ({n})"),
    "below": ("低于 {v}", "below {v}"),
    "at_least": ("{v} 及以上", "{v} and over"),
    "scheme_breaks": ("分级：设定分界 {v}", "Classes: set lines at {v}"),
    "scheme_named": ("分级：{name}，{k} 级", "Classes: {name}, {k}"),
    "scheme_same": ("{scheme}（与 {y} 年相同）", "{scheme} (as in {y})"),
    "scheme_zero": (
        "分级：以 0 为中心，减少为红、增加为蓝",
        "Classes: centred on 0, decreases red, increases blue",
    ),
    "unchanged": ("0（不变）", "0 (unchanged)"),
    "none_vacant": ("无数值（空置）", "no value (vacant)"),
    "none_class": ("未分类", "not classed"),
    "outline_row": ("地块边界", "parcel boundary"),
    "score_layer": ("综合得分", "Score"),
    "score_unit": ("分（按用地加权）", "points (weighted by land)"),
    "sep_list": ("，", ", "),
    "zoom_in": ("放大", "Zoom in"),
    "close": ("关闭", "Close"),
    "zoom_out": ("缩小", "Zoom out"),
    "basemaps": ("底图", "Basemaps"),
    "orthophoto": ("正射影像", "Orthophoto"),
    "paren": ("（{v}）", " ({v})"),
    "register_layer": ("在册再开发地块（{n} 宗）", "In the redevelopment register ({n})"),
    "commitment_layer": ("未达承诺的标准地（{n} 宗）", "Land-grant commitments missed ({n})"),
}

SCHEMES: dict[str, tuple[str, str]] = {
    "Quantiles": ("分位数", "quantiles"),
    "NaturalBreaks": ("自然断点", "natural breaks"),
    "FisherJenks": ("Fisher-Jenks 自然断点", "Fisher-Jenks natural breaks"),
    "EqualInterval": ("等间距", "equal intervals"),
    "JenksCaspall": ("Jenks-Caspall 自然断点", "Jenks-Caspall natural breaks"),
    "HeadTailBreaks": ("头尾断点", "head/tail breaks"),
    "StdMean": ("均值±标准差", "mean and standard deviations"),
    "Percentiles": ("百分位", "percentiles"),
}
"""mapclassify's schemes in words (others are shown by their name)."""

UNITS: dict[str, tuple[str, str]] = {
    "万元/亩": ("万元/亩", "10k yuan/mu"),
    "元/m²": ("元/m²", "yuan/m²"),
    "万元/公顷": ("万元/公顷", "10k yuan/ha"),
    "USD/acre": ("美元/英亩", "USD/acre"),
}
"""The per-area money units (:class:`mujun.indicators.DisplayUnit` labels) in words."""

CLASS_NAMES: dict[str, tuple[str, str]] = {
    "优先发展": ("优先发展", "develop first"),
    "提升发展": ("提升发展", "upgrade"),
    "调控帮扶": ("调控帮扶", "regulate and support"),
    "倒逼整治": ("倒逼整治", "rectify"),
    "鼓励提升": ("鼓励提升", "encourage to upgrade"),
    "规范转型": ("规范转型", "regulate and transform"),
    "支持发展": ("支持发展", "support"),
    "限制发展": ("限制发展", "restrict"),
}
"""Class names that counties publish (docs/method.md) in words; others are shown as given."""

BASEMAPS: dict[str, tuple[str, str]] = {
    "osm": ("OpenStreetMap 地图", "OpenStreetMap"),
    "tianditu-vec": ("天地图矢量", "Tianditu map"),
    "tianditu-img": ("天地图影像", "Tianditu imagery"),
    "amap": ("高德地图", "AMap"),
    "esri-imagery": ("Esri 影像", "Esri imagery"),
}
"""The basemaps (:data:`mujun.maps.basemaps.BASEMAPS`) in words."""

MONEY: dict[str, tuple[str, str]] = {
    "万元": ("万元", "10k yuan"),
    "元": ("元", "yuan"),
    "USD": ("美元", "USD"),
}
"""The money units (:attr:`mujun.indicators.DisplayUnit.money_label`) in words."""

_ZONES: dict[str, tuple[str, str]] = {
    # the consolidation zones' tooltip and popup (zones.js)
    "zone_tip_head": ("片区 {id}（第 {rank} 位）", "Zone {id} (rank {rank})"),
    "zone_tip_land": ("地块：{n} 宗，{a} {area}", "Parcels: {n}, {a} {area}"),
    "zone_tip_firms": ("企业：{n} 家", "Enterprises: {n}"),
    "zone_tip_tax": ("现状税收：{v} {money}", "Tax now: {v} {money}"),
    "zone_tip_gain": (
        "达到园区中位亩均税收可增：{v} {money}",
        "Gain at the park's median tax per {per_area}: {v} {money}",
    ),
    "zone_tip_park": ("园区：{v}", "Park: {v}"),
    "zone_vacant": ("其中空置：{v} {area}", "of which vacant: {v} {area}"),
    "zone_share": ("占园区地块面积：{v} %", "Share of the park's parcel land: {v} %"),
    "zone_tax_per_area": (
        "亩均税收：{v} {unit}（园区中位数 {m}）",
        "Tax per {per_area}: {v} {unit} (park median {m})",
    ),
    "zone_potential": (
        "达到园区中位数时税收：{v} {money}",
        "Tax at the park's median: {v} {money}",
    ),
    "zone_reasons": ("低效原因（宗数）：{v}", "Why underused (parcels): {v}"),
    "zone_reason_n": ("{label} {n} 宗", "{label}: {n}"),
    "zone_firms_head": ("企业（{n} 家）", "Enterprises ({n})"),
    "zone_parcels_head": ("各地块入选原因（{n} 宗）", "Why each parcel is in the zone ({n})"),
    "zone_col_parcel": ("宗地", "Parcel"),
    "zone_col_reasons": ("低效原因", "Reasons"),
    "zone_col_class": ("分类", "Class"),
    "zone_parcel_open": ("点宗地号打开该地块", "Click a parcel id to open it"),
    "zone_export": ("导出本片区地块（GeoJSON）", "Export this zone's parcels (GeoJSON)"),
}

_FIND: dict[str, tuple[str, str]] = {
    # filters by a figure, lessees, the kept highlight (find.js) and the table (table.js)
    "fig_any": ("按指标筛选（不限）", "Filter by a figure (none)"),
    "fig_lowest": ("最低 N 宗", "Lowest N parcels"),
    "fig_below": ("低于（{unit}）", "Below ({unit})"),
    "fig_clear": ("清除指标筛选", "Clear the figure filter"),
    "legend_chip": ("已筛选：{v}", "Filtered: {v}"),
    "legend_nodata": ("无数值", "no value"),
    "clear": ("清除", "Clear"),
    "kept": ("已选中：宗地 {id}", "Selected: parcel {id}"),
    "lessee": ("租赁企业，无自有地块", "lessee, no parcel of its own"),
    "lessee_class": ("分类 {v}", "class {v}"),
    "lessee_figure": ("{label} {v} {unit}", "{label} {v} {unit}"),
    "table_open": ("属性表", "Attribute table"),
    "table_close": ("关闭", "Close"),
    "table_rows": ("第 {a}–{b} 行，共 {n} 行", "Rows {a}–{b} of {n}"),
    "table_prev": ("上一页", "Previous"),
    "table_next": ("下一页", "Next"),
    "col_parcel_id": ("宗地号", "Parcel"),
    "col_park": ("园区", "Park"),
    "col_enterprises": ("企业", "Enterprises"),
    "col_class": ("分类", "Class"),
    "col_area": ("面积（{area}）", "Area ({area})"),
    "col_figure": ("{label}（{unit}）", "{label} ({unit})"),
    "col_coverage": ("建筑系数（%）", "Coverage (%)"),
    "col_far": ("容积率", "FAR"),
    "col_reasons": ("低效原因", "Underuse reasons"),
    "col_zone": ("整合片区", "Consolidation zone"),
    "unit_area": ("{area}", "{area}"),
}

_SHARE: dict[str, tuple[str, str]] = {
    # the permalink and the print layout (share.js), the measuring tool (measure.js)
    "copy_link": ("复制链接", "Copy link"),
    "link_copied": ("已复制本视图的链接", "Link to this view copied"),
    "paper": ("纸张", "Paper"),
    "paper_size": ("{p} 横向", "{p} landscape"),
    "print": ("打印", "Print"),
    "print_made": ("制图日期：{d}", "Made on {d}"),
    "print_source": ("来源：{v}", "Source: {v}"),
    "source_inputs": ("mujun {version}，输入：{files}", "mujun {version}, inputs: {files}"),
    "source_version": ("mujun {version}", "mujun {version}"),
    "measure": ("测量距离和面积", "Measure distance and area"),
    "measure_hint": (
        "单击地图加点，双击或按回车键结束，按退出键清除",
        "Click the map to add points; double-click or Enter ends, Esc clears",
    ),
    "measure_length": ("距离：{v}", "Distance: {v}"),
    "measure_perimeter": ("周长：{v}", "Perimeter: {v}"),
    "measure_area": ("面积：{m2}（{ha}，{u}）", "Area: {m2} ({ha}, {u})"),
    "measure_m": ("{v} 米", "{v} m"),
    "measure_km": ("{v} 公里", "{v} km"),
    "measure_m2": ("{v} 平方米", "{v} m²"),
    "measure_ha": ("{v} 公顷", "{v} ha"),
    "measure_in_area": ("{v} {area}", "{v} {area}"),
}

CONFIDENTIAL = frozenset(
    {
        "tax",
        "value_added",
        "revenue",
        "assessed_value",
        "change",
        "change_layer",
        "firm_score",
        "firm_to_next",
        "firm_to_leave_d",
        "score_layer",
        "commitment_layer",
        "score_unit",
        "zone_tip_tax",
        "zone_tip_gain",
        "zone_tax_per_area",
        "zone_potential",
        "low_tax",
        "below_benchmark",
        "class_d",
        "d_streak",
    }
)
"""Keys whose words speak of a firm's tax, value added, revenue or score (or reasons derived
from them): a public map's page never gets them. Add a new key here when it does."""

_SECTIONS = (_BASE, _THEMES, _ZONES, _FIND, _SHARE)


def _joined(sections: tuple[dict[str, tuple[str, str]], ...]) -> dict[str, tuple[str, str]]:
    """The sections as one table; a key in two sections is an error (one would silently
    replace the other's words)."""
    out: dict[str, tuple[str, str]] = {}
    for section in sections:
        twice = sorted(set(out) & set(section))
        if twice:
            raise ValueError(f"map text keys in two sections: {', '.join(twice)}")
        out.update(section)
    return out


TEXT: dict[str, tuple[str, str]] = _joined(_SECTIONS)
"""Every word of the map: key -> (Chinese, English)."""

_RECORDS: dict[str, tuple[str, str]] = {
    "firms": ("记录：{v}", "Records: {v}"),
    "firm_name": ("名称", "Name"),
    "search": ("搜索名称、记录或宗地号", "Search name, record or parcel"),
}
"""The words that differ when the rows are parcel records, not enterprises (value per acre)."""


_BASEMAP_ALIASES = {"openstreetmap": "osm", "tianditu": "tianditu-vec", "gaode": "amap"}
_BASEMAP_ALIASES["esri"] = "esri-imagery"


class Texts:
    """Look up the map's words in one language and vocabulary: ``tx("parcels_n", n=3)``."""

    def __init__(self, lang: str, *, vocab: Vocabulary = CHINA, money: str = "万元") -> None:
        if lang not in ("zh", "en"):
            raise ValueError(f"unknown map language {lang!r}; use zh or en")
        self.lang = lang
        self._i = 0 if lang == "zh" else 1
        self._area, self._per_area = vocab.area_words[lang]
        self._table = TEXT if vocab.enterprises else {**TEXT, **_RECORDS}
        self._money = MONEY[money][self._i] if money in MONEY else money

    def unit(self, label: str) -> str:
        """A per-area money unit in this language (``万元/亩``: ``10k yuan/mu``)."""
        return UNITS[label][self._i] if label in UNITS else label

    def class_name(self, name: str) -> str:
        """A class name of the configuration in this language, if it is a known one."""
        return CLASS_NAMES[name][self._i] if name in CLASS_NAMES else name

    def basemap(self, name: str) -> str:
        """A basemap's name in this language (its key if unknown; aliases resolved)."""
        key = _BASEMAP_ALIASES.get(name.lower(), name.lower())
        return BASEMAPS[key][self._i] if key in BASEMAPS else name

    def scheme(self, name: str) -> str:
        """A mapclassify scheme in words."""
        return SCHEMES[name][self._i] if name in SCHEMES else name

    def _template(self, key: str) -> str:
        """The template of ``key`` with the area unit in it (other fields still to fill)."""
        text = self._table[key][self._i]
        text = text.replace("{area}", self._area).replace("{per_area}", self._per_area)
        return text.replace("{money}", self._money)

    def __call__(self, key: str, **values: object) -> str:
        return self._template(key).format(**values)

    def page_texts(self, *, public: bool = False) -> dict[str, object]:
        """The templates the page's script fills in (tooltips, popups, controls, legends);
        a ``public`` page gets none of :data:`CONFIDENTIAL` (no word on tax)."""
        leave_out = CONFIDENTIAL if public else frozenset()
        texts: dict[str, object] = {
            k: self._template(k) for k in self._table if k not in leave_out and k not in REASONS
        }
        texts["reason"] = {code: self._template(code) for code in REASONS if code not in leave_out}
        return texts

"""Every word of the notice package in Chinese and English (``[map] lang`` / ``--lang``).

Values are ``str.format`` templates filled from the run's figures in Python; what reaches the
typst document is finished text inside the JSON data, never markup.
"""

from __future__ import annotations

__all__ = ["TEXT", "Texts"]

TEXT: dict[str, tuple[str, str]] = {
    # cover
    "title": (
        "{year}年度工业企业亩均效益综合评价结果公示",
        "Per-mu evaluation results {year}: public notice",
    ),
    "title_public": (
        "{year}年度工业企业亩均效益综合评价分类公示",
        "Per-mu evaluation classes {year}: public notice",
    ),
    "subtitle": ("亩均论英雄 · 公示材料", "Notice package of the per-mu evaluation"),
    "profile_internal": (
        "内部版（含税收等涉密数据，不得公开）",
        "Internal edition (confidential figures; not for publication)",
    ),
    "profile_public": (
        "公开版（不含企业税收、增加值、营业收入和得分）",
        "Public edition (no firm's tax, value added, revenue or score)",
    ),
    "publisher": ("发布单位：{v}", "Published by: {v}"),
    "published": ("发布日期：{v}", "Date: {v}"),
    "objection": (
        "公示期 {days} 天，自发布之日起计。对公示的用地面积、数据或分类有异议的企业，请在公示期内"
        "持书面材料向下列联系方式提出，逾期视为无异议。",
        "The lists are open for objection for {days} days from the date of publication. A firm "
        "that disputes its land area, figures or class should write to the contact below "
        "within that period, with documents; no objection by then means none.",
    ),
    "contact": ("联系方式：{v}", "Contact: {v}"),
    "placeholder_publisher": (
        "〔待填写：配置 [report] publisher〕",
        "[to fill in: [report] publisher in the config]",
    ),
    "placeholder_contact": (
        "〔待填写：联系人、电话、地址，配置 [report] contact〕",
        "[to fill in: office, telephone, address: [report] contact in the config]",
    ),
    "placeholder_published": (
        "〔待填写：配置 [report] published〕",
        "[to fill in: [report] published in the config]",
    ),
    "run_line": (
        "数据来源：mujun {version} 于 {finished}（UTC）完成的计算；评价年度 {year}，"
        "工作坐标系 {crs}，面积为实测面积。",
        "Source: the mujun {version} run finished {finished} (UTC); evaluation year {year}, "
        "working CRS {crs}, areas surveyed.",
    ),
    "contents": ("目录", "Contents"),
    # county summary
    "summary": ("一、全县概况", "1. County summary"),
    "summary_text": (
        "全县参评工业用地 {parcels} 宗、实测 {land} 亩，其中空置 {vacant} 宗；参评企业 {firms} 家"
        "（规上 {above} 家）。",
        "The county's {parcels} industrial parcels measure {land} mu (surveyed), {vacant} of "
        "them vacant; {firms} firms were evaluated ({above} above designated size).",
    ),
    "county_table": (
        "亩均效益（万元/亩，按企业实际用地）",
        "Per-mu figures (10k yuan/mu, on the land the firms use)",
    ),
    "list": ("名单", "List"),
    "scale": ("规模", "Size"),
    "scale_above": ("规上企业", "Above designated size"),
    "scale_below": ("规下企业", "Below designated size"),
    "county_lists": ("按评价名单（万元/亩）", "By evaluation list (10k yuan/mu)"),
    "county_note": (
        "按规模统计为各规模企业自身的税收与用地；评价名单以用地单元为单位，含规上企业的共用地块整体列入规上名单。"
        "租赁企业无自有用地，不计亩均。",
        "By size: each size's own firms, tax and land. Lists are made of land units: a shared "
        "parcel with any firm above designated size is on that list whole. Lessees hold no "
        "land and have no per-mu figure.",
    ),
    "year": ("年度", "Year"),
    "firms_n": ("企业数", "Firms"),
    "land_mu": ("用地(亩)", "Land (mu)"),
    "tax_per_mu": ("亩均税收", "Tax/mu"),
    "value_added_per_mu": ("亩均增加值", "VA/mu"),
    "revenue_per_mu": ("亩均营业收入", "Revenue/mu"),
    "all_lists": ("全部", "All"),
    "class_mix": ("分类构成（{year} 年，企业数）", "Class mix ({year}, firms)"),
    "class_col": ("分类", "Class"),
    "share": ("占比", "Share"),
    "changes": ("{a}→{b} 年变化", "Change {a}→{b}"),
    "changes_text": (
        "两年均参评的企业 {n} 家：分类上升 {up} 家、下降 {down} 家、不变 {same} 家。",
        "{n} firms were evaluated in both years: {up} moved up a class, {down} down, {same} "
        "stayed.",
    ),
    "changes_tax": (
        "全县亩均税收由 {a} 升至 {b} 万元/亩（{d:+.2f}）。",
        "The county's tax per mu went from {a} to {b} (10k yuan/mu, {d:+.2f}).",
    ),
    "park_changes": ("园区变化", "Parks: change"),
    "park": ("园区", "Park"),
    "from": ("{y} 年", "{y}"),
    "change": ("变化", "Change"),
    # maps and charts
    "maps": ("二、分布图", "2. Maps"),
    "map_county": ("全县{what}（{year} 年）", "The county: {what} ({year})"),
    "map_park": ("{park}：{what}（{year} 年）", "{park}: {what} ({year})"),
    "map_tax": ("亩均税收", "tax per mu"),
    "map_class": ("企业分类", "classes"),
    "map_note": (
        "底色：{what}；斜线：低效用地；紫色虚线：整合提升片区；灰色：无数据或空置。",
        "Fill: {what}; hatching: underused land; purple dashed: consolidation zones; grey: no "
        "data or vacant.",
    ),
    "map_note_county": (
        "底色：{what}；灰色：无数据或空置；低效用地与片区见各园区图。",
        "Fill: {what}; grey: no data or vacant; underused land and zones on the park maps.",
    ),
    "map_source": ("来源：{v}；制图 {date}", "Source: {v}; drawn {date}"),
    "legend_tax": ("亩均税收（万元/亩）", "Tax per mu (10k yuan/mu)"),
    "legend_class": ("分类", "Class"),
    "legend_under": ("低效用地", "Underused"),
    "legend_zone": ("整合提升片区", "Consolidation zone"),
    "legend_none": ("无数据/空置", "no data / vacant"),
    "north": ("北", "N"),
    "km": ("公里", "km"),
    "m": ("米", "m"),
    "charts": ("三、统计图", "3. Charts"),
    "chart_hist": (
        "亩均税收分布与分类界线（{list}，{year} 年）",
        "Tax per mu and the class lines ({list}, {year})",
    ),
    "chart_hist_x": ("亩均税收（万元/亩）", "Tax per mu (10k yuan/mu)"),
    "chart_hist_y": ("企业数", "Firms"),
    "chart_cut": ("{a}/{b} 界线", "{a}/{b} line"),
    "chart_mix": ("各园区分类构成（{year} 年）", "Class mix by park ({year})"),
    "chart_mix_x": ("企业占比", "Share of firms"),
    "chart_change": ("各园区亩均税收 {a}→{b}", "Tax per mu by park, {a}→{b}"),
    # lists
    "lists": ("四、公示名单", "4. The lists"),
    "list_title": ("{list}（{n} 家）", "{list} ({n} firms)"),
    "list_note": (
        "按综合得分排名。亩均指标按实测用地面积计算；共用地块的企业合并评价、共享结果。",
        "Ranked by score. Per-mu figures divide by the surveyed land; firms sharing land are "
        "evaluated together and share one result.",
    ),
    "list_note_public": (
        "按分类、统一社会信用代码排列；公开版不列税收、增加值和得分。",
        "By class and credit code; the public edition shows no tax, value added or score.",
    ),
    "rank": ("排名", "Rank"),
    "uscc": ("统一社会信用代码", "Credit code"),
    "name": ("企业名称", "Firm"),
    "land": ("用地(亩)", "Land (mu)"),
    "score": ("得分", "Score"),
    "class": ("分类", "Class"),
    "to_next": ("升档需亩均税收", "Tax/mu for next class"),
    "to_leave_d": ("脱离D档需亩均税收", "Tax/mu to leave D"),
    "tax_per_kwh": ("单位电耗税收", "Tax/kWh"),
    "no_lists": ("本次计算没有分类结果。", "This run has no classes."),
    # underuse and parks
    "under": ("五、低效用地与整合提升片区", "5. Underused land and consolidation zones"),
    "under_text": (
        "低效用地 {n} 宗、{land} 亩；整合提升片区 {zones} 个、{zone_land} 亩。",
        "{n} parcels ({land} mu) are underused; {zones} consolidation zones cover {zone_land} mu.",
    ),
    "under_gain": (
        "其中 {k} 个片区达到所在园区亩均税收中位数可增税收 {gain} 万元/年。",
        "Of these, {k} zones would gain {gain} (10k yuan a year) at their park's median tax "
        "per mu.",
    ),
    "reason": ("原因", "Reason"),
    "parcels_n": ("宗数", "Parcels"),
    "zones_table": ("整合提升片区（前 {n} 个）", "Consolidation zones (first {n})"),
    "zone": ("片区", "Zone"),
    "zone_rank": ("序", "Rank"),
    "zone_reasons": ("主要原因", "Reasons"),
    "zone_gain": ("可增税收(万元/年)", "Gain (10k yuan/yr)"),
    "zone_tax": ("现状亩均税收", "Tax/mu now"),
    "vacant_mu": ("其中空置(亩)", "Vacant (mu)"),
    "parks_table": ("六、园区情况（{year} 年）", "6. Parks ({year})"),
    "underused_mu": ("低效(亩)", "Underused (mu)"),
    "vacant_n": ("空置宗数", "Vacant"),
    "zones_n": ("片区数", "Zones"),
    # method and data quality
    "cycle": (
        "七、年度评价周期：更正、承诺与再开发",
        "7. The yearly cycle: corrections, commitments, redevelopment",
    ),
    "corrections_h": ("公示异议更正", "Corrections after objection"),
    "corrections_text": (
        "公示期后根据企业异议和依据文件更正申报数据 {n} 项（{firms} 家企业）：{fields}。"
        "本结果按更正后的数据计算。",
        "After the objection period {n} figures of {firms} firms were corrected on documents "
        "({fields}); these results are computed on the corrected figures.",
    ),
    "col_firm": ("企业", "Firm"),
    "col_field": ("更正项目", "Figure"),
    "col_old": ("原值", "Was"),
    "col_new": ("更正值", "Now"),
    "col_unit": ("单位", "Unit"),
    "col_reason": ("理由", "Reason"),
    "col_document": ("依据文件", "Document"),
    "compare_h": ("与公示结果的比较", "Compared with the notice"),
    "compare_text": (
        "与 {finished}（UTC）完成的计算相比，得分、排名、分类或亩均指标有变化的企业 {n} 家次，"
        "分类变化 {moved} 家；地块的低效认定、片区或分类有变化的 {parcels} 宗。",
        "Against the run finished {finished} (UTC), {n} firm-years changed score, rank, class "
        "or per-mu figures, {moved} of them class; {parcels} parcels changed underuse, zone or "
        "class.",
    ),
    "compare_note": (
        "比较按公示的精度（两位小数）进行；排名和分类的任何变化都列出。按名额比例分档时，"
        "一家企业升档会使另一家企业降档。",
        "Figures are compared as published (2 decimals); any change of rank or class is "
        "listed. With classes by shares, one firm moving up moves another down.",
    ),
    "col_list": ("名单", "List"),
    "col_rank": ("排名", "Rank"),
    "col_class": ("分类", "Class"),
    "col_score": ("得分", "Score"),
    "commitments_h": ("标准地承诺履约", "Land-grant commitments"),
    "commitments_text": (
        "承诺 {listed} 宗，已到期 {due} 宗，其中未达承诺 {short} 宗；未到期 {later} 宗。"
        "投资强度不在申报数据中，只列承诺值。",
        "{listed} commitments, {due} due, {short} of them missed; {later} not yet due. "
        "Investment intensity is not in the filings and is listed as committed only.",
    ),
    "col_parcel": ("宗地号", "Parcel"),
    "col_due": ("到期年份", "Due"),
    "col_status": ("状态", "Status"),
    "col_missed": ("未达指标", "Missed"),
    "due": ("已到期", "due"),
    "not yet due": ("未到期", "not yet due"),
    "far": ("容积率", "FAR"),
    "output_per_mu": ("亩均产出", "Output/mu"),
    "register_h": ("低效用地再开发台账", "Redevelopment register"),
    "register_text": (
        "台账内地块 {n} 宗（{status}）；"
        "本次认定的低效用地中 {known} 宗已在台账内，新发现 {new} 宗。",
        "{n} parcels are in the register ({status}); of the underused land found, {known} "
        "parcels are in it and {new} are newly found.",
    ),
    "col_measure": ("措施", "Measure"),
    "col_year": ("年份", "Year"),
    "col_underused": ("本次低效", "Underused now"),
    "col_tax_change": ("亩均税收变化", "Change of tax/mu"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "identified": ("已认定", "identified"),
    "planned": ("已计划", "planned"),
    "in progress": ("实施中", "in progress"),
    "done": ("已完成", "done"),
    "method": ("八、评价方法", "8. Method"),
    "method_preset": (
        "方法预设：{v}；评分方法：{m}；基准：{b}。",
        "Preset: {v}; scoring: {m}; benchmarks: {b}.",
    ),
    "bench_group_mean": (
        "未公布基准的指标取本名单平均值（总量比总量）",
        "indicators without a published benchmark take the list's average (total over total)",
    ),
    "bench_industry_mean": (
        "未公布基准的指标取本行业平均值",
        "indicators without a published benchmark take the industry's average",
    ),
    "score_benchmark": (
        "得分 = Σ 权重 × 指标值 / 基准值（达到全部基准得 100 分）",
        "score = Σ weight × value / benchmark (100 at every benchmark)",
    ),
    "score_minmax": ("极差标准化（下限 {f} %）", "min-max scaling (floor {f} %)"),
    "weights": ("指标与权重", "Indicators and weights"),
    "indicator": ("指标", "Indicator"),
    "weight": ("权重", "Weight"),
    "benchmark": ("基准值", "Benchmark"),
    "computed": ("计算", "computed"),
    "class_rule_shares": (
        "分类：各名单内按得分排名，{shares} 依次为 {labels}。",
        "Classes: ranked within each list, {shares} are {labels} in turn.",
    ),
    "class_rule_thresholds": (
        "分类：得分达到 {thresholds} 分依次为 {labels}，其余为末档。",
        "Classes: scores of at least {thresholds} are {labels} in turn, the rest the last class.",
    ),
    "class_floor": (
        "亩均税收低于 {v} 万元/亩直接列末档。",
        "Tax per mu under {v} (10k yuan/mu) means the last class.",
    ),
    "policy": ("差别化政策：{v}", "Differentiated policies: {v}"),
    "policy_surcharge": (
        "{label} 类差别电价加价 {v} 元/千瓦时",
        "class {label}: electricity surcharge {v} yuan/kWh",
    ),
    "policy_streak": (
        "连续 {n} 年末档加价 {v} 元/千瓦时",
        "{n} years in the last class: {v} yuan/kWh",
    ),
    "policy_none": ("未配置", "none configured"),
    "underuse_rule": (
        "低效用地：空置；建筑系数低于 {cov} %；容积率低于行业标准；亩均税收低于 {floor} 万元/亩；"
        "末档企业用地。"
        "相距 {gap} 米以内的低效地块合并为整合提升片区（至少 {k} 宗）。",
        "Underused land: vacant; coverage under {cov} %; FAR under the industry minimum; tax "
        "per mu under {floor}; land of last-class firms. Underused parcels within {gap} m form "
        "consolidation zones (at least {k} parcels).",
    ),
    "quality": ("九、数据质量", "9. Data quality"),
    "ledger": ("输入记录去向", "What became of every input record"),
    "source": ("文件", "File"),
    "fate": ("去向", "Fate"),
    "records": ("记录数", "Records"),
    "join_text": (
        "关联：申报数据所列宗地号 {a} 个中找到 {b} 个（{rate}）；"
        "地块被 {y} 年申报引用 {c} / {d} 宗（{rate2}）。",
        "Join: {b} of {a} parcel ids listed by the filings were found ({rate}); {c} of {d} "
        "parcels are named by a filing of {y} ({rate2}).",
    ),
    "area_text": (
        "面积核查：平面与椭球面积相差 {d} %；登记面积与实测面积相差超过 {tol} % 的地块 {n} 宗。",
        "Area check: plane vs ellipsoidal area {d} %; {n} parcels differ from their declared "
        "area by more than {tol} %.",
    ),
    "money_text": (
        "金额核对：申报税收 {a} 万元 = 企业表 {b} 万元 + 剔除 {c} 万元。",
        "Money check: filed tax {a} = enterprises {b} + set aside {c} (10k yuan).",
    ),
    "findings": ("发现的问题", "Findings"),
    "finding": ("问题", "Finding"),
    "notes": ("说明：{v}", "Note: {v}"),
    "page": ("第 {p} 页", "Page {p}"),
    "dash": ("—", "—"),
    "more_rows": ("另有 {n} 行见 XLSX。", "{n} more rows in the XLSX."),
    # list names
    "above_scale": ("规上企业", "Above designated size"),
    "below_scale": ("规下企业（用地≥{mu}亩）", "Below size, land ≥ {mu} mu"),
    "below_scale_small": ("规下企业（用地<{mu}亩）", "Below size, land < {mu} mu"),
    "lessee": ("租赁企业", "Lessees"),
    "parcels": ("地块", "Parcels"),
    # ledger fates and reasons
    "used": ("使用", "used"),
    "vacant": ("空置", "vacant"),
    "fixed": ("修复", "fixed"),
    "rejected": ("剔除", "rejected"),
    "orphan": ("无对应", "orphan"),
    "duplicate": ("重复", "duplicate"),
    "merged": ("合并", "merged"),
    "unused_buildings": ("闲置建筑", "idle buildings"),
    "low_coverage": ("建筑系数<标准", "coverage under the minimum"),
    "low_far": ("容积率<行业标准", "FAR under the industry minimum"),
    "low_tax": ("亩均税收<底线", "tax per mu under the floor"),
    "below_benchmark": ("亩均税收<基准", "tax per mu under the benchmark"),
    "class_d": ("末档企业", "last class"),
    "d_streak": ("连续末档", "last class years running"),
    "outside_parks": ("（园区外）", "(outside parks)"),
}


class Texts:
    """The report's words in one language: ``tx("title", year=2021)``."""

    def __init__(self, lang: str) -> None:
        if lang not in ("zh", "en"):
            raise ValueError(f"unknown report language {lang!r}; use zh or en")
        self.lang = lang
        self._i = 0 if lang == "zh" else 1

    def __call__(self, key: str, **values: object) -> str:
        return TEXT[key][self._i].format(**values)

    def get(self, key: str, default: str) -> str:
        """The word for ``key`` if the table has one (a reason, a fate), else ``default``."""
        return TEXT[key][self._i] if key in TEXT else default

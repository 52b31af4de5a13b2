"""Plain-text reports of a validation: grouped findings with counts and first examples."""

from __future__ import annotations

from mujun.join import JoinQA, qa_lines
from mujun.pipeline import Validation

__all__ = ["format_validation"]


def format_validation(validation: Validation, *, examples: int = 3) -> str:
    """A readable report: records and fates per file, then every kind of finding.

    Findings are grouped by file and kind (``rejected: bad value``, ``overlap``, ...), largest
    group first within a file, each with its count and the first ``examples`` records.
    """
    s = validation.summary.to_dict()
    lines = [f"working CRS: {s['working_crs_name']} ({s['working_crs']})"]
    lines += [f"note: {n}" for n in [*s.get("crs_notes", []), *s.get("notes", [])]]
    for source, n in s["records"].items():
        fates = ", ".join(f"{k} {v}" for k, v in s["ledger"].get(source, {}).items())
        lines.append(f"{source}: {n} records: {fates}")
    if s.get("join"):
        lines += qa_lines(JoinQA.from_dict(s["join"]))
    findings = validation.findings
    if findings.empty:
        lines.append("no problems found")
        return "\n".join(lines)
    lines.append("")
    lines.append("findings (kind: records; first examples):")
    groups = findings.groupby(["source", "check"], sort=False)
    order = (
        groups.size().reset_index(name="n").sort_values(["source", "n"], ascending=[True, False])
    )
    for source, check, n in order.itertuples(index=False):
        lines.append(f"  {source} · {check}: {n}")
        sample = groups.get_group((source, check)).sort_values("record").head(examples)
        for rec, key, detail in zip(sample["record"], sample["key"], sample["detail"], strict=True):
            where = "row" if source.lower().endswith((".csv", ".xlsx", ".xls")) else "feature"
            key_text = f" [{key}]" if isinstance(key, str) and key else ""
            lines.append(f"      {where} {rec}{key_text}: {detail}")
    return "\n".join(lines)

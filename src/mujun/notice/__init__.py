"""The notice package of a finished run (``mujun report OUT``): the PDF a county publishes
for objection (公示) and the lists as an XLSX, built from the run's exports."""

from mujun.notice.build import LISTS, Report, write_report

__all__ = ["LISTS", "Report", "write_report"]

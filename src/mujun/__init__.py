"""mujun (亩均): per-mu land-use efficiency of industrial parcels.

Joins surveyed parcel polygons to enterprise filings, measures efficiency per mu of actually
surveyed land, and writes planner maps and RFC 7946 exports.

>>> import mujun
>>> cfg = mujun.load_config(overrides={"output": {"overwrite": True}})
>>> cfg.output.display_unit
'万元/亩'
"""

from importlib.metadata import PackageNotFoundError, version

from mujun.config import Config, load_config
from mujun.outputs import write_outputs
from mujun.pipeline import RunResult, open_engine, run

try:
    __version__ = version("mujun")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "Config",
    "RunResult",
    "__version__",
    "load_config",
    "open_engine",
    "run",
    "write_outputs",
]

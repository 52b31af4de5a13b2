"""Scripts and stylesheets of the map, and the self-contained (offline) page.

The map needs only Leaflet 1.9.3 (the version folium pins); folium's other defaults (jQuery,
Bootstrap, Font Awesome, awesome-markers) serve popups with HTML, markers and widgets this map
does not use, so they are left out. Online pages load Leaflet from the CDN URL folium uses.
Offline pages embed it from the PyPI XStatic package mujun depends on (``xstatic-leaflet``),
with Leaflet's images as data URIs: nothing is fetched at run time, and the page draws with the
network cut (county intranets often are).

The page's own script is written as a few plain scripts in ``maps/js/`` (one concern each:
decoding, drawing, popups, the panel, start-up); :func:`page_script` joins them into the one
inline script the page embeds. No bundler and no network: each file only assigns its exports
into the namespace object ``mj`` that the joined script declares.
"""

from __future__ import annotations

import base64
import re
from functools import cache
from importlib import resources
from pathlib import Path

import xstatic.pkg.leaflet

from mujun.errors import MujunError

__all__ = [
    "CDN_CSS",
    "CDN_JS",
    "PAGE_MODULES",
    "inline_assets",
    "local_asset",
    "page_script",
    "page_style",
]

CDN_JS = {
    "leaflet": "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js",
}
CDN_CSS = {"leaflet_css": "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"}

PAGE_MODULES = (
    "decode",
    "dom",
    "layers",
    "legend",
    "popups",
    "zones",
    "panel",
    "find",
    "table",
    "share",
    "measure",
    "main",
)
"""The files of ``maps/js/`` in the order they run: each uses only those before it. A module
may have a stylesheet beside it (``maps/js/<name>.css``), joined by :func:`page_style`."""


@cache
def page_script() -> str:
    """The page's script: the files of :data:`PAGE_MODULES`, each in its own block (so their
    top-level names stay apart), inside one strict function that declares ``mj``.

    Raises ``ValueError`` if a file holds ``</`` or ``<!--``, which could end or confuse the
    script element the page puts it in.
    """
    folder = resources.files("mujun.maps").joinpath("js")
    parts = ['(function () {\n"use strict";\nconst mj = {};\n']
    for name in PAGE_MODULES:
        code = folder.joinpath(f"{name}.js").read_text(encoding="utf-8")
        if "</" in code or "<!--" in code:
            raise ValueError(f"maps/js/{name}.js must not contain '</' or '<!--'")
        parts.append(f"// ---- {name}.js\n{{\n{code}}}\n")
    parts.append("})();\n")
    return "".join(parts)


@cache
def page_style() -> str:
    """The page's stylesheet: the ``.css`` files beside the modules of :data:`PAGE_MODULES`,
    in that order. Raises ``ValueError`` if one holds ``</``."""
    folder = resources.files("mujun.maps").joinpath("js")
    parts = []
    for name in PAGE_MODULES:
        sheet = folder.joinpath(f"{name}.css")
        if not sheet.is_file():
            continue
        css = sheet.read_text(encoding="utf-8")
        if "</" in css:
            raise ValueError(f"maps/js/{name}.css must not contain '</'")
        parts.append(f"/* ---- {name}.css */\n{css}")
    return "".join(parts)


def _xstatic_dir(name: str) -> Path:
    pkg = {"leaflet": xstatic.pkg.leaflet}[name]
    return Path(pkg.BASE_DIR)


def local_asset(url: str) -> Path:
    """The file an XStatic package ships for one of the CDN URLs above."""
    files = {
        CDN_JS["leaflet"]: _xstatic_dir("leaflet") / "leaflet.js",
        CDN_CSS["leaflet_css"]: _xstatic_dir("leaflet") / "leaflet.css",
    }
    return files[url]


def _css_with_images(path: Path) -> str:
    css = path.read_text(encoding="utf-8")

    def data_uri(match: re.Match[str]) -> str:
        image = path.parent / match.group(1)
        if not image.exists():
            return match.group(0)
        encoded = base64.b64encode(image.read_bytes()).decode("ascii")
        return f"url(data:image/{image.suffix.lstrip('.')};base64,{encoded})"

    return re.sub(r"url\((images/[^)]+)\)", data_uri, css)


def inline_assets(page: str) -> str:
    """Replace the page's script and stylesheet links by their embedded content.

    Raises :class:`MujunError` if any external script or stylesheet remains, so an "offline"
    page can never silently depend on the network.
    """
    for url in CDN_JS.values():
        code = local_asset(url).read_text(encoding="utf-8").replace("</script", "<\\/script")
        page = page.replace(f'<script src="{url}"></script>', f"<script>{code}</script>")
    for url in CDN_CSS.values():
        css = _css_with_images(local_asset(url)).replace("</style", "<\\/style")
        page = page.replace(f'<link rel="stylesheet" href="{url}"/>', f"<style>{css}</style>")
    left = re.findall(r'<(?:script[^>]+src|link[^>]+href)="(https?://[^"]+)"', page)
    if left:
        raise MujunError(f"offline map still references {', '.join(left)}")
    return page

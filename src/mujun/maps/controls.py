"""The page's script: the canvas layers, tooltips, popups, search, filters and export.

The script itself is the files of ``maps/js/`` joined by :func:`mujun.maps.assets.page_script`
(written for mujun; it needs only Leaflet).
:class:`ParcelScript` puts it in the page's head, the map's data (gzip, base64) in two
``<script type="application/octet-stream">`` elements (``mj-data``: what the first view draws;
``mj-data-rest``: the rest, :meth:`mujun.maps.payload.Payload.parts`), and one call that starts
it on the map and adds its layers to the layer control. The export buttons download the
parcels that pass the filters as RFC 7946 GeoJSON (longitude/latitude, counter-clockwise
exteriors, never GCJ-02 shifted) or as CSV (UTF-8 with BOM for Excel).
"""

from __future__ import annotations

import re

import branca
import folium
from jinja2 import Template

from mujun.maps.assets import page_script, page_style

__all__ = ["PAGE_SCRIPT", "ParcelScript", "RawHTML"]

PAGE_SCRIPT = page_script()


class RawHTML(branca.element.Element):
    """HTML put into the page as it is, never compiled as a Jinja2 template (branca's
    ``Element`` would: a title of ``{{7*7}}`` would show 49, and a crafted one run code). Every
    piece of it from an input or the configuration must be escaped by the caller."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def render(self, **kwargs: object) -> str:  # noqa: ARG002 (Element.render's signature)
        return self.text


class ParcelScript(branca.element.MacroElement):
    """The page script and its data (``payload`` and ``rest``: the two parts of
    :meth:`mujun.maps.payload.Payload.parts`, each from :func:`mujun.maps.encode.pack`),
    started on the map once ``control`` (the layer control) exists."""

    def __init__(self, control: folium.LayerControl, payload: str, rest: str) -> None:
        super().__init__()
        self._name = "MujunParcels"
        self.control = control
        if "</" in PAGE_SCRIPT or "<!--" in PAGE_SCRIPT:
            raise ValueError("the page's script must not contain '</' or '<!--'")
        for part in (payload, rest):
            if not re.fullmatch(r"[A-Za-z0-9+/=]*", part):
                raise ValueError("the map's data must be base64 (mujun.maps.encode.pack)")
        self.payload = payload
        self.rest = rest
        self._template = Template(
            "{% macro script(this, kwargs) %}"
            "MujunMap.start({{ this._parent.get_name() }}, {{ this.control.get_name() }}, "
            '"mj-data", "mj-data-rest");{% endmacro %}'
        )

    def render(self, **kwargs: object) -> None:  # type: ignore[override]
        figure = self.get_root()
        assert isinstance(figure, branca.element.Figure), "add the map to a figure first"
        figure.header.add_child(
            RawHTML(f"<style>{page_style()}</style><script>{PAGE_SCRIPT}</script>"),
            name="mj_script",
        )
        figure.html.add_child(
            RawHTML(
                '<script type="application/octet-stream" id="mj-data" '
                f'data-encoding="gzip+base64">{self.payload}</script>'
                '<script type="application/octet-stream" id="mj-data-rest" '
                f'data-encoding="gzip+base64">{self.rest}</script>'
            ),
            name="mj_data",
        )
        super().render(**kwargs)

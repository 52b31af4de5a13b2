"""The planner's HTML map (folium / Leaflet)."""

from mujun.maps.render import map_html, render_map

__all__ = ["map_html", "render_map"]

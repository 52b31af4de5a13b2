"""Synthetic parcels shared by the benchmarks: irregular quadrilaterals packed in shelves."""

from __future__ import annotations

import math

import numpy as np
import shapely

from mujun.schema import MU_M2

__all__ = ["shelf_quadrilaterals"]


def shelf_quadrilaterals(
    n: int, rng: np.random.Generator, origin: tuple[float, float]
) -> np.ndarray:
    """``n`` irregular quadrilaterals of 2-300 mu (log-uniform), largest first, packed in
    shelves north-east of ``origin`` (projected metres) without overlaps."""
    area = np.exp(rng.uniform(math.log(2), math.log(300), n)) * MU_M2
    side = np.sort(np.sqrt(area))[::-1]
    cell = 1.6 * side
    row_width = math.sqrt(float((cell**2).sum()))
    centres = np.empty((n, 2))
    x = y = row_height = 0.0
    for i, c in enumerate(cell):
        if x + c > row_width and x > 0:
            x, y, row_height = 0.0, y + row_height, 0.0
        row_height = max(row_height, c)
        centres[i] = (origin[0] + x + c / 2, origin[1] + y + c / 2)
        x += c
    square = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    corners = square[None] + rng.uniform(-0.2, 0.2, (n, 4, 2))  # each corner in its quadrant
    quads = shapely.polygons(corners * side[:, None, None] + centres[:, None, :])
    scale = np.sqrt(np.sort(area)[::-1] / shapely.area(quads))
    return shapely.polygons(corners * (side * scale)[:, None, None] + centres[:, None, :])

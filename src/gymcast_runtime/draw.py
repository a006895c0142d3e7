"""Object rendering: an experiment's `objects_fn(env)` returns a list of drawables built here, and the
browser draws them with Phaser, gliding each one between env steps.

Coordinates are canvas pixels (`rendering.width` x `rendering.height`), origin top left, y down.
`x, y` is the centre of a sprite, rectangle, circle or text, and the anchor of a line or polygon,
whose `points` are relative to it. Every drawable has a stable `id`: the browser keeps the object
with that id from step to step and tweens its position (and angle) from the old value to the new
one over one step, unless `tween=False`. An id missing from a later list is removed. Higher
`depth` draws on top. Colours are "#rrggbb" strings.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from collections.abc import Iterable
from typing import Any

Drawable = dict[str, Any]
Point = tuple[float, float]

KINDS = ("sprite", "rect", "circle", "line", "polygon", "text")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


class DrawError(ValueError):
    """A drawable is malformed; the message names the object and the field."""


def _base(kind: str, id: str, x: float, y: float, depth: float, alpha: float, tween: bool, **fields: Any) -> Drawable:
    return {"id": id, "kind": kind, "x": x, "y": y, "depth": depth, "alpha": alpha, "tween": tween, **fields}


def sprite(
    id: str,
    x: float,
    y: float,
    texture: str,
    frame: int | str | None = None,
    width: float | None = None,
    height: float | None = None,
    angle: float = 0.0,
    flip_x: bool = False,
    depth: float = 0,
    alpha: float = 1.0,
    tween: bool = True,
) -> Drawable:
    """An image (or one frame of a sprite sheet or atlas) from `rendering(assets=...)`, scaled to width x height if given."""
    return _base(
        "sprite",
        id,
        x,
        y,
        depth,
        alpha,
        tween,
        texture=texture,
        frame=frame,
        width=width,
        height=height,
        angle=angle,
        flip_x=flip_x,
    )


def rect(
    id: str,
    x: float,
    y: float,
    width: float,
    height: float,
    color: str,
    stroke: str | None = None,
    stroke_width: float = 1.0,
    angle: float = 0.0,
    depth: float = 0,
    alpha: float = 1.0,
    tween: bool = True,
) -> Drawable:
    """A filled rectangle centred on (x, y), optionally outlined."""
    return _base(
        "rect",
        id,
        x,
        y,
        depth,
        alpha,
        tween,
        width=width,
        height=height,
        color=color,
        stroke=stroke,
        stroke_width=stroke_width,
        angle=angle,
    )


def circle(
    id: str,
    x: float,
    y: float,
    radius: float,
    color: str,
    stroke: str | None = None,
    stroke_width: float = 1.0,
    depth: float = 0,
    alpha: float = 1.0,
    tween: bool = True,
) -> Drawable:
    """A filled circle centred on (x, y), optionally outlined."""
    return _base(
        "circle", id, x, y, depth, alpha, tween, radius=radius, color=color, stroke=stroke, stroke_width=stroke_width
    )


def line(
    id: str,
    x: float,
    y: float,
    points: Iterable[Point],
    color: str,
    width: float = 2.0,
    depth: float = 0,
    alpha: float = 1.0,
    tween: bool = True,
) -> Drawable:
    """A polyline through `points` (relative to x, y)."""
    return _base("line", id, x, y, depth, alpha, tween, points=[list(p) for p in points], color=color, width=width)


def polygon(
    id: str,
    x: float,
    y: float,
    points: Iterable[Point],
    color: str,
    stroke: str | None = None,
    stroke_width: float = 1.0,
    depth: float = 0,
    alpha: float = 1.0,
    tween: bool = True,
) -> Drawable:
    """A filled polygon through `points` (relative to x, y), optionally outlined."""
    return _base(
        "polygon",
        id,
        x,
        y,
        depth,
        alpha,
        tween,
        points=[list(p) for p in points],
        color=color,
        stroke=stroke,
        stroke_width=stroke_width,
    )


def text(
    id: str,
    x: float,
    y: float,
    text: str,
    size: float = 16,
    color: str = "#000000",
    bold: bool = False,
    depth: float = 0,
    alpha: float = 1.0,
    tween: bool = False,
) -> Drawable:
    """A line of text centred on (x, y)."""
    return _base("text", id, x, y, depth, alpha, tween, text=text, size=size, color=color, bold=bold)


def arc_points(radius: float, start_deg: float, end_deg: float, segments: int = 24) -> list[Point]:
    """Points on a circular arc around (0, 0), in canvas orientation (y down), e.g. for a half disc polygon."""
    step = (end_deg - start_deg) / segments
    return [
        (radius * math.cos(math.radians(start_deg + i * step)), -radius * math.sin(math.radians(start_deg + i * step)))
        for i in range(segments + 1)
    ]


def check_objects(objects: Any, textures: dict[str, Any]) -> list[Drawable]:
    """`objects` if every drawable is well formed and names a known texture; DrawError otherwise."""
    if not isinstance(objects, (list, tuple)):
        raise DrawError(f"objects_fn must return a list of drawables, got {type(objects).__name__}")
    seen: set[str] = set()
    for index, item in enumerate(objects):
        where = f"drawable {index}"
        if not isinstance(item, dict) or item.get("kind") not in KINDS:
            raise DrawError(f"{where} is not a drawable; build it with gymcast_runtime.draw ({', '.join(KINDS)})")
        if not isinstance(item.get("id"), str) or not item["id"]:
            raise DrawError(f"{where} has no string id; give every object a stable id such as 'ball'")
        where = f"drawable {item['id']!r}"
        if item["id"] in seen:
            raise DrawError(f"{where} appears twice; ids must be unique within a frame")
        seen.add(item["id"])
        for field in ("x", "y", "depth", "alpha"):
            if not _finite(item.get(field)):
                raise DrawError(f"{where}.{field} is {item.get(field)!r}; use a finite number")
        for field in ("color", "stroke"):
            value = item.get(field)
            if value is not None and not (isinstance(value, str) and _COLOR.match(value)):
                raise DrawError(f'{where}.{field} is {value!r}; use a "#rrggbb" colour')
        if item["kind"] == "sprite" and item["texture"] not in textures:
            known = ", ".join(sorted(textures)) or "none"
            raise DrawError(
                f"{where} uses texture {item['texture']!r}, which rendering(assets=...) does not name (named: {known})"
            )
        if "points" in item and not all(len(p) == 2 and _finite(p[0]) and _finite(p[1]) for p in item["points"]):
            raise DrawError(f"{where}.points must be (x, y) pairs of finite numbers")
    return list(objects)


def objects_json(objects: list[Drawable]) -> str:
    """Drawables as JSON; numpy scalars and arrays become plain numbers and lists."""
    return json.dumps(objects, default=_plain)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} in a drawable is not JSON; use numbers, strings and lists")


def _finite(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)

"""Draws the kitchen's sprite sheet (assets/kitchen.png): 64x64 frames in one row, named in FRAMES.

Everything is drawn here with Pillow, so the example owns its art. Chefs face up; the renderer
turns them. Run: .venv/bin/python examples/overcooked/make_sprites.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).parent))

from kitchen_view import FRAMES  # noqa: E402

SIZE = 64
OUTPUT = Path(__file__).parent / "assets" / "kitchen.png"

WOOD, WOOD_DARK, TILE, TILE_LINE = (196, 148, 98), (150, 104, 62), (236, 230, 214), (214, 206, 186)
ONION, ONION_DARK, PLATE, METAL, SOUP = (236, 180, 60), (190, 120, 30), (250, 250, 250), (90, 96, 110), (232, 140, 40)


def floor(d: ImageDraw.ImageDraw) -> None:
    d.rectangle([0, 0, 63, 63], fill=TILE)
    d.line([0, 31, 63, 31], fill=TILE_LINE, width=2)
    d.line([31, 0, 31, 63], fill=TILE_LINE, width=2)


def counter(d: ImageDraw.ImageDraw) -> None:
    d.rectangle([0, 0, 63, 63], fill=WOOD)
    for y in (15, 31, 47):
        d.line([0, y, 63, y], fill=WOOD_DARK, width=2)
    d.rectangle([0, 0, 63, 63], outline=WOOD_DARK, width=3)


def onion(d: ImageDraw.ImageDraw, cx: int = 32, cy: int = 34, r: int = 14) -> None:
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=ONION, outline=ONION_DARK, width=2)
    d.line([cx, cy - r - 6, cx, cy - r + 2], fill=(80, 150, 60), width=3)
    d.arc([cx - r // 2, cy - r + 3, cx + r // 2, cy + r - 3], 250, 290, fill=ONION_DARK, width=2)


def plate(d: ImageDraw.ImageDraw, cx: int = 32, cy: int = 32, r: int = 20) -> None:
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=PLATE, outline=(170, 170, 180), width=2)
    d.ellipse([cx - r + 6, cy - r + 6, cx + r - 6, cy + r - 6], outline=(210, 210, 220), width=2)


def pot(d: ImageDraw.ImageDraw, filling: tuple[int, int, int] | None = None, steam: bool = False) -> None:
    counter(d)
    d.ellipse([8, 10, 56, 58], fill=METAL, outline=(40, 44, 52), width=3)
    d.rectangle([2, 28, 10, 36], fill=(40, 44, 52))
    d.rectangle([54, 28, 62, 36], fill=(40, 44, 52))
    if filling:
        d.ellipse([15, 17, 49, 51], fill=filling)
    if steam:
        for x in (22, 32, 42):
            d.arc([x - 5, 0, x + 5, 16], 90, 270, fill=(255, 255, 255), width=3)


def crate(d: ImageDraw.ImageDraw, item) -> None:
    counter(d)
    d.rectangle([6, 6, 57, 57], fill=(120, 80, 45), outline=(80, 50, 25), width=3)
    item(d)


def delivery(d: ImageDraw.ImageDraw) -> None:
    d.rectangle([0, 0, 63, 63], fill=(70, 70, 80))
    for x in range(-64, 64, 16):
        d.line([x, 63, x + 63, 0], fill=(240, 200, 40), width=6)
    d.rectangle([0, 0, 63, 63], outline=(30, 30, 35), width=3)


def soup(d: ImageDraw.ImageDraw) -> None:
    plate(d)
    d.ellipse([18, 18, 46, 46], fill=SOUP, outline=(190, 100, 20), width=2)


def chef(d: ImageDraw.ImageDraw, coat: tuple[int, int, int]) -> None:
    d.ellipse([14, 10, 24, 22], fill=(244, 200, 160), outline=(120, 80, 50))  # hands, reaching up (forward)
    d.ellipse([40, 10, 50, 22], fill=(244, 200, 160), outline=(120, 80, 50))
    d.ellipse([10, 16, 54, 60], fill=coat, outline=(30, 30, 40), width=3)
    d.ellipse([20, 24, 44, 48], fill=(255, 255, 255), outline=(160, 160, 170), width=2)  # the hat, from above


DRAW = {
    "floor": floor,
    "counter": counter,
    "pot": pot,
    "onion_stack": lambda d: crate(d, lambda d2: [onion(d2, 24, 26, 10), onion(d2, 40, 40, 10)]),
    "plate_stack": lambda d: crate(d, lambda d2: [plate(d2, 32, 36, 18), plate(d2, 32, 28, 18)]),
    "delivery_zone": delivery,
    "onion": onion,
    "plate": plate,
    "onion_soup": soup,
    "chef_blue": lambda d: chef(d, (47, 125, 225)),
    "chef_green": lambda d: chef(d, (60, 170, 90)),
    "pot_cooking": lambda d: pot(d, SOUP),
    "pot_ready": lambda d: pot(d, SOUP, steam=True),
}


def main() -> None:
    sheet = Image.new("RGBA", (SIZE * len(FRAMES), SIZE), (0, 0, 0, 0))
    for index, name in enumerate(FRAMES):
        frame = Image.new("RGBA", (SIZE, SIZE), (0, 0, 0, 0))
        DRAW[name](ImageDraw.Draw(frame))
        sheet.paste(frame, (index * SIZE, 0))
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(OUTPUT, optimize=True)
    print(f"wrote {OUTPUT} ({len(FRAMES)} frames, {OUTPUT.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()

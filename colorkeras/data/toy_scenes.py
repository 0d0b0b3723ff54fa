"""The toy city's scenes: small urban pictures whose colours follow from structure.

Every scene is drawn from a few kinds of surface whose colour a colorizer can infer from
shape, position and luminance alone: a blue sky that lightens towards the horizon (with
white clouds), facades in class-typical palettes with dark or lit (yellowish) windows,
grey asphalt with white and yellow lane markings, green grass and round trees with brown
trunks, sandy paths, and blue-green water that mirrors what stands above it. Layout,
counts, heights and palettes vary from image to image; colours are jittered only within
each surface's family.

Classes (``SCENE_CLASSES``):

* ``park``: grass, a path, round trees, a distant tree line, sometimes a bench.
* ``skyline``: hazy background towers, glass and concrete towers with window grids, a road.
* ``street``: a row of brick, ochre and beige facades with shops, a pavement, a road.
* ``waterfront``: pastel gabled houses on a stone quay above water with reflections.

Image ``index`` of a class depends only on ``(seed, class name, index)``, never on how
many images are generated or in which order, and it is the same scene at every size.
``colorkeras.data.synthetic`` writes them as an image folder (the toy city).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from PIL import Image, ImageDraw

from colorkeras.errors import InvalidArgument

SCENE_CLASSES: tuple[str, ...] = ("park", "skyline", "street", "waterfront")
MIN_SIZE = 16

# Scenes are drawn at twice the requested size and reduced with a Lanczos filter, which
# anti-aliases edges and averages the texture noise into a fine grain.
_SUPERSAMPLE = 2

Color = tuple[int, int, int]

# ----------------------------------------------------------------------------- palettes
# Each surface has one colour family; jitter moves within it, never across families.
_SKY_TOP: Color = (62, 122, 206)
_SKY_HORIZON: Color = (180, 210, 238)
_CLOUD: Color = (246, 247, 250)
_CLOUD_SHADE: Color = (214, 222, 234)
_ASPHALT: Color = (78, 78, 82)
_PAVEMENT: Color = (178, 172, 162)
_CURB: Color = (130, 128, 124)
_LANE_WHITE: Color = (238, 238, 232)
_LANE_YELLOW: Color = (232, 190, 50)
_WINDOW_DARK: Color = (44, 50, 62)
_WINDOW_LIT: Color = (250, 214, 120)
_LAMP_POST: Color = (48, 50, 54)

_STREET_FACADES: tuple[Color, ...] = (
    (164, 68, 48),  # red brick
    (142, 58, 42),  # dark brick
    (196, 142, 64),  # ochre
    (214, 192, 156),  # beige
    (188, 104, 62),  # terracotta render
    (228, 212, 176),  # cream
)
_AWNINGS: tuple[Color, ...] = ((150, 40, 40), (40, 95, 60), (120, 70, 40))
_DOOR: Color = (84, 52, 34)
_SHOP_GLASS: Color = (58, 68, 80)

_TOWERS: tuple[Color, ...] = (
    (70, 104, 146),  # blue glass
    (58, 92, 108),  # teal glass
    (112, 118, 128),  # steel
    (160, 162, 168),  # light concrete
    (88, 96, 112),  # dark slate glass
)
_HAZE_GREY: Color = (122, 134, 156)

_GRASS_FAR: Color = (104, 146, 72)
_GRASS_NEAR: Color = (82, 158, 56)
_CANOPY: Color = (46, 106, 44)
_CANOPY_LIT: Color = (84, 146, 60)
_TREE_LINE: Color = (52, 96, 52)
_TRUNK: Color = (98, 68, 42)
_PATH: Color = (206, 186, 146)
_BENCH: Color = (110, 76, 48)

_PASTELS: tuple[Color, ...] = (
    (236, 178, 178),  # pink
    (172, 218, 190),  # mint
    (240, 220, 148),  # butter yellow
    (168, 198, 230),  # light blue
    (202, 186, 226),  # lavender
    (246, 198, 158),  # peach
    (238, 236, 226),  # white
)
_ROOFS: tuple[Color, ...] = ((170, 82, 56), (150, 70, 50), (84, 88, 98))
_QUAY: Color = (150, 144, 134)
_WATER_TOP: Color = (66, 136, 150)
_WATER_DEEP: Color = (28, 86, 112)
_FRAME: Color = (240, 240, 234)


# ----------------------------------------------------------------------------- helpers
def _jitter(rng: np.random.Generator, color: Color, light: float = 0.07, tint: float = 6.0) -> Color:
    """Vary brightness a little and each channel slightly: same family, new instance."""
    value = np.asarray(color, dtype=np.float64) * (1.0 + rng.uniform(-light, light))
    value = value + rng.uniform(-tint, tint, 3)
    return tuple(int(v) for v in np.clip(np.round(value), 0, 255))  # type: ignore[return-value]


def _mix(a: Color, b: Color, t: float) -> Color:
    """Linear blend from ``a`` (t=0) to ``b`` (t=1)."""
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))  # type: ignore[return-value]


def _shade(color: Color, factor: float) -> Color:
    """Scale brightness, as a face turned away from the sun."""
    return tuple(int(min(255, max(0, round(v * factor)))) for v in color)  # type: ignore[return-value]


def _pick(rng: np.random.Generator, options: Sequence[Color]) -> Color:
    return options[int(rng.integers(len(options)))]


class _Canvas:
    """An RGB drawing surface addressed in relative coordinates (0..1 on both axes)."""

    def __init__(self, size: int):
        self.n = size * _SUPERSAMPLE
        self.image = Image.new("RGB", (self.n, self.n))
        self.draw = ImageDraw.Draw(self.image)

    def px(self, v: float) -> int:
        return int(round(v * self.n))

    def set_array(self, array: np.ndarray) -> None:
        """Replace the whole picture (used after numpy compositing)."""
        self.image = Image.fromarray(np.ascontiguousarray(array, dtype=np.uint8), "RGB")
        self.draw = ImageDraw.Draw(self.image)

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: Color) -> None:
        a, b = self.px(x0), self.px(y0)
        # At least one pixel, so that thin details survive at small sizes.
        c, d = max(a, self.px(x1) - 1), max(b, self.px(y1) - 1)
        self.draw.rectangle((a, b, c, d), fill=fill)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, fill: Color) -> None:
        a, b = self.px(cx - rx), self.px(cy - ry)
        self.draw.ellipse((a, b, max(a, self.px(cx + rx)), max(b, self.px(cy + ry))), fill=fill)

    def polygon(self, points: Iterable[tuple[float, float]], fill: Color) -> None:
        self.draw.polygon([(v * self.n, w * self.n) for v, w in points], fill=fill)

    def line(self, points: Sequence[tuple[float, float]], fill: Color, width: float) -> None:
        self.draw.line([(v * self.n, w * self.n) for v, w in points], fill=fill, width=max(1, self.px(width)))

    def vgradient(self, y0: float, y1: float, top: Color, bottom: Color, gamma: float = 1.0) -> None:
        """Fill the full-width band y0..y1 with a vertical colour ramp."""
        a, b = self.px(y0), self.px(y1)
        if b <= a:
            return
        t = (np.arange(b - a, dtype=np.float64) / max(1, b - a - 1)) ** gamma
        t = t[:, None]
        rows = np.asarray(top, np.float64)[None, :] * (1 - t) + np.asarray(bottom, np.float64)[None, :] * t
        band = np.repeat(np.round(rows).astype(np.uint8)[:, None, :], self.n, axis=1)
        self.image.paste(Image.fromarray(band, "RGB"), (0, a))


def _window_grid(
    canvas: _Canvas,
    rng: np.random.Generator,
    box: tuple[float, float, float, float],
    cols: int,
    rows: int,
    fill: tuple[float, float] = (0.55, 0.6),
    dark: Color = _WINDOW_DARK,
    lit: Color = _WINDOW_LIT,
    p_lit: float = 0.15,
    frame: Color | None = None,
) -> None:
    """A regular grid of windows inside ``box``; some are lit (warm yellow), most are dark."""
    x0, y0, x1, y1 = box
    if cols < 1 or rows < 1 or x1 <= x0 or y1 <= y0:
        return
    cw, rh = (x1 - x0) / cols, (y1 - y0) / rows
    fw, fh = fill
    lit_mask = rng.random((rows, cols)) < p_lit
    dark_c, lit_c = _jitter(rng, dark, 0.1, 4), _jitter(rng, lit, 0.05, 5)
    for r in range(rows):
        wy = y0 + (r + (1 - fh) / 2) * rh
        for k in range(cols):
            wx = x0 + (k + (1 - fw) / 2) * cw
            if frame is not None:
                m = 0.12 * min(cw * fw, rh * fh)
                canvas.rect(wx - m, wy - m, wx + cw * fw + m, wy + rh * fh + m, frame)
            canvas.rect(wx, wy, wx + cw * fw, wy + rh * fh, lit_c if lit_mask[r, k] else dark_c)


# ----------------------------------------------------------------------------- shared surfaces
def _sky(canvas: _Canvas, rng: np.random.Generator, horizon: float, clouds: float = 0.6) -> None:
    """Blue sky, deepest at the top and lightest at the horizon, sometimes with clouds."""
    top, low = _jitter(rng, _SKY_TOP, 0.06, 6), _jitter(rng, _SKY_HORIZON, 0.04, 4)
    canvas.vgradient(0.0, horizon, top, low, gamma=0.8)
    canvas.vgradient(horizon, 1.0, low, low)  # under whatever is drawn later
    if rng.random() < clouds:
        for _ in range(int(rng.integers(1, 4))):
            cx, cy = rng.uniform(0.05, 0.95), rng.uniform(0.08, max(0.1, 0.55 * horizon))
            width = rng.uniform(0.07, 0.14)
            puffs = int(rng.integers(3, 6))
            offsets = rng.uniform(-1, 1, (puffs, 2))
            radii = rng.uniform(0.35, 0.6, puffs)
            # The flat shaded underside first, then the bright puffs over it.
            canvas.ellipse(cx, cy + 0.2 * width, width * 1.05, width * 0.28, _CLOUD_SHADE)
            for (ox, oy), r in zip(offsets, radii):
                canvas.ellipse(cx + ox * width * 0.7, cy + oy * width * 0.15, width * r, width * r * 0.7, _CLOUD)


def _road(canvas: _Canvas, rng: np.random.Generator, top: float, bottom: float = 1.0) -> None:
    """Grey asphalt with a dashed white centre line and a solid yellow edge line."""
    canvas.rect(0, top, 1, bottom, _jitter(rng, _ASPHALT, 0.12, 3))
    height = bottom - top
    centre, lane_w = top + height * rng.uniform(0.45, 0.6), max(0.008, 0.05 * height)
    dash, gap, x = rng.uniform(0.06, 0.1), rng.uniform(0.05, 0.08), -rng.uniform(0, 0.1)
    while x < 1:
        canvas.rect(x, centre - lane_w / 2, x + dash, centre + lane_w / 2, _LANE_WHITE)
        x += dash + gap
    if rng.random() < 0.7:
        edge = top + height * 0.12
        canvas.rect(0, edge, 1, edge + lane_w, _LANE_YELLOW)


def _finish(canvas: _Canvas, rng: np.random.Generator, size: int) -> np.ndarray:
    """Exposure jitter and fine grain at the drawing size, then a Lanczos reduction."""
    array = np.asarray(canvas.image, dtype=np.float32)
    exposure = np.float32(rng.uniform(0.94, 1.05))
    # Mostly luminance grain (shared by the channels), a little chroma grain.
    grain = rng.standard_normal((canvas.n, canvas.n, 1), dtype=np.float32) * np.float32(3.0)
    grain = grain + rng.standard_normal((canvas.n, canvas.n, 3), dtype=np.float32) * np.float32(1.0)
    array = np.clip(array * exposure + grain, 0, 255).round().astype(np.uint8)
    image = Image.fromarray(array, "RGB")
    if canvas.n != size:
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8).copy()


# ----------------------------------------------------------------------------- scenes
def _street(canvas: _Canvas, rng: np.random.Generator) -> None:
    """A row of warm facades over a pavement and a road."""
    pavement = rng.uniform(0.68, 0.74)
    road = pavement + rng.uniform(0.05, 0.07)
    _sky(canvas, rng, pavement)
    x = -rng.uniform(0.0, 0.08)
    while x < 1.0:
        w, top = rng.uniform(0.16, 0.3), rng.uniform(0.2, 0.46)
        facade = _jitter(rng, _pick(rng, _STREET_FACADES))
        canvas.rect(x, top, x + w, pavement, facade)
        canvas.rect(x - 0.006, top, x + w + 0.006, top + 0.018, _shade(facade, 0.72))  # cornice
        shop_top = pavement - rng.uniform(0.09, 0.12)
        canvas.rect(x, shop_top - 0.008, x + w, shop_top, _shade(facade, 0.8))  # string course
        cols = max(1, int(round(w / rng.uniform(0.06, 0.08))))
        floors = max(1, int(round((shop_top - top - 0.04) / rng.uniform(0.06, 0.08))))
        _window_grid(canvas, rng, (x, top + 0.035, x + w, shop_top - 0.01), cols, floors, (0.5, 0.62), p_lit=0.12)
        # Ground floor: a dark shop window and a door, sometimes under an awning.
        door_left = rng.random() < 0.5
        dw = min(0.045, 0.25 * w)
        dx = x + 0.02 if door_left else x + w - 0.02 - dw
        sx0, sx1 = (dx + dw + 0.015, x + w - 0.02) if door_left else (x + 0.02, dx - 0.015)
        if sx1 > sx0:
            canvas.rect(sx0, shop_top + 0.02, sx1, pavement - 0.012, _jitter(rng, _SHOP_GLASS, 0.1, 3))
            if rng.random() < 0.4:
                y0, y1 = shop_top + 0.008, shop_top + 0.035
                awning = [(sx0 - 0.01, y0), (sx1 + 0.01, y0), (sx1 + 0.018, y1), (sx0 - 0.018, y1)]
                canvas.polygon(awning, _jitter(rng, _pick(rng, _AWNINGS), 0.08, 4))
        canvas.rect(dx, shop_top + 0.018, dx + dw, pavement, _jitter(rng, _DOOR, 0.1, 4))
        x += w
    canvas.rect(0, pavement, 1, road, _jitter(rng, _PAVEMENT, 0.06, 4))
    canvas.rect(0, road - 0.01, 1, road, _CURB)
    _road(canvas, rng, road)
    for _ in range(int(rng.integers(0, 3))):  # street lamps stand on the pavement
        lx = rng.uniform(0.05, 0.95)
        base = pavement + 0.6 * (road - pavement)
        canvas.rect(lx - 0.005, base - 0.24, lx + 0.005, base, _LAMP_POST)
        canvas.rect(lx - 0.005, base - 0.24, lx + 0.03, base - 0.232, _LAMP_POST)
        canvas.rect(lx + 0.018, base - 0.232, lx + 0.034, base - 0.222, _WINDOW_LIT)


def _skyline(canvas: _Canvas, rng: np.random.Generator) -> None:
    """Hazy far towers, then glass and concrete towers, then a road."""
    ground = rng.uniform(0.8, 0.86)
    _sky(canvas, rng, ground, clouds=0.5)
    haze = _mix(_SKY_HORIZON, _HAZE_GREY, rng.uniform(0.45, 0.65))
    x = -rng.uniform(0.0, 0.05)
    while x < 1.0:  # the far layer, pale with distance (aerial perspective)
        w = rng.uniform(0.06, 0.13)
        canvas.rect(x, rng.uniform(0.3, 0.6), x + w, ground, _jitter(rng, haze, 0.04, 3))
        x += w + rng.uniform(-0.01, 0.02)
    for _ in range(int(rng.integers(4, 8))):
        w = rng.uniform(0.09, 0.18)
        x0, top = rng.uniform(-0.05, 1.0 - 0.6 * w), rng.uniform(0.17, 0.52)
        body = _jitter(rng, _pick(rng, _TOWERS), 0.08, 5)
        side = _shade(body, 0.72)  # the face turned from the sun
        split = x0 + w * rng.uniform(0.7, 0.8)
        if rng.random() < 0.35:  # a narrower crown on top
            cw = w * rng.uniform(0.4, 0.65)
            ctop = top - rng.uniform(0.03, 0.05)
            canvas.rect(x0 + (w - cw) / 2, ctop, x0 + (w + cw) / 2, top, body)
        if rng.random() < 0.3:  # an antenna
            ax = x0 + w * rng.uniform(0.3, 0.7)
            canvas.rect(ax - 0.003, top - rng.uniform(0.06, 0.1), ax + 0.003, top, _LAMP_POST)
        canvas.rect(x0, top, split, ground, body)
        canvas.rect(split, top, x0 + w, ground, side)
        style = rng.random()
        cols = max(2, int(round(w / rng.uniform(0.025, 0.035))))
        rows = max(2, int(round((ground - top) / rng.uniform(0.03, 0.045))))
        if style < 0.5:  # punched windows
            _window_grid(canvas, rng, (x0, top + 0.02, split, ground - 0.02), cols, rows, (0.55, 0.55), p_lit=0.1)
        elif style < 0.8:  # ribbon windows: continuous dark bands
            _window_grid(canvas, rng, (x0, top + 0.02, split, ground - 0.02), 1, rows, (0.92, 0.4), p_lit=0.04)
        else:  # curtain wall: mullions over the glass
            for k in range(1, cols):
                mx = x0 + (split - x0) * k / cols
                canvas.rect(mx - 0.002, top, mx + 0.002, ground, _shade(body, 1.25))
        if style < 0.8:  # the side face shows darker windows
            side_box = (split, top + 0.02, x0 + w, ground - 0.02)
            _window_grid(canvas, rng, side_box, 1, rows, (0.5, 0.5), dark=_shade(_WINDOW_DARK, 0.8), p_lit=0.05)
    canvas.rect(0, ground, 1, ground + 0.025, _jitter(rng, _PAVEMENT, 0.06, 4))
    _road(canvas, rng, ground + 0.025)


def _tree(canvas: _Canvas, rng: np.random.Generator, x: float, base: float, scale: float) -> None:
    """A round tree: brown trunk, dark canopy, sunlit upper-left highlight."""
    r = rng.uniform(0.07, 0.1) * scale
    trunk_h, trunk_w = rng.uniform(0.08, 0.12) * scale, 0.022 * scale
    canvas.rect(x - trunk_w / 2, base - trunk_h - r * 0.3, x + trunk_w / 2, base, _jitter(rng, _TRUNK, 0.1, 4))
    cy = base - trunk_h - r
    canopy = _jitter(rng, _CANOPY, 0.1, 5)
    canvas.ellipse(x, cy, r, r * rng.uniform(0.85, 1.05), canopy)
    for _ in range(2):  # lumpy outline
        canvas.ellipse(x + rng.uniform(-0.6, 0.6) * r, cy + rng.uniform(-0.4, 0.2) * r, r * 0.6, r * 0.55, canopy)
    canvas.ellipse(x - 0.3 * r, cy - 0.3 * r, r * 0.5, r * 0.45, _jitter(rng, _CANOPY_LIT, 0.08, 5))


def _park(canvas: _Canvas, rng: np.random.Generator) -> None:
    """Grass under a sky, a sandy path winding to the horizon, round trees."""
    horizon = rng.uniform(0.4, 0.52)
    _sky(canvas, rng, horizon)
    if rng.random() < 0.4:  # a faint city beyond the park
        haze = _mix(_SKY_HORIZON, _HAZE_GREY, 0.45)
        for _ in range(int(rng.integers(2, 6))):
            bx, bw = rng.uniform(0, 1), rng.uniform(0.04, 0.1)
            canvas.rect(bx, horizon - rng.uniform(0.06, 0.16), bx + bw, horizon, _jitter(rng, haze, 0.04, 3))
    line = _jitter(rng, _TREE_LINE, 0.1, 5)
    x = -0.05
    while x < 1.05:  # the distant tree line, a row of bumps on the horizon
        r = rng.uniform(0.03, 0.06)
        canvas.ellipse(x, horizon - r * 0.3, r, r * rng.uniform(0.7, 1.1), line)
        x += r * rng.uniform(0.9, 1.4)
    canvas.vgradient(horizon, 1.0, _jitter(rng, _GRASS_FAR, 0.06, 5), _jitter(rng, _GRASS_NEAR, 0.06, 5))
    # The path: wide at the bottom, narrowing and bending towards the horizon.
    x_near, x_far = rng.uniform(0.25, 0.75), rng.uniform(0.2, 0.8)
    w_near, bend, phase = rng.uniform(0.16, 0.26), rng.uniform(-0.12, 0.12), rng.uniform(0, np.pi)
    t = np.linspace(0.0, 1.0, 13)  # 0 = near edge of the picture, 1 = horizon
    y = 1.0 - t * (1.0 - horizon)
    xc = x_near + (x_far - x_near) * t + bend * np.sin(np.pi * t + phase) * (1 - t)
    half = (w_near * (1 - t) + 0.012 * t) / 2
    canvas.polygon(list(zip(xc - half, y)) + list(zip(xc[::-1] + half[::-1], y[::-1])), _jitter(rng, _PATH, 0.06, 5))
    if rng.random() < 0.4:  # a bench beside the path
        bx, by = float(xc[3] + half[3] + 0.05), float(y[3])
        canvas.rect(bx, by - 0.05, bx + 0.1, by - 0.035, _BENCH)
        canvas.rect(bx, by - 0.03, bx + 0.1, by - 0.02, _BENCH)
        canvas.rect(bx + 0.01, by - 0.02, bx + 0.016, by, _LAMP_POST)
        canvas.rect(bx + 0.084, by - 0.02, bx + 0.09, by, _LAMP_POST)
    bases = np.sort(rng.uniform(horizon + 0.06, 1.02, int(rng.integers(2, 6))))
    for base in bases:  # far trees first, so near ones overlap them
        scale = 0.55 + 1.1 * (base - horizon) / (1 - horizon)
        _tree(canvas, rng, rng.uniform(0.02, 0.98), float(base), scale)


def _waterfront(canvas: _Canvas, rng: np.random.Generator) -> None:
    """Pastel gabled houses on a stone quay, mirrored in blue-green water."""
    water = rng.uniform(0.6, 0.68)
    quay = water - rng.uniform(0.03, 0.05)
    _sky(canvas, rng, quay)
    x = -rng.uniform(0.0, 0.06)
    while x < 1.0:
        w, top = rng.uniform(0.1, 0.17), rng.uniform(0.3, 0.45)
        facade = _jitter(rng, _pick(rng, _PASTELS), 0.04, 5)
        canvas.rect(x, top, x + w, quay, facade)
        roof = _jitter(rng, _pick(rng, _ROOFS), 0.08, 4)
        if rng.random() < 0.75:  # a gable
            apex = top - rng.uniform(0.05, 0.09)
            canvas.polygon([(x - 0.005, top + 0.005), (x + w / 2, apex), (x + w + 0.005, top + 0.005)], roof)
        else:  # a flat top with a cornice
            canvas.rect(x - 0.004, top - 0.012, x + w + 0.004, top + 0.006, _shade(facade, 0.75))
        cols = 2 if w < 0.14 else 3
        floors = max(1, int(round((quay - top - 0.08) / 0.065)))
        box = (x + 0.01, top + 0.03, x + w - 0.01, quay - 0.07)
        _window_grid(canvas, rng, box, cols, floors, (0.45, 0.55), p_lit=0.08, frame=_FRAME)
        dw = 0.03
        dx = x + w * rng.uniform(0.25, 0.75) - dw / 2
        canvas.rect(dx, quay - 0.055, dx + dw, quay, _jitter(rng, _DOOR, 0.15, 5))
        x += w
    canvas.rect(0, quay, 1, water, _jitter(rng, _QUAY, 0.06, 4))
    canvas.rect(0, water - 0.008, 1, water, _shade(_QUAY, 0.6))

    # Water: a blue-green ramp with a darkened, rippled mirror image of the scene above.
    n = canvas.n
    top_row = canvas.px(water)
    height = n - top_row
    above = np.asarray(canvas.image, dtype=np.float32)
    k = np.arange(height)
    src_rows = np.clip(top_row - 1 - k, 0, n - 1)
    amplitude, freq, phase = rng.uniform(0.004, 0.012) * n, rng.uniform(0.25, 0.5) * 64 / n, rng.uniform(0, 2 * np.pi)
    shift = np.round(amplitude * (0.3 + k / max(1, height)) * np.sin(phase + freq * k)).astype(np.int64)
    cols = np.clip(np.arange(n)[None, :] + shift[:, None], 0, n - 1)
    mirror = above[src_rows[:, None], cols]
    t = (k / max(1, height - 1))[:, None, None]
    water_top, water_deep = _jitter(rng, _WATER_TOP, 0.06, 5), _jitter(rng, _WATER_DEEP, 0.06, 4)
    base = np.asarray(water_top, np.float32) * (1 - t) + np.asarray(water_deep, np.float32) * t
    alpha = 0.4 * (1 - t) + 0.12 * t
    out = above.copy()
    out[top_row:] = base * (1 - alpha) + mirror * 0.85 * alpha
    canvas.set_array(np.clip(out, 0, 255).round())
    for _ in range(int(rng.integers(4, 10))):  # glints on the ripples
        gx, gy = rng.uniform(0, 1), rng.uniform(water + 0.03, 0.98)
        gw = rng.uniform(0.03, 0.08)
        canvas.rect(gx, gy, gx + gw, gy + 0.006, _mix(water_top, _LANE_WHITE, 0.55))


_SCENES: dict[str, Callable[[_Canvas, np.random.Generator], None]] = {
    "park": _park,
    "skyline": _skyline,
    "street": _street,
    "waterfront": _waterfront,
}
assert tuple(sorted(_SCENES)) == SCENE_CLASSES


# ----------------------------------------------------------------------------- rendering
def check_whole_number(name: str, value: object, minimum: int) -> int:
    """An integer argument at least ``minimum``, else a ValueError that says what was wrong."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InvalidArgument(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise InvalidArgument(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def _check_class(scene_class: object) -> str:
    if scene_class not in _SCENES:
        raise InvalidArgument(f"unknown scene class {scene_class!r}; choose from {', '.join(SCENE_CLASSES)}")
    return str(scene_class)


def _generator(seed: int, scene_class: str, index: int) -> np.random.Generator:
    # Keyed by the class *name* (a stable checksum), not its position in SCENE_CLASSES, so
    # adding a class later does not change the images of the existing ones.
    key = zlib.crc32(scene_class.encode("utf-8"))
    return np.random.default_rng(np.random.SeedSequence([seed, key, index]))


def render_scene(scene_class: str, size: int = 64, seed: int = 0, index: int = 0) -> np.ndarray:
    """Render image ``index`` of ``scene_class`` as a ``(size, size, 3)`` uint8 RGB array.

    The result depends only on ``(scene_class, seed, index)`` (and ``size``); the layout
    is the same at every size. Raises ValueError for an unknown class, ``size < 16``, or a
    negative ``seed`` or ``index``.
    """
    scene_class = _check_class(scene_class)
    size = check_whole_number("size", size, MIN_SIZE)
    seed = check_whole_number("seed", seed, 0)
    index = check_whole_number("index", index, 0)
    rng = _generator(seed, scene_class, index)
    canvas = _Canvas(size)
    _SCENES[scene_class](canvas, rng)
    return _finish(canvas, rng, size)


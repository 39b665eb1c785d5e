"""Procedural faces for the synthetic dataset: canonical geometry, 68 landmarks, drawing and nuisances."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from affectlab.data.synth_classes import Expression

_SKIN_LIGHT = np.array([238.0, 208.0, 186.0])
_SKIN_DARK = np.array([92.0, 58.0, 42.0])
_HAIR = np.array([[25, 20, 18], [70, 45, 25], [140, 100, 60], [200, 170, 110], [150, 150, 150]], np.float64)
#: An identity is drawn uniformly in these ranges (canonical face units), then a smirk side of -1 or +1:
#: face width, chin drop, eye x, eye y, eye half-width, mouth y, mouth half-width, jaw squareness.
_SHAPE_RANGES: tuple[tuple[float, float], ...] = (
    (0.80, 0.95),
    (1.15, 1.40),
    (0.36, 0.44),
    (-0.18, -0.08),
    (0.18, 0.22),
    (0.58, 0.70),
    (0.30, 0.38),
    (2.0, 2.8),
)
#: Eye landmarks (36-41, 42-47) picked from the 13-point lids: upper corners and thirds, back along the lower.
_EYE_UPPER, _EYE_LOWER = [0, 4, 8, 12], [8, 4]
#: Mouth landmarks picked from the 21-point contours: outer 48-59, inner 60-67 (corners on the centre line).
_OUTER_UPPER, _OUTER_LOWER = [0, 4, 7, 10, 13, 16, 20], [16, 13, 10, 7, 4]
_INNER_UPPER, _INNER_LOWER, _INNER_CORNERS = [2, 10, 18], [18, 10, 2], ([1], [19])
#: Torso and neck polygons, canonical units (the chin is near y = 1.2).
_TORSO = np.array([[-2.2, 3.4], [-1.6, 1.9], [1.6, 1.9], [2.2, 3.4]])
_NECK = np.array([[-0.4, 0.6], [0.4, 0.6], [0.45, 2.0], [-0.45, 2.0]])
#: Fixed RGB colours of the face parts.
_SCLERA, _PUPIL, _LID_LINE = (240, 240, 235), (10, 10, 10), (30, 25, 25)
_CAVITY, _TEETH, _LIP_LINE = (60, 15, 20), (235, 235, 225), (70, 25, 30)

Colour = tuple[int, ...]


@dataclass(frozen=True)
class Rendered:
    """A rendered RGB image, its 68 landmarks (x, y pixels) and the face box (x, y, w, h)."""

    image: np.ndarray
    landmarks: np.ndarray
    box: tuple[int, int, int, int]


def _lid(x0: float, x1: float, y: float, h: float, n: int) -> np.ndarray:
    """Points of a sine-shaped lid/lip arc from x0 to x1 bulging by h (negative h bulges up)."""
    t = np.linspace(0.0, 1.0, n)
    return np.stack([x0 + (x1 - x0) * t, y + h * np.sin(np.pi * t)], axis=1)


def _outline(angles: np.ndarray, width: float, chin: float, ex: float) -> np.ndarray:
    """Points of the head outline at `angles`: a superellipse, taller below the eye line (jaw) than above."""
    c, s = np.cos(angles), np.sin(angles)
    return np.stack(
        [
            width * np.sign(c) * np.abs(c) ** ex,
            np.where(s > 0, chin * np.sign(s) * np.abs(s) ** ex, 1.05 * s),
        ],
        axis=1,
    )


def _pick(x: np.ndarray, y: np.ndarray, idx: list[int]) -> np.ndarray:
    """The (x, y) points at positions `idx` of two coordinate arrays."""
    return np.stack([x[idx], y[idx]], 1)


def _band(x: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """A closed contour along `top` left to right, then back along `bottom`."""
    return np.concatenate([np.stack([x, top], 1), np.stack([x, bottom], 1)[::-1]])


def _brows(expr: Expression, eye_x: float, eye_y: float, eye_w: float) -> list[np.ndarray]:
    """Brow landmarks: 17-21 image-left, outer to inner; 22-26 image-right, inner to outer."""
    brows = []
    for sgn in (-1.0, 1.0):
        t = np.linspace(0.0, 1.0, 5)  # 0 = inner end, 1 = outer end
        bx = sgn * (eye_x - 0.9 * eye_w + t * 2.0 * eye_w)
        arch = (0.05 + 0.6 * max(expr.brow, 0.0)) * np.sin(np.pi * (0.2 + 0.7 * t))
        by = eye_y - 0.27 - expr.brow - expr.tilt * (1.0 - t) * 0.8 - arch
        pts = np.stack([bx, by], axis=1)
        brows.append(pts[::-1] if sgn < 0 else pts)
    return brows


def _eyes(
    expr: Expression, eye_x: float, eye_y: float, eye_w: float
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Eye landmarks 36-41, 42-47 (left to right along the upper lid, back along the lower) and the lids."""
    eyes: list[np.ndarray] = []
    lids: list[np.ndarray] = []
    h = expr.eye * 2.0 * eye_w
    for sgn in (-1.0, 1.0):
        x0, x1 = sgn * eye_x - eye_w, sgn * eye_x + eye_w
        up, low = _lid(x0, x1, eye_y, -0.62 * h, 13), _lid(x0, x1, eye_y, 0.38 * h, 13)
        lids += [up, low]
        eyes.append(np.concatenate([up[_EYE_UPPER], low[_EYE_LOWER]]))
    contours = {
        "eyes_up": np.stack(lids[0::2]),
        "eyes_low": np.stack(lids[1::2]),
        "iris_r": np.array([0.45 * eye_w]),
    }
    return eyes, contours


def _nose(eye_y: float, mouth_y: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nose bridge 27-30 (between the eyes to the tip), base 31-35, and the wrinkle segments (x0, y, x1)."""
    tip_y = (eye_y + mouth_y) / 2.0 + 0.06
    bridge = np.stack([np.zeros(4), np.linspace(eye_y - 0.02, tip_y, 4)], axis=1)
    bx = np.linspace(-0.13, 0.13, 5)
    base = np.stack([bx, tip_y + 0.04 + 0.03 * np.cos(np.pi * bx / 0.26)], axis=1)
    wrinkles = np.array([[-0.09, eye_y + 0.07 + 0.05 * k, 0.09] for k in range(3)])
    return bridge, base, wrinkles


def _mouth(
    expr: Expression, mouth_y: float, mw: float, side: float
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Mouth contours (lips, cavity, teeth, closed line) and landmarks 48-67, for half-width `mw`.

    The centre line curves with `curve` (one corner lifted by `smirk`); the lips lie around it.
    """
    x = np.linspace(-mw, mw, 21)
    u = x / mw
    corner = -expr.curve - expr.smirk * (u * side > 0)
    mid = mouth_y + corner * u**2 - 0.02 * expr.curve
    bell = 1.0 - u**2
    gap = expr.open * bell**0.6
    lip_up = 0.055 + 0.015 * np.cos(np.pi * u * 2.5) * (np.abs(u) < 0.4)
    outer_up = mid - gap / 2 - lip_up * bell**0.3 - expr.lip * bell
    outer_low = mid + gap / 2 + 0.075 * bell**0.5
    inner_up = mid - gap / 2 - 0.4 * expr.lip * bell
    inner_low = mid + gap / 2
    contours = {
        "lips": _band(x, outer_up, outer_low),
        "inner": _band(x, inner_up, inner_low),
        "teeth": _band(x, inner_up, inner_up + 0.45 * (inner_low - inner_up)),
        "midline": np.stack([x, mid], 1),
    }
    landmarks = np.concatenate(
        [
            _pick(x, outer_up, _OUTER_UPPER),
            _pick(x, outer_low, _OUTER_LOWER),
            _pick(x, mid, _INNER_CORNERS[0]),
            _pick(x, inner_up, _INNER_UPPER),
            _pick(x, mid, _INNER_CORNERS[1]),
            _pick(x, inner_low, _INNER_LOWER),
        ]
    )
    return contours, landmarks


def face_geometry(expr: Expression, shape: np.ndarray) -> dict[str, np.ndarray]:
    """Return canonical-frame point sets (68 landmarks plus drawing contours) for one face."""
    fw, chin, eye_x, eye_y, eye_w, mouth_y, mouth_w, squ, side = shape
    ex = 2.0 / squ
    head = _outline(np.linspace(0.0, 2.0 * np.pi, 64, endpoint=False), fw, chin, ex)
    jaw = _outline(np.pi + 0.25 - np.arange(17) * (np.pi + 0.5) / 16, 0.97 * fw, chin, ex)
    eyes, lids = _eyes(expr, eye_x, eye_y, eye_w)
    bridge, base, wrinkles = _nose(eye_y, mouth_y)
    mouth, mouth_marks = _mouth(expr, mouth_y, mouth_w * expr.width, side)
    landmarks = np.concatenate([jaw, *_brows(expr, eye_x, eye_y, eye_w), bridge, base, *eyes, mouth_marks])
    return {"head": head, **lids, "wrinkles": wrinkles, **mouth, "landmarks": landmarks}


def random_shape(rng: np.random.Generator) -> np.ndarray:
    """Draw an identity: face width, chin drop, eye x/y/size, mouth y/size, jaw squareness, smirk side."""
    return np.array([*(rng.uniform(lo, hi) for lo, hi in _SHAPE_RANGES), rng.choice([-1.0, 1.0])])


def _px(points: np.ndarray) -> np.ndarray:
    """Fixed-point (4 fractional bits) int32 points for OpenCV's sub-pixel drawing."""
    return np.round(points * 16.0).astype(np.int32).reshape(-1, 1, 2)


def _rgb(values: np.ndarray) -> Colour:
    """An OpenCV colour (plain ints) from three channel values."""
    return tuple(int(v) for v in values)


def _clutter(img: np.ndarray, rng: np.random.Generator) -> None:
    """Draw random rectangles, circles and lines as background clutter."""
    hgt, wid = img.shape[:2]
    for _ in range(int(rng.integers(2, 10))):
        col = _rgb(rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        p = rng.uniform(0, 1, 4) * [wid, hgt, wid, hgt]
        if kind == 0:
            cv2.rectangle(img, _px(p[:2])[0, 0], _px(p[2:])[0, 0], col, -1, cv2.LINE_AA, 4)
        elif kind == 1:
            rad = int(rng.uniform(0.03, 0.25) * wid * 16)
            cv2.circle(img, _px(p[:2])[0, 0], rad, col, -1, cv2.LINE_AA, 4)
        else:
            cv2.line(img, _px(p[:2])[0, 0], _px(p[2:])[0, 0], col, int(rng.integers(1, 4)), cv2.LINE_AA, 4)


def _background(canvas: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A (h, w, 3) uint8 image of one random colour with clutter on it."""
    wid, hgt = canvas
    img = np.empty((hgt, wid, 3), np.uint8)
    img[:] = rng.integers(40, 230, 3).astype(np.uint8)
    _clutter(img, rng)
    return img


@dataclass(frozen=True)
class _Palette:
    """One person's colours: skin, hair and clothes."""

    skin: np.ndarray
    hair: np.ndarray
    body: Colour

    @property
    def shade(self) -> Colour:
        """Shadowed skin (neck, nose lines)."""
        return _rgb(self.skin * 0.72)


def _palette(rng: np.random.Generator) -> _Palette:
    """Draw skin (between light and dark), hair and clothes colours."""
    skin_t = rng.uniform(0, 1)
    skin = np.clip(_SKIN_LIGHT * (1 - skin_t) + _SKIN_DARK * skin_t + rng.normal(0, 8, 3), 0, 255)
    hair = np.clip(_HAIR[rng.integers(0, len(_HAIR))] + rng.normal(0, 10, 3), 0, 255)
    return _Palette(skin, hair, _rgb(rng.integers(0, 256, 3)))


class _Pen:
    """Draws canonical-frame shapes on one image: rotated, scaled and placed, anti-aliased, sub-pixel."""

    def __init__(self, img: np.ndarray, rot: np.ndarray, off: np.ndarray, width: int) -> None:
        self.img, self.rot, self.off, self.width = img, rot, off, width

    def tf(self, points: np.ndarray) -> np.ndarray:
        """Canonical points to pixel coordinates."""
        return points @ self.rot.T + self.off

    def fill(self, points: np.ndarray, colour: Colour) -> None:
        """Fill the polygon `points`."""
        cv2.fillPoly(self.img, [_px(self.tf(points))], colour, cv2.LINE_AA, 4)

    def line(self, points: np.ndarray, colour: Colour, width: int | None = None) -> None:
        """Draw the open polyline `points` (default width: the face's line width)."""
        thickness = self.width if width is None else width
        cv2.polylines(self.img, [_px(self.tf(points))], False, colour, thickness, cv2.LINE_AA, 4)

    def disc(self, centre_px: np.ndarray, radius_fixed: int, colour: Colour) -> None:
        """Fill a circle around a pixel position; the radius is in fixed point (1/16 pixel)."""
        cv2.circle(self.img, _px(centre_px)[0, 0], radius_fixed, colour, -1, cv2.LINE_AA, 4)


def _pose(
    shape: np.ndarray, scale: float, center: tuple[float, float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the head's roll; return the canonical-to-pixel rotation-and-scale matrix and offset."""
    theta = np.deg2rad(rng.normal(0.0, 8.0))
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]) * scale
    off = np.array(center) + rot @ np.array([0.0, -(shape[1] - 1.05) / 2.0])
    return rot, off


def _draw_head(pen: _Pen, head: np.ndarray, colours: _Palette, rng: np.random.Generator) -> None:
    """Neck and shoulders, then the head, then (mostly) a hair cap over the skull."""
    pen.fill(_TORSO, colours.body)
    pen.fill(_NECK, colours.shade)
    pen.fill(head, _rgb(colours.skin))
    if rng.random() < 0.75:
        top = head[head[:, 1] < -0.45 * (1 + rng.uniform(0, 0.4))]
        pen.fill(top, _rgb(colours.hair))


def _draw_eyes(
    pen: _Pen, g: dict[str, np.ndarray], skin: Colour, scale: float, rng: np.random.Generator
) -> None:
    """Sclera, iris, then skin bands over the iris overflow, then the upper lid line."""
    iris = _rgb(rng.integers(20, 120, 3))
    gaze = rng.normal(0, 0.04, 2)
    radius = g["iris_r"][0]
    for up, low in zip(g["eyes_up"], g["eyes_low"], strict=True):
        pen.fill(np.concatenate([up, low[::-1]]), _SCLERA)
        ctr = pen.tf(np.array([[(up[0, 0] + up[-1, 0]) / 2, (up[6, 1] + low[6, 1]) / 2]]) + gaze)
        pen.disc(ctr, int(radius * scale * 16), iris)
        pen.disc(ctr, int(radius * scale * 7), _PUPIL)
        band = radius * 1.6
        pen.fill(np.concatenate([up, (up + [0, -band])[::-1]]), skin)
        pen.fill(np.concatenate([low, (low + [0, band])[::-1]]), skin)
        pen.line(up, _LID_LINE)


def _draw_brows_and_nose(pen: _Pen, g: dict[str, np.ndarray], expr: Expression, colours: _Palette) -> None:
    """Brows; nose bridge shading and base; wrinkles plus nasolabial folds (disgust, some anger)."""
    lm = g["landmarks"]
    for brow in (lm[17:22], lm[22:27]):
        pen.line(brow, _rgb(colours.hair * 0.8), pen.width * 2)
    pen.line(lm[27:31] + [0.05, 0], colours.shade)
    pen.line(lm[31:36], colours.shade)
    if expr.wrinkle > 0.15:
        dark = _rgb(colours.skin * (1.0 - 0.45 * expr.wrinkle))
        for x0, y, x1 in g["wrinkles"]:
            pen.line(_lid(x0, x1, y, -0.02, 5), dark)
        for sgn in (-1.0, 1.0):
            pen.line(np.array([[sgn * 0.15, lm[33, 1]], [sgn * 0.30, lm[51, 1] + 0.12]]), dark)


def _draw_mouth(pen: _Pen, g: dict[str, np.ndarray], expr: Expression, skin: np.ndarray) -> None:
    """Lips, then the cavity and teeth when open, else the lip line."""
    pen.fill(g["lips"], _rgb(np.clip(skin * [0.85, 0.55, 0.55] + [20, 0, 0], 0, 255)))
    if expr.open > 0.02:
        pen.fill(g["inner"], _CAVITY)
        if expr.teeth:
            pen.fill(g["teeth"], _TEETH)
    else:
        pen.line(g["midline"], _LIP_LINE)


def _head_box(head: np.ndarray, canvas: tuple[int, int]) -> tuple[int, int, int, int]:
    """The square (x, y, w, h) around the head's pixel outline, clipped to the canvas."""
    mid, side = (head.min(0) + head.max(0)) / 2, float((head.max(0) - head.min(0)).max())
    lo = np.maximum(np.floor(mid - side / 2), 0)
    hi = np.minimum(np.ceil(mid + side / 2), list(canvas))
    return int(lo[0]), int(lo[1]), int(hi[0] - lo[0]), int(hi[1] - lo[1])


def render(
    expr: Expression,
    rng: np.random.Generator,
    *,
    canvas: tuple[int, int],
    face_px: float,
    center: tuple[float, float],
) -> Rendered:
    """Render one face (face box side about `face_px` pixels) at `center` on a cluttered `canvas` (w, h)."""
    shape = random_shape(rng)
    g = face_geometry(expr, shape)
    scale = face_px / max(1.05 + shape[1], 2.0 * shape[0])
    rot, off = _pose(shape, scale, center, rng)
    img = _background(canvas, rng)
    colours = _palette(rng)
    pen = _Pen(img, rot, off, max(1, int(round(scale * 0.05))))
    _draw_head(pen, g["head"], colours, rng)
    _draw_eyes(pen, g, _rgb(colours.skin), scale, rng)
    _draw_brows_and_nose(pen, g, expr, colours)
    _draw_mouth(pen, g, expr, colours.skin)
    box = _head_box(pen.tf(g["head"]), canvas)
    return Rendered(image=img, landmarks=pen.tf(g["landmarks"]).astype(np.float32), box=box)


def degrade(img: np.ndarray, rng: np.random.Generator, face_px: float) -> np.ndarray:
    """Apply lighting gradient, blur (scaled to the face size) and sensor noise to an RGB uint8 image."""
    hgt, wid = img.shape[:2]
    alpha = rng.uniform(0, 2 * np.pi)
    strength = rng.uniform(0.0, 0.7) / max(wid, hgt)
    ramp_x = (np.arange(wid, dtype=np.float32) - wid / 2) * np.float32(strength * np.cos(alpha))
    ramp_y = (np.arange(hgt, dtype=np.float32) - hgt / 2) * np.float32(strength * np.sin(alpha))
    gain = np.float32(rng.uniform(0.75, 1.2)) * (1.0 + ramp_y[:, None] + ramp_x[None, :])
    out = img.astype(np.float32) * (gain[..., None] * rng.uniform(0.9, 1.1, 3).astype(np.float32))
    if rng.random() < 0.5:
        sigma = rng.uniform(0.3, 1.1) * face_px / 90.0
        out = cv2.GaussianBlur(out, (0, 0), sigma)
    out += rng.standard_normal((hgt, wid, 1), dtype=np.float32) * np.float32(rng.uniform(0.0, 6.0))
    return np.clip(out, 0, 255).astype(np.uint8)


def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    """Encode an RGB uint8 image as baseline JPEG bytes (deterministic for the same input)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV failed to encode a JPEG")
    return buf.tobytes()

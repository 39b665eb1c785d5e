"""Procedural face rendering for the synthetic dataset: expression geometry, 68 landmarks and nuisances."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: The geometry knobs, in canonical face units: brow raise (+ up), brow tilt (+ inner ends up),
#: eye openness (height / width), mouth curve (+ corners up), mouth open (lip gap), mouth width (x scale),
#: smirk (one corner up), upper-lip raise, nose wrinkle (0..1).
KNOBS: tuple[str, ...] = ("brow", "tilt", "eye", "curve", "open", "width", "smirk", "lip", "wrinkle")
#: Per-class template of the knobs, in AffectNet order (neutral, happy, sad, surprise, fear, disgust, anger,
#: contempt); valence/arousal modulate them further in `expression_for`.
CLASS_TEMPLATES: tuple[dict[str, float], ...] = tuple(
    dict(zip(KNOBS, row, strict=True))
    for row in (
        (0.00, 0.00, 0.40, 0.00, 0.00, 1.00, 0.00, 0.00, 0.0),
        (-0.03, 0.00, 0.25, 0.00, 0.05, 1.10, 0.00, 0.00, 0.0),
        (0.05, 0.13, 0.38, 0.00, 0.00, 1.01, 0.00, 0.00, 0.0),
        (0.03, 0.00, 0.43, 0.00, 0.12, 0.61, 0.00, 0.00, 0.0),
        (-0.01, 0.12, 0.41, 0.02, 0.07, 1.28, 0.00, 0.00, 0.0),
        (-0.10, -0.03, 0.17, 0.04, 0.03, 1.01, 0.00, 0.09, 1.0),
        (-0.18, -0.15, 0.27, 0.04, 0.02, 0.95, 0.00, 0.00, 0.3),
        (-0.02, 0.00, 0.30, 0.06, 0.00, 1.04, 0.10, 0.00, 0.0),
    )
)
#: Classes that show teeth when the mouth is open (happy, fear, disgust, anger).
_TEETH_CLASSES = frozenset({1, 4, 5, 6})
_JITTER = dict(
    brow=0.015, tilt=0.025, eye=0.03, curve=0.01, open=0.02, width=0.03, smirk=0.02, lip=0.015, wrinkle=0.15
)
_SKIN_LIGHT = np.array([238.0, 208.0, 186.0])
_SKIN_DARK = np.array([92.0, 58.0, 42.0])
_HAIR = np.array([[25, 20, 18], [70, 45, 25], [140, 100, 60], [200, 170, 110], [150, 150, 150]], np.float64)


@dataclass(frozen=True)
class Expression:
    """Geometry knobs of one face's expression (canonical face units, see `CLASS_TEMPLATES`)."""

    brow: float
    tilt: float
    eye: float
    curve: float
    open: float
    width: float
    smirk: float
    lip: float
    wrinkle: float
    teeth: bool


@dataclass(frozen=True)
class Rendered:
    """A rendered RGB image, its 68 landmarks (x, y pixels) and the face box (x, y, w, h)."""

    image: np.ndarray
    landmarks: np.ndarray
    box: tuple[int, int, int, int]


def expression_for(cls: int, valence: float, arousal: float, rng: np.random.Generator) -> Expression:
    """Return the geometry for class `cls`, continuously modulated by valence and arousal, with jitter."""
    knobs = {k: v + rng.normal(0.0, _JITTER[k]) for k, v in CLASS_TEMPLATES[cls].items()}
    knobs["curve"] += 0.20 * valence
    knobs["width"] += 0.15 * valence
    knobs["eye"] *= (1.0 + 0.6 * arousal) * (1.0 - 0.3 * max(valence, 0.0))
    knobs["open"] += 0.20 * max(arousal, 0.0) * (knobs["open"] > 0.04)
    knobs["brow"] += 0.15 * arousal
    knobs["eye"] = float(np.clip(knobs["eye"], 0.08, 0.75))
    for key in ("open", "smirk", "lip"):
        knobs[key] = max(knobs[key], 0.0)
    knobs["wrinkle"] = float(np.clip(knobs["wrinkle"], 0.0, 1.0))
    teeth = cls in _TEETH_CLASSES and knobs["open"] > 0.05 and rng.random() < 0.8
    return Expression(**{k: float(v) for k, v in knobs.items()}, teeth=teeth)


def _lid(x0: float, x1: float, y: float, h: float, n: int) -> np.ndarray:
    """Points of a sine-shaped lid/lip arc from x0 to x1 bulging by h (negative h bulges up)."""
    t = np.linspace(0.0, 1.0, n)
    return np.stack([x0 + (x1 - x0) * t, y + h * np.sin(np.pi * t)], axis=1)


def face_geometry(expr: Expression, shape: np.ndarray) -> dict[str, np.ndarray]:
    """Return canonical-frame point sets (68 landmarks plus drawing contours) for one face."""
    fw, chin, eye_x, eye_y, eye_w, mouth_y, mouth_w, squ, side = shape
    g: dict[str, np.ndarray] = {}
    # Head outline: superellipse, taller below the eye line (jaw) than above (skull).
    ang = np.linspace(0.0, 2.0 * np.pi, 64, endpoint=False)
    c, s = np.cos(ang), np.sin(ang)
    ex = 2.0 / squ
    hx = fw * np.sign(c) * np.abs(c) ** ex
    hy = np.where(s > 0, chin * np.sign(s) * np.abs(s) ** ex, 1.05 * s)
    g["head"] = np.stack([hx, hy], axis=1)
    phi = np.pi + 0.25 - np.arange(17) * (np.pi + 0.5) / 16
    jc, js = np.cos(phi), np.sin(phi)
    jaw = np.stack(
        [
            0.97 * fw * np.sign(jc) * np.abs(jc) ** ex,
            np.where(js > 0, chin * np.sign(js) * np.abs(js) ** ex, 1.05 * js),
        ],
        axis=1,
    )
    # Brows (17-21 image-left, outer to inner; 22-26 image-right, inner to outer).
    brows = []
    for sgn in (-1.0, 1.0):
        t = np.linspace(0.0, 1.0, 5)  # 0 = inner end, 1 = outer end
        bx = sgn * (eye_x - 0.9 * eye_w + t * 2.0 * eye_w)
        arch = (0.05 + 0.6 * max(expr.brow, 0.0)) * np.sin(np.pi * (0.2 + 0.7 * t))
        by = eye_y - 0.27 - expr.brow - expr.tilt * (1.0 - t) * 0.8 - arch
        pts = np.stack([bx, by], axis=1)
        brows.append(pts[::-1] if sgn < 0 else pts)
    # Eyes: sine-shaped lids; landmarks at the corners and at 1/3, 2/3 of each lid.
    eyes: list[np.ndarray] = []
    lids: list[np.ndarray] = []
    h = expr.eye * 2.0 * eye_w
    for sgn in (-1.0, 1.0):
        x0, x1 = sgn * eye_x - eye_w, sgn * eye_x + eye_w
        up, low = _lid(x0, x1, eye_y, -0.62 * h, 13), _lid(x0, x1, eye_y, 0.38 * h, 13)
        lids += [up, low]
        # Left to right along the upper lid, back along the lower: 36-41 (outer first), 42-47 (inner first).
        eyes.append(np.stack([up[0], up[4], up[8], up[12], low[8], low[4]]))
    g["eyes_up"], g["eyes_low"] = np.stack(lids[0::2]), np.stack(lids[1::2])
    g["iris_r"] = np.array([0.45 * eye_w])
    # Nose: bridge 27-30 from between the eyes to the tip; base 31-35.
    tip_y = (eye_y + mouth_y) / 2.0 + 0.06
    bridge = np.stack([np.zeros(4), np.linspace(eye_y - 0.02, tip_y, 4)], axis=1)
    bx = np.linspace(-0.13, 0.13, 5)
    base = np.stack([bx, tip_y + 0.04 + 0.03 * np.cos(np.pi * bx / 0.26)], axis=1)
    g["wrinkles"] = np.array([[-0.09, eye_y + 0.07 + 0.05 * k, 0.09] for k in range(3)])
    # Mouth: centre line curving with `curve` (and one corner lifted by `smirk`), lips around it.
    mw = mouth_w * expr.width
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
    g["lips"] = np.concatenate([np.stack([x, outer_up], 1), np.stack([x, outer_low], 1)[::-1]])
    g["inner"] = np.concatenate([np.stack([x, inner_up], 1), np.stack([x, inner_low], 1)[::-1]])
    g["teeth"] = np.concatenate(
        [np.stack([x, inner_up], 1), np.stack([x, inner_up + 0.45 * (inner_low - inner_up)], 1)[::-1]]
    )
    g["midline"] = np.stack([x, mid], 1)
    o_idx, i_idx = [0, 4, 7, 10, 13, 16, 20], [2, 10, 18]
    outer = np.concatenate(
        [
            np.stack([x[o_idx], outer_up[o_idx]], 1),
            np.stack([x[[16, 13, 10, 7, 4]], outer_low[[16, 13, 10, 7, 4]]], 1),
        ]
    )
    back = i_idx[::-1]
    inner = np.concatenate(
        [
            np.stack([[x[1]], [mid[1]]], 1),
            np.stack([x[i_idx], inner_up[i_idx]], 1),
            np.stack([[x[19]], [mid[19]]], 1),
            np.stack([x[back], inner_low[back]], 1),
        ]
    )
    g["landmarks"] = np.concatenate([jaw, *brows, bridge, base, *eyes, outer, inner])
    return g


def random_shape(rng: np.random.Generator) -> np.ndarray:
    """Draw an identity: face width, chin drop, eye x/y/size, mouth y/size, jaw squareness, smirk side."""
    return np.array(
        [
            rng.uniform(0.80, 0.95),
            rng.uniform(1.15, 1.40),
            rng.uniform(0.36, 0.44),
            rng.uniform(-0.18, -0.08),
            rng.uniform(0.18, 0.22),
            rng.uniform(0.58, 0.70),
            rng.uniform(0.30, 0.38),
            rng.uniform(2.0, 2.8),
            rng.choice([-1.0, 1.0]),
        ]
    )


def _px(points: np.ndarray) -> np.ndarray:
    """Fixed-point (4 fractional bits) int32 points for OpenCV's sub-pixel drawing."""
    return np.round(points * 16.0).astype(np.int32).reshape(-1, 1, 2)


def _clutter(img: np.ndarray, rng: np.random.Generator) -> None:
    """Draw random rectangles, circles and lines as background clutter."""
    hgt, wid = img.shape[:2]
    for _ in range(int(rng.integers(2, 10))):
        col = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        p = rng.uniform(0, 1, 4) * [wid, hgt, wid, hgt]
        if kind == 0:
            cv2.rectangle(img, _px(p[:2])[0, 0], _px(p[2:])[0, 0], col, -1, cv2.LINE_AA, 4)
        elif kind == 1:
            rad = int(rng.uniform(0.03, 0.25) * wid * 16)
            cv2.circle(img, _px(p[:2])[0, 0], rad, col, -1, cv2.LINE_AA, 4)
        else:
            cv2.line(img, _px(p[:2])[0, 0], _px(p[2:])[0, 0], col, int(rng.integers(1, 4)), cv2.LINE_AA, 4)


def render(
    expr: Expression,
    rng: np.random.Generator,
    *,
    canvas: tuple[int, int],
    face_px: float,
    center: tuple[float, float],
) -> Rendered:
    """Render one face (face box side about `face_px` pixels) at `center` on a cluttered `canvas` (w, h)."""
    wid, hgt = canvas
    shape = random_shape(rng)
    g = face_geometry(expr, shape)
    scale = face_px / max(1.05 + shape[1], 2.0 * shape[0])
    theta = np.deg2rad(rng.normal(0.0, 8.0))
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]]) * scale
    off = np.array(center) + rot @ np.array([0.0, -(shape[1] - 1.05) / 2.0])

    def tf(p: np.ndarray) -> np.ndarray:
        return p @ rot.T + off

    img = np.empty((hgt, wid, 3), np.uint8)
    img[:] = rng.integers(40, 230, 3).astype(np.uint8)
    _clutter(img, rng)
    skin_t = rng.uniform(0, 1)
    skin = np.clip(_SKIN_LIGHT * (1 - skin_t) + _SKIN_DARK * skin_t + rng.normal(0, 8, 3), 0, 255)
    shade = tuple(int(v) for v in skin * 0.72)
    hair = np.clip(_HAIR[rng.integers(0, len(_HAIR))] + rng.normal(0, 10, 3), 0, 255)
    lw = max(1, int(round(scale * 0.05)))
    # Neck and shoulders, then the head.
    body = tuple(int(v) for v in rng.integers(0, 256, 3))
    torso = np.array([[-2.2, 3.4], [-1.6, 1.9], [1.6, 1.9], [2.2, 3.4]])
    cv2.fillPoly(img, [_px(tf(torso))], body, cv2.LINE_AA, 4)
    cv2.fillPoly(
        img, [_px(tf(np.array([[-0.4, 0.6], [0.4, 0.6], [0.45, 2.0], [-0.45, 2.0]])))], shade, cv2.LINE_AA, 4
    )
    cv2.fillPoly(img, [_px(tf(g["head"]))], tuple(int(v) for v in skin), cv2.LINE_AA, 4)
    if rng.random() < 0.75:  # hair cap over the skull
        top = g["head"][g["head"][:, 1] < -0.45 * (1 + rng.uniform(0, 0.4))]
        cv2.fillPoly(img, [_px(tf(top))], tuple(int(v) for v in hair), cv2.LINE_AA, 4)
    # Eyes: sclera, iris, then skin bands over the iris overflow, then the upper lid line.
    iris = tuple(int(v) for v in rng.integers(20, 120, 3))
    gaze = rng.normal(0, 0.04, 2)
    for up, low in zip(g["eyes_up"], g["eyes_low"], strict=True):
        cv2.fillPoly(img, [_px(tf(np.concatenate([up, low[::-1]])))], (240, 240, 235), cv2.LINE_AA, 4)
        ctr = tf(np.array([[(up[0, 0] + up[-1, 0]) / 2, (up[6, 1] + low[6, 1]) / 2]]) + gaze)
        cv2.circle(img, _px(ctr)[0, 0], int(g["iris_r"][0] * scale * 16), iris, -1, cv2.LINE_AA, 4)
        cv2.circle(img, _px(ctr)[0, 0], int(g["iris_r"][0] * scale * 7), (10, 10, 10), -1, cv2.LINE_AA, 4)
        band = g["iris_r"][0] * 1.6
        cv2.fillPoly(
            img,
            [_px(tf(np.concatenate([up, (up + [0, -band])[::-1]])))],
            tuple(int(v) for v in skin),
            cv2.LINE_AA,
            4,
        )
        cv2.fillPoly(
            img,
            [_px(tf(np.concatenate([low, (low + [0, band])[::-1]])))],
            tuple(int(v) for v in skin),
            cv2.LINE_AA,
            4,
        )
        cv2.polylines(img, [_px(tf(up))], False, (30, 25, 25), lw, cv2.LINE_AA, 4)
    lm = g["landmarks"]
    for brow in (lm[17:22], lm[22:27]):
        cv2.polylines(img, [_px(tf(brow))], False, tuple(int(v) for v in hair * 0.8), lw * 2, cv2.LINE_AA, 4)
    # Nose: bridge shading, base, and wrinkles plus nasolabial folds (disgust, some anger).
    cv2.polylines(img, [_px(tf(lm[27:31] + [0.05, 0]))], False, shade, lw, cv2.LINE_AA, 4)
    cv2.polylines(img, [_px(tf(lm[31:36]))], False, shade, lw, cv2.LINE_AA, 4)
    if expr.wrinkle > 0.15:
        dark = tuple(int(v) for v in skin * (1.0 - 0.45 * expr.wrinkle))
        for x0, y, x1 in g["wrinkles"]:
            seg = _lid(x0, x1, y, -0.02, 5)
            cv2.polylines(img, [_px(tf(seg))], False, dark, lw, cv2.LINE_AA, 4)
        for sgn in (-1.0, 1.0):
            fold = np.array([[sgn * 0.15, lm[33, 1]], [sgn * 0.30, lm[51, 1] + 0.12]])
            cv2.polylines(img, [_px(tf(fold))], False, dark, lw, cv2.LINE_AA, 4)
    # Mouth: lips, then the cavity and teeth when open, else the lip line.
    lip_col = tuple(int(v) for v in np.clip(skin * [0.85, 0.55, 0.55] + [20, 0, 0], 0, 255))
    cv2.fillPoly(img, [_px(tf(g["lips"]))], lip_col, cv2.LINE_AA, 4)
    if expr.open > 0.02:
        cv2.fillPoly(img, [_px(tf(g["inner"]))], (60, 15, 20), cv2.LINE_AA, 4)
        if expr.teeth:
            cv2.fillPoly(img, [_px(tf(g["teeth"]))], (235, 235, 225), cv2.LINE_AA, 4)
    else:
        cv2.polylines(img, [_px(tf(g["midline"]))], False, (70, 25, 30), lw, cv2.LINE_AA, 4)
    head = tf(g["head"])
    mid, side = (head.min(0) + head.max(0)) / 2, float((head.max(0) - head.min(0)).max())
    lo = np.maximum(np.floor(mid - side / 2), 0)
    hi = np.minimum(np.ceil(mid + side / 2), [wid, hgt])
    box = (int(lo[0]), int(lo[1]), int(hi[0] - lo[0]), int(hi[1] - lo[1]))  # square around the head
    return Rendered(image=img, landmarks=tf(lm).astype(np.float32), box=box)


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

"""Photo-like test scenes built from FER2013 faces, for the robustness benchmark.

A FER2013 face is a 48x48 grayscale crop, cut tightly around the face. Pasted as a square
onto a flat grey frame it looks like a photo of a photo, and a detector that has learnt
what heads look like in context (BlazeFace) misses more of them than it would in a photo.
So each scene is built like a grayscale snapshot of people in a room:

* the room: a "pink noise" texture (amplitude falling as 1/frequency, the spectrum of
  natural photographs) for walls and clutter, a lighting gradient, and a few blurred
  rectangles (furniture, door and window frames);
* each person: clothed shoulders (a filled ellipse of random tone) and a neck in the
  face's own skin tone, then the face, enlarged and blended in through a border that
  fades over the outer 12% of each side, so no square edge is left;
* the camera: a little sensor noise on every scene.

Then the condition under test: the face turned in the image plane, scaled, partly covered
by a hand-like patch in the face's skin tone (mouth or eyes), the whole scene darkened
(with more noise), blurred or JPEG-compressed, one to four people, or nobody at all.
Every scene is seeded from the face's index, so each condition shows the same faces in
the same rooms and differs from the upright scene only by the condition.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

SCENE_SIZE = (640, 480)
#: Side in pixels of the reference face (upright, unoccluded, one per scene).
REFERENCE_SIDE = 160
#: Side of each face when a scene shows several people side by side.
CROWD_SIDE = 120
#: Fraction of each side of the pasted face that fades into the scene.
FEATHER = 0.12
SENSOR_NOISE = 2.0  # grey levels, standard deviation


@dataclass(frozen=True)
class Condition:
    """One way of showing faces. ``faces`` people per scene (0: a scene with nobody)."""

    name: str
    group: str
    angle: float = 0.0  # in-plane rotation, degrees; the sign alternates from face to face
    side: int = REFERENCE_SIDE
    occlude: str | None = None  # "mouth" or "eyes"
    light: float = 1.0  # exposure: 1 = normal
    blur: float = 0.0  # Gaussian sigma in pixels
    jpeg: int | None = None  # JPEG quality
    faces: int = 1


REFERENCE = Condition("upright", "reference")
CONDITIONS: tuple[Condition, ...] = (
    REFERENCE,
    Condition("rotated 15°", "rotation", angle=15),
    Condition("rotated 30°", "rotation", angle=30),
    Condition("rotated 45°", "rotation", angle=45),
    Condition("40 px", "size", side=40),
    Condition("80 px", "size", side=80),
    Condition("300 px", "size", side=300),
    Condition("mouth covered", "occlusion", occlude="mouth"),
    Condition("eyes covered", "occlusion", occlude="eyes"),
    Condition("low light", "image", light=0.25),
    Condition("blur", "image", blur=4.0),
    Condition("JPEG q10", "image", jpeg=10),
    Condition("2 faces", "crowd", side=CROWD_SIDE, faces=2),
    Condition("3 faces", "crowd", side=CROWD_SIDE, faces=3),
    Condition("4 faces", "crowd", side=CROWD_SIDE, faces=4),
    Condition("no face", "empty", faces=0),
)


@dataclass(frozen=True)
class Placed:
    """Where a face went: its centre, the side of its square and its rotation (degrees,
    counter-clockwise as seen)."""

    cx: float
    cy: float
    side: float
    angle: float = 0.0


@lru_cache(maxsize=64)
def room(seed: int, size: tuple[int, int] = SCENE_SIZE) -> np.ndarray:
    """A grayscale float32 background: pink-noise texture, lighting gradient, furniture.
    Read-only, and cached: every condition shows a face in the same room."""
    rng = np.random.default_rng(seed)
    w, h = size
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.rfftfreq(w), indexing="ij")
    spectrum = np.fft.rfft2(rng.standard_normal((h, w))) / np.maximum(np.hypot(fx, fy), 1.0 / max(w, h))
    texture = np.fft.irfft2(spectrum, s=(h, w))
    texture = (texture - texture.mean()) / (texture.std() + 1e-9)
    texture = cv2.GaussianBlur(texture.astype(np.float32), (0, 0), 1.0)
    scene = rng.uniform(80, 170) + rng.uniform(8, 20) * texture
    direction = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:h, 0:w]
    ramp = ((xs - w / 2) * np.cos(direction) + (ys - h / 2) * np.sin(direction)) / max(w, h)
    scene += rng.uniform(20, 60) * ramp
    shapes = np.zeros((h, w), np.float32)
    for _ in range(rng.integers(2, 5)):
        x, y = int(rng.uniform(-0.2, 1.0) * w), int(rng.uniform(-0.2, 1.0) * h)
        cv2.rectangle(shapes, (x, y), (x + int(rng.uniform(80, 300)), y + int(rng.uniform(80, 300))),
                      float(rng.choice([-1, 1]) * rng.uniform(20, 60)), thickness=-1)
    scene += cv2.GaussianBlur(shapes, (0, 0), rng.uniform(2, 6))
    scene = scene.astype(np.float32)
    scene.flags.writeable = False
    return scene


def skin_tone(face: np.ndarray) -> float:
    """The face's cheek-and-nose grey level (the centre of a FER2013 crop)."""
    return float(np.median(face[20:36, 14:34]))


def occlude(face: np.ndarray, part: str) -> np.ndarray:
    """Cover the mouth or the eyes of a 48x48 FER2013 face with a hand-like patch in the
    face's skin tone, shaded top to bottom and with soft edges."""
    centre, axes = {"mouth": ((24, 37), (15, 9)), "eyes": ((24, 19), (21, 8))}[part]
    scale = 8  # drawn at 8x, so the edge is smooth when brought back to 48x48
    mask = np.zeros((48 * scale, 48 * scale), np.float32)
    cv2.ellipse(mask, (centre[0] * scale, centre[1] * scale), (axes[0] * scale, axes[1] * scale), 0, 0, 360, 1.0, -1)
    mask = cv2.resize(cv2.GaussianBlur(mask, (0, 0), scale * 1.2), (48, 48), interpolation=cv2.INTER_AREA)
    shade = skin_tone(face) * np.linspace(1.08, 0.9, 48, dtype=np.float32)[:, None]
    return (mask * shade + (1 - mask) * face).astype(np.float32)


def feather_mask(side: int) -> np.ndarray:
    """(side, side) alpha: 1 inside, fading to 0 over the outer ``FEATHER`` of each side."""
    ramp = np.clip(np.minimum(np.arange(side), np.arange(side)[::-1]) / max(FEATHER * side, 1.0), 0, 1)
    ramp = ramp * ramp * (3 - 2 * ramp)  # smoothstep: no visible edge where the fade starts
    return np.outer(ramp, ramp).astype(np.float32)


def place_person(scene: np.ndarray, face: np.ndarray, where: Placed, rng: np.random.Generator) -> None:
    """Draw shoulders, neck and ``face`` (48x48, float) into ``scene`` (float, in place)."""
    cx, cy, side = where.cx, where.cy, where.side
    clothes = float(rng.uniform(30, 200))
    cv2.ellipse(scene, (int(cx), int(cy + 1.3 * side)), (int(side * 1.0), int(side * 0.7)), 0, 0, 360, clothes, -1)
    neck = skin_tone(face) * 0.9
    cv2.rectangle(scene, (int(cx - 0.22 * side), int(cy + 0.3 * side)), (int(cx + 0.22 * side), int(cy + 0.75 * side)),
                  neck, -1)
    big = cv2.resize(face, (int(side), int(side)), interpolation=cv2.INTER_CUBIC)
    alpha = feather_mask(int(side))
    # Rotate face and alpha together about the face's centre, into a window of the scene.
    half = int(np.ceil(side * 0.75))
    x0, y0 = int(round(cx)) - half, int(round(cy)) - half
    matrix = cv2.getRotationMatrix2D((side / 2, side / 2), where.angle, 1.0)
    matrix[:, 2] += (cx - x0 - side / 2, cy - y0 - side / 2)
    win = (2 * half, 2 * half)
    big = cv2.warpAffine(big, matrix, win, flags=cv2.INTER_LINEAR)
    alpha = cv2.warpAffine(alpha, matrix, win, flags=cv2.INTER_LINEAR)
    h, w = scene.shape
    sx1, sy1, sx2, sy2 = max(x0, 0), max(y0, 0), min(x0 + win[0], w), min(y0 + win[1], h)
    if sx1 >= sx2 or sy1 >= sy2:
        return
    a = alpha[sy1 - y0:sy2 - y0, sx1 - x0:sx2 - x0]
    scene[sy1:sy2, sx1:sx2] = a * big[sy1 - y0:sy2 - y0, sx1 - x0:sx2 - x0] + (1 - a) * scene[sy1:sy2, sx1:sx2]


def layout(condition: Condition, rng: np.random.Generator, size: tuple[int, int] = SCENE_SIZE,
           count: int | None = None) -> list[Placed]:
    """Where the faces of one scene go: one face anywhere it fits; several side by side."""
    w, h = size
    n = condition.faces if count is None else count
    side = condition.side
    angles = [condition.angle * rng.choice([-1, 1]) for _ in range(n)]
    if n == 1:
        margin_x, margin_y = 0.6 * side, 0.6 * side
        cx = rng.uniform(margin_x, w - margin_x) if w > 2 * margin_x else w / 2
        cy = rng.uniform(margin_y, h - margin_y) if h > 2 * margin_y else h / 2
        return [Placed(cx, cy, side, angles[0])]
    cell = w / n
    return [Placed((i + 0.5) * cell + rng.uniform(-0.1, 0.1) * (cell - side), h * 0.42 + rng.uniform(-20, 20), side,
                   angles[i]) for i in range(n)]


def render(faces: list[np.ndarray], condition: Condition, seed: int,
           size: tuple[int, int] = SCENE_SIZE) -> tuple[np.ndarray, list[Placed]]:
    """One RGB uint8 scene (grey in all three channels) showing ``faces`` (48x48 uint8)
    under ``condition``, and where each face went. ``seed`` fixes the room, the layout
    and the noise: the same seed under another condition gives the same scene but for
    the condition."""
    scene = room(seed, size).copy()
    placed = layout(condition, np.random.default_rng([seed, 1]), size, count=len(faces)) if faces else []
    person_rng = np.random.default_rng([seed, 2])
    for face, where in zip(faces, placed):
        face = face.astype(np.float32)
        if condition.occlude:
            face = occlude(face, condition.occlude)
        place_person(scene, face, where, person_rng)
    noise_rng = np.random.default_rng([seed, 3])
    scene = scene * condition.light + noise_rng.normal(0, SENSOR_NOISE / max(condition.light, 0.25) ** 0.5, scene.shape)
    if condition.blur:
        scene = cv2.GaussianBlur(scene, (0, 0), condition.blur)
    gray = np.clip(np.round(scene), 0, 255).astype(np.uint8)
    if condition.jpeg:
        ok, data = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, condition.jpeg])
        gray = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB), placed

"""FineSynth rendering: one actor, classes that differ only in subtle spatio-temporal cues.

Every clip shows the same actor (red torso, skin head, navy legs, yellow left arm, cyan right
arm) doing a short routine inside a random time window. A class is a routine, written as a
sequence of sub-moves over the window::

    turn(a, d)   in-plane turn by a = 0.5 or 1 revolution, clockwise (d=+1) or not
    hop          up and down (parabola)
    flick(side)  one arm swings up and back down, the rest stands still
    still        pause

Three pairs are *order-based*: one class is the other's frames in another order (time
reversed, or two sub-moves swapped), so the two have identical frame multisets and only the
order tells them apart. Nuisance (background, distractors, noise, camera jitter / pan / shake,
exposure) depends on the seed only, never on the class. Horizontal flips change the class
(clockwise <-> counter-clockwise, left arm <-> right arm): do not augment with them.
"""

from __future__ import annotations

import numpy as np

from .synth_scene import camera_path, scene

# name, routine (or derivation from another class), category set
CLASSES: list[tuple[str, tuple]] = [
    ("turn 0.5 clockwise", (("turn", 0.5, 1),)),
    ("turn 1 clockwise", (("turn", 1.0, 1),)),
    ("turn 1 counter-clockwise", ("reverse", 1)),
    ("turn 0.5 counter-clockwise", (("turn", 0.5, -1),)),
    ("hop, then turn 1 clockwise", (("hop",), ("turn", 1.0, 1))),
    ("turn 1 clockwise, then hop", ("swap", 4)),
    ("flick left arm, then right arm", (("flick", 0), ("still",), ("flick", 1))),
    ("flick right arm, then left arm", ("reverse", 6)),
    ("flick left arm", (("still",), ("flick", 0), ("still",))),
    ("flick right arm", (("still",), ("flick", 1), ("still",))),
]
WEIGHTS = {"turn": 1.0, "hop": 0.7, "flick": 0.5, "still": 0.4}
CAMERA_MOTIONS = (None, "pan", "shake")


def order_pairs(num_classes: int = len(CLASSES)) -> list[tuple[int, int]]:
    """Class pairs ``(a, b)`` where ``b`` is ``a``'s frames reordered (identical multisets)."""
    return [
        (spec[1], c)
        for c, (_, spec) in enumerate(CLASSES[:num_classes])
        if spec[0] in ("reverse", "swap") and spec[1] < num_classes
    ]


def poses(label: int, num_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Per-frame pose ``(angle in degrees mod 360, lift, left arm, right arm)``.

    Timing (window and sub-move lengths) comes from ``rng``; derived classes reorder the
    frames of their source class drawn from the same ``rng`` state.

    Shapes:
        - output: :math:`(T, 4)`, float64.
    """
    spec = CLASSES[label][1]
    if spec[0] in ("reverse", "swap"):
        base, bounds = _routine(CLASSES[spec[1]][1], num_frames, rng)
        if spec[0] == "reverse":
            return base[::-1].copy()
        (a, b), (_, c) = bounds[0], bounds[1]  # swap the first two sub-moves
        return np.concatenate([base[:a], base[b:c], base[a:b], base[c:]])
    return _routine(spec, num_frames, rng)[0]


def _routine(moves: tuple, num_frames: int, rng: np.random.Generator):
    start, end = rng.uniform(0.05, 0.2), 1 - rng.uniform(0.05, 0.2)
    w = np.array([WEIGHTS[m[0]] for m in moves]) * rng.uniform(0.8, 1.2, len(moves))
    edges = start + (end - start) * np.concatenate([[0], np.cumsum(w) / w.sum()])
    cut = np.clip(np.round(edges * num_frames).astype(int), 0, num_frames)
    out = np.zeros((num_frames, 4))
    angle, bounds = 0.0, []
    for move, a, b in zip(moves, cut[:-1], cut[1:], strict=True):
        s = (np.arange(b - a) + 0.5) / max(b - a, 1)  # phase inside the sub-move
        seg = out[a:b]
        seg[:, 0] = angle
        if move[0] == "turn":
            seg[:, 0] += move[2] * 360 * move[1] * s * s * (3 - 2 * s)  # smoothstep
            angle += move[2] * 360 * move[1]
        elif move[0] == "hop":
            seg[:, 1] = 4 * s * (1 - s)
        elif move[0] == "flick":
            seg[:, 2 + move[1]] = np.sin(np.pi * s) ** 2
        bounds.append((int(a), int(b)))
    out[cut[-1] :, 0] = angle
    out[:, 0] %= 360
    return out, bounds


def _capsule(px, py, ax, ay, bx, by, r):
    """Signed distance from points ``(px, py)`` to segments ``a-b`` of radius ``r``."""
    dx, dy, qx, qy = bx - ax, by - ay, px - ax, py - ay
    h = np.clip((qx * dx + qy * dy) / np.maximum(dx * dx + dy * dy, np.float32(1e-9)), 0, 1)
    ex, ey = qx - h * dx, qy - h * dy
    return np.sqrt(ex * ex + ey * ey) - r  # sqrt, not hypot: 4x faster on float32


def _actor(px, py, pose: np.ndarray, scale: float):
    """Layers ``[(alpha (T,H,W), rgb)]`` of the actor in painter's order.

    ``px, py``: pixel coordinates relative to the actor's centre, ``(T, H, W)``.
    """
    th = np.deg2rad(pose[:, 0]).astype(np.float32)[:, None, None]
    cos, sin = np.cos(th) / scale, np.sin(th) / scale
    x = cos * px + sin * py  # rotate the frame into the body frame
    y = cos * py - sin * px + (0.3 * pose[:, 1]).astype(np.float32)[:, None, None]  # hop
    layers = []

    def part(d, rgb):
        layers.append((np.clip(0.5 - d * scale, 0, 1), np.asarray(rgb, np.float32) / 255))

    for side in (-1, 1):
        part(_capsule(x, y, 0.06 * side, 0.1, 0.11 * side, 0.46, 0.055), (40, 50, 120))
    part(_capsule(x, y, 0, -0.2, 0, 0.12, 0.1), (205, 40, 40))
    for arm, side, rgb in ((2, -1, (245, 215, 40)), (3, 1, (40, 205, 225))):
        raise_ = np.deg2rad(25 + 140 * pose[:, arm]).astype(np.float32)[:, None, None]
        ax, ay = 0.1 * side, -0.18
        part(
            _capsule(
                x, y, ax, ay, ax + side * 0.33 * np.sin(raise_), ay + 0.33 * np.cos(raise_), 0.06
            ),
            rgb,
        )
    part(_capsule(x, y, 0, -0.37, 0, -0.37, 0.09), (235, 190, 150))
    return layers


def render(
    label: int,
    seed: int,
    *,
    num_frames: int = 16,
    size: int = 64,
    camera_motion: str | None = None,
    nuisance: bool = True,
    actor: bool = True,
) -> np.ndarray:
    """Render one FineSynth clip.

    Args:
        label (int): class index into :data:`CLASSES`.
        seed (int): everything random (timing and nuisance); shared seeds give two classes
            the same timing draw and the same scene.
        num_frames (int, optional): frames ``T``. (default: ``16``)
        size (int, optional): frame side ``S``. (default: ``64``)
        camera_motion (str, optional): ``None`` (slight jitter), ``"pan"`` or ``"shake"``.
        nuisance (bool, optional): ``False`` renders the actor on flat grey, still camera.
        actor (bool, optional): ``False`` renders the scene without the actor.

    Returns:
        np.ndarray: uint8 RGB frames.

    Shapes:
        - output: :math:`(T, S, S, 3)`.
    """
    if camera_motion not in CAMERA_MOTIONS:
        raise ValueError(f"camera_motion {camera_motion!r} is unknown; known: None, pan, shake")
    pose = poses(label, num_frames, np.random.default_rng([seed, 1]))
    rng = np.random.default_rng([seed, 2])
    margin = size // 4
    cam = (
        camera_path(rng, num_frames, margin, camera_motion)
        if nuisance
        else np.zeros((num_frames, 2))
    )
    img, jitter = scene(rng, num_frames, size, margin, cam, nuisance)  # (T,S,S,3), (4,)
    if actor:
        scale = float(0.5 * size * jitter[0])
        cx = size / 2 + jitter[1] * size - cam[:, 0]
        cy = size / 2 + jitter[2] * size - cam[:, 1]
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
        px = xx[None] - cx.astype(np.float32)[:, None, None]  # (T, S, S)
        py = yy[None] - cy.astype(np.float32)[:, None, None]
        for alpha, rgb in _actor(px, py, pose, scale):
            a = alpha[..., None]
            img = img + a * (rgb - img)
    if nuisance:  # exposure, then sensor noise (grey, 3% of full scale)
        img = img * np.float32(jitter[3])
        img += rng.standard_normal(img.shape[:-1] + (1,), dtype=np.float32) * np.float32(0.03)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)

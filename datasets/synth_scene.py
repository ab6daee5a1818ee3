"""FineSynth nuisance: backgrounds, distractors and camera paths (never class-dependent)."""

from __future__ import annotations

import numpy as np


def camera_path(
    rng: np.random.Generator, num_frames: int, margin: int, motion: str | None
) -> np.ndarray:
    """Integer camera offsets ``(dx, dy)`` per frame, within ``[-margin, margin]``.

    ``None``: slight jitter (at most one pixel); ``"pan"``: a straight sweep across up to
    ``0.9 margin`` each way in a random direction, plus jitter; ``"shake"``: a smoothed random
    walk (AR(1), coefficient 0.6, step std ``0.3 margin``).

    Shapes:
        - output: :math:`(T, 2)`, float64 holding integers.
    """
    jitter = np.clip(np.round(rng.normal(0, 0.5, (num_frames, 2))), -1, 1)
    if motion == "pan":
        phi, amp = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 0.9) * margin
        sweep = np.linspace(-1, 1, num_frames)[:, None] * amp * np.array([np.cos(phi), np.sin(phi)])
        path = sweep + jitter
    elif motion == "shake":
        steps = rng.normal(0, 0.3 * margin, (num_frames, 2))
        path = np.zeros((num_frames, 2))
        for t in range(num_frames):  # AR(1) recursion over a handful of frames
            path[t] = (0.6 * path[t - 1] if t else 0) + steps[t]
    else:
        path = jitter
    return np.clip(np.round(path), -margin, margin)


def _background(rng: np.random.Generator, world: int) -> np.ndarray:
    """Random muted gradient + low-frequency texture + a floor band: ``(W, W, 3)``.

    Colours stay within 0.15 of mid-grey: with fully random colours a small 3D CNN spends
    its first epochs fitting the background (a plateau at chance) before it finds the actor.
    """
    yy, xx = np.mgrid[0:world, 0:world] / world
    top, bottom = 0.5 + rng.uniform(-0.15, 0.15, 3), 0.5 + rng.uniform(-0.15, 0.15, 3)
    img = top + (bottom - top) * yy[..., None]
    for _ in range(3):
        f, phi, ph = rng.uniform(1, 4), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * f * (xx * np.cos(phi) + yy * np.sin(phi)) + ph)
        img = img + rng.uniform(0.01, 0.04) * wave[..., None] * rng.uniform(0.5, 1, 3)
    floor = yy > rng.uniform(0.68, 0.8)
    img[floor] = img[floor] * 0.7 + 0.3 * rng.uniform(0.3, 0.6, 3)
    return img


def _distractors(
    rng: np.random.Generator,
    num_frames: int,
    size: int,
    margin: int,
    cam: np.ndarray,
    img: np.ndarray,
    count: int = 2,
) -> np.ndarray:
    """Blend ``count`` moving discs / squares (bouncing inside the world) into ``img``."""
    world = size + 2 * margin
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    t = np.arange(num_frames)[:, None]
    for _ in range(count):
        r = rng.uniform(0.03, 0.07) * size
        start, vel = rng.uniform(r, world - r, 2), rng.uniform(-1.5, 1.5, 2) * size / 64
        span = world - 2 * r
        pos = np.abs((start - r + vel * t) % (2 * span) - span)  # triangle wave: bounce
        pos = (span - pos + r - margin - cam).astype(np.float32)  # (T, 2) in frame coords
        dx = xx[None] - pos[:, 0, None, None]
        dy = yy[None] - pos[:, 1, None, None]
        disc = rng.random() < 0.5
        d = (np.sqrt(dx * dx + dy * dy) if disc else np.maximum(abs(dx), abs(dy))) - r
        alpha = np.clip(0.5 - d, 0, 1)[..., None]
        img += alpha * (rng.uniform(0.15, 0.85, 3).astype(np.float32) - img)
    return img


def scene(
    rng: np.random.Generator,
    num_frames: int,
    size: int,
    margin: int,
    cam: np.ndarray,
    nuisance: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """The scene behind the actor seen through the camera path, and the clip's jitter.

    Returns:
        tuple: frames ``(T, S, S, 3)`` float in ``[0, 1]`` and ``(actor scale, actor dx,
        actor dy, exposure gain)``; with ``nuisance=False`` flat grey and no jitter.
    """
    if not nuisance:
        return (
            np.full((num_frames, size, size, 3), 0.5, np.float32),
            np.array([1.0, 0.0, 0.0, 1.0]),
        )
    world = size + 2 * margin
    bg = _background(rng, world)
    off = (margin + cam).astype(int)  # (T, 2) top-left corner of each frame in the world
    rows = off[:, 1, None] + np.arange(size)  # (T, S)
    cols = off[:, 0, None] + np.arange(size)  # (T, S)
    img = bg.astype(np.float32)[rows[:, :, None], cols[:, None, :]]  # (T, S, S, 3)
    img = _distractors(rng, num_frames, size, margin, cam, img)
    jitter = np.array(
        [
            rng.uniform(0.9, 1.1),
            rng.uniform(-0.08, 0.08),
            rng.uniform(-0.05, 0.05),
            rng.uniform(0.85, 1.15),
        ]
    )
    return img, jitter

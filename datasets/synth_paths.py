"""PathSynth: classes told apart only by the order, the path or the place of a motion.

The benchmark with headroom (see :mod:`tagnet.train.headroom`). A bright marker
jumps between waypoints on a textured background; a class is the sequence of
waypoints. Classes come in *groups that share their frames*: the clips of one group
with the same seed are the same frames in another order, pixel for pixel. So a
model blind to frame order (a frame-wise backbone + mean pooling, Table 4's row B)
gets identical pooled features for them and is at chance inside each group by
construction::

    group 0 (4 classes, same frames):  square path clockwise       TL -> TR -> BR -> BL
                                       square counter-clockwise    BL -> BR -> TR -> TL
                                       Z path                      TL -> TR -> BL -> BR
                                       Z path reversed             BR -> BL -> TR -> TL
    group 1 (2 classes):               left column, downwards / upwards
    group 2 (2 classes):               right column, downwards / upwards

Group 0 isolates *which path* (the same four corners joined in another order: the
marker's successive positions must be related across frames); groups 1 and 2
isolate *direction in time*; and every class has a *reversal twin*, the class that
plays its segments backwards (:func:`reversal_pairs`: clockwise and counter-clockwise,
the Z path and its reverse, down and up): with a still camera a clip of one is the
exact time reverse of its twin's clip with the same seed, frame for frame (the twin
also plays the frames within each dwell backwards); groups 1 vs 2 differ only in *where* the motion
happens (left or right half of the frame), which a model without positional
information (B: mean over all tokens) cannot see either, except through border
effects. A model blind to order scores at most 3/8 = 37.5% top-1 (chance 12.5%); a
model that sees order but is invariant to reversing time (a graph head whose only path
across time is undirected) at most 4/8 = 50%.

Nuisance never depends on the class: background texture, marker colour, timing
(frames per waypoint), per-frame sensor noise (tied to the frame, so it moves with
it when frames are reordered) and, optionally, camera motion. With a still camera
the frame multisets of a group are identical; with ``camera="pan"`` or ``"shake"``
the camera path is applied after the reordering (the camera does not know the
class), so the frames of a group are no longer identical and B's chance level is a
measured, not a constructed, fact.
"""
from __future__ import annotations

import numpy as np

from .synth_scene import camera_path

#: name, source path, segment order (indices into the source's waypoints)
CLASSES: list[tuple[str, str, tuple[int, ...]]] = [
    ("square path clockwise", "square", (0, 1, 2, 3)),
    ("square path counter-clockwise", "square", (3, 2, 1, 0)),
    ("Z path", "square", (0, 1, 3, 2)),
    ("Z path reversed", "square", (2, 3, 1, 0)),
    ("left column downwards", "left", (0, 1, 2, 3)),
    ("left column upwards", "left", (3, 2, 1, 0)),
    ("right column downwards", "right", (0, 1, 2, 3)),
    ("right column upwards", "right", (3, 2, 1, 0)),
]
SOURCES = ("square", "left", "right")
CAMERAS = (None, "pan", "shake")


def order_groups() -> list[tuple[int, ...]]:
    """Classes that share their frames (same source path), e.g. ``[(0, 1, 2, 3), (4, 5), (6, 7)]``."""  # noqa: E501
    return [tuple(c for c, (_, s, _) in enumerate(CLASSES) if s == src) for src in SOURCES]


def reversal_pairs() -> list[tuple[int, int]]:
    """Pairs of classes whose clips (same seed, still camera) are exact time reverses:
    ``[(0, 1), (2, 3), (4, 5), (6, 7)]``, each class with the one playing its segments
    backwards."""
    pairs = []
    for a, (_, source, segments) in enumerate(CLASSES):
        for b in range(a + 1, len(CLASSES)):
            if CLASSES[b][1] == source and CLASSES[b][2] == segments[::-1]:
                pairs.append((a, b))
    return pairs


def _plays_backwards(label: int) -> bool:
    """The second class of a reversal pair plays each dwell's frames backwards too."""
    return any(label == b for _, b in reversal_pairs())


def source_index(label: int) -> int:
    return SOURCES.index(CLASSES[label][1])


def _waypoints(source: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """Four waypoints ``(x, y)`` in pixels on the 4x4 cell grid of the frame (cells of size/4)."""
    cell = size / 4
    if source == "square":
        r0, c0 = rng.integers(0, 2, 2)
        cells = [(r0, c0), (r0, c0 + 2), (r0 + 2, c0 + 2), (r0 + 2, c0)]  # TL, TR, BR, BL
    else:
        col = rng.integers(0, 2) + (0 if source == "left" else 2)
        cells = [(r, col) for r in range(4)]
    jitter = rng.uniform(-0.15, 0.15, (4, 2)) * cell
    return np.array([((c + 0.5) * cell, (r + 0.5) * cell) for r, c in cells]) + jitter


def render_paths(label: int, seed: int, *, num_frames: int = 8, size: int = 32,
                 camera: str | None = None, camera_level: float = 4.0) -> np.ndarray:
    """Render one PathSynth clip.

    Args:
        label (int): class index into :data:`CLASSES`.
        seed (int): everything random; classes of one group with the same seed show the
            same frames (still camera) in another order.
        num_frames (int): frames ``T`` (at least 4: one per waypoint). (default: ``8``)
        size (int): frame side ``S``. (default: ``32``)
        camera (str, optional): ``None`` (still), ``"pan"`` or ``"shake"``.
        camera_level (float): camera amplitude in pixels (pan: up to this far each way;
            shake: step std ``0.3 x`` it). (default: ``4``, half a token cell at ``S = 32``)

    Returns:
        np.ndarray: uint8 RGB frames.

    Shapes:
        - output: :math:`(T, S, S, 3)`.
    """
    if not 0 <= label < len(CLASSES):
        raise ValueError(f"label {label} is out of range 0..{len(CLASSES) - 1}")
    if camera not in CAMERAS:
        raise ValueError(f"camera {camera!r} is unknown; known: None, pan, shake")
    if num_frames < 4:
        raise ValueError(f"num_frames={num_frames}: PathSynth needs at least 4 (one per waypoint)")
    _, source, segments = CLASSES[label]
    rng = np.random.default_rng([seed, 7])
    margin = int(np.ceil(camera_level)) + 1
    world = size + 2 * margin
    yy, xx = np.mgrid[0:world, 0:world] / world
    bg = 0.5 + rng.uniform(-0.1, 0.1, 3) * (1 - yy[..., None])
    for _ in range(3):
        f, phi, ph = rng.uniform(1, 4), rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * f * (xx * np.cos(phi) + yy * np.sin(phi)) + ph)
        bg = bg + rng.uniform(0.02, 0.06) * wave[..., None] * rng.uniform(0.5, 1, 3)
    points = _waypoints(source, size, rng) + margin  # world coordinates
    cuts = np.sort(rng.choice(np.arange(1, num_frames), 3, replace=False))
    dwell = np.diff(np.concatenate([[0], cuts, [num_frames]]))  # frames per waypoint, >= 1
    colour = rng.uniform(0.8, 1.0, 3) * (rng.permutation([1.0, 1.0, 0.3]))
    radius = size / 12
    noise = rng.standard_normal((num_frames, size, size, 1)) * 0.03  # per source frame
    # source frame f shows waypoint wp[f]; the class plays the segments in its order
    wp = np.repeat(np.arange(4), dwell)
    start = np.concatenate([[0], np.cumsum(dwell)])
    step = -1 if _plays_backwards(label) else 1  # the reversal twin: an exact time reverse
    order = np.concatenate([np.arange(start[s], start[s + 1])[::step] for s in segments])
    cam = np.zeros((num_frames, 2)) if camera is None else \
        camera_path(np.random.default_rng([seed, 8]), num_frames, margin - 1, camera)
    px, py = np.meshgrid(np.arange(world) + 0.5, np.arange(world) + 0.5)
    out = np.empty((num_frames, size, size, 3), np.float64)
    for t, f in enumerate(order):
        x, y = points[wp[f]]
        alpha = np.clip(radius + 0.5 - np.hypot(px - x, py - y), 0, 1)[..., None]
        img = bg + alpha * (colour - bg)
        ox, oy = (margin + cam[t]).astype(int)
        out[t] = img[oy:oy + size, ox:ox + size] + noise[f]
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


__all__ = ["CLASSES", "SOURCES", "CAMERAS", "order_groups", "reversal_pairs", "render_paths",
           "source_index"]

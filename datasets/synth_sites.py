"""SiteSynth: classes told apart only by what happens at the same site over time.

The second benchmark with headroom (:mod:`tagnet.train.headroom`, ``benchmark="sites"``).
Four *sites*, the grid cells :data:`SITE_CELLS`, carry the signal; two distractors
jump between the twelve other cells. A class is a rule about how the content of
each site changes from one frame to the next (:func:`site_states`)::

    group "dwell" (coloured discs)                  group "ramp" (lamps)
    0 steady:  every arrangement of the discs is    2 brightening: every lamp steps up one
               held for two frames, then every         level per frame and falls back from
               disc moves     A A B B C C D D          the top (phases differ per site)
    1 hopping: the same frames, every disc moves    3 dimming: the same clip played
               at every frame A B C D A B C D          backwards (the exact time reverse)

*Dwell*: four discs of distinct colours exchange the four sites; the arrangements
``A..D`` are the rows of a random 4x4 Latin square, so every disc sits on another
site in each. So the disc at a site in frame ``t`` is the one of frame ``t + 1``
exactly at the steady clip's held frames and never otherwise: a *same-site*
comparison of neighbouring frames decides steady vs hopping. Every frame shows the
same four colours on the same four sites, so nothing that describes one frame
without binding colours to sites (which colours, which sites are filled) differs
between the classes.

*Ramp*: the lamp of site ``s`` shows level ``(f + phase_s) mod 4`` in source frame
``f``; the phases are a permutation of the sites, so every frame shows each level
once (the same brightness histogram in every frame) and only the *direction* of the
steps at a site tells the classes apart: +1, +1, +1, -3 (brightening) or -1, -1,
-1, +3 (dimming).

Twins: the clips of one group with the same seed are the same frames in another
order, pixel for pixel (:func:`frame_order`); the ramp twins are exact time
reverses (:func:`reversal_pairs`). Construction ceilings (top-1, four classes of
equal size)::

    a model ...                                  best top-1   to exceed it, it needs
    blind to frame order (frame-wise backbone +
      mean or max over frames; a graph head
      with no temporal edges)                     50  (2/4)   the order of the frames:
                                                              what a site holds next
    invariant to time reversal (undirected
      temporal edges, no time code)               75  (3/4)   the direction of time
    chance                                        25  (1/4)
    anything else                                100

The first two are exact: such a model gives twins identical outputs. Row B of
Table 4 reaches its ceiling of 50% when it tells the groups apart (discs vs lamps).

Nuisance never depends on the class and is shared by all classes with the same seed:
colours and lamp tint, background texture, distractors (two grey discs per frame at
random free cells, drawn independently for every frame, so their jumps look alike in
any frame order), per-frame sensor noise (tied to the frame, so it moves with it
when frames are reordered) and, optionally, camera motion, applied after the
reordering (then twins no longer share their frames and the ceilings are measured,
not constructed).

Why these cells: framewise_tiny (three 3x3 convolutions, stride 2, padding 1) gives
the token of grid cell ``(h, w)`` a receptive field that reaches into cells
``h - 1..h`` and ``w - 1..w``, so an object on cell ``(h, w)`` lights the 2x2 tokens
``h..h+1, w..w+1``. On the cells ``(0, 0), (0, 2), (2, 0), (2, 2)`` every token sees
exactly one site, the same one in every frame. With a random layout per clip (any
four cells that do not touch) a global encoder with a space-time code (B + TE) stayed
at the order-blind plateau for 45 epochs on 128 clips per class and for the 20 epochs
watched on 512; on this layout it leaves it on some seeds (``configs/sitesynth.yaml``).
"""
from __future__ import annotations

import numpy as np

from .synth_scene import _background, camera_path

#: name, group, how a clip orders the group's source frames ("forward", "interleave",
#: "reverse"; see :func:`frame_order`)
CLASSES: list[tuple[str, str, str]] = [
    ("steady", "dwell", "forward"),
    ("hopping", "dwell", "interleave"),
    ("brightening", "ramp", "forward"),
    ("dimming", "ramp", "reverse"),
]
GROUPS = ("dwell", "ramp")
CAMERAS = (None, "pan", "shake")
#: the sites, as cells ``row * 4 + col`` of the 4x4 grid: (0, 0), (0, 2), (2, 0), (2, 2)
SITE_CELLS = (0, 2, 8, 10)
NUM_SITES = len(SITE_CELLS)
NUM_LEVELS = 4  # lamp levels
NUM_DISTRACTORS = 2


def order_groups() -> list[tuple[int, ...]]:
    """Classes that share their frames: ``[(0, 1), (2, 3)]``."""
    return [tuple(c for c, (_, g, _) in enumerate(CLASSES) if g == group) for group in GROUPS]


def reversal_pairs() -> list[tuple[int, int]]:
    """Pairs of classes whose clips (same seed) are exact time reverses: ``[(2, 3)]``."""
    forward = {g: c for c, (_, g, o) in enumerate(CLASSES) if o == "forward"}
    return [(forward[g], c) for c, (_, g, o) in enumerate(CLASSES) if o == "reverse"]


def group_index(label: int) -> int:
    return GROUPS.index(CLASSES[label][1])


def frame_order(label: int, num_frames: int = 8) -> np.ndarray:
    """Which of the group's source frames each frame of a class-``label`` clip shows.

    Example:
        >>> frame_order(1).tolist()  # hopping: the held pairs pulled apart
        [0, 2, 4, 6, 1, 3, 5, 7]
    """
    kind = CLASSES[label][2]
    f = np.arange(num_frames)
    if kind == "interleave":
        return np.concatenate([f[0::2], f[1::2]])
    return f[::-1].copy() if kind == "reverse" else f


def site_states(label: int, seed: int, num_frames: int = 8) -> np.ndarray:
    """What each site shows in each frame: the disc (0..3, one colour each) for the dwell
    group, the lamp level (0..3, dark to bright) for the ramp group.

    Shapes:
        - output: :math:`(T, 4)`, int, sites in the order of :data:`SITE_CELLS`.
    """
    _check(label, num_frames)
    rng = np.random.default_rng([seed, 13])
    square = _latin_square(rng, NUM_SITES)  # (arrangement, site) -> disc
    rows = np.arange(num_frames // 2) % NUM_SITES
    if len(rows) > 1 and len(rows) % NUM_SITES == 1:  # hopping wraps from the last to row 0
        rows[-1] = 1
    phases = rng.permutation(NUM_LEVELS)[:NUM_SITES]
    f = frame_order(label, num_frames)
    if CLASSES[label][1] == "dwell":
        return square[rows[f // 2]]
    return (f[:, None] + phases) % NUM_LEVELS


def _latin_square(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random ``n x n`` Latin square: the cyclic one or, for ``n = 4``, the Klein-group
    one (the two kinds of order 4), with rows, columns and symbols permuted."""
    r, c = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    square = (r ^ c) if n == 4 and rng.random() < 0.5 else (r + c) % n
    return rng.permutation(n)[square[rng.permutation(n)][:, rng.permutation(n)]]


def _check(label: int, num_frames: int) -> None:
    if not 0 <= label < len(CLASSES):
        raise ValueError(f"label {label} is out of range 0..{len(CLASSES) - 1}")
    if num_frames < 4 or num_frames % 2:
        raise ValueError(f"num_frames={num_frames}: SiteSynth needs an even number, at least 4 "
                         "(the steady class holds each arrangement for two frames)")


def render_sites(label: int, seed: int, *, num_frames: int = 8, size: int = 32,
                 camera: str | None = None, camera_level: float = 4.0,
                 show_sites: bool = True) -> np.ndarray:
    """Render one SiteSynth clip.

    Args:
        label (int): class index into :data:`CLASSES`.
        seed (int): everything random; all classes with the same seed share colours,
            background, distractors and noise, and the classes of a group show the same
            frames (still camera) in the order :func:`frame_order` gives.
        num_frames (int): frames ``T``, even and at least 4. (default: ``8``)
        size (int): frame side ``S``; the grid cells have side ``S / 4``. (default: ``32``)
        camera (str, optional): ``None`` (still), ``"pan"`` or ``"shake"``.
        camera_level (float): camera amplitude in pixels (as in
            :func:`tagnet.datasets.synth_paths.render_paths`). (default: ``4``)
        show_sites (bool): ``False`` leaves the sites empty (background, distractors and
            noise only), so that the class changes nothing but the frame order.

    Returns:
        np.ndarray: uint8 RGB frames.

    Shapes:
        - output: :math:`(T, S, S, 3)`.
    """
    _check(label, num_frames)
    if camera not in CAMERAS:
        raise ValueError(f"camera {camera!r} is unknown; known: None, pan, shake")
    dwell = CLASSES[label][1] == "dwell"
    states = site_states(label, seed, num_frames)  # (T, sites), already in clip order
    order = frame_order(label, num_frames)
    rng = np.random.default_rng([seed, 11])  # nuisance, the same for every class
    cell = size / 4
    margin = int(np.ceil(camera_level)) + 1
    world = size + 2 * margin
    bg = _background(rng, world)
    hues = (rng.uniform() + np.arange(NUM_SITES) / NUM_SITES) % 1  # four distinct colours
    colours = _hsv_to_rgb(hues, rng.uniform(0.75, 1.0), rng.uniform(0.8, 0.95))
    tint = rng.uniform(0.85, 1.0, 3)
    free = np.setdiff1d(np.arange(16), SITE_CELLS)
    dis_cell = np.stack([rng.choice(free, NUM_DISTRACTORS, replace=False)
                         for _ in range(num_frames)])  # (T, D), per source frame
    dis_xy = margin + (np.stack([dis_cell % 4, dis_cell // 4], -1)
                       + rng.uniform(0.3, 0.7, (num_frames, NUM_DISTRACTORS, 2))) * cell
    dis_grey = rng.uniform(0.05, 0.95, (num_frames, NUM_DISTRACTORS))
    noise = rng.standard_normal((num_frames, size, size, 1)) * 0.03  # per source frame
    cam = np.zeros((num_frames, 2)) if camera is None else \
        camera_path(np.random.default_rng([seed, 8]), num_frames, margin - 1, camera)
    cells = np.array(SITE_CELLS)
    centres = margin + (np.stack([cells % 4, cells // 4], 1) + 0.5) * cell  # (sites, 2): x, y
    px, py = np.meshgrid(np.arange(world) + 0.5, np.arange(world) + 0.5)
    disc_r, lamp_r, dis_r = 0.35 * cell, 0.4 * cell, 0.22 * cell
    out = np.empty((num_frames, size, size, 3), np.float64)
    for t, f in enumerate(order):
        img = bg.astype(np.float64)
        for (x, y), g in zip(dis_xy[f], dis_grey[f], strict=True):
            img = _blend(img, _disc(px, py, x, y, dis_r), np.full(3, g))
        for (x, y), state in zip(centres, states[t], strict=True):
            if not show_sites:
                break
            if dwell:
                img = _blend(img, _disc(px, py, x, y, disc_r), colours[state])
            else:  # a dark frame around a square of the lamp's level
                img = _blend(img, _square(px, py, x, y, lamp_r), np.full(3, 0.05))
                img = _blend(img, _square(px, py, x, y, lamp_r - 1),
                             tint * (0.2 + 0.75 * state / (NUM_LEVELS - 1)))
        ox, oy = (margin + cam[t]).astype(int)
        out[t] = img[oy:oy + size, ox:ox + size] + noise[f]
    return np.clip(np.rint(out * 255), 0, 255).astype(np.uint8)


def _disc(px, py, x, y, r):
    return np.clip(r + 0.5 - np.hypot(px - x, py - y), 0, 1)[..., None]


def _square(px, py, x, y, r):
    return np.clip(r + 0.5 - np.maximum(abs(px - x), abs(py - y)), 0, 1)[..., None]


def _blend(img, alpha, colour):
    return img + alpha * (colour - img)


def _hsv_to_rgb(h: np.ndarray, s: float, v: float) -> np.ndarray:
    """Colours ``(n, 3)`` of hues ``h`` in ``[0, 1)`` at one saturation and value."""
    k = (np.array([5.0, 3.0, 1.0]) + h[:, None] * 6) % 6
    return v - v * s * np.clip(np.minimum(k, 4 - k), 0, 1)


__all__ = ["CAMERAS", "CLASSES", "GROUPS", "NUM_LEVELS", "NUM_SITES", "SITE_CELLS",
           "frame_order", "group_index", "order_groups", "render_sites", "reversal_pairs",
           "site_states"]

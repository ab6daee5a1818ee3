"""SiteSynth: the properties its docstring claims, checked on the rendered pixels."""
import numpy as np
import pytest

from tagnet.datasets.synth_sites import (
    CLASSES,
    NUM_LEVELS,
    SITE_CELLS,
    frame_order,
    order_groups,
    render_sites,
    reversal_pairs,
    site_states,
)

SEEDS = (0, 3, 11)


def frames_key(clip):
    return sorted(f.tobytes() for f in clip)


def site_boxes(size=32):
    """Boolean (S, S) mask of the four site cells."""
    mask = np.zeros((size, size), bool)
    c = size // 4
    for cell in SITE_CELLS:
        r, k = divmod(cell, 4)
        mask[r * c:(r + 1) * c, k * c:(k + 1) * c] = True
    return mask


def site_means(clip, size=32):
    """Mean RGB of the central 4x4 pixels of each site: (T, sites, 3)."""
    c = size // 4
    out = []
    for cell in SITE_CELLS:
        r, k = divmod(cell, 4)
        y, x = r * c + c // 2, k * c + c // 2
        out.append(clip[:, y - 2:y + 2, x - 2:x + 2].reshape(len(clip), -1, 3).mean(1))
    return np.stack(out, 1).astype(float)


def test_classes_groups_and_orders():
    assert [n for n, _, _ in CLASSES] == ["steady", "hopping", "brightening", "dimming"]
    assert order_groups() == [(0, 1), (2, 3)] and reversal_pairs() == [(2, 3)]
    assert frame_order(0).tolist() == list(range(8))
    assert frame_order(1).tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    assert frame_order(3).tolist() == [7, 6, 5, 4, 3, 2, 1, 0]
    assert frame_order(1, 6).tolist() == [0, 2, 4, 1, 3, 5]
    assert SITE_CELLS == (0, 2, 8, 10)


@pytest.mark.parametrize("seed", SEEDS)
def test_twins_share_their_frames_pixel_for_pixel_in_another_order(seed):
    for group in order_groups():
        clips = [render_sites(c, seed) for c in group]
        assert frames_key(clips[0]) == frames_key(clips[1])
        assert not np.array_equal(clips[0], clips[1])
        # ... and exactly in the order frame_order names
        base = clips[0][np.argsort(frame_order(group[0]))]  # back to source order
        for c, clip in zip(group, clips, strict=True):
            np.testing.assert_array_equal(clip, base[frame_order(c)])


@pytest.mark.parametrize("seed", SEEDS)
def test_reversal_twins_are_exact_time_reverses(seed):
    for a, b in reversal_pairs():
        np.testing.assert_array_equal(render_sites(b, seed), render_sites(a, seed)[::-1])
        np.testing.assert_array_equal(site_states(b, seed), site_states(a, seed)[::-1])
    # the dwell twins are not: a reversed steady clip is still steady, not hopping
    steady = site_states(0, SEEDS[0])
    assert not np.array_equal(site_states(1, SEEDS[0]), steady[::-1])


def test_the_camera_moves_after_the_reordering():
    pan = [render_sites(c, 11, camera="pan") for c in (0, 1)]
    assert frames_key(pan[0]) != frames_key(pan[1])
    assert pan[0].shape == (8, 32, 32, 3)


@pytest.mark.parametrize("seed", SEEDS)
def test_dwell_states_change_at_a_site_only_where_the_class_says(seed):
    steady, hopping = site_states(0, seed), site_states(1, seed)
    for s in (steady, hopping):  # every frame shows each disc once
        assert (np.sort(s, 1) == np.arange(4)).all()
    same_steady = steady[1:] == steady[:-1]  # (T - 1, sites)
    assert (same_steady.all(1) == (np.arange(7) % 2 == 0)).all()  # held pairs, all sites
    assert not (hopping[1:] == hopping[:-1]).any()  # every disc moves every frame
    # within a clip, a site shows a disc again only inside a held pair (steady) or
    # four frames later (hopping): never one or two frames apart in hopping
    for gap in (1, 2, 3):
        assert not (hopping[gap:] == hopping[:-gap]).any()
    assert (hopping[4:] == hopping[:-4]).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_ramp_states_step_one_level_up_at_every_site_and_frame_histograms_are_flat(seed):
    up, down = site_states(2, seed), site_states(3, seed)
    assert ((up[1:] - up[:-1]) % NUM_LEVELS == 1).all()
    assert ((down[1:] - down[:-1]) % NUM_LEVELS == NUM_LEVELS - 1).all()
    for s in (up, down):
        assert (np.sort(s, 1) == np.arange(NUM_LEVELS)).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_pixels_at_a_site_follow_its_states(seed):
    for label in range(len(CLASSES)):
        states = site_states(label, seed)
        means = site_means(render_sites(label, seed))  # (T, sites, 3)
        diff = np.abs(means[:, None] - means[None]).max(-1)  # (T, T, sites), 0..255
        same = states[:, None] == states[None]
        assert diff[same].max() < 15 and diff[~same].min() > 40, (label, seed)
        if CLASSES[label][1] == "ramp":  # a higher level is a brighter lamp, at each site
            grey = means.mean(-1)  # (T, sites)
            rise = grey[None] - grey[:, None]  # [t, u, s] = grey[u, s] - grey[t, s]
            assert (rise[states[:, None] < states[None]] > 40).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_the_class_signal_sits_at_the_sites_only(seed):
    empty = [render_sites(c, seed, show_sites=False) for c in range(len(CLASSES))]
    # with the sites left empty, every class is the same source frames in its own order
    for c, clip in enumerate(empty):
        np.testing.assert_array_equal(clip, empty[0][frame_order(c)])
    # and a clip differs from its empty version only inside the site cells
    outside = ~site_boxes()
    for c in range(len(CLASSES)):
        clip = render_sites(c, seed)
        np.testing.assert_array_equal(clip[:, outside], empty[c][:, outside])
        assert (clip[:, site_boxes()] != empty[c][:, site_boxes()]).any()


def test_generation_is_deterministic_and_seeded():
    a = render_sites(1, 5)
    np.testing.assert_array_equal(a, render_sites(1, 5))
    assert not np.array_equal(a, render_sites(1, 6))
    assert a.dtype == np.uint8 and a.shape == (8, 32, 32, 3)
    assert render_sites(0, 5, num_frames=4, size=48).shape == (4, 48, 48, 3)


def test_bad_options_name_the_fix():
    with pytest.raises(ValueError, match="label 4 is out of range 0..3"):
        render_sites(4, 0)
    with pytest.raises(ValueError, match="camera 'zoom' is unknown; known: None, pan, shake"):
        render_sites(0, 0, camera="zoom")
    with pytest.raises(ValueError, match="num_frames=7: SiteSynth needs an even number"):
        site_states(0, 0, num_frames=7)


@pytest.mark.parametrize("num_frames", [4, 6, 10, 12, 16])
def test_adjacent_frames_repeat_a_disc_only_in_held_pairs_at_any_length(num_frames):
    for seed in SEEDS:
        steady, hopping = site_states(0, seed, num_frames), site_states(1, seed, num_frames)
        held = np.arange(num_frames - 1) % 2 == 0
        assert ((steady[1:] == steady[:-1]).all(1) == held).all()
        assert not ((steady[1:] == steady[:-1]).any(1) & ~held).any()
        assert not (hopping[1:] == hopping[:-1]).any()

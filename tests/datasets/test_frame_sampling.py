import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tagnet.datasets import multi_clip_indices, segment_indices, uniform_indices
from tagnet.datasets.sampling import get_sampler


def test_uniform_literal():
    assert uniform_indices(10, 4).tolist() == [0, 3, 6, 9]
    assert uniform_indices(65, 8).tolist() == [0, 9, 18, 27, 36, 45, 54, 64]
    assert uniform_indices(1, 3).tolist() == [0, 0, 0]
    assert uniform_indices(7, 1).tolist() == [0]


def test_uniform_repeats_short_clips():
    # HAA500 clips can be 9 frames long and are sampled to 32
    idx = uniform_indices(9, 32)
    assert idx.tolist() == [int(i * 8 / 31) for i in range(32)]
    assert torch.unique(idx).tolist() == list(range(9))


def test_uniform_matches_release_float32_not_exact():
    # the release's float32 linspace floors 62.99999 to 62 where the exact grid has 27*147/63=63
    release = uniform_indices(148, 64)
    exact = uniform_indices(148, 64, exact=True)
    assert release[27].item() == 62 and exact[27].item() == 63
    assert torch.equal(release, torch.linspace(0, 147, 64).long())
    assert (release != exact).sum().item() == 1


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3000), t=st.integers(1, 96))
def test_uniform_properties(n, t):
    for idx in (uniform_indices(n, t), uniform_indices(n, t, exact=True)):
        assert idx.shape == (t,) and idx.dtype == torch.long
        assert idx.min() >= 0 and idx.max() <= n - 1
        assert (idx[1:] >= idx[:-1]).all()
        if t > 1:
            assert idx[0] == 0 and idx[-1] == n - 1


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 2000), t=st.integers(1, 64), seed=st.integers(0, 2**31))
def test_segment_one_frame_per_segment(n, t, seed):
    idx = segment_indices(n, t, torch.Generator().manual_seed(seed))
    assert idx.shape == (t,) and idx.dtype == torch.long
    assert (idx[1:] >= idx[:-1]).all() and idx.min() >= 0 and idx.max() <= n - 1
    k = torch.arange(t)
    lo = torch.floor(k * n / t).long().clamp(max=n - 1)
    hi = torch.floor((k + 1) * n / t).long().clamp(max=n - 1)
    assert ((idx >= lo) & (idx <= hi)).all()


def test_segment_deterministic_under_generator_and_random_across_seeds():
    a = segment_indices(300, 16, torch.Generator().manual_seed(0))
    b = segment_indices(300, 16, torch.Generator().manual_seed(0))
    c = segment_indices(300, 16, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    torch.manual_seed(3)
    d = segment_indices(300, 16)
    torch.manual_seed(3)
    assert torch.equal(d, segment_indices(300, 16))


def test_multi_clip_uniform_first_clip_is_the_release_clip():
    idx = multi_clip_indices(100, 8, 3)
    assert idx.shape == (3, 8)
    assert torch.equal(idx[0], uniform_indices(100, 8))
    assert idx.tolist() == [
        [0, 14, 28, 42, 56, 70, 84, 99],
        [4, 18, 33, 47, 61, 75, 89, 99],
        [9, 23, 37, 51, 65, 80, 94, 99],
    ]
    assert torch.equal(multi_clip_indices(100, 8, 1)[0], uniform_indices(100, 8))


def test_multi_clip_window_literal():
    assert multi_clip_indices(10, 4, 2, mode="window").tolist() == [[0, 1, 2, 3], [6, 7, 8, 9]]
    assert multi_clip_indices(20, 3, 3, mode="window", stride=2).tolist() == [
        [0, 2, 4],
        [7, 9, 11],
        [15, 17, 19],
    ]
    # shorter than one window: every clip starts at 0 and repeats the last frame
    assert multi_clip_indices(3, 4, 2, mode="window").tolist() == [[0, 1, 2, 2], [0, 1, 2, 2]]


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 1000),
    t=st.integers(1, 32),
    k=st.integers(1, 10),
    mode=st.sampled_from(["uniform", "window"]),
)
def test_multi_clip_in_range(n, t, k, mode):
    idx = multi_clip_indices(n, t, k, mode=mode)
    assert idx.shape == (k, t) and idx.min() >= 0 and idx.max() <= n - 1


def test_errors_name_the_choices():
    with pytest.raises(ValueError, match="uniform, segment"):
        get_sampler("linear", 8)
    with pytest.raises(ValueError, match="uniform, window"):
        multi_clip_indices(10, 4, 2, mode="dense")
    with pytest.raises(ValueError, match="0 frames"):
        uniform_indices(0, 4)


def test_get_sampler():
    assert get_sampler("uniform", 4)(10).tolist() == [0, 3, 6, 9]
    g = torch.Generator().manual_seed(0)
    assert get_sampler("segment", 4, g)(10).shape == (4,)
    custom = get_sampler(lambda n: torch.tensor([n - 1]), 1)
    assert custom(5).tolist() == [4]

import pytest
import torch

from tagnet.datasets import test_transform as make_test_transform
from tagnet.datasets import train_transform
from tagnet.datasets.transforms import ToCTHW, ToVideo


@pytest.fixture
def frames():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (8, 128, 171, 3), dtype=torch.uint8, generator=g)


@pytest.mark.parametrize(
    "make",
    [lambda: train_transform("release"), lambda: train_transform("paper"), make_test_transform],
)
def test_output_shape_and_dtype(frames, make):
    out = make()(frames)
    assert out.shape == (3, 8, 112, 112) and out.dtype == torch.float32
    assert type(out) is torch.Tensor


def test_several_clips_and_other_sizes(frames):
    clips = torch.stack([frames, frames])  # (K, T, H, W, 3)
    assert make_test_transform()(clips).shape == (2, 3, 8, 112, 112)
    assert train_transform(size=64)(frames).shape == (3, 8, 64, 64)
    small = frames[:, :60, :80]  # smaller than the crop: paper pipeline resizes first
    assert train_transform("paper")(small).shape == (3, 8, 112, 112)


@pytest.mark.parametrize("kind", ["release", "paper"])
def test_train_deterministic_under_seed(frames, kind):
    t = train_transform(kind)
    torch.manual_seed(0)
    a = t(frames)
    torch.manual_seed(0)
    b = t(frames)
    outs = []
    for seed in range(4):
        torch.manual_seed(seed)
        outs.append(t(frames))
    assert torch.equal(a, b)
    assert any(not torch.equal(outs[0], o) for o in outs[1:])


def test_same_crop_and_flip_for_every_frame(frames):
    still = frames[:1].repeat(8, 1, 1, 1)  # a video whose frames are all equal
    for t in (train_transform("release"), train_transform("paper")):
        for seed in range(3):
            torch.manual_seed(seed)
            out = t(still)
            assert all(torch.equal(out[:, 0], out[:, i]) for i in range(8))


def test_test_transform_is_a_centre_crop_and_normalises():
    x = torch.zeros(2, 128, 160, 3, dtype=torch.uint8)
    x[:, :, 80:] = 255  # right half white
    out = make_test_transform()(x)
    white, black = (1 - 0.45) / 0.225, (0 - 0.45) / 0.225
    assert torch.allclose(out[:, :, :, :20], torch.full_like(out[:, :, :, :20], black))
    assert torch.allclose(out[:, :, :, -20:], torch.full_like(out[:, :, :, -20:], white))
    # centre crop of 112 from 160: columns 24..135, the edge at column 80 -> 56
    assert torch.allclose(out[0, 0, 0, 55], torch.tensor(black)) and out[0, 0, 0, 56] > 0


def test_flip_probability_one_mirrors():
    x = torch.zeros(1, 112, 112, 3, dtype=torch.uint8)
    x[:, :, :10] = 255
    out = train_transform("paper", resize=112, flip=1.0)(x)
    assert out[0, 0, 0, -1] > 0 and out[0, 0, 0, 0] < 0


def test_layout_helpers():
    v = ToVideo()(torch.zeros(4, 5, 6, 3, dtype=torch.uint8))
    assert v.shape == (4, 3, 5, 6)
    assert ToCTHW()(v).shape == (3, 4, 5, 6)
    with pytest.raises(ValueError, match=r"\(\.\.\., T, H, W, 3\)"):
        ToVideo()(torch.zeros(4, 3, 5, 6))


def test_unknown_kind():
    with pytest.raises(ValueError, match="release, paper"):
        train_transform("imagenet")

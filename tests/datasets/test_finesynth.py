import re

import numpy as np
import pytest
import torch

from tagnet.datasets import FineGym, make_finesynth, probe, read_categories, read_clip
from tagnet.datasets.finesynth import write_mp4
from tagnet.datasets.synth import CLASSES, order_pairs, poses, render
from tagnet.datasets.synth_scene import camera_path

SMALL = dict(
    num_classes=8, clips_per_class=2, num_frames=8, size=32, val_fraction=0.5, progress=False
)
ID = re.compile(r"^[A-Za-z0-9_-]{11}_E_\d{6}_\d{6}_A_\d{4}_\d{4}$")


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return make_finesynth(tmp_path_factory.mktemp("fs"), **SMALL)


def test_official_finegym_layout(synth):
    root = synth.root
    assert (root / "annotations" / "finesynth_train_element.txt").is_file()
    assert (root / "annotations" / "finesynth_val_element.txt").is_file()
    cats = read_categories(root / "annotations" / "finesynth_categories.txt")
    assert cats == [f"(FS) {name}" for name, _ in CLASSES[:8]] == synth.classes
    line = (root / "annotations" / "finesynth_categories.txt").read_text().splitlines()[0]
    assert line == "Clabel:   0; set:  1; Glabel:   1; (FS) turn 0.5 clockwise"
    ids = [i for i, _ in synth.train + synth.val]
    assert len(set(ids)) == 16 and all(ID.match(i) for i in ids)
    assert any("-" in i.split("_E_")[0] for i in ids) and any("_" in i.split("_E_")[0] for i in ids)
    path = root / "subactions" / f"{ids[0]}.mp4"
    assert path.read_bytes()[4:8] == b"ftyp"
    info = probe(path)
    assert (info.codec, info.num_frames, info.width, info.height) == ("h264", 8, 32, 32)


def test_finegym_loader_reads_it(synth):
    train = FineGym(synth.root, version="finesynth", split="train", num_frames=8, short_side=None)
    val = synth.dataset("val", num_frames=4)
    assert len(train) == len(val) == 8 and sorted(train.targets) == list(range(8))
    assert train.classes == synth.classes
    clip, label, meta = val[3]
    assert clip.shape == (4, 32, 32, 3) and meta["id"] in dict(synth.val)


def test_cached_and_regenerated_when_parameters_change(tmp_path):
    first = make_finesynth(tmp_path, **SMALL)
    video = tmp_path / "subactions" / f"{first.train[0][0]}.mp4"
    stamp = video.stat().st_mtime_ns
    again = make_finesynth(tmp_path, **SMALL)
    assert not again.generated and again.train == first.train
    assert video.stat().st_mtime_ns == stamp
    other = make_finesynth(tmp_path, **{**SMALL, "seed": 1})
    assert other.generated and not video.exists()  # the old clips were removed
    assert len(list((tmp_path / "subactions").iterdir())) == 16
    with pytest.raises(ValueError, match="None, pan, shake"):
        make_finesynth(tmp_path, camera_motion="zoom")


@pytest.mark.parametrize("size", [32, 96])  # x264's lookahead made 96 px vary run to run
def test_deterministic_for_a_seed(tmp_path, size):
    a = make_finesynth(tmp_path / "a", **{**SMALL, "size": size})
    b = make_finesynth(tmp_path / "b", **{**SMALL, "size": size})
    assert a.train == b.train and a.val == b.val
    for vid, _ in a.train + a.val:
        name = f"subactions/{vid}.mp4"
        assert (a.root / name).read_bytes() == (b.root / name).read_bytes()
    assert not np.array_equal(render(1, 0), render(1, 1))


def sorted_frames(clip: np.ndarray) -> list[bytes]:
    return sorted(frame.tobytes() for frame in clip)


@pytest.mark.parametrize("seed", [0, 7, 123])
def test_order_pairs_have_identical_frame_multisets(seed):
    """A model that sees the frames in shuffled order cannot tell these classes apart."""
    assert order_pairs(8) == [(1, 2), (4, 5), (6, 7)]
    feature = torch.nn.Conv2d(3, 4, 5)  # any per-frame feature, pooled over time
    torch.nn.init.normal_(feature.weight)
    for a, b in order_pairs():
        clean_a = render(a, seed, num_frames=16, nuisance=False)
        clean_b = render(b, seed, num_frames=16, nuisance=False)
        assert sorted_frames(clean_a) == sorted_frames(clean_b)  # same frames ...
        assert not np.array_equal(clean_a, clean_b)  # ... in another order
        pooled = [
            feature(torch.from_numpy(c).permute(0, 3, 1, 2).float()).mean(0)
            for c in (clean_a, clean_b)
        ]
        torch.testing.assert_close(pooled[0], pooled[1], rtol=1e-4, atol=1e-4)  # sum order
        # with nuisance on: the same poses, and a scene that does not depend on the class
        pa, pb = (
            poses(a, 16, np.random.default_rng([seed, 1])),
            poses(b, 16, np.random.default_rng([seed, 1])),
        )
        assert sorted(map(tuple, pa)) == sorted(map(tuple, pb))
        np.testing.assert_array_equal(render(a, seed, actor=False), render(b, seed, actor=False))


def test_order_pairs_survive_encoding(tmp_path):
    """Intra-only coding at a constant quantiser: the decoded files of an order pair still
    hold identical frame multisets (a GOP would tie coding quality to frame position)."""
    for a, b in order_pairs():
        decoded = []
        for label in (a, b):
            path = tmp_path / f"{label}.mp4"
            write_mp4(path, render(label, 11, num_frames=12, size=32, nuisance=False))
            decoded.append(read_clip(path, 12))
        assert sorted_frames(decoded[0].numpy()) == sorted_frames(decoded[1].numpy())
        assert not torch.equal(decoded[0], decoded[1])


def test_other_pairs_differ_in_content():
    half, full = render(0, 3, nuisance=False), render(1, 3, nuisance=False)
    assert sorted_frames(half) != sorted_frames(full)
    left, right = render(8, 3, nuisance=False), render(9, 3, nuisance=False)
    assert sorted_frames(left) != sorted_frames(right)


def test_same_actor_in_every_class():
    rest = [render(c, 5, nuisance=False)[0] for c in range(len(CLASSES))]
    assert all(np.array_equal(rest[0], r) for r in rest[1:])  # first frame: actor at rest


def test_camera_motion():
    rng = np.random.default_rng
    still = camera_path(rng(0), 16, 16, None)
    pan = camera_path(rng(0), 16, 16, "pan")
    shake = camera_path(rng(0), 16, 16, "shake")
    assert np.abs(still).max() <= 1  # slight jitter only
    assert np.hypot(*(pan[-1] - pan[0])) >= 14  # a sweep of at least 0.9 margin overall
    assert np.abs(np.diff(shake, axis=0)).mean() > 2 and np.abs(shake).max() <= 16
    a, b = render(1, 2, camera_motion="pan"), render(1, 2, camera_motion=None)
    assert a.shape == b.shape and not np.array_equal(a, b)

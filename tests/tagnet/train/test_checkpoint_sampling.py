"""Checkpoint files, RNG capture, the resumable sampler, seeded augmentation, holdout, lr."""
import random

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from tagnet.config import TrainConfig
from tagnet.train.checkpoint import (
    capture_rng_state,
    restore_rng_state,
    save_checkpoint,
)
from tagnet.train.data import stratified_holdout
from tagnet.train.optim import build_optimizer, build_scheduler, lr_factor, param_groups
from tagnet.train.sampling import ResumableSampler, SeededDataset
from tagnet.weights import load_checkpoint


def _draws():
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def _state(**entries):
    """The entries every checkpoint has, plus ``entries``."""
    return {"model": {"w": torch.ones(2)}, "config": {}, "class_names": ["a"], "epoch": 0,
            **entries}


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    path = save_checkpoint(_state(rng=capture_rng_state(), x=torch.arange(3)),
                           tmp_path / "c.pth")
    expected = _draws()
    state = load_checkpoint(path)  # weights_only=True inside
    restore_rng_state(state["rng"])
    assert _draws() == expected
    assert state["x"].tolist() == [0, 1, 2] and state["format_version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["c.pth"]  # no temporary file left


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    import tagnet.train.checkpoint as ckpt

    path = save_checkpoint(_state(epoch=1), tmp_path / "last.pth")

    def dies_half_way(obj, f):
        f.write(b"PK\x03\x04 half a zip")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ckpt.torch, "save", dies_half_way)
    with pytest.raises(OSError, match="no space left on device"):
        save_checkpoint(_state(epoch=2), path)
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pth"]


def test_load_rejects_other_files(tmp_path):
    torch.save({"weight": torch.zeros(1)}, tmp_path / "plain.pth")
    with pytest.raises(ValueError, match="not a tagnet training checkpoint"):
        load_checkpoint(tmp_path / "plain.pth")
    with pytest.raises(FileNotFoundError, match="last.pth"):
        load_checkpoint(tmp_path / "missing")


def test_resumable_sampler_skips_and_ranks_interleave():
    data = list(range(10))
    full = list(ResumableSampler(data, seed=5))
    assert sorted(full) == data
    s = ResumableSampler(data, seed=5)
    s.set_start(4)
    assert list(s) == full[4:] and len(s) == 6
    s.set_epoch(1)  # a new epoch starts from the beginning with another order
    assert len(list(s)) == 10 and list(s) != full
    r0, r1 = (list(ResumableSampler(data, 2, r, seed=5)) for r in (0, 1))
    assert [x for pair in zip(r0, r1, strict=True) for x in pair] == full


class Noisy(Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        return torch.rand(2) + i, np.random.rand(), random.random()


def test_seeded_dataset_is_order_and_worker_independent_and_leaves_rng_alone():
    ds = SeededDataset(Noisy(), seed=7)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    forward = [ds[i] for i in range(6)]
    assert torch.equal(torch.get_rng_state(), before)
    backward = [ds[i] for i in reversed(range(6))][::-1]
    assert all(torch.equal(a[0], b[0]) and a[1:] == b[1:] for a, b in zip(forward, backward,
                                                                            strict=True))
    batches = list(DataLoader(ds, batch_size=2, num_workers=2))
    assert torch.equal(torch.cat([b[0] for b in batches]), torch.stack([f[0] for f in forward]))
    ds.set_epoch(1)
    assert not torch.equal(ds[0][0], forward[0][0])


def test_stratified_holdout_counts_per_class():
    labels = [0] * 10 + [1] * 5 + [2] * 1
    train, hold = stratified_holdout(labels, 0.2, seed=0)
    assert sorted(train + hold) == list(range(16)) and not set(train) & set(hold)
    assert [sum(labels[i] == c for i in hold) for c in range(3)] == [2, 1, 0]
    assert stratified_holdout(labels, 0.2, seed=0) == (train, hold)


def test_cosine_schedule_equals_pytorch_cosine_annealing():
    cfg = TrainConfig(epochs=7, lr=0.1, min_lr=0.001)
    model = torch.nn.Linear(2, 2)
    ours = build_scheduler(build_optimizer(model, cfg), cfg)
    ref_opt = torch.optim.Adam(model.parameters(), lr=0.1)
    ref = torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, T_max=7, eta_min=0.001)
    for _ in range(7):
        assert ours.get_last_lr()[0] == pytest.approx(ref.get_last_lr()[0], rel=1e-9)
        ours.optimizer.step(), ref_opt.step(), ours.step(), ref.step()
    warm = TrainConfig(epochs=10, lr=1.0, warmup_epochs=2)
    assert [round(lr_factor(e, warm), 6) for e in range(3)] == [round(1 / 3, 6),
                                                                round(2 / 3, 6), 1.0]


def test_param_groups_do_not_decay_norms_biases_or_positional_table():
    import tagnet

    model = tagnet.create_model("tag_r2plus1d_tiny", num_classes=3, num_frames=8, img_size=32,
                                backbone_kwargs={"widths": [4, 4, 8, 8], "stem_mid": 4},
                                ffn_dim=16, num_heads=2, freeze="backbone")
    decay, no_decay = param_groups(model, 0.05)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(p.ndim > 1 and "pos_embed" not in names[id(p)] for p in decay["params"])
    assert any("pos_embed" in names[id(p)] for p in no_decay["params"])
    assert not any(names[id(p)].startswith("backbone.") for g in (decay, no_decay)
                   for p in g["params"])  # frozen

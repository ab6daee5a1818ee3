"""The data stream does not depend on the number of loader workers, and a run killed
mid-epoch with workers resumes to the same weights, tensor by tensor."""
import os
import sys
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

sys.path.insert(0, str(Path(__file__).parent))
from test_checkpoint_sampling import Noisy  # noqa: E402
from toy_run import kill_mid_epoch_and_resume, main  # noqa: E402

from tagnet.data import collate  # noqa: E402
from tagnet.train.sampling import SeededDataset  # noqa: E402
from tagnet.weights import load_checkpoint  # noqa: E402

TOY = str(Path(__file__).parent / "toy_run.py")


def _env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def test_seeded_subset_gives_the_same_items_with_and_without_workers():
    """A Subset has __getitems__, the DataLoader's batched path: it must not bypass the
    per-sample seeding (it did, so augmentation depended on the worker count)."""
    ds = SeededDataset(Subset(Noisy(), [5, 0, 3, 1, 2, 4]), seed=3)
    ds.set_epoch(2)
    direct = torch.stack([ds[i][0] for i in range(6)])
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=4, num_workers=workers, collate_fn=collate)
        got = torch.cat([b[0] for b in loader])
        assert torch.equal(got, direct), workers
    assert not hasattr(ds, "__getitems__") or ds.__getitems__.__self__ is ds


def _same(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    assert not differ, f"{what}: {len(differ)} tensors differ, e.g. {differ[:3]}"


def _optimizer_tensors(state: dict) -> dict:
    return {f"{i}.{k}": v for i, s in state["optimizer"]["state"].items() for k, v in s.items()}


def test_two_workers_kill_mid_epoch_and_resume_equals_uninterrupted_and_zero_workers(
        tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the subprocesses' setting
    try:
        common = ["train.epochs=1", "train.save_every_steps=1", "--subset"]
        w0, w2, killed = tmp_path / "w0", tmp_path / "w2", tmp_path / "killed"
        main([str(w0), *common, "data.num_workers=0"])
        main([str(w2), *common, "data.num_workers=2"])
    finally:
        torch.set_num_threads(threads)
    two = [*common, "data.num_workers=2"]
    got = kill_mid_epoch_and_resume(killed, two, epoch=0)
    ref0, ref2 = (load_checkpoint(d / "last.pth") for d in (w0, w2))
    _same(ref2["model"], ref0["model"], "2 workers vs 0 workers")
    _same(got["model"], ref2["model"], "killed and resumed vs uninterrupted")
    _same(_optimizer_tensors(got), _optimizer_tensors(ref2), "optimizer state")
    assert got["running"].equal(ref2["running"]) and got["metrics"]["train_loss"] == \
        ref0["metrics"]["train_loss"]

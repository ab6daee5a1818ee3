"""The same config and seed on CPU give bit-identical metrics and weights twice."""
import torch
from toy_run import toy_config, toy_data

from tagnet.train.run import train


def test_two_identical_tiny_runs_are_bit_identical(tmp_path):
    torch.set_num_threads(1)  # a fixed thread count: CPU kernels are then deterministic
    results = [train(toy_config(str(tmp_path / name), "train.epochs=1"), data=toy_data())
               for name in ("a", "b")]
    a, b = (r["test"] for r in results)
    assert a == b and a["top1"] == b["top1"]
    wa, wb = (torch.load(tmp_path / n / "last.pth", weights_only=False)["model"] for n in "ab")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)

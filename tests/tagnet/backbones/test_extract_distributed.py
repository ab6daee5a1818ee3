"""`tagnet extract` split over 2 gloo processes, and resumed after a failure, equals one run."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from test_features_backbone import _write_video  # the same folder: pytest puts it on sys.path

import tagnet.backbones
from tagnet.backbones import TokenShardDataset
from tagnet.cli import main


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("extract_videos")
    for k in range(5):  # odd: the ranks get 3 and 2 clips
        cls = ("jump", "spin")[k % 2]
        (root / cls).mkdir(exist_ok=True)
        _write_video(root / cls / f"{cls}_{k}.mp4", seed=k)
    return root


def _args(root, out, *extra):
    return ["extract", "--backbone", "r2plus1d_tiny", "--dataset", "folder", "--root", str(root),
            "--frames", "8", "--size", "32", "--resize", "32", "--workers", "0", "--dtype",
            "float32", "--batch-size", "1", "--shard-size", "2", "--quiet", "--out", str(out),
            *extra]


def _assert_same(a, b):
    a, b = TokenShardDataset(a), TokenShardDataset(b)
    assert a.ids == b.ids and len(a) == 5
    for i in range(len(a)):
        torch.testing.assert_close(a[i][0], b[i][0], rtol=0, atol=0)
        assert a[i][1:] == b[i][1:]


@pytest.fixture(scope="module")
def reference(videos, tmp_path_factory):
    out = tmp_path_factory.mktemp("ref") / "tok"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the subprocesses (OMP_NUM_THREADS=1)
    try:
        assert main(_args(videos, out)) == 0
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_two_gloo_ranks_equal_one_process(videos, reference, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node", "2", "-m", "tagnet.cli", *_args(videos, out)],
                         env=env, timeout=240, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "wrote 5 token grids (3 shards from 2 ranks)" in run.stdout
    assert sorted(p.name for p in out.glob("*.pt")) == [
        "shard_r0_00000.pt", "shard_r0_00001.pt", "shard_r1_00000.pt"]
    index = json.loads((out / "index.json").read_text())
    # rank 0 took positions 0, 2, 4 and rank 1 took 1, 3: the merged order interleaves them
    assert index["order"] == [[0, 0], [2, 0], [0, 1], [2, 1], [1, 0]]
    _assert_same(out, reference)

    # as if killed before rank 0's second shard and the index: one process finishes the job
    (out / "index.json").unlink()
    (out / "shard_r0_00001.pt").unlink()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(_args(videos, out)) == 0
    finally:
        torch.set_num_threads(threads)
    assert "shard_00000.pt" in {p.name for p in out.iterdir()}
    _assert_same(out, reference)


def test_a_failed_extraction_resumes_where_it_stopped(videos, reference, tmp_path, monkeypatch,
                                                      capsys):
    out = tmp_path / "tok"
    build = tagnet.backbones.create_backbone
    calls = []

    def failing(*args, **kwargs):
        model = build(*args, **kwargs)

        def hook(module, inputs):
            calls.append(1)
            if len(calls) == 4:
                raise RuntimeError("killed")

        model.register_forward_pre_hook(hook)
        return model

    monkeypatch.setattr(tagnet.backbones, "create_backbone", failing)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(_args(videos, out)) == 1
        assert "killed" in capsys.readouterr().err
        # clips 0, 1 made a whole shard; clip 2 was only in memory; nothing partial is left
        assert sorted(p.name for p in out.iterdir()) == [".extract.json", "shard_00000.pt"]
        monkeypatch.setattr(tagnet.backbones, "create_backbone", build)
        assert main(_args(videos, out, "--frames", "4")) == 1
        assert "unfinished extraction with other settings (num_frames: 8 there)" in (
            capsys.readouterr().err)
        assert main(_args(videos, out)) == 0
    finally:
        torch.set_num_threads(threads)
    assert "resuming: 2 clips already extracted, 3 to go" in capsys.readouterr().out
    _assert_same(out, reference)
    assert main(_args(videos, out)) == 1
    assert "this extraction is complete" in capsys.readouterr().err

"""Bad command-line input: clear errors before any work, and output that survives odd names."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from tagnet.cli import build_parser, main, parse_args
from tagnet.commands._common import safe_path

TINY = ["model.arch=tag_r2plus1d_tiny", "data.num_frames=8", "data.img_size=32",
        "model.kwargs={backbone_kwargs: {widths: [8, 8, 16, 16], stem_mid: 4}, ffn_dim: 32, "
        "num_heads: 2}"]


def test_topology_on_a_one_node_grid(capsys):
    assert main(["topology", "tag", "--grid", "1x1x1"]) == 0
    out = capsys.readouterr().out
    assert "lambda_2 = none (one node)" in out and "edges" in out
    assert main(["topology", "none", "--grid", "1x2x1", "--json"]) == 0

    def strict(name):
        raise ValueError(f"{name} is not JSON")

    summary = json.loads(capsys.readouterr().out, parse_constant=strict)
    assert summary["spectrum"]["components"] == 2
    assert summary["oversmoothing"]["energy_ratio"][0][0] is None  # 0/0: no edges to smooth


@pytest.mark.parametrize("flag,value", [("--topk", "0"), ("--topk", "-1"), ("--num-clips", "0"),
                                        ("--batch-size", "0")])
def test_predict_rejects_non_positive_counts(flag, value, capsys):
    with pytest.raises(SystemExit) as e:
        main(["predict", "x.mp4", "-k", "missing.pth", flag, value])
    assert e.value.code == 2
    assert f"argument {flag}: must be at least 1, got {value}" in capsys.readouterr().err


def test_predict_json_into_missing_folder_fails_first(tmp_path, capsys):
    video = tmp_path / "a.mp4"
    video.write_bytes(b"")
    # the checkpoint does not exist either: the --json check must come before loading it
    code = main(["predict", str(video), "-k", str(tmp_path / "none.pth"),
                 "--json", str(tmp_path / "no" / "such" / "p.json")])
    err = capsys.readouterr().err
    assert code == 1 and f"folder '{tmp_path / 'no' / 'such'}' does not exist" in err


def test_overrides_anywhere_on_the_line(tmp_path, capsys):
    parser = build_parser()
    args = parse_args(parser, ["train", "train.epochs=3", "-o", str(tmp_path), "train.lr=0.5",
                               "--device", "cpu", "seed=4"])
    assert args.overrides == ["train.epochs=3", "train.lr=0.5", "seed=4"]
    args = parse_args(parser, ["eval", "-k", "a.pth", "b.pth", "data.root=/d", "--split", "val",
                               "eval.batch_size=2"])
    assert args.checkpoint == ["a.pth", "b.pth"]
    assert args.overrides == ["data.root=/d", "eval.batch_size=2"]
    with pytest.raises(SystemExit):
        parse_args(parser, ["train", "a=1", "-o", "x", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err

    assert main(["train", "--config", "demo", "train.epochs=3", "-o", str(tmp_path), "train.lr=0.5",
                 "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["train"]["epochs"] == 3 and cfg["train"]["lr"] == 0.5
    assert cfg["output_dir"] == str(tmp_path)


def test_safe_path():
    name = os.fsdecode(b"clip_\xff\xfe.mp4")
    assert safe_path(name) == "clip_\\xff\\xfe.mp4" and safe_path("été.mp4") == "été.mp4"
    assert safe_path(b"a\xff") == "a\\xff"
    safe_path(name).encode("utf-8", "strict")


@pytest.fixture
def checkpoint(tmp_path):
    """A tagnet checkpoint of an untrained tiny model (3 classes, 8 frames of 32 px)."""
    from tagnet.config import load_config
    from tagnet.models.factory import build_model
    from tagnet.train.engine import Trainer

    cfg = load_config(None, [*TINY, "train.progress=false", f"output_dir={tmp_path / 'run'}"])
    trainer = Trainer(cfg, build_model(cfg, 3), [None], None, ["a", "b", "c"])
    trainer.save("best.pth")
    return tmp_path / "run" / "best.pth"


def test_predict_non_utf8_name_with_strict_stdout(tmp_path, checkpoint):
    """Issue 16 item 10: inference, then printing the name killed the command and lost the
    JSON. Symlink loops in the folder are reported as skipped (item 11)."""
    from tagnet.datasets.finesynth import write_mp4

    folder = tmp_path / "videos"
    folder.mkdir()
    raw = os.fsencode(folder) + b"/clip_\xff.mp4"
    frames = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
    write_mp4(type(folder)(os.fsdecode(raw)), frames)
    os.symlink("loop.mp4", folder / "loop.mp4")
    out = tmp_path / "preds.json"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"}
    proc = subprocess.run([sys.executable, "-m", "tagnet", "predict", str(folder), "-k",
                           str(checkpoint), "--topk", "2", "--json", str(out)],
                          env=env, capture_output=True, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    stdout = proc.stdout.decode("utf-8")
    assert "clip_\\xff.mp4" in stdout
    assert f"skipping '{folder / 'loop.mp4'}': symlink loop" in stdout
    results = json.loads(out.read_text())
    assert len(results) == 1 and os.fsencode(results[0]["path"]) == raw
    assert [t["name"] for t in results[0]["top"]] != [] and len(results[0]["top"]) == 2
